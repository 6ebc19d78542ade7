/**
 * Real `orgd` processes over real sockets.
 *
 * - PostgreSQL runs: two `orgd serve` processes share this file's own database; two owners demote
 *   (and try to remove) each other at the same moment through different processes. An
 *   organization must always keep at least one owner, and no race may answer a 500.
 * - PGlite runs: the embedded data directory is one process at a time (a second `serve` or a CLI
 *   command refuses with a clear message), `serve` shuts down gracefully on SIGTERM, and the
 *   README's quick start (`bootstrap` → `serve` → curl with the printed key) works, as do
 *   `members add` and `api-key create`.
 *
 * The two groups are defined with a plain `if` on the run's database kind, so each run reports
 * only the tests that apply to it (nothing is reported as skipped).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { createServices, type Services } from '../../src/services.ts'
import type { UserRow } from '../../src/modules/users/store.ts'
import { addMember, createKey, createOrg, createUser, expectErrorShape, uniqueEmail } from '../helpers/app.ts'
import { createTestDb, type TestDb } from '../helpers/db.ts'
import { testDbKind } from '../helpers/env.ts'
import { eventually, killAll, orgdEnv, runOrgd, startServe, type ServeProcess } from '../helpers/processes.ts'

interface HttpResult {
  status: number
  body: unknown
}

async function request(url: string, init: { method?: string; key?: string; json?: unknown } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = {}
  if (init.key) headers.authorization = `Bearer ${init.key}`
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
    signal: AbortSignal.timeout(20_000),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = text === '' ? '' : JSON.parse(text)
  } catch {
    // not JSON: keep the text, the assertion will show it
  }
  return { status: res.status, body }
}

/** pino's error and fatal lines (level 50 and 60): an unhandled error or a 500 was logged. */
const errorLogLines = (output: string) => output.split('\n').filter((l) => /"level":\s*(50|60)\b/.test(l))

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

if (testDbKind() === 'postgres') {
  describe('two orgd serve processes on one PostgreSQL database', { timeout: 300_000 }, () => {
    let tdb: TestDb
    let services: Services
    let dataDir: string
    let p1: ServeProcess
    let p2: ServeProcess
    let orgId: string
    let a: UserRow
    let b: UserRow
    let keyA: string
    let keyB: string
    const ROUNDS = 20

    const owners = async () =>
      (await tdb.db.query<{ user_id: number }>(`SELECT user_id FROM memberships WHERE organization_id = $1 AND level = 15 ORDER BY user_id`, [orgId])).map(
        (r) => r.user_id,
      )

    beforeAll(async () => {
      tdb = await createTestDb()
      if (!tdb.url) throw new Error('a PostgreSQL test database has a URL')
      dataDir = mkdtempSync(join(tmpdir(), 'orgd-procs-'))
      services = createServices(tdb.db, loadConfig({ LOG_LEVEL: 'silent', ORGD_DATA_DIR: dataDir }))
      a = await createUser(services, { firstName: 'Ada' })
      b = await createUser(services, { firstName: 'Bea' })
      orgId = (await createOrg(services, a, 'Race Org')).id
      await addMember(services, orgId, b, 15)
      keyA = await createKey(services, a)
      keyB = await createKey(services, b)
      const env = { DATABASE_URL: tdb.url, LOG_LEVEL: 'warn', ORGD_DATA_DIR: dataDir }
      ;[p1, p2] = await Promise.all([startServe(env), startServe(env)])
      // Open a keep-alive connection to each process so the racing requests leave together.
      for (const [p, key] of [[p1, keyA], [p2, keyB]] as const) {
        expect((await request(`${p.url}/api/organizations/${orgId}/members/`, { key })).status).toBe(200)
      }
    })

    afterAll(async () => {
      try {
        await Promise.all([p1?.stop().catch(() => undefined), p2?.stop().catch(() => undefined)])
      } finally {
        await killAll()
        await tdb?.drop()
        if (dataDir) rmSync(dataDir, { recursive: true, force: true })
      }
    })

    it(`two owners demoting each other at once through two processes: exactly one wins, an owner remains (${ROUNDS} rounds)`, async () => {
      const winners = { a: 0, b: 0 }
      for (let round = 0; round < ROUNDS; round++) {
        const [byA, byB] = await Promise.all([
          request(`${p1.url}/api/organizations/${orgId}/members/${b.uuid}/`, { method: 'PATCH', key: keyA, json: { level: 1 } }),
          request(`${p2.url}/api/organizations/${orgId}/members/${a.uuid}/`, { method: 'PATCH', key: keyB, json: { level: 1 } }),
        ])
        const context = `round ${round}: A→B ${byA.status} ${JSON.stringify(byA.body)}; B→A ${byB.status} ${JSON.stringify(byB.body)}`
        expect([byA.status, byB.status].filter((s) => s === 200), context).toHaveLength(1)
        const loser = byA.status === 200 ? byB : byA
        expect(loser.status, context).toBeGreaterThanOrEqual(400)
        expect(loser.status, context).toBeLessThan(500)
        expectErrorShape(loser.body)
        const winner = byA.status === 200 ? byA : byB
        expect((winner.body as { level: number }).level, context).toBe(1)
        if (byA.status === 200) winners.a += 1
        else winners.b += 1
        // The winner is the one owner left.
        expect(await owners(), context).toEqual([byA.status === 200 ? a.id : b.id])
        // Both owners again for the next round.
        await tdb.db.query(`UPDATE memberships SET level = 15 WHERE organization_id = $1 AND user_id = ANY($2::int[])`, [orgId, [a.id, b.id]])
      }
      expect(winners.a + winners.b).toBe(ROUNDS)
      expect(errorLogLines(p1.output() + p2.output())).toEqual([])
    })

    it(`two owners removing each other at once through two processes: both refused, never a 500 (${ROUNDS} rounds)`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const [byA, byB] = await Promise.all([
          request(`${p1.url}/api/organizations/${orgId}/members/${b.uuid}/`, { method: 'DELETE', key: keyA }),
          request(`${p2.url}/api/organizations/${orgId}/members/${a.uuid}/`, { method: 'DELETE', key: keyB }),
        ])
        const context = `round ${round}: A→B ${byA.status} ${JSON.stringify(byA.body)}; B→A ${byB.status} ${JSON.stringify(byB.body)}`
        for (const res of [byA, byB]) {
          expect(res.status, context).toBe(400)
          expectErrorShape(res.body)
          expect(res.body, context).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'Cannot leave the organization as its owner!', attr: null })
        }
      }
      expect(await owners()).toEqual([a.id, b.id].sort((x, y) => x - y))
      expect(errorLogLines(p1.output() + p2.output())).toEqual([])
    })

    it('one owner demoting the other while the other removes them: an owner always remains, never a 500', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const [demote, remove] = await Promise.all([
          request(`${p1.url}/api/organizations/${orgId}/members/${b.uuid}/`, { method: 'PATCH', key: keyA, json: { level: 8 } }),
          request(`${p2.url}/api/organizations/${orgId}/members/${a.uuid}/`, { method: 'DELETE', key: keyB }),
        ])
        const context = `round ${round}: PATCH ${demote.status} ${JSON.stringify(demote.body)}; DELETE ${remove.status} ${JSON.stringify(remove.body)}`
        // An owner can never be removed, whatever happens first.
        expect(remove.status, context).toBeGreaterThanOrEqual(400)
        expect(remove.status, context).toBeLessThan(500)
        expectErrorShape(remove.body)
        expect(demote.status, context).toBe(200)
        expect(await owners(), context).toEqual([a.id])
        await tdb.db.query(`UPDATE memberships SET level = 15 WHERE organization_id = $1 AND user_id = $2`, [orgId, b.id])
      }
      expect(errorLogLines(p1.output() + p2.output())).toEqual([])
    })
  })
} else {
  describe('orgd on an embedded PGlite data directory', { timeout: 600_000 }, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'orgd-pglite-cli-'))
    const env = (extra: Record<string, string> = {}) => ({ ORGD_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...extra })
    const IN_USE = /data directory .* is in use by another orgd process/
    const email = uniqueEmail('owner')
    const password = 'correct horse battery staple'
    const email2 = uniqueEmail('reader')
    let first: ServeProcess | undefined
    let boot: {
      user: { uuid: string; email: string }
      organization: { id: string; name: string }
      project: { id: number; api_token: string }
      personal_api_key: string
    }
    let readKey: string
    /** The serve started by the first case; the next cases need it running. */
    const running = (): ServeProcess => {
      if (!first || first.child.exitCode !== null || first.child.signalCode !== null) throw new Error('the first orgd serve is not running (see the first case)')
      return first
    }

    afterAll(async () => {
      await killAll()
      rmSync(dataDir, { recursive: true, force: true })
    })

    it('serve on an empty database prints the one line about `orgd bootstrap`', async () => {
      first = await startServe(env({ LOG_LEVEL: 'info' }))
      expect(await eventually(() => /orgd bootstrap/.test(first!.output()), 60_000), first.output()).toBe(true)
      expect(first.output().split('\n').filter((l) => /orgd bootstrap/.test(l))).toHaveLength(1)
    })

    it('a second serve on the same data directory exits non-zero, saying the directory is in use', async () => {
      running()
      const res = await runOrgd(['serve'], orgdEnv(env({ PORT: '0', HOST: '127.0.0.1' })))
      expect(res.code, res.stdout + res.stderr).not.toBe(0)
      expect(res.code).not.toBeNull()
      expect(res.stderr).toMatch(IN_USE)
      expect(res.stderr).toContain(dataDir)
      // The first one is unharmed.
      expect((await request(`${running().url}/_ready`)).status).toBe(200)
    })

    it('bootstrap while serve runs exits non-zero with the same message and creates nothing', async () => {
      running()
      const res = await runOrgd(
        ['bootstrap', '--email', email, '--password', password, '--first-name', 'Fay', '--organization-name', 'Quick Start', '--json'],
        orgdEnv(env()),
      )
      expect(res.code, res.stdout + res.stderr).not.toBe(0)
      expect(res.code).not.toBeNull()
      expect(res.stderr).toMatch(IN_USE)
      expect(res.stdout).toBe('')
    })

    it('members add and api-key create while serve runs refuse the same way', async () => {
      running()
      const add = await runOrgd(['members', 'add', '--organization', '6a2f41a0-0d6c-4d1e-9f3a-1b2c3d4e5f60', '--email', email2, '--level', '8', '--json'], orgdEnv(env()))
      expect(add.code, add.stdout + add.stderr).not.toBe(0)
      expect(add.code).not.toBeNull()
      expect(add.stderr).toMatch(IN_USE)
      const key = await runOrgd(['api-key', 'create', '--email', email, '--label', 'L', '--scopes', '*', '--json'], orgdEnv(env()))
      expect(key.code, key.stdout + key.stderr).not.toBe(0)
      expect(key.code).not.toBeNull()
      expect(key.stderr).toMatch(IN_USE)
    })

    it('SIGTERM stops serve gracefully: exit code 0 within a few seconds', async () => {
      const serve = running()
      const exit = await serve.stop('SIGTERM', 10_000)
      expect(exit.code, serve.output()).toBe(0)
      expect(exit.signal).toBeNull()
      // close-with-grace would force an exit (code 1) after 10 s; a graceful close takes well under.
      expect(exit.ms).toBeLessThan(8_000)
    })

    it('bootstrap --json prints the user, organization, project (phc_ token) and personal API key (phx_)', async () => {
      const res = await runOrgd(
        ['bootstrap', '--email', email, '--password', password, '--first-name', 'Fay', '--organization-name', 'Quick Start', '--json'],
        orgdEnv(env()),
      )
      expect(res.code, res.stderr).toBe(0)
      boot = JSON.parse(res.stdout.trim())
      expect(boot.user.uuid).toMatch(UUID)
      expect(boot.user.email).toBe(email)
      expect(boot.organization.id).toMatch(UUID)
      expect(boot.organization.name).toBe('Quick Start')
      expect(Number.isInteger(boot.project.id)).toBe(true)
      expect(boot.project.api_token).toMatch(/^phc_[A-Za-z0-9]{20,}$/)
      expect(boot.personal_api_key).toMatch(/^phx_[A-Za-z0-9]{20,}$/)
    })

    it('serve again: the printed key lists the one owner; /_health and /_ready answer 200', async () => {
      const server = await startServe(env({ LOG_LEVEL: 'info' }))
      try {
        const members = await request(`${server.url}/api/organizations/@current/members/`, { key: boot.personal_api_key })
        expect(members.status, JSON.stringify(members.body)).toBe(200)
        const body = members.body as { count: number; results: Array<{ level: number; user: { uuid: string; email: string; first_name: string } }> }
        expect(body.count).toBe(1)
        expect(body.results).toHaveLength(1)
        expect(body.results[0].level).toBe(15)
        expect(body.results[0].user).toMatchObject({ uuid: boot.user.uuid, email, first_name: 'Fay' })
        const health = await request(`${server.url}/_health`)
        expect(health.status).toBe(200)
        const ready = await request(`${server.url}/_ready`)
        expect(ready.status).toBe(200)
        expect(ready.body).toMatchObject({ status: 'ok', database: 'pglite' })
        // With a user in the database, the bootstrap hint is not printed.
        expect(server.output()).toMatch(/listening/i)
        expect(server.output()).not.toMatch(/orgd bootstrap/)
      } finally {
        const exit = await server.stop()
        expect(exit.code).toBe(0)
      }
    })

    it('members add and api-key create (serve stopped) print JSON', async () => {
      const added = await runOrgd(['members', 'add', '--organization', boot.organization.id, '--email', email2, '--level', '8', '--json'], orgdEnv(env()))
      expect(added.code, added.stderr).toBe(0)
      const member = JSON.parse(added.stdout.trim()) as { user: { uuid: string; email: string; created: boolean }; membership: { id: string; level: number; created: boolean } }
      expect(member.user.uuid).toMatch(UUID)
      expect(member.user.email).toBe(email2)
      expect(member.user.created).toBe(true)
      expect(member.membership).toMatchObject({ level: 8, created: true })

      const key = await runOrgd(['api-key', 'create', '--email', email2, '--label', 'Read only', '--scopes', 'organization_member:read', '--json'], orgdEnv(env()))
      expect(key.code, key.stderr).toBe(0)
      const created = JSON.parse(key.stdout.trim()) as { id: string; label: string; scopes: string[]; personal_api_key: string }
      expect(created.label).toBe('Read only')
      expect(created.scopes).toEqual(['organization_member:read'])
      expect(created.personal_api_key).toMatch(/^phx_/)
      readKey = created.personal_api_key
    })

    it("the read-only key lists members but is refused a PATCH for the missing 'organization_member:write' scope", async () => {
      const server = await startServe(env())
      try {
        const base = `${server.url}/api/organizations/${boot.organization.id}/members`
        const list = await request(`${base}/`, { key: readKey })
        expect(list.status, JSON.stringify(list.body)).toBe(200)
        const body = list.body as { count: number; results: Array<{ level: number; user: { email: string } }> }
        expect(body.count).toBe(2)
        expect(body.results.map((m) => [m.user.email, m.level]).sort()).toEqual([[email, 15], [email2, 8]].sort())
        const patch = await request(`${base}/${boot.user.uuid}/`, { method: 'PATCH', key: readKey, json: { level: 8 } })
        expect(patch.status).toBe(403)
        expect(patch.body).toEqual({
          type: 'authentication_error',
          code: 'permission_denied',
          detail: "API key missing required scope 'organization_member:write'",
          attr: null,
        })
        // Nothing changed.
        const after = await request(`${base}/?email=${encodeURIComponent(email)}`, { key: readKey })
        expect((after.body as { results: Array<{ level: number }> }).results[0].level).toBe(15)
      } finally {
        const exit = await server.stop()
        expect(exit.code).toBe(0)
      }
    })

    it('after a crash (SIGKILL) the lock left behind is taken over and the data is intact', async () => {
      const crashed = await startServe(env())
      const exit = await crashed.stop('SIGKILL')
      expect(exit.signal).toBe('SIGKILL')
      // The embedded database recovers from the unclean stop first, which can take a while.
      const server = await startServe(env())
      try {
        const list = await request(`${server.url}/api/organizations/${boot.organization.id}/members/`, { key: boot.personal_api_key })
        expect(list.status, JSON.stringify(list.body)).toBe(200)
        expect((list.body as { count: number }).count).toBe(2)
      } finally {
        expect((await server.stop()).code).toBe(0)
      }
    })
  })
}
