/**
 * Property tests: malformed input to every route of the members, organizations, users, API-key and
 * login modules never gives a 5xx, every 4xx has exactly PostHog's error keys, and nothing is
 * half-written.
 *
 * Each route is attacked along one dimension at a time, authenticated as the owner (API key or
 * logged-in session):
 * - body: random JSON values, the valid body with one field broken (wrong type, null, NUL bytes,
 *   lone surrogates, huge strings), arrays instead of objects, invalid JSON text, wrong content
 *   types, bodies over the size limit;
 * - query: limit/offset/search/order/email/updated_after with random values, repeated parameters;
 * - ids: random strings, unicode, '..', '%00', UUID-like strings, up to the router's length limit;
 * - undecodable ids: broken percent-escapes, invalid UTF-8, segments over 500 characters.
 * For each, a list of known-dangerous inputs is sent every time (one test, every failure listed),
 * then fast-check generates more. Afterwards the membership levels and the numbers of
 * organizations, memberships and keys must be as before, bar what the creating routes' 2xx
 * answers account for.
 *
 * Generated runs are seeded (FC_SEED, default fixed) so a failure reproduces and the suite's counts
 * are stable; FC_SEED=random explores new inputs on every run.
 */
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, expectErrorShape, login, PASSWORD, seedWorld, type Session, type TestApp, type World } from '../helpers/app.ts'
import { pct } from '../helpers/net.ts'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20261129)

let t: TestApp
let w: World
let session: Session
/** A second key of the owner's and of the outsider's: PAK routes are fuzzed against these. */
let ownerSpareKey: string
let outsiderSpareKey: string

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  session = await login(t.app, w.owner.email)
  ownerSpareKey = (await t.services.apiKeys.create(w.owner, { label: 'spare', scopes: ['*'] })).id
  outsiderSpareKey = (await t.services.apiKeys.create(w.outsider, { label: 'spare', scopes: ['*'] })).id
})
afterAll(async () => t.close())

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const hugeString = fc.integer({ min: 201, max: 200_000 }).map((n) => 'é'.repeat(n))

/** Strings a database or a validator may choke on: NUL bytes, lone surrogates, blanks, SQL, lengths at the limits. */
const nastyString = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '\udfff', '', ' ', '\t\n', "'; DROP TABLE users; --", '%', '\\', 'x'.repeat(40), 'x'.repeat(41), 'x'.repeat(64), 'x'.repeat(65), '\u202e', '\uFEFF'),
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([a, b]) => `${a}\u0000${b}`),
)

/** Values of the wrong type, nulls, edge numbers, NUL bytes, huge strings, nested junk. */
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, '1', '8', '15', 'owner', '[]', '{}', [], {}, [null], ['*'], ['\u0000']) },
  { weight: 3, arbitrary: nastyString },
  { weight: 1, arbitrary: hugeString },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(fc.integer(), fc.string({ unit: 'binary', maxLength: 10 }), nastyString, fc.uuid(), fc.constant(null), fc.constant(2 ** 31)), { maxLength: 5 }) },
)

/** Strings JSON.parse rejects. */
const invalidJson = fc.oneof(
  fc.constantFrom('{', '{"level":', "{'level': 1}", '[1,]', 'NaN', 'undefined', '{"a":1}}', '\u0000', '{"level":1', 'nul', 'tru', '--', '{"a":"\\u00"}', '\uFEFF{}', '{"a":1,}', ''),
  fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => {
    try {
      JSON.parse(s)
      return false
    } catch {
      return true
    }
  }),
)

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'text/html',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/merge-patch+json',
  'application/vnd.api+json',
  '*/*',
  'garbage',
  'application/json; boundary=',
]

interface Body {
  payload: string
  contentType: string | null
}

/**
 * A request body: JSON values (objects with the route's fields, a valid body with one field broken
 * or an unknown field added, arrays, primitives), invalid JSON, wrong content types, oversize.
 */
function bodyArb(fields: readonly string[], valid: Record<string, unknown> = {}): fc.Arbitrary<Body> {
  const fieldNames = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...fields) },
    { weight: 1, arbitrary: fc.constantFrom('personal_api_key', '__proto__', 'constructor') },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  )
  const object = fc.dictionary(fieldNames, weirdValue, { maxKeys: 4 })
  // Close to valid: the route's valid body with one field replaced (or one unknown field added).
  const nearlyValid = fc.tuple(fieldNames, weirdValue).map(([k, v]) => ({ ...valid, [k]: v }))
  const jsonBody = fc.oneof(
    { weight: 3, arbitrary: object },
    { weight: 3, arbitrary: nearlyValid },
    { weight: 1, arbitrary: fc.array(fc.oneof(object, nearlyValid), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], {}, 0, '', 'x', true) },
  )
  return fc.oneof(
    { weight: 6, arbitrary: jsonBody.map((v): Body => ({ payload: JSON.stringify(v), contentType: 'application/json' })) },
    { weight: 2, arbitrary: invalidJson.map((s): Body => ({ payload: s, contentType: 'application/json' })) },
    {
      weight: 2,
      arbitrary: fc.record({
        payload: fc.oneof(jsonBody.map((v) => JSON.stringify(v)), fc.string({ unit: 'binary', maxLength: 40 }), fc.constant('level=8&name=x')),
        contentType: fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.constant(null)),
      }),
    },
    // Over the 1 MiB body limit, and just under it.
    { weight: 1, arbitrary: fc.constantFrom(1_100_000, 1_000_000).map((n): Body => ({ payload: JSON.stringify({ ...valid, [fields[0] ?? 'x']: 'x'.repeat(n) }), contentType: 'application/json' })) },
  )
}

const QUERY_KEYS = ['limit', 'offset', 'search', 'order', 'email', 'updated_after'] as const

const queryValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }).map(pct),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map(pct),
  fc.constantFrom('-1', '0', '1e3', '1.5', ' 5 ', '+5', '0x10', '9'.repeat(25), '9007199254740991', '9007199254740993', 'NaN', 'Infinity', '', '%00', '%zz', '%', '%E0%A4%A', 'a%00b', '%F0%9F%98%80', '+'),
  fc.constantFrom('0000-01-01', '275760-09-13T00:00:00Z', '-271821-04-20T00:00:00Z', '+010000-01-01T00:00:00Z', '2020-13-45', '2020-02-30T25:61:61Z', 'now', 'infinity', '-infinity', '1e10', '1970-01-01T00:00:00+99:99', 'epoch'),
  fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : pct(d.toISOString()))),
  fc.constantFrom('joined_at', '-joined_at', 'user__password', '-user__first_name', 'id; DROP TABLE users'),
  fc.integer({ min: 190, max: 5000 }).map((n) => 'a'.repeat(n)),
  fc.constantFrom("'; DROP TABLE users; --", '&|!', '((', '%_\\', '\\x00').map(pct),
)

/** A query string with the list parameters (and a few unknown ones), repeated or not. */
const queryArb: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map(pct) }), queryValue), { minLength: 1, maxLength: 6 })
  .chain((pairs) =>
    fc.constantFrom('&', '&&', ';').map((sep) => pairs.map(([k, v]) => (v === '' && k.length % 2 === 0 ? k : `${k}=${v}`)).join(sep)),
  )

/** Dot segments: the HTTP client resolves them before sending (`members/..` is the organization URL). */
const DOT_SEGMENTS = new Set(['..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%2e'])

/** Malformed but decodable path segments, up to the router's 500-character limit (already encoded for the URL). */
function weirdIdArb(opts: { destructive: boolean }): fc.Arbitrary<string> {
  const raw = ['..', '.', '%00', 'a%00', '%2e%2e', '%2F', '@me', '@current', 'null', 'undefined', '0', '-1', '1e309', ';', '%20', '%EF%BF%BF', '%F0%9F%98%80', '~', 'admin', '*']
  const ids = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...raw) },
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map(pct),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).map(pct),
    fc.uuid(),
    fc.uuid().map((u) => u.toUpperCase()),
    fc.tuple(fc.uuid(), fc.integer({ min: 0, max: 5 })).map(([u, k]) => [`{${u}}`, u.replace(/-/g, ''), `${u}0`, u.slice(1), u.replace(/[0-9a-f]/, 'g'), `${u}%00`][k]),
    fc.integer({ min: 37, max: 500 }).map((n) => 'a'.repeat(n)),
    fc.integer({ min: 0, max: 2 ** 31 }).map(String),
  )
  // Destructive routes never get a dot segment (it would address the parent resource) or `@current`
  // (which is the owner's own organization); everything else is fair game.
  return opts.destructive ? ids.filter((id) => !DOT_SEGMENTS.has(id) && id !== '@current') : ids
}

/** Path segments the router itself rejects: broken percent-escapes, invalid UTF-8, over 500 characters. */
const undecodableIdArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('%', '%zz', '%4', 'a%', '%C0%AE', '%ED%A0%80', '%FF', '%E0%A4%A', '%%', '%u0041'),
  fc.integer({ min: 501, max: 3000 }).map((n) => 'a'.repeat(n)),
  fc.tuple(fc.uuid(), fc.constantFrom('%', '%zz', '%FF')).map(([u, bad]) => `${u}${bad}`),
)

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

interface FuzzRoute {
  name: string
  method: Method
  /** Builds the path from (already encoded) organization id and target id segments. */
  path: (org: string, target: string) => string
  /** The valid ids used when that segment is not being fuzzed. */
  org: () => string
  target: () => string
  fuzzOrg: boolean
  fuzzTarget: boolean
  fields: readonly string[]
  /** A well-formed body, which the generator breaks one field at a time. */
  valid?: () => Record<string, unknown>
  /** Bodies that would be a legitimate change are left out (their effect is not malformed input). */
  bodyFilter?: (b: Body) => boolean
  destructive?: boolean
  creates?: 'organizations' | 'personal_api_keys'
  /** Logout ends the session: each session run gets its own. */
  sessionPerRun?: boolean
  /** Personal API key routes answer keys with a 403 before looking at the input. */
  keysRefused?: boolean
  /** Fewer runs for a slow route (login checks a password hash each time). */
  scale?: number
}

const ORG_FIELDS = [
  'name', 'logo_media_id', 'is_member_join_email_enabled', 'enforce_2fa', 'members_can_invite', 'members_can_create_projects',
  'members_can_use_personal_api_keys', 'allow_publicly_shared_resources', 'is_ai_data_processing_approved', 'default_experiment_stats_method',
] as const
const KEY_FIELDS = ['label', 'scopes', 'scoped_teams', 'scoped_organizations'] as const
const NO_FIELDS = ['level', 'name', 'label'] as const

/** A member PATCH that names a real level would be a real change; keep only malformed ones. */
function notAValidLevelChange(b: Body): boolean {
  if (b.contentType !== 'application/json') return true
  try {
    const v: unknown = JSON.parse(b.payload)
    return !(v && typeof v === 'object' && !Array.isArray(v) && [1, 8, 15].includes((v as { level?: unknown }).level as number))
  } catch {
    return true
  }
}

const O = () => w.org.id
const members = (org: string) => `/api/organizations/${org}/members`
const notInO = () => w.outsider.uuid

const ROUTES: FuzzRoute[] = [
  { name: 'GET members/', method: 'GET', path: (o) => `${members(o)}/`, org: O, target: () => '', fuzzOrg: true, fuzzTarget: false, fields: NO_FIELDS },
  { name: 'PATCH members/:uuid/', method: 'PATCH', path: (o, id) => `${members(o)}/${id}/`, org: O, target: () => w.member.uuid, fuzzOrg: true, fuzzTarget: true, fields: ['level'], valid: () => ({ level: 1 }), bodyFilter: notAValidLevelChange },
  { name: 'PUT members/:uuid/', method: 'PUT', path: (o, id) => `${members(o)}/${id}/`, org: O, target: () => w.member.uuid, fuzzOrg: true, fuzzTarget: true, fields: ['level'], valid: () => ({ level: 1 }), bodyFilter: notAValidLevelChange },
  // Fuzzed against someone who is not in O, so even a correct request removes no one.
  { name: 'DELETE members/:uuid/', method: 'DELETE', path: (o, id) => `${members(o)}/${id}/`, org: O, target: notInO, fuzzOrg: true, fuzzTarget: true, fields: NO_FIELDS, destructive: true },
  { name: 'GET members/:uuid/github_login/', method: 'GET', path: (o, id) => `${members(o)}/${id}/github_login/`, org: O, target: () => w.member.uuid, fuzzOrg: true, fuzzTarget: true, fields: NO_FIELDS },
  { name: 'GET members/:uuid/scoped_api_keys/', method: 'GET', path: (o, id) => `${members(o)}/${id}/scoped_api_keys/`, org: O, target: () => w.member.uuid, fuzzOrg: true, fuzzTarget: true, fields: NO_FIELDS },
  { name: 'GET organizations/', method: 'GET', path: () => '/api/organizations/', org: O, target: () => '', fuzzOrg: false, fuzzTarget: false, fields: NO_FIELDS },
  { name: 'POST organizations/', method: 'POST', path: () => '/api/organizations/', org: O, target: () => '', fuzzOrg: false, fuzzTarget: false, fields: ['name'], valid: () => ({ name: 'Fuzzed' }), creates: 'organizations' },
  { name: 'GET organizations/:id/', method: 'GET', path: (o) => `/api/organizations/${o}/`, org: O, target: () => '', fuzzOrg: true, fuzzTarget: false, fields: NO_FIELDS },
  { name: 'PATCH organizations/:id/', method: 'PATCH', path: (o) => `/api/organizations/${o}/`, org: O, target: () => '', fuzzOrg: true, fuzzTarget: false, fields: ORG_FIELDS, valid: () => ({ name: 'Org O' }) },
  { name: 'PUT organizations/:id/', method: 'PUT', path: (o) => `/api/organizations/${o}/`, org: O, target: () => '', fuzzOrg: true, fuzzTarget: false, fields: ORG_FIELDS, valid: () => ({ name: 'Org O' }) },
  // Fuzzed against X, which the owner of O cannot delete.
  { name: 'DELETE organizations/:id/', method: 'DELETE', path: (o) => `/api/organizations/${o}/`, org: () => w.other.id, target: () => '', fuzzOrg: true, fuzzTarget: false, fields: NO_FIELDS, destructive: true },
  { name: 'GET users/@me/', method: 'GET', path: (_o, id) => `/api/users/${id}/`, org: O, target: () => '@me', fuzzOrg: false, fuzzTarget: true, fields: NO_FIELDS },
  { name: 'GET personal_api_keys/', method: 'GET', path: () => '/api/personal_api_keys/', org: O, target: () => '', fuzzOrg: false, fuzzTarget: false, fields: NO_FIELDS, keysRefused: true },
  { name: 'POST personal_api_keys/', method: 'POST', path: () => '/api/personal_api_keys/', org: O, target: () => '', fuzzOrg: false, fuzzTarget: false, fields: KEY_FIELDS, valid: () => ({ label: 'fuzzed', scopes: ['*'] }), creates: 'personal_api_keys', keysRefused: true },
  { name: 'GET personal_api_keys/:id/', method: 'GET', path: (_o, id) => `/api/personal_api_keys/${id}/`, org: O, target: () => ownerSpareKey, fuzzOrg: false, fuzzTarget: true, fields: NO_FIELDS },
  { name: 'PATCH personal_api_keys/:id/', method: 'PATCH', path: (_o, id) => `/api/personal_api_keys/${id}/`, org: O, target: () => ownerSpareKey, fuzzOrg: false, fuzzTarget: true, fields: KEY_FIELDS, valid: () => ({ label: 'spare' }), keysRefused: true },
  { name: 'PUT personal_api_keys/:id/', method: 'PUT', path: (_o, id) => `/api/personal_api_keys/${id}/`, org: O, target: () => ownerSpareKey, fuzzOrg: false, fuzzTarget: true, fields: KEY_FIELDS, valid: () => ({ label: 'spare', scopes: ['*'] }), keysRefused: true },
  // Fuzzed against the outsider's key, which the owner cannot delete.
  { name: 'DELETE personal_api_keys/:id/', method: 'DELETE', path: (_o, id) => `/api/personal_api_keys/${id}/`, org: O, target: () => outsiderSpareKey, fuzzOrg: false, fuzzTarget: true, fields: NO_FIELDS, destructive: true, keysRefused: true },
  { name: 'POST personal_api_keys/:id/roll/', method: 'POST', path: (_o, id) => `/api/personal_api_keys/${id}/roll/`, org: O, target: () => ownerSpareKey, fuzzOrg: false, fuzzTarget: true, fields: NO_FIELDS, keysRefused: true },
  { name: 'POST login/', method: 'POST', path: () => '/api/login/', org: O, target: () => '', fuzzOrg: false, fuzzTarget: false, fields: ['email', 'password'], valid: () => ({ email: w.owner.email, password: PASSWORD }), scale: 0.5 },
  { name: 'POST logout/', method: 'POST', path: () => '/api/logout/', org: O, target: () => '', fuzzOrg: false, fuzzTarget: false, fields: NO_FIELDS, sessionPerRun: true },
]

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

interface Snapshot {
  levels: Array<{ organization_id: string; user_id: number; level: number }>
  organizations: number
  memberships: number
  keys: number
}

async function snapshot(): Promise<Snapshot> {
  const n = async (table: string) => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0].n
  return {
    levels: await t.db.query(
      `SELECT organization_id::text, user_id, level FROM memberships WHERE organization_id = ANY ($1::uuid[]) ORDER BY organization_id, user_id`,
      [[w.org.id, w.other.id]],
    ),
    organizations: await n('organizations'),
    memberships: await n('memberships'),
    keys: await n('personal_api_keys'),
  }
}

interface Input {
  auth: 'key' | 'session'
  body: Body | undefined
  query: string | undefined
  org: string | undefined
  target: string | undefined
  trailingSlash: boolean
}

/** What a property breaks: the body, the query string, or the ids in the path (one at a time). */
type Dimension = 'body' | 'query' | 'ids' | 'undecodable ids'
const RUNS: Record<Dimension, number> = { body: 30, query: 20, ids: 20, 'undecodable ids': 10 }

function inputArb(r: FuzzRoute, dim: Dimension): fc.Arbitrary<Input> {
  const plain = bodyArb(r.fields, r.valid?.())
  const body = r.bodyFilter ? plain.filter(r.bodyFilter) : plain
  const id = dim === 'undecodable ids' ? undecodableIdArb : weirdIdArb({ destructive: r.destructive ?? false })
  const none = fc.constant(undefined)
  // For a route with two ids, break either or both.
  const ids: fc.Arbitrary<{ org: string | undefined; target: string | undefined }> =
    r.fuzzOrg && r.fuzzTarget
      ? fc.oneof(
          fc.record({ org: id, target: none }),
          fc.record({ org: none, target: id }),
          fc.record({ org: id, target: id }),
        )
      : fc.record({ org: r.fuzzOrg ? id : none, target: r.fuzzTarget ? id : none })
  return fc
    .record({
      // Where keys are refused outright, most runs use the session so the input reaches validation.
      auth: r.keysRefused ? fc.constantFrom<'key' | 'session'>('key', 'session', 'session', 'session') : fc.constantFrom<'key' | 'session'>('key', 'session'),
      body: dim === 'body' ? body : none,
      query: dim === 'query' ? queryArb : none,
      ids: dim === 'ids' || dim === 'undecodable ids' ? ids : fc.constant({ org: undefined, target: undefined }),
      trailingSlash: fc.boolean(),
    })
    .map(({ ids: i, ...rest }) => ({ ...rest, org: i.org, target: i.target }))
}

/**
 * Inputs known to be dangerous, sent on every run whatever the seed: NUL bytes and lone surrogates
 * in every field, out-of-range integers, extreme dates, NUL in ids, undecodable and overlong segments.
 */
function examplesFor(r: FuzzRoute, dim: Dimension): Input[] {
  const base: Input = { auth: 'session', body: undefined, query: undefined, org: undefined, target: undefined, trailingSlash: true }
  const both = (i: Partial<Input>): Input[] => [{ ...base, ...i }, { ...base, ...i, auth: 'key' }]
  const json = (v: unknown): Body => ({ payload: JSON.stringify(v), contentType: 'application/json' })
  const valid = r.valid?.() ?? {}
  const withIds = (id: string): Input[] => [
    ...(r.fuzzOrg ? both({ org: id }) : []),
    ...(r.fuzzTarget ? both({ target: id }) : []),
  ]
  switch (dim) {
    case 'body': {
      const bodies = r.fields.flatMap((f) => [
        json({ ...valid, [f]: 'a\u0000b' }),
        json({ ...valid, [f]: '\ud800' }),
        json({ ...valid, [f]: [2 ** 31] }),
        { payload: `${f}=a%00b`, contentType: 'application/x-www-form-urlencoded' },
      ])
      // A multipart body that is not multipart (no boundary line), and one cut short.
      bodies.push({ payload: 'level=8&name=x', contentType: 'multipart/form-data; boundary=xyz' })
      bodies.push({ payload: '--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx', contentType: 'multipart/form-data; boundary=xyz' })
      return bodies.filter((b) => !r.bodyFilter || r.bodyFilter(b)).flatMap((body) => both({ body }))
    }
    case 'query':
      return ['email=a%00b', 'search=%00', 'updated_after=%2B010000-01-01T00%3A00%3A00Z', 'updated_after=-001000-01-01T00%3A00%3A00Z', 'limit=-1&limit=x&offset=%00&offset=9'].flatMap((query) => both({ query }))
    case 'ids':
      return ['%00', 'a%00', '00000000-0000-4000-8000-000000000000%00'].flatMap(withIds)
    case 'undecodable ids':
      return ['%zz', 'a'.repeat(501)].flatMap(withIds)
  }
}

async function headersFor(r: FuzzRoute, auth: 'key' | 'session'): Promise<Record<string, string>> {
  if (auth === 'key') return { ...bearer(w.keys.owner) }
  if (!r.sessionPerRun) return { ...session.headers }
  // A session of its own (without another password check: the login route is fuzzed separately).
  const s = await t.services.users.startSession(w.owner.id)
  return { cookie: `sessionid=${s.cookie}; posthog_csrftoken=${s.csrfToken}`, 'x-csrftoken': s.csrfToken }
}

/** Sends one malformed request; returns a description of what is wrong with the answer, or null. */
async function probe(r: FuzzRoute, input: Input): Promise<{ res: LightMyRequestResponse; problem: string | null }> {
  let path = r.path(input.org ?? r.org(), input.target ?? r.target())
  if (!input.trailingSlash) path = path.replace(/\/$/, '')
  const url = input.query === undefined ? path : `${path}?${input.query}`
  const headers = await headersFor(r, input.auth)
  if (input.body?.contentType) headers['content-type'] = input.body.contentType
  const res = await t.app.inject({ method: r.method, url, headers, ...(input.body ? { payload: input.body.payload } : {}) })
  const where = `${r.method} ${url.slice(0, 300)} (${input.auth}) body=${JSON.stringify(input.body?.payload.slice(0, 200))} ct=${input.body?.contentType} → ${res.statusCode} ${res.body.slice(0, 300)}`
  if (res.statusCode >= 500) return { res, problem: `5xx: ${where}` }
  if (res.statusCode >= 400) {
    let body: unknown
    try {
      body = JSON.parse(res.body)
    } catch {
      return { res, problem: `error body is not JSON: ${where}` }
    }
    try {
      expectErrorShape(body)
    } catch (e) {
      return { res, problem: `${(e as Error).message}: ${where}` }
    }
    if (body.attr !== null && typeof body.attr !== 'string') return { res, problem: `attr is neither null nor a string: ${where}` }
  }
  return { res, problem: null }
}

/** Runs `body`, then checks that nothing is half-written: levels and counts as before, bar the 2xx creations. */
async function withoutHalfWrites(r: FuzzRoute, body: (countCreated: (res: LightMyRequestResponse) => void) => Promise<void>): Promise<void> {
  const before = await snapshot()
  let created = 0
  const countCreated = (res: LightMyRequestResponse) => {
    if (r.creates && res.statusCode >= 200 && res.statusCode < 300) created += 1
  }
  let failure: unknown = null
  try {
    await body(countCreated)
  } catch (e) {
    failure = e
  }
  const after = await snapshot()
  expect.soft(after.levels, 'membership levels of O and X').toEqual(before.levels)
  expect.soft(after.organizations, 'organizations').toBe(before.organizations + (r.creates === 'organizations' ? created : 0))
  expect.soft(after.memberships, 'memberships').toBe(before.memberships + (r.creates === 'organizations' ? created : 0))
  expect.soft(after.keys, 'personal API keys').toBe(before.keys + (r.creates === 'personal_api_keys' ? created : 0))
  if (failure) throw failure
}

describe('malformed input never gives a 5xx, and every 4xx is PostHog-shaped', () => {
  ROUTES.forEach((r, index) => {
    const dims: Dimension[] = r.fuzzOrg || r.fuzzTarget ? ['body', 'query', 'ids', 'undecodable ids'] : ['body', 'query']
    dims.forEach((dim, d) => {
      // The known-dangerous inputs, every one of them, each failure listed.
      it(`${r.name}: known-dangerous ${dim}`, async () => {
        await withoutHalfWrites(r, async (countCreated) => {
          const problems: string[] = []
          const examples = examplesFor(r, dim)
          expect(examples.length).toBeGreaterThan(0)
          for (const input of examples) {
            const { res, problem } = await probe(r, input)
            countCreated(res)
            if (problem) problems.push(problem)
          }
          expect(problems, `${problems.length} of ${examples.length} inputs:\n${problems.join('\n')}`).toEqual([])
        })
      })

      const numRuns = Math.max(10, Math.round(RUNS[dim] * (r.scale ?? 1)))
      it(`${r.name}: random malformed ${dim} (${numRuns} runs)`, async () => {
        await withoutHalfWrites(r, async (countCreated) => {
          const details = await fc.check(
            fc.asyncProperty(inputArb(r, dim), async (input) => {
              const { res, problem } = await probe(r, input)
              countCreated(res)
              if (problem) throw new Error(problem)
            }),
            { numRuns, seed: SEED + index * 4 + d },
          )
          if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'property failed')
        })
      })
    })
  })

  it('the generators do produce the malformed shapes they promise', () => {
    // Guards against a generator silently narrowing to well-formed input.
    const bodies = fc.sample(bodyArb(['level']), { numRuns: 400, seed: 42 })
    expect(bodies.some((b) => b.contentType === 'application/json' && b.payload.startsWith('['))).toBe(true)
    expect(bodies.some((b) => b.contentType !== 'application/json')).toBe(true)
    expect(bodies.some((b) => b.payload.length > 1_048_576)).toBe(true)
    expect(
      bodies.some((b) => {
        try {
          JSON.parse(b.payload)
          return false
        } catch {
          return b.contentType === 'application/json'
        }
      }),
    ).toBe(true)
    expect(bodies.some((b) => b.payload.includes('null'))).toBe(true)
    const queries = fc.sample(queryArb, { numRuns: 300, seed: 42 })
    expect(queries.some((q) => /(^|[&;])limit=.*(&|;)+limit=/.test(q) || /(^|[&;])(\w+)=.*[&;]\2=/.test(q))).toBe(true)
    for (const k of QUERY_KEYS) expect(queries.some((q) => q.includes(`${k}=`)), k).toBe(true)
    const ids = fc.sample(weirdIdArb({ destructive: false }), { numRuns: 400, seed: 42 })
    for (const special of ['..', '%00', '@current']) expect(ids, special).toContain(special)
    expect(ids.some((id) => id.length > 400 && id.length <= 500)).toBe(true)
    const undecodable = fc.sample(undecodableIdArb, { numRuns: 100, seed: 42 })
    expect(undecodable.some((id) => id.length > 500)).toBe(true)
    expect(undecodable).toContain('%zz')
    expect(ids.some((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(id))).toBe(true)
    const safe = fc.sample(weirdIdArb({ destructive: true }), { numRuns: 400, seed: 42 })
    expect(safe.filter((id) => DOT_SEGMENTS.has(id) || id === '@current')).toEqual([])
  })
})
