/**
 * orgd as an OAuth 2.1 authorization server, driven over HTTP: the authorize endpoint (sign-in,
 * consent, first-party skip, errors to the user or back to the client), the token endpoint
 * (code + PKCE exchange, refresh rotation, client authentication), revocation, metadata, and
 * access tokens on the API with exactly the granted scopes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, login, PASSWORD, seedWorld, type Session, type TestApp, type World } from '../../helpers/app.ts'
import { authorizeUrl, basic, consent, form, pkce, registerApp, type RegisteredApp } from './helpers.ts'

const REDIRECT = 'https://client.example/callback'

let t: TestApp
let w: World
let app: RegisteredApp
let session: Session

interface Tokens {
  access_token: string
  refresh_token: string
  token_type: string
  expires_in: number
  scope: string
}

function authParams(client: RegisteredApp, challenge: string, extra: Record<string, string | undefined> = {}) {
  return { response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, state: 'st-123', code_challenge: challenge, code_challenge_method: 'S256', ...extra }
}

async function getCode(client = app, extra: Record<string, string | undefined> = {}, as = session): Promise<{ code: string; verifier: string }> {
  const p = pkce()
  const url = await consent(t.app, as, authParams(client, p.challenge, extra))
  expect(url.searchParams.get('state')).toBe('st-123')
  expect(url.searchParams.get('iss')).toBe('http://orgd.test')
  const code = url.searchParams.get('code')
  expect(code).toBeTruthy()
  return { code: code!, verifier: p.verifier }
}

async function token(body: Record<string, string | undefined>, client: RegisteredApp | null = app) {
  const f = form(body)
  const headers = client?.client_secret ? { ...f.headers, ...basic(client.client_id, client.client_secret) } : f.headers
  return t.app.inject({ method: 'POST', url: '/oauth/token', headers, payload: f.payload })
}

async function exchange(code: string, verifier: string, client = app): Promise<Tokens> {
  const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, client_id: client.client_secret ? undefined : client.client_id }, client)
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

const membersUrl = () => `/api/organizations/${w.org.id}/members/`

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  app = await registerApp(t.services, w.org.id, { name: 'Acme Reporter', verified: true, scopes: ['organization_member:read', 'organization:read'], optionalScopes: ['organization_member:write'] })
  session = await login(t.app, w.member.email)
})

afterAll(async () => {
  await t?.close()
})

describe('metadata', () => {
  it('/.well-known/oauth-authorization-server describes the endpoints, S256 only', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
    expect(res.statusCode).toBe(200)
    const m = res.json()
    expect(m).toMatchObject({
      issuer: 'http://orgd.test',
      authorization_endpoint: 'http://orgd.test/oauth/authorize',
      token_endpoint: 'http://orgd.test/oauth/token',
      revocation_endpoint: 'http://orgd.test/oauth/revoke',
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
    })
    expect(m.scopes_supported).toContain('organization:read')
    expect(m.scopes_supported).not.toContain('internal_run:read')
  })
})

describe('the authorization endpoint', () => {
  it('without a session shows a sign-in form that returns to the request', async () => {
    const p = pkce()
    const url = authorizeUrl(authParams(app, p.challenge))
    const page = await t.app.inject({ method: 'GET', url })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('action="/oauth/login"')
    expect(page.body).toContain('Acme Reporter wants to access')
    const csrfCookie = page.cookies.find((c) => c.name === 'orgd_login_csrf')!
    expect(csrfCookie.httpOnly).toBe(true)
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page.body)![1]
    expect(csrf).toBe(csrfCookie.value)
    const post = (fields: Record<string, string>, cookie: string | null = `orgd_login_csrf=${csrfCookie.value}`) => {
      const f = form(fields)
      return t.app.inject({ method: 'POST', url: '/oauth/login', headers: { ...f.headers, ...(cookie ? { cookie } : {}) }, payload: f.payload })
    }
    const wrong = await post({ next: url, email: w.member.email, password: 'nope', csrf_token: csrf })
    expect(wrong.statusCode).toBe(400)
    expect(wrong.body).toContain('Invalid email or password.')
    expect(wrong.cookies.find((c) => c.name === 'sessionid')).toBeUndefined()
    // Without the form's token (another site posting the form), nobody is signed in.
    for (const [fields, cookie] of [[{ csrf_token: 'forged' }, undefined], [{ csrf_token: csrf }, null], [{}, undefined]] as const) {
      const forged = await post({ next: url, email: w.member.email, password: PASSWORD, ...fields }, cookie)
      expect(forged.statusCode).toBe(403)
      expect(forged.cookies.find((c) => c.name === 'sessionid')).toBeUndefined()
    }
    const ok = await post({ next: url, email: w.member.email, password: PASSWORD, csrf_token: csrf })
    expect(ok.statusCode).toBe(303)
    expect(ok.headers.location).toBe(url)
    expect(ok.cookies.find((c) => c.name === 'sessionid')?.value).toBeTruthy()
    // The form never sends anyone elsewhere.
    const away = await post({ next: 'https://evil.example/', email: w.member.email, password: PASSWORD, csrf_token: csrf })
    expect(away.statusCode).toBe(400)
    expect(away.headers.location).toBeUndefined()
  })

  it('the consent page shows the app, its verified badge and the scopes; it cannot be framed', async () => {
    const p = pkce()
    const page = await t.app.inject({ method: 'GET', url: authorizeUrl(authParams(app, p.challenge, { scope: 'organization_member:read organization_member:write' })), headers: { cookie: session.headers.cookie } })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('Acme Reporter')
    expect(page.body).toContain('data-testid="verified"')
    expect(page.body).toContain('<code>organization_member:read</code>')
    expect(page.body).toContain('<code>organization_member:write</code>')
    expect(page.headers['x-frame-options']).toBe('DENY')
    expect(page.headers['cache-control']).toBe('no-store')
  })

  it('an unverified app is marked as such', async () => {
    const plain = await registerApp(t.services, w.org.id, { name: 'Plain App', redirectUris: [REDIRECT] })
    const page = await t.app.inject({ method: 'GET', url: authorizeUrl(authParams(plain, pkce().challenge)), headers: { cookie: session.headers.cookie } })
    expect(page.body).toContain('Not verified')
    expect(page.body).not.toContain('data-testid="verified"')
  })

  it('an unknown client or an unregistered redirect URI is shown to the user, never redirected', async () => {
    const p = pkce()
    for (const params of [authParams({ ...app, client_id: 'unknown' }, p.challenge), authParams(app, p.challenge, { redirect_uri: 'https://evil.example/cb' }), authParams(app, p.challenge, { client_id: undefined })]) {
      const res = await t.app.inject({ method: 'GET', url: authorizeUrl(params), headers: { cookie: session.headers.cookie } })
      expect(res.statusCode).toBe(400)
      expect(res.headers.location).toBeUndefined()
      expect(res.body).toContain('role="alert"')
    }
  })

  it('other request errors go back to the client with the standard error and the state', async () => {
    const p = pkce()
    const cases: Array<[Record<string, string | undefined>, string]> = [
      [{ code_challenge: undefined }, 'invalid_request'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: 'short' }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'project:write' }, 'invalid_scope'],
      [{ scope: 'not-a-scope' }, 'invalid_scope'],
    ]
    for (const [extra, error] of cases) {
      const res = await t.app.inject({ method: 'GET', url: authorizeUrl(authParams(app, p.challenge, extra)), headers: { cookie: session.headers.cookie } })
      expect(res.statusCode, JSON.stringify(extra)).toBe(302)
      const loc = new URL(res.headers.location as string)
      expect(`${loc.origin}${loc.pathname}`).toBe(REDIRECT)
      expect(loc.searchParams.get('error')).toBe(error)
      expect(loc.searchParams.get('state')).toBe('st-123')
      expect(loc.searchParams.get('code')).toBeNull()
    }
  })

  it('"Deny" answers access_denied', async () => {
    const url = await consent(t.app, session, authParams(app, pkce().challenge), 'deny')
    expect(url.searchParams.get('error')).toBe('access_denied')
    expect(url.searchParams.get('code')).toBeNull()
  })

  it('the consent POST needs the session and its CSRF token', async () => {
    const codes = async () => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM oauth_authorization_codes WHERE user_id = $1`, [w.member.id]))[0].n
    const before = await codes()
    const fields = { ...authParams(app, pkce().challenge), decision: 'allow' }
    const post = (cookie: string | null, csrf: string | undefined) =>
      t.app.inject({ method: 'POST', url: '/oauth/authorize', headers: { ...form({}).headers, ...(cookie ? { cookie } : {}) }, payload: form({ ...fields, csrf_token: csrf }).payload })
    for (const csrf of [undefined, 'wrong']) {
      const res = await post(session.headers.cookie, csrf)
      expect(res.statusCode).toBe(403)
      expect(res.headers.location).toBeUndefined()
      expect(res.body).toContain('CSRF Failed')
    }
    const anon = await post(null, 'x')
    expect(anon.statusCode).toBe(401)
    expect(anon.headers.location).toBeUndefined()
    expect(await codes()).toBe(before)
  })

  it('a first-party app skips consent', async () => {
    const first = await registerApp(t.services, w.org.id, { name: 'Our CLI', firstParty: true, redirectUris: [REDIRECT] })
    const p = pkce()
    const res = await t.app.inject({ method: 'GET', url: authorizeUrl(authParams(first, p.challenge)), headers: { cookie: session.headers.cookie } })
    expect(res.statusCode).toBe(302)
    const loc = new URL(res.headers.location as string)
    expect(loc.searchParams.get('code')).toBeTruthy()
    const tokens = await exchange(loc.searchParams.get('code')!, p.verifier, first)
    expect(tokens.access_token).toMatch(/^pha_/)
  })
})

describe('the token endpoint', () => {
  it('exchanges a code with PKCE for pha_/phr_ tokens, stored only as hashes', async () => {
    const { code, verifier } = await getCode()
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = res.json()
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    expect(body.access_token).toMatch(/^pha_[0-9A-Za-z]{40,}$/)
    expect(body.refresh_token).toMatch(/^phr_[0-9A-Za-z]{40,}$/)
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'organization_member:read organization:read' })
    const rows = await t.db.query(`SELECT a.*, r.token_hash AS r_hash, r.expires_at AS r_exp FROM oauth_access_tokens a JOIN oauth_refresh_tokens r ON r.access_token_id = a.id`)
    const dump = JSON.stringify(rows)
    expect(dump).not.toContain(body.access_token)
    expect(dump).not.toContain(body.refresh_token)
    expect(dump).not.toContain(code)
    const me = await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(body.access_token) })
    expect(me.statusCode).toBe(200)
    expect(me.json().count).toBe(3)
  })

  it('client_secret_post works; a public client authenticates with PKCE alone', async () => {
    const { code, verifier } = await getCode()
    const post = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: app.client_id, client_secret: app.client_secret! }, null)
    expect(post.statusCode).toBe(200)
    const pub = await registerApp(t.services, w.org.id, { name: 'Native', public: true, redirectUris: [REDIRECT] })
    const c = await getCode(pub)
    const res = await token({ grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, client_id: pub.client_id }, null)
    expect(res.statusCode).toBe(200)
  })

  it('wrong client credentials are invalid_client (401)', async () => {
    const { code, verifier } = await getCode()
    const wrong = await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { ...app, client_secret: 'wrong' })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json()).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed.' })
    expect(wrong.headers['www-authenticate']).toContain('Basic')
    const missing = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: app.client_id }, null)
    expect(missing.statusCode).toBe(401)
    const unknown = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: 'nobody' }, null)
    expect(unknown.json().error).toBe('invalid_client')
    // The code survived the failed attempts.
    expect((await token({ grant_type: 'authorization_code', code, code_verifier: verifier })).statusCode).toBe(200)
  })

  it('a wrong PKCE verifier is invalid_grant', async () => {
    const { code } = await getCode()
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: pkce().verifier, redirect_uri: REDIRECT })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid_grant', error_description: 'PKCE verification failed: the code_verifier does not match the code_challenge.' })
    const missing = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
    expect(missing.json().error).toBe('invalid_request')
  })

  it('a reused code is invalid_grant, and the tokens it produced are revoked', async () => {
    const { code, verifier } = await getCode()
    const first = await exchange(code, verifier)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(first.access_token) })).statusCode).toBe(200)
    const again = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT })
    expect(again.statusCode).toBe(400)
    expect(again.json()).toEqual({ error: 'invalid_grant', error_description: 'The authorization code has already been used.' })
    const after = await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(first.access_token) })
    expect(after.statusCode).toBe(401)
    expect(after.json()).toEqual({ type: 'authentication_error', code: 'authentication_failed', detail: 'Invalid access token.', attr: null })
    expect((await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })).json().error).toBe('invalid_grant')
  })

  it('two simultaneous exchanges of one code: exactly one succeeds', async () => {
    const { code, verifier } = await getCode()
    const body = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }
    const answers = await Promise.all([token(body), token(body), token(body)])
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 400, 400])
    for (const r of answers.filter((r) => r.statusCode === 400)) expect(r.json().error).toBe('invalid_grant')
  })

  it('two simultaneous refreshes of one token: at most one pair survives', async () => {
    const { code, verifier } = await getCode()
    const first = await exchange(code, verifier)
    const answers = await Promise.all([token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }), token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })])
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 400])
    // The loser replayed a spent token, which ends the grant: the winner's pair is revoked too.
    const winner: Tokens = answers.find((r) => r.statusCode === 200)!.json()
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(winner.access_token) })).statusCode).toBe(401)
  })

  it('a wrong redirect URI is invalid_grant', async () => {
    const { code, verifier } = await getCode()
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'https://client.example/other' })
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toBe('invalid_grant')
  })

  it('an expired code is invalid_grant', async () => {
    const { code, verifier } = await getCode()
    await t.db.query(`UPDATE oauth_authorization_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`)
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid_grant', error_description: 'The authorization code has expired.' })
  })

  it("another client's code, an unknown code and a bad grant type are refused", async () => {
    const { code, verifier } = await getCode()
    const other = await registerApp(t.services, w.org.id, { name: 'Other', redirectUris: [REDIRECT] })
    expect((await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, other)).json().error).toBe('invalid_grant')
    expect((await token({ grant_type: 'authorization_code', code: 'nope', code_verifier: verifier })).json().error).toBe('invalid_grant')
    expect((await token({ grant_type: 'password', username: 'a', password: 'b' })).json().error).toBe('unsupported_grant_type')
    expect((await token({})).json().error).toBe('invalid_request')
  })

  it('refresh rotates both tokens; replaying the old refresh token ends the grant', async () => {
    const { code, verifier } = await getCode()
    const first = await exchange(code, verifier)
    const res = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })
    expect(res.statusCode).toBe(200)
    const second: Tokens = res.json()
    expect(second.access_token).not.toBe(first.access_token)
    expect(second.refresh_token).not.toBe(first.refresh_token)
    expect(second.scope).toBe(first.scope)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(first.access_token) })).statusCode).toBe(401)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(second.access_token) })).statusCode).toBe(200)
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token })
    expect(replay.json()).toEqual({ error: 'invalid_grant', error_description: 'The refresh token has been revoked.' })
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(second.access_token) })).statusCode).toBe(401)
    expect((await token({ grant_type: 'refresh_token', refresh_token: second.refresh_token })).json().error).toBe('invalid_grant')
  })

  it('refresh may narrow the scopes but never widen them; expired refresh tokens are refused', async () => {
    const { code, verifier } = await getCode()
    const first = await exchange(code, verifier)
    const wider = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, scope: 'organization_member:write' })
    expect(wider.json().error).toBe('invalid_scope')
    const narrow = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, scope: 'organization:read' })
    expect(narrow.json().scope).toBe('organization:read')
    const denied = await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(narrow.json().access_token) })
    expect(denied.statusCode).toBe(403)
    await t.db.query(`UPDATE oauth_refresh_tokens SET expires_at = now() - interval '1 second' WHERE revoked_at IS NULL`)
    expect((await token({ grant_type: 'refresh_token', refresh_token: narrow.json().refresh_token })).json()).toEqual({ error: 'invalid_grant', error_description: 'The refresh token has expired.' })
  })
})

describe('revocation', () => {
  it('revoking an access token refuses it afterwards; unknown tokens answer 200', async () => {
    const { code, verifier } = await getCode()
    const tokens = await exchange(code, verifier)
    const res = await t.app.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...form({}).headers, ...basic(app.client_id, app.client_secret!) }, payload: form({ token: tokens.access_token, token_type_hint: 'access_token' }).payload })
    expect(res.statusCode).toBe(200)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })).statusCode).toBe(401)
    const unknown = await t.app.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...form({}).headers, ...basic(app.client_id, app.client_secret!) }, payload: form({ token: 'pha_unknown' }).payload })
    expect(unknown.statusCode).toBe(200)
    const unauth = await t.app.inject({ method: 'POST', url: '/oauth/revoke', ...form({ token: tokens.refresh_token, client_id: app.client_id }) })
    expect(unauth.statusCode).toBe(401)
    expect(unauth.json().error).toBe('invalid_client')
  })

  it('revoking a refresh token ends the grant, access token included; another client cannot revoke', async () => {
    const { code, verifier } = await getCode()
    const tokens = await exchange(code, verifier)
    const other = await registerApp(t.services, w.org.id, { name: 'Other2', redirectUris: [REDIRECT] })
    const foreign = await t.app.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...form({}).headers, ...basic(other.client_id, other.client_secret!) }, payload: form({ token: tokens.access_token }).payload })
    expect(foreign.statusCode).toBe(200)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })).statusCode).toBe(200)
    await t.app.inject({ method: 'POST', url: '/oauth/revoke', headers: { ...form({}).headers, ...basic(app.client_id, app.client_secret!) }, payload: form({ token: tokens.refresh_token }).payload })
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })).statusCode).toBe(401)
    expect((await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).json().error).toBe('invalid_grant')
  })
})

describe('access tokens on the API', () => {
  it('carry exactly the granted scopes, with PostHog\'s messages', async () => {
    const { code, verifier } = await getCode(app, { scope: 'organization:read' })
    const tokens = await exchange(code, verifier)
    expect((await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/oauth_applications/`, headers: bearer(tokens.access_token) })).statusCode).toBe(200)
    const members = await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })
    expect(members.statusCode).toBe(403)
    expect(members.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: "API key missing required scope 'organization_member:read'", attr: null })
    const write = await t.app.inject({ method: 'PATCH', url: `${membersUrl()}${w.member.uuid}/`, headers: bearer(tokens.access_token), payload: { level: 8 } })
    expect(write.statusCode).toBe(403)
    const refused = await t.app.inject({ method: 'GET', url: `${membersUrl()}${w.member.uuid}/scoped_api_keys/`, headers: bearer(tokens.access_token) })
    expect(refused.json().detail).toBe('This action does not support personal API key access')
    // Membership still applies: the user is not in the other organization.
    const other = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.other.id}/oauth_applications/`, headers: bearer(tokens.access_token) })
    expect(other.statusCode).toBe(403)
  })

  it('a token without scopes cannot access anything', async () => {
    const bare = await registerApp(t.services, w.org.id, { name: 'Bare', scopes: [], redirectUris: [REDIRECT] })
    const { code, verifier } = await getCode(bare)
    const tokens = await exchange(code, verifier, bare)
    expect(tokens.scope).toBe('')
    const res = await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: 'OAuth token has no scopes and cannot access this resource', attr: null })
  })

  it('cannot manage personal API keys', async () => {
    const { code, verifier } = await getCode()
    const tokens = await exchange(code, verifier)
    const listKeys = await t.app.inject({ method: 'GET', url: '/api/personal_api_keys/', headers: bearer(tokens.access_token) })
    expect(listKeys.statusCode).toBe(403)
    const create = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: bearer(tokens.access_token), payload: { label: 'x', scopes: ['*'] } })
    expect(create.statusCode).toBe(403)
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM personal_api_keys WHERE label = 'x'`)
    expect(n).toBe(0)
  })

  it('expired tokens, unknown tokens and inactive users are refused with 401', async () => {
    const { code, verifier } = await getCode()
    const tokens = await exchange(code, verifier)
    const unknown = await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer('pha_doesnotexist') })
    expect(unknown.statusCode).toBe(401)
    expect(unknown.json().detail).toBe('Invalid access token.')
    await t.db.query(`UPDATE oauth_access_tokens SET expires_at = now() - interval '1 second' WHERE id = (SELECT max(id) FROM oauth_access_tokens)`)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })).statusCode).toBe(401)
  })

  it('deleting the application ends its tokens', async () => {
    const gone = await registerApp(t.services, w.org.id, { name: 'Gone', redirectUris: [REDIRECT] })
    const { code, verifier } = await getCode(gone)
    const tokens = await exchange(code, verifier, gone)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })).statusCode).toBe(200)
    await t.services.oauth.delete(gone.client_id)
    expect((await t.app.inject({ method: 'GET', url: membersUrl(), headers: bearer(tokens.access_token) })).statusCode).toBe(401)
  })
})
