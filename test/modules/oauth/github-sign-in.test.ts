/**
 * "Sign in with GitHub" against a local GitHub speaking the real wire format: link an identity
 * to the signed-in user, sign in a linked user, refuse unknown or foreign identities and forged
 * states; then members' `github_login` and `has_social_auth` show the link.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, createUser, login, seedWorld, type Session, type TestApp, type World } from '../../helpers/app.ts'
import { startFakeGitHub, type FakeGitHub } from './fake-github.ts'

let gh: FakeGitHub
let t: TestApp
let w: World

interface Completed {
  status: number
  body: string
  sessionCookie: string | null
}

/** orgd → GitHub → orgd, as a browser would follow the redirects, with an optional orgd session. */
async function signInWithGitHub(app: FastifyInstance, session: Session | null, tamper?: (callback: URL) => void): Promise<Completed> {
  const start = await app.inject({ method: 'GET', url: '/login/github/', headers: session ? { cookie: session.headers.cookie } : {} })
  expect(start.statusCode).toBe(302)
  const stateCookie = start.cookies.find((c) => c.name === 'orgd_github_state')!
  expect(stateCookie.httpOnly).toBe(true)
  const atGitHub = await fetch(start.headers.location as string, { redirect: 'manual' })
  expect(atGitHub.status).toBe(302)
  const callback = new URL(atGitHub.headers.get('location')!)
  expect(callback.pathname).toBe('/complete/github/')
  tamper?.(callback)
  const cookies = [`orgd_github_state=${stateCookie.value}`, ...(session ? [session.headers.cookie] : [])].join('; ')
  const done = await app.inject({ method: 'GET', url: `${callback.pathname}${callback.search}`, headers: { cookie: cookies } })
  return { status: done.statusCode, body: done.body, sessionCookie: done.cookies.find((c) => c.name === 'sessionid')?.value ?? null }
}

const githubLogin = (uuid: string) => t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/${uuid}/github_login/`, headers: bearer(w.keys.admin) })

beforeAll(async () => {
  gh = await startFakeGitHub()
  t = await createTestApp({
    GITHUB_CLIENT_ID: gh.clientId,
    GITHUB_CLIENT_SECRET: gh.clientSecret,
    GITHUB_AUTHORIZE_URL: `${gh.url}/login/oauth/authorize`,
    GITHUB_TOKEN_URL: `${gh.url}/login/oauth/access_token`,
    GITHUB_API_URL: gh.url,
  })
  w = await seedWorld(t.services)
})

afterAll(async () => {
  await t?.close()
  await gh?.close()
})

describe('Sign in with GitHub', () => {
  it('the authorization URL goes to the configured GitHub with the client id, state, scope and callback', async () => {
    const start = await t.app.inject({ method: 'GET', url: '/login/github/' })
    const url = new URL(start.headers.location as string)
    expect(`${url.origin}${url.pathname}`).toBe(`${gh.url}/login/oauth/authorize`)
    expect(url.searchParams.get('client_id')).toBe(gh.clientId)
    expect(url.searchParams.get('redirect_uri')).toBe('http://orgd.test/complete/github/')
    expect(url.searchParams.get('scope')).toBe('read:user')
    expect(url.searchParams.get('state')).toBe(start.cookies.find((c) => c.name === 'orgd_github_state')!.value)
  })

  it('a signed-in member links GitHub; github_login and has_social_auth follow', async () => {
    expect((await githubLogin(w.member.uuid)).json()).toEqual({ github_login: null })
    gh.signedIn = { id: 583231, login: 'octocat' }
    gh.requests.length = 0
    const session = await login(t.app, w.member.email)
    const done = await signInWithGitHub(t.app, session)
    expect(done.status).toBe(200)
    expect(done.body).toContain('GitHub account @octocat is now linked')
    // What orgd sent to GitHub: JSON asked for, client credentials, then GET /user with the token.
    const tokenReq = gh.requests.find((r) => r.path === '/login/oauth/access_token')!
    expect(tokenReq.headers.accept).toContain('application/json')
    expect(tokenReq.headers.authorization).toMatch(/^Basic /)
    expect(new URLSearchParams(tokenReq.body).get('grant_type')).toBe('authorization_code')
    const userReq = gh.requests.find((r) => r.path === '/user')!
    expect(userReq.headers.authorization).toMatch(/^Bearer gho_/)

    expect((await githubLogin(w.member.uuid)).json()).toEqual({ github_login: 'octocat' })
    const rows = await t.db.query(`SELECT provider, uid, login FROM social_identities WHERE user_id = $1`, [w.member.id])
    expect(rows).toEqual([{ provider: 'github', uid: '583231', login: 'octocat' }])
    const members = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(w.keys.admin) })
    const byEmail = Object.fromEntries(members.json().results.map((m: { user: { email: string }; has_social_auth: boolean }) => [m.user.email, m.has_social_auth]))
    expect(byEmail[w.member.email]).toBe(true)
    expect(byEmail[w.admin.email]).toBe(false)
  })

  it('signed out, the linked GitHub user signs in; a renamed login is picked up', async () => {
    gh.signedIn = { id: 583231, login: 'octocat-renamed' }
    const done = await signInWithGitHub(t.app, null)
    expect(done.status).toBe(200)
    expect(done.body).toContain(`Signed in as ${w.member.email}`)
    expect(done.sessionCookie).toBeTruthy()
    const me = await t.app.inject({ method: 'GET', url: '/api/users/@me/', headers: { cookie: `sessionid=${done.sessionCookie}` } })
    expect(me.statusCode).toBe(200)
    expect(me.json().email).toBe(w.member.email)
    expect((await githubLogin(w.member.uuid)).json()).toEqual({ github_login: 'octocat-renamed' })
  })

  it('a per-user GitHub integration still wins over the social identity', async () => {
    await t.db.query(`INSERT INTO user_integrations (user_id, kind, config) VALUES ($1, 'github', '{"github_user":{"login":"from-integration"}}')`, [w.member.id])
    expect((await githubLogin(w.member.uuid)).json()).toEqual({ github_login: 'from-integration' })
    await t.db.query(`DELETE FROM user_integrations WHERE user_id = $1`, [w.member.id])
  })

  it('an identity nobody linked cannot sign in, and no session is opened', async () => {
    gh.signedIn = { id: 999001, login: 'stranger' }
    const done = await signInWithGitHub(t.app, null)
    expect(done.status).toBe(400)
    expect(done.body).toContain('No account is linked to GitHub user @stranger')
    expect(done.sessionCookie).toBeNull()
  })

  it('an identity linked to someone else cannot be linked again', async () => {
    gh.signedIn = { id: 583231, login: 'octocat' }
    const other = await createUser(t.services, { password: 'correct horse battery staple' })
    const done = await signInWithGitHub(t.app, await login(t.app, other.email))
    expect(done.status).toBe(400)
    expect(done.body).toContain('already linked to another user')
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM social_identities WHERE user_id = $1`, [other.id])
    expect(n).toBe(0)
  })

  it('a forged or missing state is refused before GitHub is asked for a token', async () => {
    gh.signedIn = { id: 583231, login: 'octocat' }
    gh.requests.length = 0
    const forged = await signInWithGitHub(t.app, null, (cb) => cb.searchParams.set('state', 'forged'))
    expect(forged.status).toBe(400)
    expect(forged.body).toContain('state mismatch')
    expect(forged.sessionCookie).toBeNull()
    const noCookie = await t.app.inject({ method: 'GET', url: '/complete/github/?code=abc&state=abc' })
    expect(noCookie.statusCode).toBe(400)
    expect(gh.requests.some((r) => r.path === '/login/oauth/access_token')).toBe(false)
  })

  it('a code GitHub does not know is refused with GitHub\'s reason', async () => {
    const done = await signInWithGitHub(t.app, null, (cb) => cb.searchParams.set('code', 'not-a-real-code'))
    expect(done.status).toBe(400)
    expect(done.body).toContain('The code passed is incorrect or expired.')
    expect(done.sessionCookie).toBeNull()
  })

  it('when GitHub is unreachable the page says so (502)', async () => {
    const down = await createTestApp({
      GITHUB_CLIENT_ID: gh.clientId,
      GITHUB_CLIENT_SECRET: gh.clientSecret,
      GITHUB_AUTHORIZE_URL: `${gh.url}/login/oauth/authorize`,
      GITHUB_TOKEN_URL: 'http://127.0.0.1:9/login/oauth/access_token',
      GITHUB_API_URL: gh.url,
    })
    try {
      const done = await signInWithGitHub(down.app, null)
      expect(done.status).toBe(502)
      expect(done.body).toContain('GitHub could not be reached')
    } finally {
      await down.close()
    }
  })

  it('without GitHub settings the sign-in is off (404)', async () => {
    const off = await createTestApp()
    try {
      const res = await off.app.inject({ method: 'GET', url: '/login/github/' })
      expect(res.statusCode).toBe(404)
      expect(res.body).toContain('GitHub sign-in is not configured')
    } finally {
      await off.close()
    }
  })
})
