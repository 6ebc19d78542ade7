/**
 * Authorization matrix for every project route × every kind of caller: anonymous, an unknown key,
 * member/admin/owner keys and sessions, a non-member's key, keys without the scope or with read
 * only, a key restricted to another organization, keys restricted to this project or to another
 * project (`scoped_teams`, spec invites-members-auth.md 7.4), and another organization's ids.
 *
 * Organization O has no `access_control` entitlement here, so project levels follow the
 * organization level (member → 1, admin/owner → 8; spec C.9). Every non-2xx body must be exactly
 * PostHog's error shape; each write is checked in the database afterwards (a refused write changed
 * nothing, an accepted one did).
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENEROUS_ENTITLEMENTS } from '../../../src/config.ts'
import { secureValueOf } from '../../../src/modules/api-keys/service.ts'
import { bearer, createKey, createTestApp, expectErrorShape, login, seedWorld, type TestApp, type World } from '../../helpers/app.ts'

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
const CALLERS = [
  'anonymous', 'unknownKey', 'memberKey', 'adminKey', 'ownerKey', 'outsiderKey', 'noScopeKey', 'memberReadKey', 'otherOrgKey',
  'teamKey', 'otherTeamKey', 'memberSession', 'adminSession', 'ownerSession',
] as const
type CallerId = (typeof CALLERS)[number]

let t: TestApp
let w: World
let headers: Record<CallerId, Record<string, string>>
/** A second project in O, used by `otherTeamKey`. */
let sibling: number

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  await t.services.organizations.setEntitlements(w.org.id, GENEROUS_ENTITLEMENTS.filter((f) => f.key !== 'access_control'))
  sibling = (await t.app.inject({ method: 'POST', url: `/api/organizations/${w.org.id}/projects/`, headers: bearer(w.keys.owner), payload: { name: 'Sibling' } })).json().id
  const sessions = { member: await login(t.app, w.member.email), admin: await login(t.app, w.admin.email), owner: await login(t.app, w.owner.email) }
  headers = {
    anonymous: {},
    unknownKey: bearer(`phx_${randomBytes(20).toString('hex')}`),
    memberKey: bearer(w.keys.member),
    adminKey: bearer(w.keys.admin),
    ownerKey: bearer(w.keys.owner),
    outsiderKey: bearer(w.keys.outsider),
    noScopeKey: bearer(await createKey(t.services, w.owner, ['organization:read'])),
    memberReadKey: bearer(await createKey(t.services, w.member, ['project:read', 'access_control:read'])),
    otherOrgKey: bearer(await keyScopedToOtherOrg()),
    teamKey: bearer(await createKey(t.services, w.admin, ['*'], { scoped_teams: [w.org.projectId] })),
    otherTeamKey: bearer(await createKey(t.services, w.admin, ['*'], { scoped_teams: [sibling] })),
    memberSession: sessions.member.headers,
    adminSession: sessions.admin.headers,
    ownerSession: sessions.owner.headers,
  }
})
afterAll(async () => t.close())

/** The owner's key restricted to X, where the owner is no member (the restriction is what is tested). */
async function keyScopedToOtherOrg(): Promise<string> {
  const key = await createKey(t.services, w.owner, ['*'])
  await t.db.query(`UPDATE personal_api_keys SET scoped_organizations = $1 WHERE secure_value = $2`, [[w.other.id], secureValueOf(key)])
  return key
}

type Expect = number | { status: number; detail?: string; code?: string }

interface Route {
  name: string
  method: Method
  /** The URL, given the project id it acts on. */
  url: (id: number) => string
  scope: string
  body?: () => Record<string, unknown>
  /** Project the call acts on: O's main project, or a fresh one per call (DELETE). */
  target: 'main' | 'fresh'
  nested: boolean
  /** Expected answer for each caller with a membership in O (others are derived). */
  member: Expect
  admin: Expect
  /** The effect of an accepted call, checked in the database. */
  verify?: (id: number, marker: string, accepted: boolean) => Promise<void>
}

const O = () => `/api/organizations/${w.org.id}/projects`
let markerSeq = 0
const marker = () => `m${Date.now().toString(36)}${(markerSeq += 1)}`
const INSUFFICIENT = "You don't have sufficient permissions in the project."

async function description(id: number): Promise<string | null> {
  return (await t.db.query<{ product_description: string | null }>(`SELECT product_description FROM projects WHERE id = $1`, [id]))[0]?.product_description ?? null
}

const patchVerify = async (id: number, m: string, accepted: boolean) => expect(await description(id) === m).toBe(accepted)

const ROUTES: Route[] = [
  { name: 'list', method: 'GET', url: () => `${O()}/`, scope: 'project:read', target: 'main', nested: true, member: 200, admin: 200 },
  {
    name: 'create',
    method: 'POST',
    url: () => `${O()}/`,
    scope: 'project:write',
    body: () => ({ name: curMarker }),
    target: 'main',
    nested: true,
    member: 201,
    admin: 201,
    verify: async (_id, m, accepted) => expect((await t.db.query(`SELECT 1 FROM projects WHERE name = $1`, [m])).length).toBe(accepted ? 1 : 0),
  },
  { name: 'retrieve', method: 'GET', url: (id) => `${O()}/${id}/`, scope: 'project:read', target: 'main', nested: true, member: 200, admin: 200 },
  { name: 'patch', method: 'PATCH', url: (id) => `${O()}/${id}/`, scope: 'project:write', body: () => ({ product_description: curMarker }), target: 'main', nested: true, member: 200, admin: 200, verify: patchVerify },
  {
    name: 'patch admin field',
    method: 'PATCH',
    url: (id) => `${O()}/${id}/`,
    scope: 'project:write',
    body: () => ({ product_description: curMarker, timezone: 'Europe/Lisbon' }),
    target: 'main',
    nested: true,
    member: { status: 403, detail: 'Only project admins can modify these settings: timezone' },
    admin: 200,
    verify: patchVerify,
  },
  { name: 'put', method: 'PUT', url: (id) => `${O()}/${id}/`, scope: 'project:write', body: () => ({ product_description: curMarker }), target: 'main', nested: true, member: 200, admin: 200, verify: patchVerify },
  {
    name: 'delete',
    method: 'DELETE',
    url: (id) => `${O()}/${id}/`,
    scope: 'project:write',
    target: 'fresh',
    nested: true,
    member: { status: 403, detail: INSUFFICIENT },
    admin: 204,
    verify: async (id, _m, accepted) => {
      const rows = await t.db.query<{ is_pending_deletion: boolean }>(`SELECT is_pending_deletion FROM projects WHERE id = $1`, [id])
      expect(rows[0].is_pending_deletion).toBe(accepted)
    },
  },
  { name: 'rotate secret token', method: 'PATCH', url: (id) => `${O()}/${id}/rotate_secret_token/`, scope: 'project:write', target: 'main', nested: true, member: { status: 403, detail: INSUFFICIENT }, admin: 200 },
  { name: 'reset token', method: 'PATCH', url: (id) => `${O()}/${id}/reset_token/`, scope: 'project:write', target: 'main', nested: true, member: { status: 403, detail: INSUFFICIENT }, admin: 200 },
  { name: 'access controls', method: 'GET', url: (id) => `${O()}/${id}/access_controls/`, scope: 'access_control:read', target: 'main', nested: true, member: 200, admin: 200 },
  {
    name: 'set access control',
    method: 'PUT',
    url: (id) => `${O()}/${id}/access_controls/`,
    scope: 'access_control:write',
    body: () => ({ access_level: 'member' }),
    target: 'main',
    nested: true,
    member: { status: 403, detail: INSUFFICIENT },
    admin: { status: 403, detail: 'This organization does not have access control enabled.' },
    verify: async (id, _m, accepted) => expect((await t.db.query(`SELECT 1 FROM project_access WHERE project_id = $1`, [id])).length > 0).toBe(accepted),
  },
  { name: 'retrieve (root)', method: 'GET', url: (id) => `/api/projects/${id}/`, scope: 'project:read', target: 'main', nested: false, member: 200, admin: 200 },
  { name: 'patch (root)', method: 'PATCH', url: (id) => `/api/projects/${id}/`, scope: 'project:write', body: () => ({ product_description: curMarker }), target: 'main', nested: false, member: 200, admin: 200, verify: patchVerify },
  { name: 'put (root)', method: 'PUT', url: (id) => `/api/projects/${id}/`, scope: 'project:write', body: () => ({ product_description: curMarker }), target: 'main', nested: false, member: 200, admin: 200, verify: patchVerify },
]

let curMarker = ''

function expected(route: Route, caller: CallerId, id: number): { status: number; detail?: string; code?: string } {
  const norm = (e: Expect) => (typeof e === 'number' ? { status: e } : e)
  const forbidden = (detail: string) => ({ status: 403, detail, code: 'permission_denied' })
  switch (caller) {
    case 'anonymous':
      return { status: 401, code: 'not_authenticated', detail: 'Authentication credentials were not provided.' }
    case 'unknownKey':
      return { status: 401, code: 'authentication_failed', detail: 'Personal API key found in request Authorization header is invalid.' }
    case 'noScopeKey':
      return forbidden(`API key missing required scope '${route.scope}'`)
    case 'memberReadKey':
      if (route.scope.endsWith(':write')) return forbidden(`API key missing required scope '${route.scope}'`)
      return norm(route.member)
    case 'outsiderKey':
      return route.nested ? forbidden('You do not have permission to perform this action.') : { status: 404, code: 'not_found' }
    case 'otherOrgKey':
      return forbidden(`API key does not have access to the requested organization: ID ${w.org.id}.`)
    case 'teamKey':
      if (route.name === 'create') return forbidden('API keys with scoped projects are only supported on project-based endpoints.')
      if (route.target === 'fresh') return forbidden(`API key does not have access to the requested project: ID ${id}.`)
      return norm(route.admin)
    case 'otherTeamKey':
      if (route.name === 'create') return forbidden('API keys with scoped projects are only supported on project-based endpoints.')
      if (route.name === 'list') return { status: 200 }
      return forbidden(`API key does not have access to the requested project: ID ${id}.`)
    case 'memberKey':
    case 'memberSession':
      return norm(route.member)
    default:
      return norm(route.admin)
  }
}

async function freshProject(): Promise<number> {
  const res = await t.app.inject({ method: 'POST', url: `${O()}/`, headers: bearer(w.keys.owner), payload: { name: `fresh ${marker()}` } })
  return res.json().id
}

describe.each(ROUTES)('$method $name', (route) => {
  it.each(CALLERS.map((c) => [c]))('%s', async (caller) => {
    const id = route.target === 'fresh' ? await freshProject() : w.org.projectId
    curMarker = marker()
    const exp = expected(route, caller as CallerId, id)
    const res = await t.app.inject({ method: route.method, url: route.url(id), headers: headers[caller as CallerId], ...(route.body ? { payload: route.body() } : {}) })
    expect(res.statusCode, res.body).toBe(exp.status)
    if (exp.status >= 400) {
      expectErrorShape(res.json())
      if (exp.detail) expect(res.json().detail).toBe(exp.detail)
      if (exp.code) expect(res.json().code).toBe(exp.code)
    }
    if (route.verify) await route.verify(id, curMarker, exp.status < 300)
    // Undo side effects that would change later rows' answers.
    if (route.name === 'list' && exp.status === 200) {
      const names = res.json().results.map((p: { id: number }) => p.id)
      if (caller === 'teamKey') expect(names).toEqual([w.org.projectId])
      if (caller === 'otherTeamKey') expect(names).toEqual([sibling])
      if (caller === 'memberKey') expect(names).toContain(w.org.projectId)
    }
  })
})

describe("another organization's ids", () => {
  it.each(['memberKey', 'adminKey', 'ownerKey'] as const)("%s: O's path with X's project is 404; X's path is 403", async (caller) => {
    for (const [method, suffix] of [['GET', ''], ['PATCH', ''], ['PUT', ''], ['DELETE', ''], ['GET', 'access_controls/'], ['PATCH', 'reset_token/']] as const) {
      const res = await t.app.inject({ method, url: `${O()}/${w.other.projectId}/${suffix}`, headers: headers[caller], payload: method === 'GET' || method === 'DELETE' ? undefined : { product_description: 'x' } })
      expect(res.statusCode, `${method} ${suffix}`).toBe(404)
      expect(res.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null })
      const root = await t.app.inject({ method: method === 'DELETE' ? 'GET' : method, url: `/api/projects/${w.other.projectId}/${suffix}`, headers: headers[caller], payload: method === 'GET' || method === 'DELETE' ? undefined : { product_description: 'x' } })
      expect(root.statusCode).toBe(404)
      const theirs = await t.app.inject({ method, url: `/api/organizations/${w.other.id}/projects/${w.other.projectId}/${suffix}`, headers: headers[caller], payload: method === 'GET' || method === 'DELETE' ? undefined : { product_description: 'x' } })
      expect(theirs.statusCode).toBe(403)
      expectErrorShape(theirs.json())
    }
    const other = await t.db.query<{ product_description: string | null; is_pending_deletion: boolean }>(`SELECT product_description, is_pending_deletion FROM projects WHERE id = $1`, [w.other.projectId])
    expect(other[0]).toEqual({ product_description: null, is_pending_deletion: false })
  })

  it('a session without the CSRF header cannot write', async () => {
    const s = await login(t.app, w.admin.email)
    const res = await t.app.inject({ method: 'PATCH', url: `${O()}/${w.org.projectId}/`, headers: { cookie: s.headers.cookie }, payload: { product_description: 'csrf' } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('CSRF Failed: CSRF token missing.')
    expect(await description(w.org.projectId)).not.toBe('csrf')
  })

  it('rights are checked before the body: a member sending an invalid admin field to DELETE-only rights still gets 403; a non-member gets 403 before validation', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.other.id}/projects/${w.other.projectId}/`, headers: headers.memberKey, payload: { timezone: 'Nowhere' } })
    expect(res.statusCode).toBe(403)
    const hidden = await t.app.inject({ method: 'PATCH', url: `${O()}/${w.other.projectId}/`, headers: headers.memberKey, payload: { timezone: 'Nowhere' } })
    expect(hidden.statusCode).toBe(404)
  })
})
