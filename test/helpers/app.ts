import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import type { Db } from '../../src/db/index.ts'
import type { ServiceOptions, Services } from '../../src/services.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UserRow } from '../../src/modules/users/store.ts'
import { createTestDb } from './db.ts'

export interface TestApp {
  app: FastifyInstance
  services: Services
  db: Db
  url: string | null
  close(): Promise<void>
}

/**
 * The app over a fresh database of this run's kind; call close() in afterAll. The job worker is
 * not started: tests run jobs with `services.worker.drain()` (or start it themselves).
 */
export async function createTestApp(env: Record<string, string> = {}, serviceOptions: ServiceOptions = {}): Promise<TestApp> {
  const tdb = await createTestDb()
  const dataDir = mkdtempSync(join(tmpdir(), 'orgd-test-'))
  const config: Config = loadConfig({ LOG_LEVEL: 'silent', SITE_URL: 'http://orgd.test', ORGD_DATA_DIR: dataDir, JOB_RETRY_BASE_MS: '20', ...env })
  const { app, services } = await buildApp({ config, db: tdb.db, services: { log: () => {}, ...serviceOptions } })
  return {
    app,
    services,
    db: tdb.db,
    url: tdb.url,
    close: async () => {
      await app.close()
      await tdb.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

let counter = 0
export function uniqueEmail(prefix = 'user'): string {
  counter += 1
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 8)}@example.com`
}

export const PASSWORD = 'correct horse battery staple'

export async function createUser(services: Services, opts: { email?: string; firstName?: string; lastName?: string; password?: string } = {}): Promise<UserRow> {
  const { user } = await services.users.ensure({
    email: opts.email ?? uniqueEmail(),
    password: opts.password,
    firstName: opts.firstName ?? 'Test',
    lastName: opts.lastName ?? '',
  })
  return user
}

export async function createOrg(services: Services, owner: UserRow, name = 'Org'): Promise<{ id: string; projectId: number }> {
  const { organization, projectId } = await services.organizations.create(owner, name)
  return { id: organization.id, projectId }
}

export async function addMember(services: Services, organizationId: string, user: UserRow, level: 1 | 8 | 15): Promise<void> {
  await services.members.addDirect(organizationId, user.id, level)
}

export async function createKey(
  services: Services,
  user: UserRow,
  scopes: string[] = ['*'],
  extra: { scoped_organizations?: string[] | null; scoped_teams?: number[] | null } = {},
): Promise<string> {
  // Keys for tests are written through the service, bypassing the per-user limit check's lock order.
  const key = await services.apiKeys.create(user, { label: 'test', scopes, ...extra })
  return key.value!
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

export interface Session {
  headers: Record<string, string>
}

/** Logs in through POST /api/login/ and returns the headers a browser would send (cookie + CSRF). */
export async function login(app: FastifyInstance, email: string, password = PASSWORD): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/login/', payload: { email, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  const cookies = res.cookies as Array<{ name: string; value: string }>
  const session = cookies.find((c) => c.name === 'sessionid')!.value
  const csrf = cookies.find((c) => c.name === 'posthog_csrftoken')!.value
  return { headers: { cookie: `sessionid=${session}; posthog_csrftoken=${csrf}`, 'x-csrftoken': csrf } }
}

/** A small world: organization O (owner, admin, member) and organization X with its own owner. */
export interface World {
  org: { id: string; projectId: number }
  other: { id: string; projectId: number }
  owner: UserRow
  admin: UserRow
  member: UserRow
  outsider: UserRow
  keys: { owner: string; admin: string; member: string; outsider: string }
}

export async function seedWorld(services: Services): Promise<World> {
  const owner = await createUser(services, { firstName: 'Olivia', password: PASSWORD })
  const admin = await createUser(services, { firstName: 'Adam', password: PASSWORD })
  const member = await createUser(services, { firstName: 'Mia', password: PASSWORD })
  const outsider = await createUser(services, { firstName: 'Oscar', password: PASSWORD })
  const org = await createOrg(services, owner, 'Org O')
  const other = await createOrg(services, outsider, 'Org X')
  await addMember(services, org.id, admin, 8)
  await addMember(services, org.id, member, 1)
  // Each person's current organization is O (X for the outsider).
  for (const u of [admin, member]) await services.db.query(`UPDATE users SET current_organization_id = $1 WHERE id = $2`, [org.id, u.id])
  return {
    org,
    other,
    owner,
    admin,
    member,
    outsider,
    keys: {
      owner: await createKey(services, owner),
      admin: await createKey(services, admin),
      member: await createKey(services, member),
      outsider: await createKey(services, outsider),
    },
  }
}

export type Inject = (opts: InjectOptions) => Promise<LightMyRequestResponse>

/** PostHog's error body: exactly these four keys. */
export function expectErrorShape(body: unknown): asserts body is { type: string; code: string; detail: string; attr: string | null } {
  const b = body as Record<string, unknown>
  if (!b || typeof b !== 'object') throw new Error(`not an error body: ${JSON.stringify(body)}`)
  const keys = Object.keys(b).sort().join(',')
  if (keys !== 'attr,code,detail,type') throw new Error(`error body keys are ${keys}: ${JSON.stringify(body)}`)
  if (typeof b.type !== 'string' || typeof b.code !== 'string' || typeof b.detail !== 'string') throw new Error(`bad error body ${JSON.stringify(body)}`)
}
