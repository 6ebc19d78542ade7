/**
 * Authorization matrix for the invite and signup routes: list, create, delete, bulk/, delegate/,
 * GET and POST /api/signup/:id/, and the /signup/:id page (GET and the form POST) × every kind of
 * caller (anonymous, an unknown key, member/admin/owner keys, a non-member's key, keys lacking the
 * scope, restricted to another organization or to projects, and member/admin/owner sessions),
 * plus another organization's invite ids. test/http/authorization-matrix.test.ts covers the other
 * modules and leaves these routes to this file.
 *
 * Every cell is written down explicitly (status, and for errors the exact code and detail), every
 * error body must be exactly PostHog's `{type, code, detail, attr}`, and every cell checks the
 * database afterwards: a refused write changed nothing, an accepted one did exactly its work.
 * Spec references are to ../shared/spec/invites-members-auth.md; "(orgd)" marks cells the spec
 * does not decide, pinned to orgd's documented behaviour.
 */
import { randomBytes } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { UserRow } from '../../../src/modules/users/store.ts'
import { addMember, bearer, createKey, createOrg, createTestApp, createUser, expectErrorShape, uniqueEmail, type TestApp } from '../../helpers/app.ts'
import { checkInviteResponses } from './contract.ts'

type Method = 'GET' | 'POST' | 'DELETE'
const CALLERS = [
  'anonymous',
  'unknownKey',
  'memberKey',
  'adminKey',
  'ownerKey',
  'outsiderKey',
  'noScopeKey',
  'memberReadKey',
  'otherOrgKey',
  'teamKey',
  'memberSession',
  'adminSession',
  'ownerSession',
] as const
type CallerId = (typeof CALLERS)[number]

interface Caller {
  headers: Record<string, string>
  user: UserRow | null
  session: { csrfToken: string } | null
}

let t: TestApp
let org: { id: string; projectId: number }
let other: { id: string; projectId: number }
let people: { owner: UserRow; admin: UserRow; member: UserRow; outsider: UserRow }
let ownerKey: string
let outsiderKey: string
const callers = {} as Record<CallerId, Caller>

beforeAll(async () => {
  t = await createTestApp()
  await checkInviteResponses(t)
  const s = t.services
  const owner = await createUser(s, { firstName: 'Olivia' })
  const admin = await createUser(s, { firstName: 'Adam' })
  const member = await createUser(s, { firstName: 'Mia' })
  const outsider = await createUser(s, { firstName: 'Oscar' })
  people = { owner, admin, member, outsider }
  org = await createOrg(s, owner, 'Org O')
  other = await createOrg(s, outsider, 'Org X')
  await addMember(s, org.id, admin, 8)
  await addMember(s, org.id, member, 1)
  ownerKey = await createKey(s, owner)
  outsiderKey = await createKey(s, outsider)
  const key = (value: string, user: UserRow): Caller => ({ headers: bearer(value), user, session: null })
  const session = async (user: UserRow): Promise<Caller> => {
    const opened = await s.users.startSession(user.id)
    return { headers: { cookie: `sessionid=${opened.cookie}; posthog_csrftoken=${opened.csrfToken}`, 'x-csrftoken': opened.csrfToken }, user, session: { csrfToken: opened.csrfToken } }
  }
  // Every restricted key is the owner's, so only the restriction decides.
  const otherOrg = await s.apiKeys.create(owner, { label: 'other org', scopes: ['*'], scoped_organizations: [org.id] })
  // Scoping a key to an organization one is not in is refused by the API; the stored state can
  // still arise (after leaving), so it is written directly.
  await t.db.query(`UPDATE personal_api_keys SET scoped_organizations = $1 WHERE id = $2`, [[other.id], otherOrg.id])
  Object.assign(callers, {
    anonymous: { headers: {}, user: null, session: null },
    unknownKey: { headers: bearer(`phx_${randomBytes(30).toString('base64url')}`), user: null, session: null },
    memberKey: key(await createKey(s, member), member),
    adminKey: key(await createKey(s, admin), admin),
    ownerKey: key(ownerKey, owner),
    outsiderKey: key(outsiderKey, outsider),
    noScopeKey: key(await createKey(s, owner, ['project:read']), owner),
    memberReadKey: key(await createKey(s, owner, ['organization_member:read']), owner),
    otherOrgKey: key(otherOrg.value!, owner),
    teamKey: key(await createKey(s, owner, ['*'], { scoped_teams: [org.projectId] }), owner),
    memberSession: await session(member),
    adminSession: await session(admin),
    ownerSession: await session(owner),
  } satisfies Record<CallerId, Caller>)
})
afterAll(async () => t?.close())

// ---------------------------------------------------------------------------------------------
// Expected answers
// ---------------------------------------------------------------------------------------------

interface Exp {
  status: number
  code?: string
  detail?: string
  /** The answer is an HTML page (the /signup/:id routes); `text` must appear in it. */
  html?: string
}

const OK: Exp = { status: 200 }
const CREATED: Exp = { status: 201 }
const NO_CONTENT: Exp = { status: 204 }
// spec 1.3
const UNAUTH: Exp = { status: 401, code: 'not_authenticated', detail: 'Authentication credentials were not provided.' }
// spec 7.2
const BAD_KEY: Exp = { status: 401, code: 'authentication_failed', detail: 'Personal API key found in request Authorization header is invalid.' }
// spec 1.3: a non-member of an existing organization
const GENERIC_403: Exp = { status: 403, code: 'permission_denied', detail: 'You do not have permission to perform this action.' }
// spec 7.3
const missingScope = (scope: string): Exp => ({ status: 403, code: 'permission_denied', detail: `API key missing required scope '${scope}'` })
const READ = missingScope('organization_member:read')
const WRITE = missingScope('organization_member:write')
// spec 7.4 (2)
const TEAM_SCOPED: Exp = { status: 403, code: 'permission_denied', detail: 'API keys with scoped projects are only supported on project-based endpoints.' }
// spec 7.4 (3)
const OTHER_ORG = (): Exp => ({ status: 403, code: 'permission_denied', detail: `API key does not have access to the requested organization: ID ${org.id}.` })
// spec 2.4: deleting an invite needs admin (OrganizationAdminWritePermissions)
const INSUFFICIENT: Exp = { status: 403, code: 'permission_denied', detail: 'Your organization access level is insufficient.' }
// spec 4: delegation grants admin, so only admins delegate
const NOT_ADMIN_DELEGATE: Exp = { status: 403, code: 'permission_denied', detail: 'Only organization admins can delegate setup, as delegation grants admin access.' }
const NOT_FOUND: Exp = { status: 404, code: 'not_found', detail: 'Not found.' }
// spec 5 check 1: the invite is for a fresh address, so anyone signed in is the wrong recipient
const WRONG_RECIPIENT: Exp = { status: 400, code: 'invalid_recipient', detail: 'This invite is intended for another email address.' }
const PAGE_OK: Exp = { status: 200, html: 'Create account and join' }
const PAGE_WRONG_RECIPIENT: Exp = { status: 400, html: 'This invite is intended for another email address.' }
const PAGE_JOINED: Exp = { status: 303 }

/** The org-scoped invite routes share one pattern of refusals; only the successful cells differ. */
function orgRoute(read: boolean, success: { member: Exp; admin: Exp; owner: Exp }): Record<CallerId, Exp> {
  return {
    anonymous: UNAUTH,
    unknownKey: BAD_KEY,
    memberKey: success.member,
    adminKey: success.admin,
    ownerKey: success.owner,
    outsiderKey: GENERIC_403,
    noScopeKey: read ? READ : WRITE,
    memberReadKey: read ? success.owner : WRITE,
    otherOrgKey: OTHER_ORG(),
    teamKey: TEAM_SCOPED,
    memberSession: success.member,
    adminSession: success.admin,
    ownerSession: success.owner,
  }
}

/** The public signup API: whoever is signed in (key or session) is the wrong recipient. */
function signupRoute(anonymous: Exp): Record<CallerId, Exp> {
  const out = {} as Record<CallerId, Exp>
  for (const c of CALLERS) out[c] = WRONG_RECIPIENT
  out.anonymous = anonymous
  // (orgd) a key that matches nobody is refused even on a public route, as DRF's authenticators do.
  out.unknownKey = BAD_KEY
  return out
}

/** The page reads only the session cookie: key headers are ignored there (orgd). */
function pageRoute(anonymous: Exp, signedIn: Exp): Record<CallerId, Exp> {
  const out = {} as Record<CallerId, Exp>
  for (const c of CALLERS) out[c] = c.endsWith('Session') ? signedIn : anonymous
  return out
}

// ---------------------------------------------------------------------------------------------
// The routes, each with a fresh target per cell and a check of the database afterwards
// ---------------------------------------------------------------------------------------------

interface Req {
  method: Method
  url: string
  payload?: unknown
  form?: Record<string, string>
  verify: (res: LightMyRequestResponse) => Promise<void>
}

interface Row {
  name: string
  build: (c: Caller) => Promise<Req>
  expect: () => Record<CallerId, Exp>
}

const invitesUrl = () => `/api/organizations/${org.id}/invites`
const is2xx = (res: LightMyRequestResponse) => res.statusCode >= 200 && res.statusCode < 300

async function invitesFor(email: string): Promise<Array<{ id: string; level: number; is_setup_delegation: boolean }>> {
  return t.db.query(`SELECT id, level, is_setup_delegation FROM invites WHERE lower(target_email) = lower($1)`, [email])
}

async function inviteExists(id: string): Promise<boolean> {
  return (await t.db.query(`SELECT 1 FROM invites WHERE id = $1`, [id])).length === 1
}

async function userCount(email: string): Promise<number> {
  return (await t.db.query(`SELECT 1 FROM users WHERE lower(email) = lower($1)`, [email])).length
}

/** A fresh invite of organization O (made by the owner, no email) for a fresh address. */
async function freshInvite(organizationId = org.id, key = ownerKey): Promise<{ id: string; email: string }> {
  const email = uniqueEmail('authz')
  const res = await t.app.inject({ method: 'POST', url: `/api/organizations/${organizationId}/invites/`, headers: bearer(key), payload: { target_email: email, send_email: false } })
  expect(res.statusCode, res.body).toBe(201)
  return { id: (res.json() as { id: string }).id, email }
}

const ROWS: Row[] = [
  {
    name: 'GET invites/',
    build: async () => {
      const inv = await freshInvite()
      return {
        method: 'GET',
        url: `${invitesUrl()}/`,
        verify: async (res) => {
          if (is2xx(res)) expect((res.json() as { results: Array<{ id: string }> }).results.map((r) => r.id)).toContain(inv.id)
        },
      }
    },
    expect: () => orgRoute(true, { member: OK, admin: OK, owner: OK }),
  },
  {
    name: 'POST invites/',
    build: async () => {
      const email = uniqueEmail('authz-create')
      return {
        method: 'POST',
        url: `${invitesUrl()}/`,
        payload: { target_email: email, send_email: false },
        verify: async (res) => expect(await invitesFor(email)).toHaveLength(is2xx(res) ? 1 : 0),
      }
    },
    // spec 2.1: members may invite unless the organization restricts it
    expect: () => orgRoute(false, { member: CREATED, admin: CREATED, owner: CREATED }),
  },
  {
    name: 'DELETE invites/:id/',
    build: async () => {
      const inv = await freshInvite()
      return { method: 'DELETE', url: `${invitesUrl()}/${inv.id}/`, verify: async (res) => expect(await inviteExists(inv.id)).toBe(!is2xx(res)) }
    },
    expect: () => orgRoute(false, { member: INSUFFICIENT, admin: NO_CONTENT, owner: NO_CONTENT }),
  },
  {
    name: 'POST invites/bulk/',
    build: async () => {
      const emails = [uniqueEmail('authz-bulk'), uniqueEmail('authz-bulk')]
      return {
        method: 'POST',
        url: `${invitesUrl()}/bulk/`,
        payload: emails.map((target_email) => ({ target_email, send_email: false })),
        verify: async (res) => {
          for (const e of emails) expect(await invitesFor(e)).toHaveLength(is2xx(res) ? 1 : 0)
        },
      }
    },
    expect: () => orgRoute(false, { member: CREATED, admin: CREATED, owner: CREATED }),
  },
  {
    name: 'POST invites/delegate/',
    build: async (c) => {
      const email = uniqueEmail('authz-delegate')
      return {
        method: 'POST',
        url: `${invitesUrl()}/delegate/`,
        payload: { target_email: email },
        verify: async (res) => {
          const rows = await invitesFor(email)
          expect(rows).toHaveLength(is2xx(res) ? 1 : 0)
          if (is2xx(res)) {
            expect(rows[0]).toMatchObject({ level: 8, is_setup_delegation: true })
            const [me] = await t.db.query<{ p: string | null }>(`SELECT onboarding_delegated_to_invite_id AS p FROM users WHERE id = $1`, [c.user!.id])
            expect(me.p).toBe(rows[0].id)
          }
        },
      }
    },
    expect: () => orgRoute(false, { member: NOT_ADMIN_DELEGATE, admin: CREATED, owner: CREATED }),
  },
  {
    name: 'GET /api/signup/:id/',
    build: async () => {
      const inv = await freshInvite()
      return {
        method: 'GET',
        url: `/api/signup/${inv.id}/`,
        verify: async (res) => {
          expect(await inviteExists(inv.id)).toBe(true)
          if (is2xx(res)) expect(res.json()).toEqual({ id: inv.id, target_email: inv.email, first_name: '', organization_name: 'Org O' })
        },
      }
    },
    expect: () => signupRoute(OK),
  },
  {
    name: 'POST /api/signup/:id/',
    build: async () => {
      const inv = await freshInvite()
      return {
        method: 'POST',
        url: `/api/signup/${inv.id}/`,
        payload: { first_name: 'Newt', password: 'correct horse battery staple 3' },
        verify: async (res) => {
          expect(await inviteExists(inv.id)).toBe(!is2xx(res))
          expect(await userCount(inv.email)).toBe(is2xx(res) ? 1 : 0)
          const joined = await t.db.query(`SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2`, [org.id, inv.email])
          expect(joined).toHaveLength(is2xx(res) ? 1 : 0)
        },
      }
    },
    expect: () => signupRoute(CREATED),
  },
  {
    name: 'GET /signup/:id (page)',
    build: async () => {
      const inv = await freshInvite()
      return { method: 'GET', url: `/signup/${inv.id}`, verify: async () => expect(await inviteExists(inv.id)).toBe(true) }
    },
    expect: () => pageRoute(PAGE_OK, PAGE_WRONG_RECIPIENT),
  },
  {
    name: 'POST /signup/:id (page form)',
    build: async (c) => {
      const inv = await freshInvite()
      // A signed-in visitor sees (and sends) the "join" form; anyone else the "create" form.
      const form: Record<string, string> = c.session
        ? { action: 'join', csrf_token: c.session.csrfToken }
        : { action: 'create', first_name: 'Paige', password: 'correct horse battery staple 4' }
      return {
        method: 'POST',
        url: `/signup/${inv.id}`,
        form,
        verify: async (res) => {
          const joined = res.statusCode === 303
          expect(await inviteExists(inv.id)).toBe(!joined)
          expect(await userCount(inv.email)).toBe(joined ? 1 : 0)
          if (joined) expect(res.headers.location).toBe(`/joined?organization=${org.id}`)
        },
      }
    },
    expect: () => pageRoute(PAGE_JOINED, PAGE_WRONG_RECIPIENT),
  },
]

function errorType(status: number): string {
  if (status === 400) return 'validation_error'
  if (status === 401 || status === 403) return 'authentication_error'
  return 'invalid_request'
}

async function send(c: Caller, r: Req, exp: Exp, who: string): Promise<void> {
  const headers = { ...c.headers }
  let payload: string | undefined
  if (r.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    payload = new URLSearchParams(r.form).toString()
  } else if (r.payload !== undefined) {
    headers['content-type'] = 'application/json'
    payload = JSON.stringify(r.payload)
  }
  const res = await t.app.inject({ method: r.method, url: r.url, headers, ...(payload === undefined ? {} : { payload }) })
  const where = `${r.method} ${r.url} as ${who} → ${res.statusCode} ${res.body.slice(0, 300)}`
  expect(res.statusCode, where).toBe(exp.status)
  if (exp.html !== undefined) {
    expect(res.headers['content-type'], where).toMatch(/^text\/html/)
    expect(res.body, where).toContain(exp.html)
  } else if (res.statusCode >= 400) {
    const body: unknown = res.json()
    expectErrorShape(body)
    expect(body, where).toEqual({ type: errorType(exp.status), code: exp.code, detail: exp.detail, attr: null })
  } else if (res.statusCode === 204) {
    expect(res.body, where).toBe('')
  }
  await r.verify(res)
}

describe('every invite and signup route × every caller', () => {
  for (const row of ROWS) {
    describe(row.name, () => {
      for (const callerId of CALLERS) {
        it(`as ${callerId}`, async () => {
          const exp = row.expect()[callerId]
          const c = callers[callerId]
          await send(c, await row.build(c), exp, callerId)
        })
      }
    })
  }

  it('covers every caller of every row', () => {
    for (const row of ROWS) expect(Object.keys(row.expect()).sort()).toEqual([...CALLERS].sort())
    expect(ROWS).toHaveLength(9)
  })
})

describe("another organization's invites", () => {
  it('DELETE of X’s invite through O’s URL is 404 for O’s owner, and the invite stays', async () => {
    const inv = await freshInvite(other.id, outsiderKey)
    await send(callers.ownerKey, { method: 'DELETE', url: `${invitesUrl()}/${inv.id}/`, verify: async () => expect(await inviteExists(inv.id)).toBe(true) }, NOT_FOUND, 'ownerKey')
    await send(callers.ownerSession, { method: 'DELETE', url: `${invitesUrl()}/${inv.id}/`, verify: async () => expect(await inviteExists(inv.id)).toBe(true) }, NOT_FOUND, 'ownerSession')
  })

  it('DELETE through X’s own URL is a generic 403 for O’s people (not members of X)', async () => {
    const inv = await freshInvite(other.id, outsiderKey)
    for (const who of ['ownerKey', 'adminKey', 'memberKey', 'adminSession'] as const) {
      await send(callers[who], { method: 'DELETE', url: `/api/organizations/${other.id}/invites/${inv.id}/`, verify: async () => expect(await inviteExists(inv.id)).toBe(true) }, GENERIC_403, who)
    }
  })

  it('X’s owner cannot delete O’s invite through X’s URL (404) nor O’s (403)', async () => {
    const inv = await freshInvite()
    await send(callers.outsiderKey, { method: 'DELETE', url: `/api/organizations/${other.id}/invites/${inv.id}/`, verify: async () => expect(await inviteExists(inv.id)).toBe(true) }, NOT_FOUND, 'outsiderKey')
    await send(callers.outsiderKey, { method: 'DELETE', url: `${invitesUrl()}/${inv.id}/`, verify: async () => expect(await inviteExists(inv.id)).toBe(true) }, GENERIC_403, 'outsiderKey')
  })

  it('O’s list never shows X’s invites, and X’s list is refused to O’s people', async () => {
    const inv = await freshInvite(other.id, outsiderKey)
    const res = await t.app.inject({ method: 'GET', url: `${invitesUrl()}/?limit=1000`, headers: callers.ownerKey.headers })
    expect(res.statusCode).toBe(200)
    expect((res.json() as { results: Array<{ id: string }> }).results.map((r) => r.id)).not.toContain(inv.id)
    for (const who of ['ownerKey', 'memberSession'] as const) {
      await send(callers[who], { method: 'GET', url: `/api/organizations/${other.id}/invites/`, verify: async () => {} }, GENERIC_403, who)
    }
  })

  it('an invite to X accepted by O’s owner is refused as the wrong recipient; X is unchanged', async () => {
    const inv = await freshInvite(other.id, outsiderKey)
    await send(
      callers.ownerKey,
      {
        method: 'POST',
        url: `/api/signup/${inv.id}/`,
        payload: {},
        verify: async () => {
          expect(await inviteExists(inv.id)).toBe(true)
          expect(await t.db.query(`SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2`, [other.id, people.owner.id])).toHaveLength(0)
        },
      },
      WRONG_RECIPIENT,
      'ownerKey',
    )
  })

  it('bulk and delegate into X are refused to O’s owner, creating nothing', async () => {
    const email = uniqueEmail('authz-x')
    const verify = async () => expect(await invitesFor(email)).toHaveLength(0)
    await send(callers.ownerKey, { method: 'POST', url: `/api/organizations/${other.id}/invites/bulk/`, payload: [{ target_email: email }], verify }, GENERIC_403, 'ownerKey')
    await send(callers.ownerKey, { method: 'POST', url: `/api/organizations/${other.id}/invites/delegate/`, payload: { target_email: email }, verify }, GENERIC_403, 'ownerKey')
    await send(callers.ownerKey, { method: 'POST', url: `/api/organizations/${other.id}/invites/`, payload: { target_email: email }, verify }, GENERIC_403, 'ownerKey')
  })
})
