/**
 * The whole authorization-code + PKCE flow in Chromium against a listening orgd, with arctic's
 * standard OAuth 2.0 client on the application's side and a small callback server as its
 * redirect URI: sign in, consent, receive the code, exchange it, call the API with the access
 * token, refresh, revoke, and see the revoked token refused. The standard errors a client sees
 * (wrong verifier, reused code, wrong redirect URI, expired code) are checked through the same
 * client library.
 */
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { CodeChallengeMethod, generateCodeVerifier, generateState, OAuth2Client, OAuth2RequestError } from 'arctic'
import type { BrowserContext, Page } from 'playwright-core'
import { openBrowser, SHOTS, type TestBrowser } from '../../helpers/browser.ts'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createTestApp, PASSWORD, seedWorld, type TestApp, type World } from '../../helpers/app.ts'
import { freePort } from '../../helpers/net.ts'
import { registerApp, type RegisteredApp } from './helpers.ts'

/** The API call the flow makes with its access token: the organization's projects, as the issue names. */
const FLOW_API_PATH = (organizationId: string) => `/api/organizations/${organizationId}/projects/`
const FLOW_SCOPES = ['project:read', 'organization:read']


let t: TestApp
let w: World
let site: string
let callbackServer: Server
let callbackBase: string
let registered: RegisteredApp
let client: OAuth2Client
let browser: TestBrowser | undefined
let context: BrowserContext
let page: Page

const endpoints = () => ({ authorize: `${site}/oauth/authorize`, token: `${site}/oauth/token`, revoke: `${site}/oauth/revoke` })

async function callApi(accessToken: string): Promise<{ status: number; body: { count?: number; detail?: string } }> {
  const res = await fetch(`${site}${FLOW_API_PATH(w.org.id)}`, { headers: { authorization: `Bearer ${accessToken}` } })
  return { status: res.status, body: (await res.json()) as { count?: number; detail?: string } }
}

async function oauthErrorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof OAuth2RequestError) return err.code
    throw err
  }
  throw new Error('the request was not refused')
}

/** Signs in (when asked), approves, and returns the callback URL the browser landed on. */
async function authorizeInBrowser(verifier: string, state: string): Promise<URL> {
  const url = client.createAuthorizationURLWithPKCE(endpoints().authorize, state, CodeChallengeMethod.S256, verifier, FLOW_SCOPES)
  await page.goto(url.toString())
  if ((await page.getByLabel('Password').count()) > 0) {
    await page.getByLabel('Email').fill(w.member.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/oauth\/authorize\?/), page.getByRole('button', { name: 'Sign in' }).click()])
  }
  await Promise.all([page.waitForURL(/\/callback\?/), page.getByRole('button', { name: 'Allow' }).click()])
  return new URL(page.url())
}

beforeAll(async () => {
  const port = await freePort()
  site = `http://127.0.0.1:${port}`
  t = await createTestApp({ SITE_URL: site })
  w = await seedWorld(t.services)
  await t.app.listen({ port, host: '127.0.0.1' })

  callbackServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(`<!doctype html><title>Callback</title><h1>${url.searchParams.has('code') ? 'Code received' : 'Error received'}</h1>`)
  })
  const cport = await freePort()
  await new Promise<void>((resolve) => callbackServer.listen(cport, '127.0.0.1', resolve))
  callbackBase = `http://127.0.0.1:${cport}`

  registered = await registerApp(t.services, w.org.id, { name: 'Acme Dashboards', verified: true, scopes: FLOW_SCOPES, redirectUris: [`${callbackBase}/callback`] })
  client = new OAuth2Client(registered.client_id, registered.client_secret, `${callbackBase}/callback`)

  browser = await openBrowser({ width: 900, height: 760 })
  context = browser.context
  page = browser.page
})

afterAll(async () => {
  await browser?.close()
  await new Promise<void>((resolve) => (callbackServer ? callbackServer.close(() => resolve()) : resolve()))
  await t?.close()
})

beforeEach(async () => {
  await context.clearCookies()
})

describe('authorization code + PKCE in Chromium', () => {
  it('sign in, consent, code, exchange, API call, refresh, revoke', async () => {
    const verifier = generateCodeVerifier()
    const state = generateState()
    const url = client.createAuthorizationURLWithPKCE(endpoints().authorize, state, CodeChallengeMethod.S256, verifier, FLOW_SCOPES)

    // 1. Not signed in: the authorization page asks for the password first.
    const first = await page.goto(url.toString())
    expect(first?.status()).toBe(200)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in to continue')
    await page.getByLabel('Email').fill(w.member.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/oauth\/authorize\?/), page.getByRole('button', { name: 'Sign in' }).click()])

    // 2. The consent page: the app, its verified badge, the scopes.
    expect(await page.locator('#app-name').textContent()).toBe('Acme Dashboards')
    expect(await page.getByTestId('verified').textContent()).toBe('Verified')
    const scopesText = await page.locator('ul.scopes').textContent()
    for (const s of FLOW_SCOPES) expect(scopesText).toContain(s)
    expect(await page.locator('main').textContent()).toContain(w.member.email)
    await page.screenshot({ path: join(SHOTS, 'oauth-consent.png'), fullPage: true })

    // 3. Allow: the browser lands on the application's redirect URI with a code.
    await Promise.all([page.waitForURL(/\/callback\?/), page.getByRole('button', { name: 'Allow' }).click()])
    const landed = new URL(page.url())
    expect(`${landed.origin}${landed.pathname}`).toBe(`${callbackBase}/callback`)
    expect(landed.searchParams.get('state')).toBe(state)
    expect(landed.searchParams.get('iss')).toBe(site)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Code received')
    const code = landed.searchParams.get('code')!

    // 4. The application exchanges the code (HTTP Basic client auth + code_verifier).
    const tokens = await client.validateAuthorizationCode(endpoints().token, code, verifier)
    expect(tokens.accessToken()).toMatch(/^pha_/)
    expect(tokens.refreshToken()).toMatch(/^phr_/)
    expect(tokens.accessTokenExpiresInSeconds()).toBe(3600)
    expect(tokens.scopes()).toEqual(FLOW_SCOPES)

    // 5. The access token works on the API with the granted scopes.
    const listed = await callApi(tokens.accessToken())
    expect(listed.status).toBe(200)
    // The organization's one project, made with it.
    expect(listed.body.count).toBe(1)

    // 6. Refresh: a new pair; the old access token stops working.
    const refreshed = await client.refreshAccessToken(endpoints().token, tokens.refreshToken(), [])
    expect(refreshed.accessToken()).not.toBe(tokens.accessToken())
    expect(refreshed.refreshToken()).not.toBe(tokens.refreshToken())
    expect((await callApi(tokens.accessToken())).status).toBe(401)
    expect((await callApi(refreshed.accessToken())).status).toBe(200)

    // 7. Revoke: the revoked token is refused.
    await client.revokeToken(endpoints().revoke, refreshed.accessToken())
    const refused = await callApi(refreshed.accessToken())
    expect(refused.status).toBe(401)
    expect(refused.body.detail).toBe('Invalid access token.')
  })

  it('a reused code and a wrong verifier are invalid_grant', async () => {
    const verifier = generateCodeVerifier()
    const landed = await authorizeInBrowser(verifier, generateState())
    const code = landed.searchParams.get('code')!
    expect(await oauthErrorOf(client.validateAuthorizationCode(endpoints().token, code, generateCodeVerifier()))).toBe('invalid_grant')
    const tokens = await client.validateAuthorizationCode(endpoints().token, code, verifier)
    expect(await oauthErrorOf(client.validateAuthorizationCode(endpoints().token, code, verifier))).toBe('invalid_grant')
    // Replaying the code revoked what it had produced.
    expect((await callApi(tokens.accessToken())).status).toBe(401)
  })

  it('a wrong redirect URI and an expired code are invalid_grant', async () => {
    const verifier = generateCodeVerifier()
    const code = (await authorizeInBrowser(verifier, generateState())).searchParams.get('code')!
    const elsewhere = new OAuth2Client(registered.client_id, registered.client_secret, `${callbackBase}/other`)
    expect(await oauthErrorOf(elsewhere.validateAuthorizationCode(endpoints().token, code, verifier))).toBe('invalid_grant')

    const verifier2 = generateCodeVerifier()
    const code2 = (await authorizeInBrowser(verifier2, generateState())).searchParams.get('code')!
    await t.db.query(`UPDATE oauth_authorization_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`)
    expect(await oauthErrorOf(client.validateAuthorizationCode(endpoints().token, code2, verifier2))).toBe('invalid_grant')
  })

  it('"Deny" brings the browser back with access_denied; an unregistered redirect URI is shown, not followed', async () => {
    const url = client.createAuthorizationURLWithPKCE(endpoints().authorize, 'deny-state', CodeChallengeMethod.S256, generateCodeVerifier(), FLOW_SCOPES)
    await page.goto(url.toString())
    await page.getByLabel('Email').fill(w.member.email)
    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/oauth\/authorize\?/), page.getByRole('button', { name: 'Sign in' }).click()])
    await Promise.all([page.waitForURL(/\/callback\?/), page.getByRole('button', { name: 'Deny' }).click()])
    const landed = new URL(page.url())
    expect(landed.searchParams.get('error')).toBe('access_denied')
    expect(landed.searchParams.get('state')).toBe('deny-state')

    const evil = new OAuth2Client(registered.client_id, registered.client_secret, 'https://evil.example/cb')
    const res = await page.goto(evil.createAuthorizationURLWithPKCE(endpoints().authorize, 's', CodeChallengeMethod.S256, generateCodeVerifier(), FLOW_SCOPES).toString())
    expect(res?.status()).toBe(400)
    expect(new URL(page.url()).origin).toBe(site)
    expect(await page.getByRole('alert').textContent()).toBe('The redirect_uri does not match any URI registered for this application.')
  })
})
