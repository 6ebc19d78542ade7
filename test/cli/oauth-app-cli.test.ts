/**
 * `orgd oauth-app create | list | rotate-secret | delete` as an operator runs them: real `orgd`
 * processes (node bin/orgd.mjs) on this run's database kind (a PGlite data directory, or this
 * file's own PostgreSQL database). The secret is printed once and only its hash is stored; a
 * refused redirect URI exits non-zero with the reason and writes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/db/index.ts'
import { secretHashOf } from '../../src/modules/oauth/service.ts'
import { createTestDb, type TestDb } from '../helpers/db.ts'
import { testDbKind } from '../helpers/env.ts'
import { killAll, orgdEnv, runOrgd } from '../helpers/processes.ts'

let dataDir: string
let tdb: TestDb | null = null
let env: NodeJS.ProcessEnv
let organizationId: string

/** Reads the database between commands (PGlite: only while no orgd process holds the directory). */
async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  if (tdb) return fn(tdb.db)
  const db = await openDb({ databaseUrl: null, dataDir, poolSize: 1 })
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

async function orgd(args: string[]) {
  return runOrgd(args, env, 120_000)
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'orgd-oauth-cli-'))
  if (testDbKind() === 'postgres') {
    tdb = await createTestDb()
    env = orgdEnv({ DATABASE_URL: tdb.url!, ORGD_DATA_DIR: dataDir, LOG_LEVEL: 'warn' })
  } else {
    env = orgdEnv({ ORGD_DATA_DIR: dataDir, LOG_LEVEL: 'warn' })
  }
  const boot = await orgd(['bootstrap', '--email', 'op@example.com', '--password', 'a-long-password', '--organization-name', 'Operators', '--json'])
  expect(boot.code, boot.stderr).toBe(0)
  organizationId = JSON.parse(boot.stdout).organization.id
}, 300_000)

afterAll(async () => {
  killAll()
  await tdb?.drop()
  rmSync(dataDir, { recursive: true, force: true })
})

describe('orgd oauth-app', { timeout: 300_000 }, () => {
  let clientId: string
  let secret: string

  it('create --json prints the client id and the secret once; only the hash is stored', async () => {
    const res = await orgd([
      'oauth-app', 'create', '--organization', organizationId, '--name', 'Reporting', '--redirect-uri', 'https://reports.example/cb',
      '--redirect-uri', 'http://127.0.0.1:8765/cb', '--scopes', 'organization:read,organization_member:read', '--verified', '--created-by', 'op@example.com', '--json',
    ])
    expect(res.code, res.stderr).toBe(0)
    const out = JSON.parse(res.stdout)
    expect(out).toMatchObject({
      name: 'Reporting',
      client_type: 'confidential',
      organization_id: organizationId,
      redirect_uris_list: ['https://reports.example/cb', 'http://127.0.0.1:8765/cb'],
      is_verified: true,
      is_first_party: false,
      scopes: ['organization:read', 'organization_member:read'],
    })
    expect(out.client_id).toMatch(/^[A-Za-z0-9]{40}$/)
    expect(out.client_secret).toMatch(/^[A-Za-z0-9]{128}$/)
    clientId = out.client_id
    secret = out.client_secret
    const row = await withDb(async (db) => (await db.query<{ client_secret_hash: string; user_email: string }>(`SELECT a.client_secret_hash, u.email AS user_email FROM oauth_applications a JOIN users u ON u.id = a.user_id WHERE a.client_id = $1`, [clientId]))[0])
    expect(row).toEqual({ client_secret_hash: secretHashOf(secret), user_email: 'op@example.com' })
  })

  it('a refused redirect URI exits non-zero with the reason and creates nothing', async () => {
    const res = await orgd(['oauth-app', 'create', '--organization', organizationId, '--name', 'Bad', '--redirect-uri', 'https://ok.example/cb', '--redirect-uri', 'http://evil.example/cb'])
    expect(res.code).toBe(1)
    expect(res.stderr).toContain('uses http, which is only allowed for loopback hosts')
    expect(res.stdout).toBe('')
    const frag = await orgd(['oauth-app', 'create', '--organization', organizationId, '--name', 'Bad', '--redirect-uri', 'javascript:alert(1)'])
    expect(frag.code).toBe(1)
    expect(frag.stderr).toContain('Redirect URI scheme "javascript" is not allowed.')
    const noOrg = await orgd(['oauth-app', 'create', '--organization', '6a2f41a0-0d6c-4d1e-9f3a-1b2c3d4e5f60', '--name', 'Bad', '--redirect-uri', 'https://ok.example/cb'])
    expect(noOrg.code).toBe(1)
    expect(noOrg.stderr).toContain('No organization with id')
    const [{ n }] = await withDb((db) => db.query<{ n: number }>(`SELECT count(*)::int AS n FROM oauth_applications WHERE name = 'Bad'`))
    expect(n).toBe(0)
  })

  it('create --public --first-party prints no secret; list shows both, newest first', async () => {
    const res = await orgd(['oauth-app', 'create', '--organization', organizationId, '--name', 'Desktop', '--redirect-uri', 'com.example.desktop:/oauth', '--public', '--first-party'])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toContain('Desktop  (public, first-party)')
    expect(res.stdout).toContain('(public client: no secret)')
    const list = await orgd(['oauth-app', 'list', '--organization', organizationId, '--json'])
    expect(list.code, list.stderr).toBe(0)
    const apps = JSON.parse(list.stdout) as Array<{ name: string; client_secret?: string }>
    expect(apps.map((a) => a.name)).toEqual(['Desktop', 'Reporting'])
    expect(list.stdout).not.toContain(secret)
    expect(apps.every((a) => !('client_secret' in a))).toBe(true)
  })

  it('rotate-secret replaces the secret (printed once); delete removes the application', async () => {
    const rotated = await orgd(['oauth-app', 'rotate-secret', clientId, '--json'])
    expect(rotated.code, rotated.stderr).toBe(0)
    const fresh = JSON.parse(rotated.stdout).client_secret as string
    expect(fresh).toMatch(/^[A-Za-z0-9]{128}$/)
    expect(fresh).not.toBe(secret)
    const hash = await withDb(async (db) => (await db.query<{ h: string }>(`SELECT client_secret_hash AS h FROM oauth_applications WHERE client_id = $1`, [clientId]))[0].h)
    expect(hash).toBe(secretHashOf(fresh))
    const unknown = await orgd(['oauth-app', 'rotate-secret', 'nope'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('No OAuth application nope')

    const del = await orgd(['oauth-app', 'delete', clientId])
    expect(del.code, del.stderr).toBe(0)
    expect(del.stdout).toContain(`Deleted OAuth application ${clientId}`)
    const list = await orgd(['oauth-app', 'list', '--json'])
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((a) => a.name)).toEqual(['Desktop'])
  })
})
