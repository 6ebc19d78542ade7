/**
 * Contract tests: every response body is validated against the schema the OpenAPI document gives
 * for that operation and status.
 *
 * - Members (and the invite operations that are served) against PostHog's own OpenAPI 3.1
 *   description, `/work/shared/openapi/posthog-organizations.openapi.json`.
 * - Organizations, which that file does not describe, against orgd's own document
 *   (`GET /api/schema/`, generated from the route schemas), plus PostHog's OrganizationSerializer
 *   field list.
 * - Every member response is also checked against orgd's own document, so what orgd publishes
 *   describes what it returns (error answers included: each must be a documented status).
 * - Requests too: PATCH members/{user__uuid}/ is sent in every media type the document lists for
 *   it (drf-spectacular lists the view's parsers: JSON, form, multipart; DRF's ChoiceField takes
 *   the form's "8" as 8), and a `role_at_organization` outside UserBasic's choices must be refused
 *   at signup rather than leak into member lists.
 *
 * To cover another operation: call `posthog.expectMatchesOperation(method, pathTemplate, status,
 * body)` (or `orgd.…`) with the document's path template; a trailing slash does not matter.
 *
 * ## Deviations from PostHog's OpenAPI (orgd follows PostHog's code; ../shared/spec/README.md)
 *
 * | # | operation / schema                                  | the OpenAPI says                     | orgd answers (as PostHog's code does)                                   | source |
 * |---|-----------------------------------------------------|--------------------------------------|-------------------------------------------------------------------------|--------|
 * | 1 | `OrganizationMember.last_login`                     | `string` (date-time), never null     | `string` (date-time) or `null` (a user who never logged in)             | spec §6.1 "`last_login` datetime\|null", `user.last_login` is nullable |
 * | 2 | `GET …/members/{user__uuid}/scoped_api_keys/`       | 200 `OrganizationMember`             | 200 `{has_keys, has_keys_active_last_week, keys: [{name, last_used_at}]}` | spec README table, §6.6 (`test_scoped_api_keys_endpoint`) |
 * | 3 | `POST …/invites/bulk/`                              | 200, no response body                | 201, array of `OrganizationInvite` in input order                       | spec README table, §3 (`test_allow_bulk_creating_invites`) |
 * | 4 | `POST …/invites/delegate/`                          | 200 `OrganizationInvite`             | 201 `OrganizationInvite`                                                | spec README table, §4 |
 *
 * Each deviation is a narrow patch (one property, or one operation's response), stated together
 * with what the document says today: the helper refuses to apply it when the document changes, and
 * a test below shows the unpatched document really rejects the observed response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  addMember,
  bearer,
  createKey,
  createTestApp,
  createUser,
  login,
  seedWorld,
  uniqueEmail,
  type Session,
  type TestApp,
  type World,
} from '../helpers/app.ts'
import { createContract, loadOpenApi, unresolvedRefs, type Deviation, type HttpMethod, type JsonSchema, type OpenApiContract, type OpenApiDocument, POSTHOG_OPENAPI } from '../helpers/contract.ts'


const MEMBERS = '/api/organizations/{organization_id}/members/'
const MEMBER = '/api/organizations/{organization_id}/members/{user__uuid}/'
const GITHUB_LOGIN = '/api/organizations/{organization_id}/members/{user__uuid}/github_login/'
const SCOPED_API_KEYS = '/api/organizations/{organization_id}/members/{user__uuid}/scoped_api_keys/'
const INVITES_BULK = '/api/organizations/{organization_id}/invites/bulk/'
const INVITES_DELEGATE = '/api/organizations/{organization_id}/invites/delegate/'

const ScopedApiKeysSummary: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['has_keys', 'has_keys_active_last_week', 'keys'],
  properties: {
    has_keys: { type: 'boolean' },
    has_keys_active_last_week: { type: 'boolean' },
    keys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'last_used_at'],
        properties: { name: { type: 'string' }, last_used_at: { type: ['string', 'null'], format: 'date-time' } },
      },
    },
  },
}

const jsonResponse = (ref: string) => ({ content: { 'application/json': { schema: { $ref: ref } } }, description: '' })

/** The table above, as data. `documented` is what the OpenAPI says today, checked on load. */
const DEVIATIONS: Deviation[] = [
  {
    kind: 'property',
    schema: 'OrganizationMember',
    property: 'last_login',
    documented: { type: 'string', format: 'date-time', readOnly: true },
    actual: { type: ['string', 'null'], format: 'date-time', readOnly: true },
    why: 'last_login is null until the user first logs in (spec §6.1: datetime|null)',
  },
  {
    kind: 'response',
    method: 'GET',
    path: SCOPED_API_KEYS,
    documented: { status: 200, response: jsonResponse('#/components/schemas/OrganizationMember') },
    actual: { status: 200, schema: ScopedApiKeysSummary },
    why: 'scoped_api_keys returns {has_keys, has_keys_active_last_week, keys}, not a member (spec §6.6)',
  },
  {
    kind: 'response',
    method: 'POST',
    path: INVITES_BULK,
    documented: { status: 200, response: { description: 'No response body' } },
    actual: { status: 201, schema: { type: 'array', items: { $ref: '#/components/schemas/OrganizationInvite' } } },
    why: 'bulk invites answer 201 with the created invites in input order (spec README)',
  },
  {
    kind: 'response',
    method: 'POST',
    path: INVITES_DELEGATE,
    documented: { status: 200, response: jsonResponse('#/components/schemas/OrganizationInvite') },
    actual: { status: 201, schema: { $ref: '#/components/schemas/OrganizationInvite' } },
    why: 'delegate answers 201 (spec README)',
  },
]

/** PostHog's OrganizationSerializer fields (posthog/api/organization.py). */
const POSTHOG_ORGANIZATION_FIELDS = [
  'id',
  'name',
  'slug',
  'logo_media_id',
  'created_at',
  'updated_at',
  'membership_level',
  'plugins_access_level',
  'teams',
  'projects',
  'available_product_features',
  'is_member_join_email_enabled',
  'metadata',
  'customer_id',
  'enforce_2fa',
  'members_can_invite',
  'members_can_use_personal_api_keys',
  'allow_publicly_shared_resources',
  'member_count',
  'is_ai_data_processing_approved',
  'default_experiment_stats_method',
  'default_role_id',
]

let t: TestApp
let w: World
let source: OpenApiDocument
let posthog: OpenApiContract
/** PostHog's document exactly as published, to show each deviation is needed. */
let raw: OpenApiContract
/** orgd's own document, from GET /api/schema/. */
let orgd: OpenApiContract
let adminSession: Session

const path = (template: string, params: Record<string, string>) =>
  template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in params)) throw new Error(`no value for {${name}}`)
    return params[name]
  })

interface Call {
  status: number
  body: unknown
}

/** Calls orgd and returns the status and the parsed body ('' when there is none). */
async function call(method: HttpMethod, url: string, headers: Record<string, string>, payload?: unknown): Promise<Call> {
  const res = await t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) })
  const body: unknown = res.body === '' ? '' : res.json()
  return { status: res.statusCode, body }
}

/** Validates one member-operation response against PostHog's (patched) document and orgd's own. */
function expectMemberContract(method: HttpMethod, template: string, res: Call): void {
  posthog.expectMatchesOperation(method, template, res.status, res.body)
  orgd.expectMatchesOperation(method, template, res.status, res.body)
}

beforeAll(async () => {
  source = loadOpenApi(POSTHOG_OPENAPI)
  posthog = createContract(source, { deviations: DEVIATIONS })
  raw = createContract(source)
  t = await createTestApp()
  w = await seedWorld(t.services)
  const schema = await t.app.inject({ method: 'GET', url: '/api/schema/' })
  expect(schema.statusCode).toBe(200)
  orgd = createContract(schema.json() as OpenApiDocument)
  // A session login sets the admin's last_login, so lists hold both null and non-null values.
  adminSession = await login(t.app, w.admin.email)
})
afterAll(async () => t?.close())

describe('the deviation table', () => {
  it('refuses a deviation that no longer matches the document', () => {
    const stale: Deviation = { ...(DEVIATIONS[0] as Extract<Deviation, { kind: 'property' }>), documented: { type: 'string' } }
    expect(() => createContract(source, { deviations: [stale] })).toThrow(/stale/)
    const missing: Deviation = { ...(DEVIATIONS[0] as Extract<Deviation, { kind: 'property' }>), property: 'no_such_field' }
    expect(() => createContract(source, { deviations: [missing] })).toThrow(/not in the document/)
  })

  it('patches only what it names: members still follow every other documented rule', () => {
    const member = {
      id: '6a2f41a0-0d6c-4d1e-9f3a-1b2c3d4e5f60',
      user: { id: 1, uuid: '6a2f41a0-0d6c-4d1e-9f3a-1b2c3d4e5f61', email: 'a@example.com', hedgehog_config: null },
      level: 15,
      joined_at: '2024-01-01T00:00:00Z',
      updated_at: '2024-01-01T00:00:00Z',
      is_2fa_enabled: false,
      has_social_auth: false,
      last_login: null,
      search_match_type: null,
    }
    expect(posthog.check('PATCH', MEMBER, 200, member)).toEqual([])
    expect(raw.check('PATCH', MEMBER, 200, member).join('\n')).toMatch(/last_login/)
    // Anything else that is wrong is still caught.
    expect(posthog.check('PATCH', MEMBER, 200, { ...member, level: 5 }).join('\n')).toMatch(/\/level/)
    expect(posthog.check('PATCH', MEMBER, 200, { ...member, last_login: 'yesterday' }).join('\n')).toMatch(/last_login.*format/)
    const { search_match_type: _omitted, ...withoutMatchType } = member
    expect(posthog.check('PATCH', MEMBER, 200, withoutMatchType).join('\n')).toMatch(/search_match_type/)
    expect(posthog.check('PATCH', MEMBER, 201, member).join('\n')).toMatch(/status 201 is not documented/)
    // Nested $refs (user is `allOf: [UserBasic]`) and formats are enforced.
    expect(posthog.check('PATCH', MEMBER, 200, { ...member, user: { id: 1, email: 'a@example.com', hedgehog_config: null } }).join('\n')).toMatch(/\/user.*uuid/)
    expect(posthog.check('PATCH', MEMBER, 200, { ...member, user: { ...member.user, email: 'not an email' } }).join('\n')).toMatch(/\/user\/email.*format/)
    expect(posthog.check('DELETE', MEMBER, 204, { unexpected: true }).join('\n')).toMatch(/documents no body/)
  })
})

describe('members against PostHog OpenAPI', () => {
  it('GET members/ (no search): a paginated list of members, last_login null or a date-time', async () => {
    const res = await call('GET', `/api/organizations/${w.org.id}/members/`, bearer(w.keys.member))
    expect(res.status).toBe(200)
    expectMemberContract('GET', MEMBERS, res)
    const results = (res.body as { results: Array<{ last_login: string | null; search_match_type: unknown }> }).results
    expect(results).toHaveLength(3)
    // Both shapes of last_login are in this one response, so both are validated.
    expect(results.some((m) => m.last_login === null)).toBe(true)
    expect(results.some((m) => typeof m.last_login === 'string')).toBe(true)
    expect(results.every((m) => m.search_match_type === null)).toBe(true)
    // Deviation 1 is needed: the published document rejects this response.
    expect(raw.check('GET', MEMBERS, 200, res.body).join('\n')).toMatch(/last_login/)
  })

  it('GET members/ with limit/offset: next and previous are absolute URIs', async () => {
    const res = await call('GET', `/api/organizations/${w.org.id}/members/?limit=1&offset=1`, bearer(w.keys.member))
    expect(res.status).toBe(200)
    expectMemberContract('GET', MEMBERS, res)
    const body = res.body as { next: string | null; previous: string | null; results: unknown[] }
    expect(body.results).toHaveLength(1)
    expect(body.next).toMatch(/^https?:\/\//)
    expect(body.previous).toMatch(/^https?:\/\//)
  })

  it('GET members/?search= with exact matches: search_match_type "exact"', async () => {
    const res = await call('GET', `/api/organizations/${w.org.id}/members/?search=olivia`, bearer(w.keys.member))
    expect(res.status).toBe(200)
    expectMemberContract('GET', MEMBERS, res)
    const results = (res.body as { results: Array<{ search_match_type: string | null }> }).results
    expect(results.map((r) => r.search_match_type)).toEqual(['exact'])
  })

  it('GET members/?search= with only similar matches: search_match_type "similar"', async () => {
    const m = await createUser(t.services, { firstName: 'Marketing', lastName: 'Person' })
    await addMember(t.services, w.org.id, m, 1)
    const res = await call('GET', `/api/organizations/${w.org.id}/members/?search=marekting`, bearer(w.keys.member))
    expect(res.status).toBe(200)
    expectMemberContract('GET', MEMBERS, res)
    const results = (res.body as { results: Array<{ search_match_type: string | null }> }).results
    expect(results.length).toBeGreaterThan(0)
    expect(results.every((r) => r.search_match_type === 'similar')).toBe(true)
    await t.services.db.query(`DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, [w.org.id, m.id])
  })

  it('GET members/?search= with no match: an empty page still matches', async () => {
    const res = await call('GET', `/api/organizations/${w.org.id}/members/?search=zzqqxxyy`, bearer(w.keys.member))
    expect(res.status).toBe(200)
    expectMemberContract('GET', MEMBERS, res)
    expect(res.body).toEqual({ count: 0, next: null, previous: null, results: [] })
  })

  it('a member has exactly the documented fields, and its user exactly UserBasic', async () => {
    const res = await call('GET', `/api/organizations/${w.org.id}/members/?email=${encodeURIComponent(w.owner.email)}`, bearer(w.keys.member))
    const [member] = (res.body as { results: Array<{ user: object }> }).results
    expect(Object.keys(member).sort()).toEqual(posthog.componentProperties('OrganizationMember').sort())
    expect(Object.keys(member.user).sort()).toEqual(posthog.componentProperties('UserBasic').sort())
  })

  it('PATCH members/{user__uuid}/ level: the updated member', async () => {
    const target = await createUser(t.services, { firstName: 'Pat' })
    await addMember(t.services, w.org.id, target, 1)
    const up = await call('PATCH', `/api/organizations/${w.org.id}/members/${target.uuid}/`, bearer(w.keys.owner), { level: 8 })
    expect(up.status).toBe(200)
    expectMemberContract('PATCH', MEMBER, up)
    expect((up.body as { level: number }).level).toBe(8)
    // An empty PATCH answers the unchanged member, in the same shape.
    const same = await call('PATCH', `/api/organizations/${w.org.id}/members/${target.uuid}/`, bearer(w.keys.owner), {})
    expect(same.status).toBe(200)
    expectMemberContract('PATCH', MEMBER, same)
    expect((same.body as { level: number }).level).toBe(8)
  })

  it('DELETE members/{user__uuid}/: 204 with no body, as documented', async () => {
    const target = await createUser(t.services, { firstName: 'Dee' })
    await addMember(t.services, w.org.id, target, 1)
    const res = await call('DELETE', `/api/organizations/${w.org.id}/members/${target.uuid}/`, bearer(w.keys.owner))
    expect(res.status).toBe(204)
    expectMemberContract('DELETE', MEMBER, res)
  })

  it('GET members/{user__uuid}/github_login/: null, then a login', async () => {
    const target = await createUser(t.services, { firstName: 'Gus' })
    await addMember(t.services, w.org.id, target, 1)
    const url = `/api/organizations/${w.org.id}/members/${target.uuid}/github_login/`
    const none = await call('GET', url, bearer(w.keys.member))
    expect(none.status).toBe(200)
    expectMemberContract('GET', GITHUB_LOGIN, none)
    expect(none.body).toEqual({ github_login: null })
    await t.services.db.query(`INSERT INTO social_identities (user_id, provider, uid, login) VALUES ($1, 'github', '4242', 'octocat')`, [target.id])
    const some = await call('GET', url, bearer(w.keys.member))
    expect(some.status).toBe(200)
    expectMemberContract('GET', GITHUB_LOGIN, some)
    expect(some.body).toEqual({ github_login: 'octocat' })
    // has_social_auth is now true in the member object: still a valid member.
    const list = await call('GET', `/api/organizations/${w.org.id}/members/?email=${encodeURIComponent(target.email)}`, bearer(w.keys.member))
    expectMemberContract('GET', MEMBERS, list)
    expect((list.body as { results: Array<{ has_social_auth: boolean }> }).results[0].has_social_auth).toBe(true)
  })

  it('GET members/{user__uuid}/scoped_api_keys/ (session): the key summary of deviation 2', async () => {
    const u = await createUser(t.services, { firstName: 'Kai' })
    await addMember(t.services, w.org.id, u, 1)
    const url = `/api/organizations/${w.org.id}/members/${u.uuid}/scoped_api_keys/`
    const empty = await call('GET', url, adminSession.headers)
    expect(empty.status).toBe(200)
    expectMemberContract('GET', SCOPED_API_KEYS, empty)
    expect(empty.body).toEqual({ has_keys: false, has_keys_active_last_week: false, keys: [] })

    await t.services.apiKeys.create(u, { label: 'Org Key', scopes: ['*'], scoped_organizations: [w.org.id] })
    const key = await createKey(t.services, u)
    // Using the key sets its last_used_at, so the summary holds a date-time too.
    expect((await call('GET', `/api/organizations/${w.org.id}/members/`, bearer(key))).status).toBe(200)
    const full = await call('GET', url, adminSession.headers)
    expect(full.status).toBe(200)
    expectMemberContract('GET', SCOPED_API_KEYS, full)
    const body = full.body as { has_keys: boolean; keys: Array<{ name: string; last_used_at: string | null }> }
    expect(body.has_keys).toBe(true)
    expect(body.keys.map((k) => k.name).sort()).toEqual(['Org Key', 'test'])
    // Deviation 2 is needed: the published document expects a member here.
    expect(raw.check('GET', SCOPED_API_KEYS, 200, full.body).length).toBeGreaterThan(0)
  })
})

describe("member error responses against orgd's own /api/schema/", () => {
  // PostHog's document lists no error responses for these operations; orgd's documents each one
  // with PostHog's error body, so every error a member route gives must be a documented status.
  it('400, 403 and 404 answers are documented statuses with the error body', async () => {
    const base = `/api/organizations/${w.org.id}/members`
    const cases: Array<[HttpMethod, string, string, Record<string, string>, unknown, number]> = [
      ['GET', MEMBERS, `${base}/?search=${'a'.repeat(201)}`, bearer(w.keys.member), undefined, 400],
      ['GET', MEMBERS, `/api/organizations/${w.other.id}/members/`, bearer(w.keys.member), undefined, 403],
      ['PATCH', MEMBER, `${base}/${w.admin.uuid}/`, bearer(w.keys.owner), { level: 5 }, 400],
      ['PATCH', MEMBER, `${base}/${w.owner.uuid}/`, bearer(w.keys.member), { level: 1 }, 403],
      ['PATCH', MEMBER, `${base}/not-a-uuid/`, bearer(w.keys.owner), { level: 1 }, 404],
      ['DELETE', MEMBER, `${base}/@me/`, bearer(w.keys.owner), undefined, 400],
      ['GET', GITHUB_LOGIN, `${base}/00000000-0000-4000-8000-000000000000/github_login/`, bearer(w.keys.member), undefined, 404],
      ['GET', SCOPED_API_KEYS, `${base}/${w.member.uuid}/scoped_api_keys/`, bearer(w.keys.owner), undefined, 403],
    ]
    for (const [method, template, url, headers, payload, status] of cases) {
      const res = await call(method, url, headers, payload)
      expect(res.status, `${method} ${url}: ${JSON.stringify(res.body)}`).toBe(status)
      orgd.expectMatchesOperation(method, template, res.status, res.body)
      expect(Object.keys(res.body as object).sort()).toEqual(['attr', 'code', 'detail', 'type'])
    }
  })
})

/** The request media types PostHog documents for PATCH members/{user__uuid}/ (drf-spectacular lists the view's parsers). */
const PATCH_MEMBER_MEDIA_TYPES = Object.keys(
  ((loadOpenApi(POSTHOG_OPENAPI).paths[MEMBER].patch as { requestBody?: { content?: object } }).requestBody?.content ?? {}) as object,
)

/** `fields` encoded as `mediaType` (values as a form would send them: strings). */
async function encode(mediaType: string, fields: Record<string, string | number>): Promise<{ contentType: string; payload: string | Buffer }> {
  if (mediaType === 'application/json') return { contentType: 'application/json', payload: JSON.stringify(fields) }
  const strings = Object.entries(fields).map(([k, v]) => [k, String(v)])
  if (mediaType === 'application/x-www-form-urlencoded') return { contentType: mediaType, payload: new URLSearchParams(strings).toString() }
  if (mediaType === 'multipart/form-data') {
    const form = new FormData()
    for (const [k, v] of strings) form.set(k, v)
    const req = new Request('http://localhost/', { method: 'POST', body: form })
    return { contentType: req.headers.get('content-type')!, payload: Buffer.from(await req.arrayBuffer()) }
  }
  throw new Error(`no encoder for the documented media type ${mediaType}`)
}

describe('PATCH members/{user__uuid}/ in every request encoding the OpenAPI documents', () => {
  it('documents JSON, form and multipart bodies', () => {
    expect(PATCH_MEMBER_MEDIA_TYPES.sort()).toEqual(['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'])
  })

  it.each(PATCH_MEMBER_MEDIA_TYPES)('sets the level from a body sent as %s and answers the documented member', async (mediaType) => {
    const target = await createUser(t.services, { firstName: 'Enc' })
    await addMember(t.services, w.org.id, target, 1)
    const { contentType, payload } = await encode(mediaType, { level: 8 })
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/organizations/${w.org.id}/members/${target.uuid}/`,
      headers: { ...bearer(w.keys.owner), 'content-type': contentType },
      payload,
    })
    expect(res.statusCode, res.body).toBe(200)
    expectMemberContract('PATCH', MEMBER, { status: res.statusCode, body: res.json() })
    expect(res.json().level).toBe(8)
  })
})

describe('UserBasic.role_at_organization stays within the documented choices', () => {
  async function join(role: string): Promise<{ signup: Call; email: string }> {
    const email = uniqueEmail('joiner')
    const invite = await call('POST', `/api/organizations/${w.org.id}/invites/`, bearer(w.keys.owner), { target_email: email, send_email: false })
    expect(invite.status).toBe(201)
    const signup = await call('POST', `/api/signup/${(invite.body as { id: string }).id}/`, {}, { first_name: 'Joy', password: 'correct horse battery staple 9', role_at_organization: role })
    return { signup, email }
  }

  it('a person who joined with a documented role is listed with it, matching UserBasic', async () => {
    const { signup, email } = await join('engineering')
    expect(signup.status, JSON.stringify(signup.body)).toBe(201)
    const list = await call('GET', `/api/organizations/${w.org.id}/members/?email=${encodeURIComponent(email)}`, bearer(w.keys.member))
    expectMemberContract('GET', MEMBERS, list)
    expect((list.body as { results: Array<{ user: { role_at_organization: string } }> }).results[0].user.role_at_organization).toBe('engineering')
  })

  it('an undocumented role is refused at signup (400 invalid_choice), so members/ never returns it', async () => {
    const { signup, email } = await join('wizard')
    try {
      expect(signup.status, JSON.stringify(signup.body)).toBe(400)
      expect(signup.body).toEqual({ type: 'validation_error', code: 'invalid_choice', detail: '"wizard" is not a valid choice.', attr: 'role_at_organization' })
      // Whatever happened at signup, the member list must stay within the contract.
      const list = await call('GET', `/api/organizations/${w.org.id}/members/`, bearer(w.keys.member))
      expectMemberContract('GET', MEMBERS, list)
      expect((list.body as { results: Array<{ user: { email: string } }> }).results.map((m) => m.user.email)).not.toContain(email)
    } finally {
      // If the signup went through, take the person out so later cases see a clean organization.
      await t.services.db.query(`DELETE FROM memberships WHERE organization_id = $1 AND user_id IN (SELECT id FROM users WHERE email = $2)`, [w.org.id, email])
    }
  })
})

describe('served invite operations against PostHog OpenAPI', () => {
  it('POST invites/bulk/: 201 with the invites (deviation 3)', async () => {
    const emails = [uniqueEmail('bulk-a'), uniqueEmail('bulk-b')]
    const res = await call('POST', `/api/organizations/${w.org.id}/invites/bulk/`, bearer(w.keys.owner), emails.map((target_email) => ({ target_email, first_name: 'Bo', send_email: false })))
    expect(res.status).toBe(201)
    posthog.expectMatchesOperation('POST', INVITES_BULK, res.status, res.body)
    expect((res.body as Array<{ target_email: string }>).map((i) => i.target_email)).toEqual(emails)
    expect(raw.check('POST', INVITES_BULK, res.status, res.body).join('\n')).toMatch(/status 201 is not documented/)
  })

  it('POST invites/delegate/: 201 with the invite (deviation 4)', async () => {
    const res = await call('POST', `/api/organizations/${w.org.id}/invites/delegate/`, bearer(w.keys.owner), { target_email: uniqueEmail('delegate') })
    expect(res.status).toBe(201)
    posthog.expectMatchesOperation('POST', INVITES_DELEGATE, res.status, res.body)
    expect((res.body as { level: number }).level).toBe(8)
    expect(raw.check('POST', INVITES_DELEGATE, res.status, res.body).join('\n')).toMatch(/status 201 is not documented/)
  })
})

describe("organizations against orgd's own /api/schema/ and PostHog's OrganizationSerializer fields", () => {
  const ORGS = '/api/organizations/'
  const ORG = '/api/organizations/{organization_id}/'

  function expectPostHogOrganizationFields(org: unknown): void {
    expect(Object.keys(org as object)).toEqual(expect.arrayContaining(POSTHOG_ORGANIZATION_FIELDS))
    const missing = POSTHOG_ORGANIZATION_FIELDS.filter((f) => !(f in (org as object)))
    expect(missing).toEqual([])
  }

  it("orgd's document requires every OrganizationSerializer field in the organization response", () => {
    for (const [method, template, status] of [
      ['GET', ORG, 200],
      ['PATCH', ORG, 200],
      ['POST', ORGS, 201],
    ] as const) {
      const schema = orgd.responseFor(method, template, status)?.content?.['application/json']?.schema
      expect(schema, `${method} ${template} ${status}`).toBeDefined()
      const resolved = resolveLocal(orgd.document, schema!)
      expect(Object.keys((resolved.properties as object) ?? {})).toEqual(expect.arrayContaining(POSTHOG_ORGANIZATION_FIELDS))
      expect(resolved.required as string[]).toEqual(expect.arrayContaining(POSTHOG_ORGANIZATION_FIELDS))
    }
  })

  it('GET /api/organizations/: a paginated list of organizations', async () => {
    const res = await call('GET', ORGS, bearer(w.keys.owner))
    expect(res.status).toBe(200)
    orgd.expectMatchesOperation('GET', ORGS, res.status, res.body)
    const results = (res.body as { results: Array<{ id: string }> }).results
    expect(results.map((o) => o.id)).toContain(w.org.id)
    for (const o of results) expectPostHogOrganizationFields(o)
  })

  it('GET /api/organizations/{id}/ and @current: the organization', async () => {
    for (const id of [w.org.id, '@current']) {
      const res = await call('GET', `/api/organizations/${id}/`, bearer(w.keys.admin))
      expect(res.status).toBe(200)
      orgd.expectMatchesOperation('GET', ORG, res.status, res.body)
      expectPostHogOrganizationFields(res.body)
      expect((res.body as { id: string; membership_level: number }).id).toBe(w.org.id)
      expect((res.body as { membership_level: number }).membership_level).toBe(8)
    }
  })

  it('POST, PATCH and DELETE /api/organizations/: 201, 200, 204', async () => {
    const created = await call('POST', ORGS, bearer(w.keys.owner), { name: 'Contract Co' })
    expect(created.status).toBe(201)
    orgd.expectMatchesOperation('POST', ORGS, created.status, created.body)
    expectPostHogOrganizationFields(created.body)
    const id = (created.body as { id: string }).id
    const patched = await call('PATCH', `/api/organizations/${id}/`, bearer(w.keys.owner), { name: 'Contract Co 2', enforce_2fa: true })
    expect(patched.status).toBe(200)
    orgd.expectMatchesOperation('PATCH', ORG, patched.status, patched.body)
    expectPostHogOrganizationFields(patched.body)
    expect(patched.body).toMatchObject({ name: 'Contract Co 2', enforce_2fa: true })
    const deleted = await call('DELETE', `/api/organizations/${id}/`, bearer(w.keys.owner))
    expect(deleted.status).toBe(204)
    orgd.expectMatchesOperation('DELETE', ORG, deleted.status, deleted.body)
  })
})

describe('GET /api/schema/ and the Swagger UI', () => {
  it('is a valid JSON OpenAPI document with the member operations', async () => {
    for (const url of ['/api/schema/', '/api/schema']) {
      const res = await t.app.inject({ method: 'GET', url })
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      const doc = JSON.parse(res.body) as OpenApiDocument
      expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/)
      expect(typeof doc.info?.title).toBe('string')
      expect(typeof doc.info?.version).toBe('string')
      const methods = (template: string) => {
        const key = Object.keys(doc.paths).find((p) => p.replace(/\/$/, '') === template.replace(/\/$/, ''))
        return key ? Object.keys(doc.paths[key]) : []
      }
      expect(methods(MEMBERS)).toEqual(expect.arrayContaining(['get']))
      expect(methods(MEMBER)).toEqual(expect.arrayContaining(['patch', 'delete']))
      expect(methods(GITHUB_LOGIN)).toEqual(expect.arrayContaining(['get']))
      expect(methods(SCOPED_API_KEYS)).toEqual(expect.arrayContaining(['get']))
      // Every operation has responses, and every $ref points inside the document.
      for (const [p, ops] of Object.entries(doc.paths)) {
        for (const [m, op] of Object.entries(ops)) {
          if (!['get', 'post', 'put', 'patch', 'delete'].includes(m)) continue
          expect(Object.keys((op as { responses?: object }).responses ?? {}), `${m} ${p}`).not.toEqual([])
        }
      }
      expect(unresolvedRefs(doc)).toEqual([])
    }
  })

  it('serves the Swagger UI as HTML, with its assets and document', async () => {
    let url = '/api/schema/swagger-ui/'
    let res = await t.app.inject({ method: 'GET', url })
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 5; hops++) {
      url = new URL(String(res.headers.location), `http://localhost${url}`).pathname
      res = await t.app.inject({ method: 'GET', url })
    }
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/html/)
    expect(res.body).toMatch(/<html/i)
    expect(res.body).toMatch(/swagger-ui/i)
    // The page's scripts load (relative to the page's URL).
    const base = new URL(url, 'http://localhost')
    const scripts = [...res.body.matchAll(/<script src="([^"]+)"/g)].map((m) => new URL(m[1], base).pathname)
    expect(scripts.length).toBeGreaterThan(0)
    for (const s of scripts) {
      const asset = await t.app.inject({ method: 'GET', url: s })
      expect(asset.statusCode, s).toBe(200)
    }
  })
})

/** Follows a local `$ref` (one or more hops) to the schema object it names. */
function resolveLocal(doc: OpenApiDocument, schema: JsonSchema): JsonSchema {
  let current = schema
  for (let hops = 0; typeof current.$ref === 'string' && hops < 10; hops++) {
    const parts = (current.$ref as string).replace(/^#\//, '').split('/')
    let node: unknown = doc
    for (const part of parts) node = (node as { [k: string]: unknown })[part.replace(/~1/g, '/').replace(/~0/g, '~')]
    current = node as JsonSchema
  }
  return current
}
