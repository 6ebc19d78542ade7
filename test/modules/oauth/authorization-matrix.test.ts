/**
 * Authorization matrix for every route the OAuth module adds × every kind of caller: anonymous,
 * an unknown key, member/admin/owner personal API keys, a non-member's key, keys without the
 * scope, restricted to another organization or to projects, logged-in sessions, and OAuth access
 * tokens (with the scope, with another scope, with none, expired). Each expected answer is
 * written down; every non-2xx API answer is exactly PostHog's `{type, code, detail, attr}`.
 */
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addMember, bearer, createKey, createTestApp, expectErrorShape, login, type TestApp, type World, seedWorld } from '../../helpers/app.ts'
import { consent, form, pkce, registerApp, type RegisteredApp } from './helpers.ts'

const REDIRECT = 'https://client.example/callback'

const CALLERS = [
  'anonymous', 'unknownKey', 'memberKey', 'adminKey', 'ownerKey', 'outsiderKey', 'wrongScopeKey', 'orgReadKey', 'otherOrgKey', 'teamKey',
  'ownerSession', 'adminSession', 'memberSession', 'oauthOrgRead', 'oauthMemberRead', 'oauthNoScopes', 'oauthExpired',
] as const
type Caller = (typeof CALLERS)[number]

interface Expect {
  status: number
  detail?: string
}

let t: TestApp
let w: World
let app: RegisteredApp
const headers = {} as Record<Caller, Record<string, string>>

const ok: Expect = { status: 200 }
const unauthenticated: Expect = { status: 401, detail: 'Authentication credentials were not provided.' }
const badKey: Expect = { status: 401, detail: 'Personal API key found in request Authorization header is invalid.' }
const badToken: Expect = { status: 401, detail: 'Invalid access token.' }
const generic: Expect = { status: 403, detail: 'You do not have permission to perform this action.' }
const missing = (scope: string): Expect => ({ status: 403, detail: `API key missing required scope '${scope}'` })
const noScopes: Expect = { status: 403, detail: 'OAuth token has no scopes and cannot access this resource' }
const teamOnly: Expect = { status: 403, detail: 'API keys with scoped projects are only supported on project-based endpoints.' }

async function oauthToken(scope: string | undefined, client: RegisteredApp): Promise<string> {
  const session = await login(t.app, w.member.email)
  const p = pkce()
  const url = await consent(t.app, session, { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope, code_challenge: p.challenge, code_challenge_method: 'S256' })
  const f = form({ grant_type: 'authorization_code', code: url.searchParams.get('code')!, code_verifier: p.verifier, client_id: client.client_id, client_secret: client.client_secret! })
  const res = await t.app.inject({ method: 'POST', url: '/oauth/token', headers: f.headers, payload: f.payload })
  return res.json().access_token
}

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  app = await registerApp(t.services, w.org.id, { name: 'Matrix', scopes: ['organization:read', 'organization_member:read'] })
  const bare = await registerApp(t.services, w.org.id, { name: 'Bare', scopes: [] })
  // The admin also belongs to X, so a key of theirs can be restricted to X.
  await addMember(t.services, w.other.id, w.admin, 1)
  const sessions = { owner: await login(t.app, w.owner.email), admin: await login(t.app, w.admin.email), member: await login(t.app, w.member.email) }
  const expired = await oauthToken('organization:read', app)
  await t.db.query(`UPDATE oauth_access_tokens SET expires_at = now() - interval '1 minute' WHERE token_hash = encode(sha256(convert_to($1, 'UTF8')), 'hex')`, [expired])
  Object.assign(headers, {
    anonymous: {},
    unknownKey: bearer('phx_doesnotexist'),
    memberKey: bearer(w.keys.member),
    adminKey: bearer(w.keys.admin),
    ownerKey: bearer(w.keys.owner),
    outsiderKey: bearer(w.keys.outsider),
    wrongScopeKey: bearer(await createKey(t.services, w.member, ['organization_member:read'])),
    orgReadKey: bearer(await createKey(t.services, w.member, ['organization:read'])),
    otherOrgKey: bearer(await createKey(t.services, w.admin, ['*'], { scoped_organizations: [w.other.id] })),
    teamKey: bearer(await createKey(t.services, w.owner, ['*'], { scoped_teams: [w.org.projectId] })),
    ownerSession: sessions.owner.headers,
    adminSession: sessions.admin.headers,
    memberSession: sessions.member.headers,
    oauthOrgRead: bearer(await oauthToken('organization:read', app)),
    oauthMemberRead: bearer(await oauthToken('organization_member:read', app)),
    oauthNoScopes: bearer(await oauthToken(undefined, bare)),
    oauthExpired: bearer(expired),
  })
})

afterAll(async () => {
  await t?.close()
})

function check(res: LightMyRequestResponse, want: Expect, label: string): void {
  expect(res.statusCode, `${label}: ${res.body}`).toBe(want.status)
  if (res.statusCode >= 400) {
    expectErrorShape(res.json())
    if (want.detail) expect(res.json().detail, label).toBe(want.detail)
  }
}

describe('GET /api/organizations/:id/oauth_applications/', () => {
  const table: Record<Caller, Expect> = {
    anonymous: unauthenticated,
    unknownKey: badKey,
    memberKey: ok,
    adminKey: ok,
    ownerKey: ok,
    outsiderKey: generic,
    wrongScopeKey: missing('organization:read'),
    orgReadKey: ok,
    otherOrgKey: { status: 403, detail: 'API key does not have access to the requested organization: ID ORG.' },
    teamKey: teamOnly,
    ownerSession: ok,
    adminSession: ok,
    memberSession: ok,
    oauthOrgRead: ok,
    oauthMemberRead: missing('organization:read'),
    oauthNoScopes: noScopes,
    oauthExpired: badToken,
  }
  it.each(CALLERS)('%s', async (caller) => {
    const want = { ...table[caller], detail: table[caller].detail?.replace('ORG', w.org.id) }
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/oauth_applications/`, headers: headers[caller] })
    check(res, want, caller)
    if (res.statusCode === 200) expect(res.json().results.map((r: { client_id: string }) => r.client_id)).toContain(app.client_id)
  })

  it.each(CALLERS)("%s on another organization's list", async (caller) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.other.id}/oauth_applications/`, headers: headers[caller] })
    // Only the admin (a member of X too) may see X's list; everyone else is refused before the data.
    const expected: Record<Caller, Expect> = {
      ...table,
      memberKey: generic,
      ownerKey: generic,
      adminKey: ok,
      orgReadKey: generic,
      otherOrgKey: ok,
      ownerSession: generic,
      memberSession: generic,
      adminSession: ok,
      outsiderKey: ok,
      oauthOrgRead: generic,
    }
    check(res, expected[caller], caller)
    if (res.statusCode === 200) expect(JSON.stringify(res.json())).not.toContain(app.client_id)
  })

  it.each(CALLERS)('%s: POST/PUT/PATCH/DELETE are 405 after the same checks', async (caller) => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      const res = await t.app.inject({ method, url: `/api/organizations/${w.org.id}/oauth_applications/`, headers: headers[caller], payload: { name: 'x', redirect_uris: REDIRECT } })
      const base = table[caller]
      // A missing scope is not checked for a method the route does not have.
      const want: Expect = base.status === 200 || (base.status === 403 && base.detail?.startsWith('API key missing')) || base === noScopes ? { status: 405, detail: `Method "${method}" not allowed.` } : { ...base, detail: base.detail?.replace('ORG', w.org.id) }
      // Session writes need the CSRF header, which the session callers carry.
      check(res, want, `${caller} ${method}`)
    }
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM oauth_applications WHERE name = 'x'`)
    expect(n).toBe(0)
  })

  it.each(CALLERS)('%s: there is no detail route', async (caller) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/oauth_applications/${app.id}/`, headers: headers[caller] })
    expect(res.statusCode).toBe(404)
    expectErrorShape(res.json())
  })
})

describe('GET /api/oauth_application/metadata/:client_id/ (public)', () => {
  it.each(CALLERS)('%s gets the metadata whatever credentials it sends', async (caller) => {
    const res = await t.app.inject({ method: 'GET', url: `/api/oauth_application/metadata/${app.client_id}/`, headers: headers[caller] })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ name: 'Matrix', client_id: app.client_id, is_verified: false })
    const unknown = await t.app.inject({ method: 'GET', url: '/api/oauth_application/metadata/unknown/', headers: headers[caller] })
    check(unknown, { status: 404, detail: 'Not found.' }, caller)
    const post = await t.app.inject({ method: 'POST', url: `/api/oauth_application/metadata/${app.client_id}/`, headers: headers[caller], payload: {} })
    check(post, { status: 405, detail: 'Method "POST" not allowed.' }, caller)
  })
})

describe('authorization server endpoints ignore API credentials', () => {
  it.each(CALLERS)('%s', async (caller) => {
    const h = headers[caller]
    const p = pkce()
    const authorize = await t.app.inject({
      method: 'GET',
      url: `/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: app.client_id, redirect_uri: REDIRECT, code_challenge: p.challenge, code_challenge_method: 'S256' })}`,
      headers: { cookie: h.cookie ?? '', authorization: h.authorization ?? '' },
    })
    expect(authorize.statusCode).toBe(200)
    // Only a browser session reaches consent; a bearer credential never signs a browser in.
    expect(authorize.body.includes('action="/oauth/login"')).toBe(!caller.endsWith('Session'))
    expect(authorize.body.includes('name="decision" value="allow"')).toBe(caller.endsWith('Session'))

    // Token and revocation endpoints authenticate the client, never the user's credentials.
    for (const url of ['/oauth/token', '/oauth/revoke']) {
      const f = form({ grant_type: 'refresh_token', refresh_token: 'phr_x', token: 'pha_x' })
      const res = await t.app.inject({ method: 'POST', url, headers: { ...f.headers, ...(h.cookie ? { cookie: h.cookie } : {}), ...(h.authorization?.startsWith('Bearer') ? { authorization: h.authorization } : {}) }, payload: f.payload })
      expect(res.statusCode, `${caller} ${url}`).toBe(401)
      expect(res.json()).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed.' })
    }

    const meta = await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server', headers: h })
    expect(meta.statusCode).toBe(200)
    const gh = await t.app.inject({ method: 'GET', url: '/login/github/', headers: h })
    expect(gh.statusCode).toBe(404)
    const complete = await t.app.inject({ method: 'GET', url: '/complete/github/?code=x&state=y', headers: h })
    expect(complete.statusCode).toBe(404)
  })
})
