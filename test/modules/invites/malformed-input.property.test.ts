/**
 * Malformed input on every invite and signup route, generated with fast-check: bodies (a valid body
 * with one field broken, junk objects and arrays, invalid JSON, wrong content types, over the body
 * limit), query strings, and ids in the path (random, unicode, over-long, undecodable, another
 * organization's invite). For every answer:
 * - never a 5xx;
 * - a JSON error is exactly PostHog's `{type, code, detail, attr}` (the /signup/:id page answers
 *   its own errors in HTML, which must then say what went wrong);
 * - a 400 validation error for a valid body with one known field broken names that field (DRF's
 *   `__<index>__<field>` for a bulk item), or is a non-field error (attr null);
 * - every invite, signup and page answer also passes the contract check of ./contract.ts.
 * Afterwards the database holds exactly what the 2xx answers account for.
 *
 * Runs are seeded (FC_SEED, default fixed) so a failure reproduces; FC_SEED=random explores.
 */
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, expectErrorShape, seedWorld, uniqueEmail, type TestApp, type World } from '../../helpers/app.ts'
import { checkInviteResponses } from './contract.ts'
import { pct } from '../../helpers/net.ts'

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20261129)

let t: TestApp
let w: World
/** An invite of O that fuzzed deletes and signups never consume (a fresh one per run is made where needed). */
let otherOrgInvite: string
let sessionHeaders: Record<string, string>

beforeAll(async () => {
  t = await createTestApp()
  await checkInviteResponses(t)
  w = await seedWorld(t.services)
  const x = await t.app.inject({ method: 'POST', url: `/api/organizations/${w.other.id}/invites/`, headers: bearer(w.keys.outsider), payload: { target_email: uniqueEmail('x'), send_email: false } })
  otherOrgInvite = (x.json() as { id: string }).id
  const s = await t.services.users.startSession(w.owner.id)
  sessionHeaders = { cookie: `sessionid=${s.cookie}; posthog_csrftoken=${s.csrfToken}`, 'x-csrftoken': s.csrfToken }
})
afterAll(async () => t?.close())

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const nastyString = fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '', ' ', '\t\n', "'; DROP TABLE invites; --", '%', '\\', 'x'.repeat(30), 'x'.repeat(31), 'x'.repeat(254), `${'x'.repeat(250)}@b.co`, '\u202e', '\uFEFF', 'a@b', '@', 'a@b.c\u0000', ' A@B.COM ', 'ü@ü.de')

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 53, 1e308, '1', '8', '15', 'owner', 'admin', [], {}, [null], [{ id: 1 }], [{ id: 'x', level: 'member' }], [{ id: 2 ** 31, level: 'admin' }], [{ id: 1.5, level: 'member' }], [{ id: -1, level: 'owner' }]) },
  { weight: 3, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.integer({ min: 255, max: 20_000 }).map((n) => 'é'.repeat(n)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
)

const invalidJson = fc.constantFrom('{', '{"target_email":', "{'target_email': 'a@b.co'}", '[1,]', 'NaN', '{"a":1}}', '\u0000', 'nul', '{"a":"\\u00"}', '\uFEFF{}', '[{"target_email":"a@b.co"},]')
const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=xyz', 'application/xml', 'application/json; charset=utf-16', 'garbage', '*/*']

interface Body {
  payload: string
  contentType: string | null
  /** The field broken in an otherwise valid body (attr must name it on a field error). */
  broken?: string
}

const INVITE_FIELDS = ['target_email', 'first_name', 'level', 'message', 'private_project_access', 'send_email', 'combine_pending_invites'] as const
const DELEGATE_FIELDS = ['target_email', 'message', 'step_at_delegation'] as const
const SIGNUP_FIELDS = ['first_name', 'password', 'role_at_organization'] as const

const json = (v: unknown, broken?: string): Body => ({ payload: JSON.stringify(v), contentType: 'application/json', ...(broken ? { broken } : {}) })

function objectBody(fields: readonly string[], valid: () => Record<string, unknown>): fc.Arbitrary<Body> {
  const names = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...fields) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'personal_api_key', 'id') })
  return fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...fields), weirdValue).map(([k, v]) => json({ ...valid(), [k]: v }, k)) },
    { weight: 2, arbitrary: fc.dictionary(names, weirdValue, { maxKeys: 4 }).map((o) => json(o)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => json(v)) },
    { weight: 1, arbitrary: invalidJson.map((s): Body => ({ payload: s, contentType: 'application/json' })) },
    { weight: 1, arbitrary: fc.record({ payload: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constant('target_email=a%40b.co&level=8')), contentType: fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.constant(null)) }) },
    { weight: 1, arbitrary: fc.constant(json({ ...valid(), message: 'x'.repeat(1_100_000) })) },
  )
}

const validInvite = () => ({ target_email: uniqueEmail('fuzz'), send_email: false })

/** Bulk bodies: arrays of valid items with one item's field broken, too many items, non-arrays. */
const bulkBody: fc.Arbitrary<Body> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.nat(), fc.constantFrom(...INVITE_FIELDS), weirdValue).map(([n, at, field, value]) => {
      const items: Record<string, unknown>[] = Array.from({ length: n }, validInvite)
      const index = at % n
      items[index] = { ...items[index], [field]: value }
      return json(items, `__${index}__${field}`)
    }),
  },
  { weight: 1, arbitrary: fc.integer({ min: 21, max: 60 }).map((n) => json(Array.from({ length: n }, validInvite))) },
  { weight: 1, arbitrary: fc.array(weirdValue, { maxLength: 4 }).map((a) => json(a)) },
  { weight: 2, arbitrary: objectBody(INVITE_FIELDS, validInvite) },
)

/** Path ids: random and unicode strings, near-UUIDs, over-long, undecodable, another organization's. */
const idArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('%00', 'a%00', '..', '%2e%2e', '%2F', '@me', '@current', 'null', '0', '-1', ';', '%20', '%F0%9F%98%80', '%zz', '%', '%FF', '%E0%A4%A'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map(pct),
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.tuple(fc.uuid(), fc.integer({ min: 0, max: 3 })).map(([u, k]) => [`{${u}}`, u.replace(/-/g, ''), `${u}0`, `${u}%00`][k]),
  fc.integer({ min: 37, max: 12_000 }).map((n) => 'a'.repeat(n)),
  fc.constant('OTHER_ORG_INVITE'),
)

const queryArb: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.constantFrom('limit', 'offset', 'search', 'order', 'email', 'x'),
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 20 }).map(pct),
        fc.constantFrom('-1', '0', '1e3', '1.5', '9'.repeat(25), '9007199254740993', 'NaN', '', '%00', '%zz', '%', '+'),
        fc.integer({ min: 190, max: 5000 }).map((n) => 'a'.repeat(n)),
      ),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

type Dim = 'body' | 'query' | 'id'
const DOT_SEGMENTS = new Set(['.', '..', '%2e%2e', '%2E%2E', '%2e', '%2E'])

interface FuzzRoute {
  name: string
  method: 'GET' | 'POST' | 'DELETE'
  path: (id: string) => string
  /** The valid id used when the id is not what is being broken. */
  id: () => Promise<string>
  dims: Dim[]
  body?: fc.Arbitrary<Body>
  headers: () => Record<string, string>
  /** The /signup/:id page answers in HTML. */
  html?: boolean
}

const orgBase = () => `/api/organizations/${w.org.id}/invites`
const owner = () => bearer(w.keys.owner)
const anonymous = () => ({})

async function liveInvite(): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: `${orgBase()}/`, headers: owner(), payload: { target_email: uniqueEmail('fuzz-target'), send_email: false } })
  return (res.json() as { id: string }).id
}
const noId = async () => ''

const ROUTES: FuzzRoute[] = [
  { name: 'GET invites/', method: 'GET', path: () => `${orgBase()}/`, id: noId, dims: ['query'], headers: owner },
  { name: 'POST invites/', method: 'POST', path: () => `${orgBase()}/`, id: noId, dims: ['body', 'query'], body: objectBody(INVITE_FIELDS, validInvite), headers: owner },
  { name: 'POST invites/ (session)', method: 'POST', path: () => `${orgBase()}/`, id: noId, dims: ['body'], body: objectBody(INVITE_FIELDS, validInvite), headers: () => sessionHeaders },
  { name: 'DELETE invites/:id/', method: 'DELETE', path: (id) => `${orgBase()}/${id}/`, id: liveInvite, dims: ['id', 'query'], headers: owner },
  { name: 'POST invites/bulk/', method: 'POST', path: () => `${orgBase()}/bulk/`, id: noId, dims: ['body'], body: bulkBody, headers: owner },
  { name: 'POST invites/delegate/', method: 'POST', path: () => `${orgBase()}/delegate/`, id: noId, dims: ['body'], body: objectBody(DELEGATE_FIELDS, () => ({ target_email: uniqueEmail('fuzz-delegate') })), headers: owner },
  { name: 'GET /api/signup/:id/', method: 'GET', path: (id) => `/api/signup/${id}/`, id: liveInvite, dims: ['id', 'query'], headers: anonymous },
  {
    name: 'POST /api/signup/:id/',
    method: 'POST',
    path: (id) => `/api/signup/${id}/`,
    id: liveInvite,
    dims: ['id', 'body'],
    body: objectBody(SIGNUP_FIELDS, () => ({ first_name: 'Fuzz', password: 'correct horse battery staple 8' })),
    headers: anonymous,
  },
  { name: 'GET /signup/:id (page)', method: 'GET', path: (id) => `/signup/${id}`, id: liveInvite, dims: ['id', 'query'], headers: anonymous, html: true },
  {
    name: 'POST /signup/:id (page form)',
    method: 'POST',
    path: (id) => `/signup/${id}`,
    id: liveInvite,
    dims: ['id', 'body'],
    html: true,
    headers: anonymous,
    body: fc.oneof(
      fc.dictionary(fc.constantFrom('action', 'first_name', 'password', 'csrf_token', 'email'), fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), nastyString, fc.constantFrom('join', 'login', 'create', ''))).map(
        (o): Body => ({ payload: new URLSearchParams(Object.entries(o).map(([k, v]) => [k, String(v)])).toString(), contentType: 'application/x-www-form-urlencoded' }),
      ),
      objectBody(['action', 'first_name', 'password'], () => ({ action: 'create', first_name: 'Form', password: 'correct horse battery staple 8' })),
    ),
  },
]

const RUNS: Record<Dim, number> = { body: 40, query: 15, id: 25 }

/** What the 2xx answers created, to compare with the database afterwards. */
const accounted = { invites: new Set<string>(), deleted: new Set<string>(), joinedEmails: new Set<string>() }

async function probe(r: FuzzRoute, dim: Dim, value: string | Body): Promise<string | null> {
  let id = await r.id()
  let query: string | undefined
  let body: Body | undefined
  if (dim === 'id') id = value === 'OTHER_ORG_INVITE' ? otherOrgInvite : (value as string)
  if (dim === 'query') query = value as string
  if (dim === 'body') body = value as Body
  const path = r.path(id)
  const url = query === undefined ? path : `${path}?${query}`
  const headers: Record<string, string> = { ...r.headers() }
  if (body?.contentType) headers['content-type'] = body.contentType
  let res: LightMyRequestResponse
  try {
    res = await t.app.inject({ method: r.method, url, headers, ...(body ? { payload: body.payload } : {}) })
  } catch (e) {
    return `${(e as Error).message}`
  }
  const where = `${r.method} ${url.slice(0, 200)} body=${JSON.stringify(body?.payload.slice(0, 200))} ct=${body?.contentType} → ${res.statusCode} ${res.body.slice(0, 300)}`
  if (res.statusCode >= 500) return `5xx: ${where}`
  const isJson = /^application\/json/.test(String(res.headers['content-type'] ?? ''))
  if (res.statusCode >= 400) {
    if (isJson) {
      const parsed: unknown = JSON.parse(res.body)
      try {
        expectErrorShape(parsed)
      } catch (e) {
        return `${(e as Error).message}: ${where}`
      }
      const err = parsed as { type: string; code: string; attr: string | null }
      const fieldCodes = new Set(['required', 'null', 'invalid_input', 'invalid', 'max_length', 'min_length', 'invalid_choice', 'blank', 'not_a_list'])
      if (body?.broken && err.type === 'validation_error' && fieldCodes.has(err.code) && err.attr !== null && err.attr !== body.broken) {
        return `400 names ${err.attr}, but the broken field is ${body.broken}: ${where}`
      }
    } else if (!r.html || !/^text\/html/.test(String(res.headers['content-type'] ?? ''))) {
      return `error is neither PostHog JSON nor the page's HTML: ${where}`
    } else if (!/role="alert"/.test(res.body)) {
      return `error page does not say what went wrong: ${where}`
    }
  }
  if (res.statusCode >= 200 && res.statusCode < 300 && isJson && res.body !== '') {
    const parsed: unknown = JSON.parse(res.body)
    for (const inv of Array.isArray(parsed) ? parsed : [parsed]) {
      const o = inv as { id?: string; target_email?: string; email?: string; redirect_url?: string }
      if (r.name.startsWith('POST invites') && o.id) accounted.invites.add(o.id)
      if (o.redirect_url !== undefined && o.email) accounted.joinedEmails.add(o.email.toLowerCase())
    }
  }
  if (res.statusCode === 204) accounted.deleted.add(id)
  if (res.statusCode === 303 && r.html) accounted.joinedEmails.add('page-join')
  return null
}

describe('malformed input on invite and signup routes: no 5xx, PostHog errors naming the field', () => {
  const before: { memberships: number; users: number } = { memberships: 0, users: 0 }
  beforeAll(async () => {
    before.memberships = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM memberships`))[0].n
    before.users = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users`))[0].n
  })

  for (const r of ROUTES) {
    for (const dim of r.dims) {
      it(`${r.name}: ${dim}`, async () => {
        const arb: fc.Arbitrary<string | Body> = dim === 'body' ? r.body! : dim === 'query' ? queryArb : idArb
        const problems: string[] = []
        // A dot segment would address the parent resource (DELETE …/invites/../ is the organization).
        const safe = r.method === 'DELETE' ? arb.filter((v) => typeof v !== 'string' || !DOT_SEGMENTS.has(v)) : arb
        const failure = await fc
          .assert(
            fc.asyncProperty(safe, async (v) => {
              const problem = await probe(r, dim, v)
              if (problem) problems.push(problem)
              return problem === null
            }),
            { numRuns: RUNS[dim], seed: SEED, endOnFailure: true },
          )
          .then(
            () => null,
            (e: Error) => e.message.split('\n')[0],
          )
        expect(problems, failure ?? '').toEqual([])
        expect(failure).toBeNull()
      })
    }
  }

  it('the database holds what the 2xx answers account for, and nothing else', async () => {
    // Every invite that exists was created by a 2xx answer or by a test's own setup (fuzz-target,
    // and the other organization's one); none of them names a field value that was refused.
    const rows = await t.db.query<{ id: string; target_email: string }>(`SELECT id, target_email FROM invites`)
    for (const row of rows) {
      const setup = row.target_email.startsWith('fuzz-target-') || row.id === otherOrgInvite
      expect(setup || accounted.invites.has(row.id), `invite ${row.target_email} created by no 2xx answer`).toBe(true)
    }
    for (const id of accounted.deleted) expect(rows.map((r) => r.id)).not.toContain(id)
    // Memberships and users grow only by successful sign-ups (JSON 201 or the page's 303).
    const memberships = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM memberships`))[0].n
    const users = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users`))[0].n
    const joins = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM activity_log WHERE scope = 'OrganizationInvite' AND activity = 'used'`)
    expect(memberships - before.memberships).toBe(joins[0].n)
    expect(users - before.users).toBe(joins[0].n)
    expect(await t.db.query(`SELECT 1 FROM invites WHERE id = $1`, [otherOrgInvite])).toHaveLength(1)
  })
})
