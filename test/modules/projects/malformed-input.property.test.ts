/**
 * Property tests: malformed input to every project route never gives a 5xx, every 4xx has exactly
 * PostHog's error keys, and nothing is half-written.
 *
 * Each route is attacked along one dimension at a time, as the owner (API key, and a logged-in
 * session for the writes): bodies (every writable field with values of the wrong type, nulls, NUL
 * bytes, lone surrogates, huge strings, deep JSON; a valid body with one field broken; arrays and
 * primitives instead of objects; invalid JSON; wrong content types), query strings for the list,
 * and ids (random strings, unicode, out-of-range numbers, `@current`). A list of known-dangerous
 * inputs is sent every time, then fast-check generates more (seeded by FC_SEED, default fixed).
 * Afterwards the number of projects has grown only by the 201 answers, and O's main project is
 * intact.
 */
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WRITABLE } from '../../../src/modules/projects/validate.ts'
import { bearer, createTestApp, expectErrorShape, login, seedWorld, type Session, type TestApp, type World } from '../../helpers/app.ts'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20261129)
const RUNS = Number(process.env.FC_RUNS ?? 40)

let t: TestApp
let w: World
let session: Session
let created = 0
let projectsBefore = 0

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  session = await login(t.app, w.owner.email)
  projectsBefore = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM projects`))[0].n
})
afterAll(async () => t.close())

const FIELDS = [...WRITABLE.map((f) => f.name), 'id', 'api_token', 'is_pending_deletion', 'organization_member', 'access_level', 'personal_api_key']

const nastyString = fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '\udfff', '', ' ', '\t\n', "'; DROP TABLE projects; --", '%', '\\', '(', '(?=x)', '\\1', '*.*.*.*.*.*', 'http://[', '\u202e', '\uFEFF', 'x'.repeat(201), 'x'.repeat(1001))

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 0.534, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, '1', '0.40', 'UTC', 'Nowhere/Land', 'b2b', '30d', '5y', [], {}, [null], [''], { version: 2, groups: [{}] }, { version: 2, groups: [{ id: 1, sampleRate: 0.5, conditions: { urls: [{ url: '(', matching: 'regex' }], events: [{}], properties: [{}] } }] }, [{ regex: '(a)', alias: '\\9' }], [{ key: 'id', type: 'cohort', value: 'x' }], { retention_days: 30 }, { bounceRateDurationSeconds: 'x' }, { sources_map: { a: null } }, { widget_domains: [null, '*.*.*.*.*.*.a'] }, { id: '1e3', key: 1 }, { maskAllInputs: 1 }, { ai_config: { x: 1 } }) },
  { weight: 3, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.integer({ min: 201, max: 100_000 }).map((n) => 'é'.repeat(n)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.integer(), fc.string({ unit: 'binary', maxLength: 10 }), nastyString, fc.constant(null), fc.constant({})), { maxLength: 5 }) },
)

const fieldName = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor') })

interface Body {
  payload: string
  contentType: string | null
}

const invalidJson = fc.constantFrom('{', '{"name":', "{'name': 1}", '[1,]', 'NaN', '\u0000', '{"a":1}}', '{"a":"\\u00"}', '\uFEFF{}', '')

function bodyArb(valid: Record<string, unknown>): fc.Arbitrary<Body> {
  const object = fc.dictionary(fieldName, weirdValue, { maxKeys: 5 })
  const nearlyValid = fc.tuple(fieldName, weirdValue).map(([k, v]) => ({ ...valid, [k]: v }))
  const json = fc.oneof(
    { weight: 4, arbitrary: object },
    { weight: 4, arbitrary: nearlyValid },
    { weight: 1, arbitrary: fc.array(object, { maxLength: 2 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], 0, '', 'x', true) },
  )
  return fc.oneof(
    { weight: 8, arbitrary: json.map((v): Body => ({ payload: JSON.stringify(v), contentType: 'application/json' })) },
    { weight: 1, arbitrary: invalidJson.map((s): Body => ({ payload: s, contentType: 'application/json' })) },
    {
      weight: 1,
      arbitrary: fc.record({
        payload: fc.oneof(json.map((v) => JSON.stringify(v)), fc.constant('name=x&timezone=UTC&is_demo=true')),
        contentType: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/xml', 'garbage', null),
      }),
    },
  )
}

const idArb = (destructive: boolean) =>
  fc
    .oneof(
      fc.constantFrom('@current', '0', '-1', '1.5', '1e3', '2147483648', '99999999999999999999', 'null', '%00', '%20', 'abc', '%F0%9F%98%80', '00001', ' 1', '+1'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).map((s) => encodeURIComponent(s)),
      fc.integer({ min: -5, max: 2 ** 31 + 5 }).map(String),
      fc.integer({ min: 501, max: 800 }).map((n) => 'a'.repeat(n)),
    )
    // Destructive calls never aim at a real project of O by number or @current.
    .filter((id) => !destructive || (!/^\+?\s*0*\d+$/.test(decodeURIComponent(id).trim()) && id !== '@current'))

const queryArb = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'offset', 'search', 'tags', 'x'),
      fc.oneof(
        fc.constantFrom('-1', '0', '1e3', '9'.repeat(25), 'NaN', '', '%00', '%zz', '%', '%_\\', "'%20OR%201=1", 'a'.repeat(300)),
        fc.string({ unit: 'binary', maxLength: 20 }).map((s) => encodeURIComponent(s)),
      ),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

function check(res: LightMyRequestResponse, what: string): void {
  expect(res.statusCode, `${what} → ${res.statusCode} ${res.body.slice(0, 300)}`).toBeLessThan(500)
  if (res.statusCode >= 400) {
    expectErrorShape(res.json())
  }
  if (res.statusCode === 201) created += 1
}

async function send(method: Method, url: string, body: Body | null, auth: 'key' | 'session'): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = auth === 'key' ? bearer(w.keys.owner) : { ...session.headers }
  if (body?.contentType) headers['content-type'] = body.contentType
  return t.app.inject({ method, url, headers, ...(body ? { payload: body.payload } : {}) })
}

const O = () => `/api/organizations/${w.org.id}/projects`

interface FuzzRoute {
  name: string
  method: Method
  url: (id: string) => string
  body: boolean
  valid?: Record<string, unknown>
}

const ROUTES: FuzzRoute[] = [
  { name: 'create', method: 'POST', url: () => `${O()}/`, body: true, valid: { name: 'fuzz' } },
  { name: 'patch', method: 'PATCH', url: (id) => `${O()}/${id}/`, body: true, valid: { product_description: 'x' } },
  { name: 'put', method: 'PUT', url: (id) => `${O()}/${id}/`, body: true, valid: { timezone: 'UTC' } },
  { name: 'patch (root)', method: 'PATCH', url: (id) => `/api/projects/${id}/`, body: true },
  { name: 'put (root)', method: 'PUT', url: (id) => `/api/projects/${id}/`, body: true },
  { name: 'set access control', method: 'PUT', url: (id) => `${O()}/${id}/access_controls/`, body: true, valid: { access_level: 'member' } },
]

describe('bodies', () => {
  it.each(ROUTES)('$method $name: known-dangerous bodies', async (route) => {
    const dangerous: unknown[] = [
      null, [], 'x', 1, { name: '\u0000' }, { name: '\ud800' }, { timezone: null }, { app_urls: 'x' }, { app_urls: [1, {}] },
      { session_recording_sample_rate: '1e-400' }, { session_recording_sample_rate: 1e308 }, { session_recording_minimum_duration_milliseconds: 1e20 },
      { default_data_theme: 2 ** 40 }, { week_start_day: '1' }, { cookieless_server_hash_mode: '2' }, { tags: ['\u0000'] }, { tags: 'x' },
      { path_cleaning_filters: [{ regex: '(((((((((((a)))))))))))', alias: '\\11' }] }, { test_account_filters: [{ key: 'a', type: 'hogql' }] },
      { session_recording_trigger_groups: { version: 2, groups: 'x' } }, { marketing_analytics_config: null }, { revenue_analytics_config: [] },
      { modifiers: [] }, { logs_settings: 'x' }, { conversations_settings: { widget_domains: 'x' } }, { survey_config: 'x' },
      { primary_dashboard: '1' }, { access_level: { a: 1 } }, { organization_member: 5 }, { product_description: 'é'.repeat(1001) },
    ]
    for (const value of dangerous) {
      for (const auth of ['key', 'session'] as const) {
        const res = await send(route.method, route.url(String(w.org.projectId)), { payload: JSON.stringify(value), contentType: 'application/json' }, auth)
        check(res, `${route.method} ${route.name} ${JSON.stringify(value).slice(0, 80)}`)
      }
    }
  })

  it.each(ROUTES)('$method $name: generated bodies', async (route) => {
    await fc.assert(
      fc.asyncProperty(bodyArb(route.valid ?? {}), fc.constantFrom<'key' | 'session'>('key', 'session'), async (body, auth) => {
        const res = await send(route.method, route.url(String(w.org.projectId)), body, auth)
        check(res, `${route.method} ${route.name} ${body.contentType} ${body.payload.slice(0, 120)}`)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})

describe('ids', () => {
  const idRoutes: Array<{ method: Method; url: (id: string) => string; destructive: boolean; label: string }> = [
    { method: 'GET', url: (id) => `${O()}/${id}/`, label: '/api/organizations/O/projects/:id/', destructive: false },
    { method: 'PATCH', url: (id) => `${O()}/${id}/`, label: '/api/organizations/O/projects/:id/', destructive: false },
    { method: 'PUT', url: (id) => `${O()}/${id}/`, label: '/api/organizations/O/projects/:id/', destructive: false },
    { method: 'DELETE', url: (id) => `${O()}/${id}/`, label: '/api/organizations/O/projects/:id/', destructive: true },
    { method: 'GET', url: (id) => `/api/projects/${id}/`, label: '/api/projects/:id/', destructive: false },
    { method: 'PATCH', url: (id) => `/api/projects/${id}/`, label: '/api/projects/:id/', destructive: false },
    { method: 'GET', url: (id) => `${O()}/${id}/access_controls/`, label: '/api/organizations/O/projects/:id/access_controls/', destructive: false },
    { method: 'PATCH', url: (id) => `${O()}/${id}/reset_token/`, label: '/api/organizations/O/projects/:id/reset_token/', destructive: true },
    { method: 'GET', url: (id) => `/api/organizations/${id}/projects/`, label: '/api/organizations/:id/projects/', destructive: false },
  ]
  it.each(idRoutes)('$method $label', async (route) => {
    await fc.assert(
      fc.asyncProperty(idArb(route.destructive), async (id) => {
        const res = await send(route.method, route.url(id), route.method === 'GET' || route.method === 'DELETE' ? null : { payload: '{}', contentType: 'application/json' }, 'key')
        check(res, `${route.method} ${route.url(id).slice(0, 120)}`)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})

describe('list query strings', () => {
  it('never fails', async () => {
    await fc.assert(
      fc.asyncProperty(queryArb, async (query) => {
        const res = await send('GET', `${O()}/?${query}`, null, 'key')
        check(res, `GET list ?${query.slice(0, 120)}`)
        if (res.statusCode === 200) expect(res.json().count).toBeGreaterThanOrEqual(0)
      }),
      { seed: SEED, numRuns: RUNS * 2 },
    )
  })
})

describe('afterwards', () => {
  it('only the 201 answers added projects; the main project is intact', async () => {
    const after = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM projects`))[0].n
    expect(after).toBe(projectsBefore + created)
    const main = await t.db.query<{ is_pending_deletion: boolean }>(`SELECT is_pending_deletion FROM projects WHERE id = $1`, [w.org.projectId])
    expect(main).toEqual([{ is_pending_deletion: false }])
    // Every project still has its environment (no half-written create).
    const orphans = await t.db.query(`SELECT p.id FROM projects p LEFT JOIN teams t ON t.id = p.id WHERE t.id IS NULL`)
    expect(orphans).toEqual([])
  })
})
