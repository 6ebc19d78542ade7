import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createKey, createTestApp, login, PASSWORD, seedWorld, type TestApp, type World } from '../helpers/app.ts'

let t: TestApp
let w: World

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
})
afterAll(async () => t.close())

describe('personal API keys (spec case 15)', () => {
  it('a read-scoped key reads members but cannot write', async () => {
    const key = await createKey(t.services, w.admin, ['organization_member:read'])
    const list = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(list.statusCode).toBe(200)
    const patch = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: bearer(key), payload: { level: 8 } })
    expect(patch.statusCode).toBe(403)
    expect(patch.json()).toEqual({
      type: 'authentication_error',
      code: 'permission_denied',
      detail: "API key missing required scope 'organization_member:write'",
      attr: null,
    })
  })

  it('write implies read', async () => {
    const key = await createKey(t.services, w.admin, ['organization_member:write'])
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(res.statusCode).toBe(200)
  })

  it('scoped_api_keys refuses API keys', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/scoped_api_keys/`, headers: bearer(w.keys.admin) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('This action does not support personal API key access')
  })

  it('a key scoped to another organization is refused here', async () => {
    const key = await createKey(t.services, w.admin, ['*'], { scoped_organizations: [w.org.id] })
    // Re-scope to X directly: the admin is not a member of X, which the API would refuse.
    await t.db.query(`UPDATE personal_api_keys SET scoped_organizations = $1 WHERE label = 'test' AND scoped_organizations IS NOT NULL AND user_id = $2`, [[w.other.id], w.admin.id])
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe(`API key does not have access to the requested organization: ID ${w.org.id}.`)
  })

  it('a key with scoped_teams is refused on organization endpoints', async () => {
    const key = await createKey(t.services, w.admin, ['*'], { scoped_teams: [w.org.projectId] })
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('API keys with scoped projects are only supported on project-based endpoints.')
  })

  it('an unknown key is a 401 naming where it was found', async () => {
    const url = `/api/organizations/${w.org.id}/members/`
    const header = await t.app.inject({ method: 'GET', url, headers: bearer('phx_doesnotexist') })
    expect(header.statusCode).toBe(401)
    expect(header.json()).toEqual({
      type: 'authentication_error',
      code: 'authentication_failed',
      detail: 'Personal API key found in request Authorization header is invalid.',
      attr: null,
    })
    const query = await t.app.inject({ method: 'GET', url: `${url}?personal_api_key=phx_nope` })
    expect(query.json().detail).toBe('Personal API key found in request query string is invalid.')
    const body = await t.app.inject({ method: 'PATCH', url: `${url}${w.member.uuid}/`, payload: { personal_api_key: 'phx_nope', level: 1 } })
    expect(body.json().detail).toBe('Personal API key found in request body is invalid.')
    const projectToken = await t.app.inject({ method: 'GET', url, headers: bearer('phc_sometoken') })
    expect(projectToken.statusCode).toBe(401)
  })

  it('accepts the key from the query string and the body', async () => {
    const q = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/?personal_api_key=${w.keys.member}` })
    expect(q.statusCode).toBe(200)
    const b = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, payload: { personal_api_key: w.keys.admin, level: 1 } })
    expect(b.statusCode).toBe(200)
  })

  it('a key with no scopes has no access', async () => {
    const key = await createKey(t.services, w.admin, [])
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe("API key missing required scope 'organization_member:read'")
  })

  it('a deactivated user’s key stops working', async () => {
    const { createUser, addMember } = await import('../helpers/app.ts')
    const u = await createUser(t.services)
    await addMember(t.services, w.org.id, u, 1)
    const key = await createKey(t.services, u)
    await t.db.query(`UPDATE users SET is_active = false WHERE id = $1`, [u.id])
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(res.statusCode).toBe(401)
  })

  it('records last_used_at at most hourly', async () => {
    const { createHash } = await import('node:crypto')
    const key = await createKey(t.services, w.member)
    const secure = `sha256$${createHash('sha256').update(key).digest('hex')}`
    const read = async () => (await t.db.query<{ at: string | null }>(`SELECT last_used_at::text AS at FROM personal_api_keys WHERE secure_value = $1`, [secure]))[0].at
    expect(await read()).toBeNull()
    await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    const first = await read()
    expect(first).not.toBeNull()
    await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(await read()).toBe(first)
    await t.db.query(`UPDATE personal_api_keys SET last_used_at = now() - interval '2 hours' WHERE secure_value = $1`, [secure])
    const aged = await read()
    await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key) })
    expect(await read()).not.toBe(aged)
  })

  it('stores only the SHA-256 of the key', async () => {
    const rows = await t.db.query<{ secure_value: string }>(`SELECT secure_value FROM personal_api_keys`)
    for (const r of rows) expect(r.secure_value).toMatch(/^sha256\$[0-9a-f]{64}$/)
    const leaked = await t.db.query(`SELECT 1 FROM personal_api_keys WHERE secure_value LIKE '%' || $1 || '%'`, [w.keys.owner.slice(4, 20)])
    expect(leaked).toHaveLength(0)
  })
})

describe('organization resolution (spec 1.3, case 8)', () => {
  it('another organization is a generic 403; an unknown one is 404', async () => {
    const alien = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.other.id}/members/`, headers: bearer(w.keys.admin) })
    expect(alien.statusCode).toBe(403)
    expect(alien.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: 'You do not have permission to perform this action.', attr: null })
    const unknown = await t.app.inject({ method: 'GET', url: `/api/organizations/6f1c2b1e-0000-4000-8000-000000000000/members/`, headers: bearer(w.keys.admin) })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Organization not found.', attr: null })
    const malformed = await t.app.inject({ method: 'GET', url: `/api/organizations/nope/members/`, headers: bearer(w.keys.admin) })
    expect(malformed.statusCode).toBe(404)
  })

  it('permissions come before method routing: 403 elsewhere, 405 at home', async () => {
    const alien = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.other.id}/members/${w.outsider.uuid}/`, headers: bearer(w.keys.admin) })
    expect(alien.statusCode).toBe(403)
    const home = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: bearer(w.keys.admin) })
    expect(home.statusCode).toBe(405)
    expect(home.json()).toEqual({ type: 'invalid_request', code: 'method_not_allowed', detail: 'Method "GET" not allowed.', attr: null })
  })

  it('@current resolves to the current organization, or the first one, and remembers it', async () => {
    await t.db.query(`UPDATE users SET current_organization_id = NULL WHERE id = $1`, [w.member.id])
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/@current/members/`, headers: bearer(w.keys.member) })
    expect(res.statusCode).toBe(200)
    const [u] = await t.db.query<{ current_organization_id: string }>(`SELECT current_organization_id FROM users WHERE id = $1`, [w.member.id])
    expect(u.current_organization_id).toBe(w.org.id)
  })

  it('anonymous requests are 401 not_authenticated', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/` })
    expect(res.statusCode).toBe(401)
    expect(res.json()).toEqual({ type: 'authentication_error', code: 'not_authenticated', detail: 'Authentication credentials were not provided.', attr: null })
  })

  it('trailing slash is optional', async () => {
    const a = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members`, headers: bearer(w.keys.member) })
    const b = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(w.keys.member) })
    expect(a.statusCode).toBe(200)
    expect(a.json().count).toBe(b.json().count)
  })
})

describe('sessions', () => {
  it('logs in with a cookie, reads without CSRF, needs the CSRF header to write', async () => {
    const s = await login(t.app, w.owner.email)
    const me = await t.app.inject({ method: 'GET', url: '/api/users/@me/', headers: { cookie: s.headers.cookie } })
    expect(me.statusCode).toBe(200)
    expect(me.json().email).toBe(w.owner.email)
    const noCsrf = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: { cookie: s.headers.cookie }, payload: { level: 1 } })
    expect(noCsrf.statusCode).toBe(403)
    expect(noCsrf.json().detail).toBe('CSRF Failed: CSRF token missing.')
    const wrong = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: { cookie: s.headers.cookie, 'x-csrftoken': 'nope' }, payload: { level: 1 } })
    expect(wrong.json().detail).toBe('CSRF Failed: CSRF token incorrect.')
    const ok = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: s.headers, payload: { level: 1 } })
    expect(ok.statusCode).toBe(200)
  })

  it('sets an HttpOnly, SameSite=Lax session cookie', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/login/', payload: { email: w.member.email, password: PASSWORD } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ success: true })
    const setCookie = ([] as string[]).concat(res.headers['set-cookie'] as string | string[])
    const session = setCookie.find((c) => c.startsWith('sessionid='))!
    expect(session).toMatch(/HttpOnly/i)
    expect(session).toMatch(/SameSite=Lax/i)
  })

  it('refuses a wrong password with PostHog’s error', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/login/', payload: { email: w.member.email, password: 'wrong' } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ type: 'validation_error', code: 'invalid_credentials', detail: 'Invalid email or password.', attr: null })
    const unknown = await t.app.inject({ method: 'POST', url: '/api/login/', payload: { email: 'nobody@example.com', password: 'x' } })
    expect(unknown.json().code).toBe('invalid_credentials')
    const missing = await t.app.inject({ method: 'POST', url: '/api/login/', payload: { email: w.member.email } })
    expect(missing.json()).toEqual({ type: 'validation_error', code: 'required', detail: 'This field is required.', attr: 'password' })
  })

  it('skips scope checks for sessions and needs a recent login for sensitive writes', async () => {
    const s = await login(t.app, w.admin.email)
    const ok = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: s.headers, payload: { level: 1 } })
    expect(ok.statusCode).toBe(200)
    await t.db.query(`UPDATE sessions SET authenticated_at = now() - interval '3 hours'`)
    const stale = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: s.headers, payload: { level: 1 } })
    expect(stale.statusCode).toBe(403)
    expect(stale.json().code).toBe('sensitive_action_required_reauth')
    const read = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: s.headers })
    expect(read.statusCode).toBe(200)
  })

  it('logout ends the session', async () => {
    const s = await login(t.app, w.member.email)
    const out = await t.app.inject({ method: 'POST', url: '/api/logout/', headers: s.headers })
    expect(out.statusCode).toBe(204)
    const after = await t.app.inject({ method: 'GET', url: '/api/users/@me/', headers: s.headers })
    expect(after.statusCode).toBe(401)
  })
})

describe('HTTP contracts', () => {
  it('unknown routes, bad JSON and oversize bodies get PostHog-shaped errors', async () => {
    const nf = await t.app.inject({ method: 'GET', url: '/api/does-not-exist/' })
    expect(nf.statusCode).toBe(404)
    expect(nf.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Endpoint not found.', attr: null })
    const bad = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: { ...bearer(w.keys.owner), 'content-type': 'application/json' }, payload: '{"level":' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().code).toBe('parse_error')
    expect(bad.json().detail).toMatch(/^JSON parse error - /)
    const big = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: { ...bearer(w.keys.owner), 'content-type': 'application/json' }, payload: JSON.stringify({ x: 'a'.repeat(2 * 1024 * 1024) }) })
    expect(big.statusCode).toBe(413)
    expect(Object.keys(big.json()).sort()).toEqual(['attr', 'code', 'detail', 'type'])
  })

  it('ignores unknown fields', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/members/${w.member.uuid}/`, headers: bearer(w.keys.owner), payload: { level: 1, whatever: true, id: 'x' } })
    expect(res.statusCode).toBe(200)
  })

  it('health and readiness', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/_health' })).statusCode).toBe(200)
    const ready = await t.app.inject({ method: 'GET', url: '/_ready' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json().status).toBe('ok')
  })
})
