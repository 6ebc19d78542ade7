/**
 * A local GitHub for tests, speaking GitHub's OAuth web-flow and REST wire format:
 * `GET /login/oauth/authorize` (approves at once for the "signed-in" GitHub user and redirects
 * with `code` and `state`), `POST /login/oauth/access_token` (form body, client credentials by
 * Basic or form; JSON when asked with `Accept: application/json`; a bad code is a 200 with
 * `error: bad_verification_code`, as GitHub answers), and `GET /user` (Bearer or `token`
 * authorization; 401 "Bad credentials" otherwise).
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'

export interface FakeGitHubUser {
  id: number
  login: string
}

export interface FakeGitHub {
  url: string
  clientId: string
  clientSecret: string
  /** The GitHub user who approves the next authorization. */
  signedIn: FakeGitHubUser
  /** Requests received, for checking what orgd sent. */
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers']; body: string }>
  close(): Promise<void>
}

export async function startFakeGitHub(): Promise<FakeGitHub> {
  const codes = new Map<string, { user: FakeGitHubUser; redirectUri: string | null }>()
  const tokens = new Map<string, FakeGitHubUser>()
  const fake: FakeGitHub = {
    url: '',
    clientId: 'Iv1.fakeclient',
    clientSecret: 'fake-github-secret',
    signedIn: { id: 583231, login: 'octocat' },
    requests: [],
    close: async () => {},
  }
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (d: string) => (body += d))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://github.test')
      fake.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body })
      const json = (status: number, data: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify(data))
      }
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
        if (url.searchParams.get('client_id') !== fake.clientId) return json(404, { message: 'Not Found' })
        const redirect = url.searchParams.get('redirect_uri')
        if (!redirect) return json(400, { message: 'redirect_uri is required' })
        const code = randomBytes(10).toString('hex')
        codes.set(code, { user: { ...fake.signedIn }, redirectUri: redirect })
        const to = new URL(redirect)
        to.searchParams.set('code', code)
        const state = url.searchParams.get('state')
        if (state) to.searchParams.set('state', state)
        res.writeHead(302, { location: to.toString() })
        return res.end()
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        const form = new URLSearchParams(body)
        let id = form.get('client_id')
        let secret = form.get('client_secret')
        const auth = req.headers.authorization
        if (auth?.startsWith('Basic ')) {
          const [u, p] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':')
          id = u
          secret = p
        }
        if (id !== fake.clientId || secret !== fake.clientSecret) {
          return json(200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials' })
        }
        const entry = codes.get(form.get('code') ?? '')
        codes.delete(form.get('code') ?? '')
        if (!entry || (form.get('redirect_uri') !== null && form.get('redirect_uri') !== entry.redirectUri)) {
          return json(200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code' })
        }
        const token = `gho_${randomBytes(18).toString('hex')}`
        tokens.set(token, entry.user)
        if (!(req.headers.accept ?? '').includes('application/json')) {
          res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
          return res.end(new URLSearchParams({ access_token: token, scope: 'read:user', token_type: 'bearer' }).toString())
        }
        return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user' })
      }
      if (req.method === 'GET' && url.pathname === '/user') {
        const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '')
        const user = m ? tokens.get(m[1]) : undefined
        if (!user) return json(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' })
        return json(200, {
          login: user.login,
          id: user.id,
          node_id: 'MDQ6VXNlcjE=',
          avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`,
          html_url: `https://github.com/${user.login}`,
          type: 'User',
          site_admin: false,
          name: null,
          email: null,
        })
      }
      json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('fake GitHub did not bind')
  fake.url = `http://127.0.0.1:${address.port}`
  fake.close = () => new Promise<void>((resolve) => server.close(() => resolve()))
  return fake
}
