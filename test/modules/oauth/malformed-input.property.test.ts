/**
 * Property tests: malformed input to every route of the OAuth module never gives a 5xx; API
 * errors have exactly PostHog's keys, OAuth protocol errors exactly `{error, error_description}`;
 * and no malformed request leaves a code, a token or an application behind.
 *
 * A fixed list of known-dangerous values is sent every time, then fast-check generates more
 * (seeded by FC_SEED, default fixed, so failures reproduce; FC_SEED=random explores).
 */
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, expectErrorShape, login, seedWorld, type Session, type TestApp, type World } from '../../helpers/app.ts'
import { startFakeGitHub, type FakeGitHub } from './fake-github.ts'
import { registerApp, type RegisteredApp } from './helpers.ts'
import { pct } from '../../helpers/net.ts'

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20261129)
const RUNS = 60

let gh: FakeGitHub
let t: TestApp
let w: World
let app: RegisteredApp
let session: Session

const DANGEROUS = ['', ' ', '\u0000', 'a\u0000b', '\ud800', '\udfff', '\r\nSet-Cookie: x=1', "'; DROP TABLE users; --", '%', '%00', '%zz', '../../', 'é'.repeat(3000), 'x'.repeat(70_000), 'javascript:alert(1)', '{}', '[]', 'null', '\u202e', '\uFEFF']

const nasty = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...DANGEROUS) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  { weight: 1, arbitrary: fc.uuid() },
)
const field = fc.constantFrom('grant_type', 'code', 'code_verifier', 'redirect_uri', 'client_id', 'client_secret', 'refresh_token', 'scope', 'token', 'token_type_hint', 'response_type', 'state', 'code_challenge', 'code_challenge_method', 'decision', 'csrf_token', 'next', 'email', 'password')
const params = fc.dictionary(field, fc.oneof(nasty, fc.constantFrom('authorization_code', 'refresh_token', 'code', 'S256', 'allow')), { maxKeys: 8 })
const jsonValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), params)

async function counts(): Promise<string> {
  const rows = await t.db.query<Record<string, number>>(
    `SELECT (SELECT count(*)::int FROM oauth_applications) AS apps, (SELECT count(*)::int FROM oauth_authorization_codes) AS codes,
            (SELECT count(*)::int FROM oauth_access_tokens) AS access, (SELECT count(*)::int FROM oauth_refresh_tokens) AS refresh,
            (SELECT count(*)::int FROM social_identities) AS socials`,
  )
  return JSON.stringify(rows[0])
}

const query = (p: Record<string, string>) => Object.entries(p).map(([k, v]) => `${k}=${pct(v)}`).join('&')

function noServerError(res: LightMyRequestResponse, label: string): void {
  expect(res.statusCode, `${label}: ${res.body.slice(0, 300)}`).toBeLessThan(500)
}

/** API routes answer PostHog's shape; the OAuth protocol endpoints their own. */
function oauthOrPostHogError(res: LightMyRequestResponse, label: string): void {
  noServerError(res, label)
  if (res.statusCode < 400) return
  const body = res.json() as Record<string, unknown>
  if ('error' in body) expect(Object.keys(body).sort(), label).toEqual(['error', 'error_description'])
  else expectErrorShape(body)
}

beforeAll(async () => {
  gh = await startFakeGitHub()
  t = await createTestApp({ GITHUB_CLIENT_ID: gh.clientId, GITHUB_CLIENT_SECRET: gh.clientSecret, GITHUB_AUTHORIZE_URL: `${gh.url}/login/oauth/authorize`, GITHUB_TOKEN_URL: `${gh.url}/login/oauth/access_token`, GITHUB_API_URL: gh.url })
  w = await seedWorld(t.services)
  app = await registerApp(t.services, w.org.id, { name: 'Fuzz' })
  session = await login(t.app, w.member.email)
})

afterAll(async () => {
  await t?.close()
  await gh?.close()
})

describe('malformed input never breaks the OAuth routes', () => {
  it('the application list: organization ids and query strings', async () => {
    const before = await counts()
    const send = async (org: string, q: Record<string, string>) => {
      const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${pct(org)}/oauth_applications/?${query(q)}`, headers: bearer(w.keys.member) })
      noServerError(res, `${JSON.stringify(org)} ${JSON.stringify(q)}`)
      if (res.statusCode >= 400) expectErrorShape(res.json())
      else expect(res.json().count).toBe(1)
    }
    for (const d of DANGEROUS.filter((s) => s.length < 3000)) await send(d, {})
    for (const d of DANGEROUS) await send(w.org.id, { limit: d, offset: d })
    await fc.assert(
      fc.asyncProperty(fc.oneof(nasty, fc.constant(w.org.id), fc.constant('@current')), fc.dictionary(fc.constantFrom('limit', 'offset', 'search', 'x'), nasty, { maxKeys: 3 }), async (org, q) => send(org.slice(0, 400), q)),
      { numRuns: RUNS, seed: SEED },
    )
    expect(await counts()).toBe(before)
  })

  it('the public metadata lookup: any client id', async () => {
    const send = async (id: string) => {
      const res = await t.app.inject({ method: 'GET', url: `/api/oauth_application/metadata/${pct(id)}/` })
      noServerError(res, JSON.stringify(id))
      if (res.statusCode !== 200) {
        expect([400, 404]).toContain(res.statusCode)
        expectErrorShape(res.json())
      }
    }
    for (const d of DANGEROUS.filter((s) => s.length < 3000)) await send(d)
    await fc.assert(fc.asyncProperty(nasty, async (id) => send(id.slice(0, 450))), { numRuns: RUNS, seed: SEED })
  })

  it('the token and revocation endpoints: random forms, JSON, broken bodies and credentials', async () => {
    const before = await counts()
    const send = async (url: string, contentType: string, payload: string, auth?: string) => {
      const res = await t.app.inject({ method: 'POST', url, headers: { 'content-type': contentType, ...(auth ? { authorization: auth } : {}) }, payload })
      oauthOrPostHogError(res, `${url} ${contentType} ${payload.slice(0, 200)}`)
      return res
    }
    for (const url of ['/oauth/token', '/oauth/revoke']) {
      for (const d of DANGEROUS) {
        await send(url, 'application/x-www-form-urlencoded', query({ grant_type: 'authorization_code', code: d, code_verifier: d, client_id: app.client_id, client_secret: app.client_secret! }))
        await send(url, 'application/x-www-form-urlencoded', query({ grant_type: d, client_id: d }), `Basic ${Buffer.from(`${d}:${d}`).toString('base64')}`)
        await send(url, 'application/json', JSON.stringify({ grant_type: 'refresh_token', refresh_token: d, token: d, client_id: app.client_id, client_secret: app.client_secret }))
      }
      for (const broken of ['{', 'not json', '[1,', '"\\ud800"']) await send(url, 'application/json', broken)
      await send(url, 'text/plain', 'hello')
      await send(url, 'application/x-www-form-urlencoded', '%zz=%zz&&&=')
      await send(url, 'application/x-www-form-urlencoded', '', 'Basic !!!not-base64')
    }
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/oauth/token', '/oauth/revoke'), params, fc.boolean(), fc.option(nasty), async (url, p, asJson, basicAuth) => {
        const withClient = { ...p, client_id: p.client_id ?? app.client_id, client_secret: p.client_secret ?? app.client_secret! }
        await send(url, asJson ? 'application/json' : 'application/x-www-form-urlencoded', asJson ? JSON.stringify(withClient) : query(withClient), basicAuth === null ? undefined : `Basic ${Buffer.from(basicAuth).toString('base64')}`)
      }),
      { numRuns: RUNS, seed: SEED },
    )
    await fc.assert(
      fc.asyncProperty(jsonValue, async (v) => {
        await send('/oauth/token', 'application/json', JSON.stringify(v))
      }),
      { numRuns: RUNS, seed: SEED },
    )
    expect(await counts()).toBe(before)
  })

  it('the authorization endpoint, its consent POST and its sign-in form', async () => {
    const before = await counts()
    const base = { response_type: 'code', client_id: app.client_id, redirect_uri: 'https://client.example/callback', code_challenge: 'A'.repeat(43), code_challenge_method: 'S256' }
    const get = async (p: Record<string, string>, withSession: boolean) => {
      const res = await t.app.inject({ method: 'GET', url: `/oauth/authorize?${query(p)}`, headers: withSession ? { cookie: session.headers.cookie } : {} })
      noServerError(res, JSON.stringify(p))
      expect([200, 302, 400]).toContain(res.statusCode)
      if (res.statusCode === 302) {
        const loc = new URL(res.headers.location as string)
        // Errors and codes only ever go to the registered redirect URI.
        expect(`${loc.origin}${loc.pathname}`).toBe('https://client.example/callback')
        expect(loc.searchParams.get('code')).toBeNull()
      }
    }
    const post = async (url: string, p: Record<string, string>) => {
      // No valid CSRF token ever reaches these posts, so nothing may be approved.
      // The sign-in form gets its double-submit token right, so the fuzzing reaches past it.
      const login = url === '/oauth/login'
      const res = await t.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `${session.headers.cookie}${login ? '; orgd_login_csrf=fuzz' : ''}` },
        payload: query(login ? { ...p, csrf_token: 'fuzz' } : p),
      })
      noServerError(res, `${url} ${JSON.stringify(p)}`)
      if (res.statusCode === 302 || res.statusCode === 303) expect(String(res.headers.location)).not.toContain('code=')
    }
    for (const d of DANGEROUS) {
      for (const k of Object.keys(base)) {
        await get({ ...base, [k]: d }, true)
        await get({ ...base, [k]: d, state: d, scope: d }, false)
      }
      await post('/oauth/authorize', { ...base, decision: 'allow', csrf_token: d })
      await post('/oauth/login', { next: d, email: d, password: d })
      await post('/oauth/login', { next: `/oauth/authorize?${d}`, email: d, password: d })
    }
    await fc.assert(
      fc.asyncProperty(params, fc.boolean(), async (p, withSession) => {
        await get({ ...base, ...p }, withSession)
        await post('/oauth/authorize', { ...base, ...p, csrf_token: `x${p.csrf_token ?? ''}` })
        await post('/oauth/login', p)
      }),
      { numRuns: RUNS, seed: SEED },
    )
    expect(await counts()).toBe(before)
  })

  it('the GitHub callback: any code, state and error', async () => {
    const before = await counts()
    const send = async (p: Record<string, string>, cookie?: string) => {
      const res = await t.app.inject({ method: 'GET', url: `/complete/github/?${query(p)}`, headers: cookie ? { cookie } : {} })
      noServerError(res, JSON.stringify(p))
      expect(res.statusCode).toBeGreaterThanOrEqual(400)
    }
    for (const d of DANGEROUS) {
      await send({ code: d, state: d })
      await send({ code: d, state: 'same' }, 'orgd_github_state=same')
      await send({ error: d, error_description: d, state: 'same' }, 'orgd_github_state=same')
    }
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom('code', 'state', 'error', 'error_description'), nasty, { maxKeys: 4 }), async (p) => send({ ...p, state: 'same' }, 'orgd_github_state=same')),
      { numRuns: RUNS, seed: SEED },
    )
    expect(await counts()).toBe(before)
  })
})
