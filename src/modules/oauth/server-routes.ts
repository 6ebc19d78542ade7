import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GitHubSignInError } from '../../adapters/github.ts'
import { SESSION_COOKIE } from '../../http/auth.ts'
import { ApiError } from '../../http/errors.ts'
import { SCOPE_OBJECTS, INTERNAL_SCOPE_OBJECTS } from '../../http/scopes.ts'
import { randomToken, safeEqual } from '../../lib/crypto.ts'
import type { Services } from '../../services.ts'
import type { UserRow } from '../users/store.ts'
import { setSessionCookies } from '../users/session-cookies.ts'
import { consentPage, loginPage, messagePage } from './pages.ts'
import { OAuthError, type AuthorizationRequest } from './service.ts'

/** The authorization-request parameters carried from the consent page back to its POST. */
const REQUEST_FIELDS = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method'] as const

const GITHUB_STATE_COOKIE = 'orgd_github_state'
// Double-submit token of the sign-in form, so another site cannot sign a browser into its account.
const LOGIN_CSRF_COOKIE = 'orgd_login_csrf'

type Form = Record<string, unknown>

function formOf(req: FastifyRequest): Form {
  const body = req.body
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Form) : {}
}

// A NUL byte can never be part of a valid OAuth parameter, and PostgreSQL text cannot hold one.
const str = (v: unknown): string | null => (typeof v === 'string' && !v.includes('\u0000') ? v : null)

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  // The consent page must never be framed (clickjacking) nor cached.
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    .type('text/html; charset=utf-8')
    .send(body)
}

function oauthJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').header('pragma', 'no-cache').type('application/json').send(body)
}

/** Client credentials from HTTP Basic (client_secret_basic) or the form (client_secret_post / none). */
function clientCredentials(req: FastifyRequest, form: Form): { clientId: string | null; clientSecret: string | null } {
  const header = req.headers.authorization
  if (typeof header === 'string' && /^Basic\s+/i.test(header)) {
    const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8')
    const i = decoded.indexOf(':')
    if (i > 0) {
      const dec = (s: string) => {
        try {
          return decodeURIComponent(s.replace(/\+/g, ' '))
        } catch {
          return s
        }
      }
      return { clientId: dec(decoded.slice(0, i)), clientSecret: dec(decoded.slice(i + 1)) }
    }
  }
  return { clientId: str(form.client_id), clientSecret: str(form.client_secret) }
}

export function oauthServerRoutes(app: FastifyInstance, services: Services): void {
  const { config } = services
  const secure = config.siteUrl.startsWith('https://')
  const issuer = config.siteUrl

  async function sessionOf(req: FastifyRequest): Promise<{ user: UserRow; csrfToken: string } | null> {
    const cookie = req.cookies?.[SESSION_COOKIE]
    if (!cookie) return null
    const found = await services.users.authenticateSession(cookie)
    return found ? { user: found.user, csrfToken: found.session.csrfToken } : null
  }

  function redirectWith(reply: FastifyReply, redirectUri: string, params: Record<string, string | null>): FastifyReply {
    const url = new URL(redirectUri)
    for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v)
    url.searchParams.set('iss', issuer)
    return reply.code(302).header('cache-control', 'no-store').redirect(url.toString())
  }

  async function approve(reply: FastifyReply, user: UserRow, request: AuthorizationRequest): Promise<FastifyReply> {
    const code = await services.oauth.issueCode(user, request)
    return redirectWith(reply, request.redirectUri, { code, state: request.state })
  }

  app.get('/.well-known/oauth-authorization-server', { schema: { hide: true } }, async (_req, reply) =>
    reply.header('cache-control', 'public, max-age=3600').send({
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      scopes_supported: SCOPE_OBJECTS.filter((o) => !INTERNAL_SCOPE_OBJECTS.has(o)).flatMap((o) => [`${o}:read`, `${o}:write`]),
      authorization_response_iss_parameter_supported: true,
      service_documentation: `${issuer}/api/schema/swagger-ui/`,
    }),
  )

  // The authorization endpoint (RFC 6749 §3.1): sign in, then consent, then a code.
  app.get('/oauth/authorize', { schema: { hide: true } }, async (req, reply) => {
    const query = req.query as Record<string, unknown>
    const checked = await services.oauth.checkAuthorizationRequest(query)
    if ('problem' in checked) {
      const p = checked.problem
      if (p.to === 'user') return html(reply, 400, messagePage(config, 'Authorization failed', p.message))
      return redirectWith(reply, p.redirectUri, { error: p.error, error_description: p.description, state: p.state })
    }
    const request = checked.ok
    const session = await sessionOf(req)
    if (!session) {
      const csrfToken = randomToken(24)
      reply.setCookie(LOGIN_CSRF_COOKIE, csrfToken, { path: '/oauth', httpOnly: true, sameSite: 'lax', secure, maxAge: 3600 })
      return html(reply, 200, loginPage(config, { next: req.url, appName: request.app.name || request.app.client_id, csrfToken }))
    }
    // First-party applications are the operator's own: PostHog skips the consent screen for them.
    if (request.app.is_first_party) return approve(reply, session.user, request)
    const fields: Record<string, string> = {}
    for (const k of REQUEST_FIELDS) if (typeof query[k] === 'string') fields[k] = query[k] as string
    fields.redirect_uri = request.redirectUri
    fields.scope = request.scopes.join(' ')
    return html(
      reply,
      200,
      consentPage(config, {
        appName: request.app.name || request.app.client_id,
        clientId: request.app.client_id,
        verified: request.app.is_verified,
        scopes: request.scopes,
        email: session.user.email,
        fields,
        csrfToken: session.csrfToken,
      }),
    )
  })

  // The consent form's answer.
  app.post('/oauth/authorize', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    const session = await sessionOf(req)
    if (!session) return html(reply, 401, messagePage(config, 'Sign in required', 'Your session has ended. Start the authorization again.'))
    const csrf = str(form.csrf_token)
    if (!csrf || !safeEqual(csrf, session.csrfToken)) return html(reply, 403, messagePage(config, 'Authorization failed', 'CSRF Failed: CSRF token incorrect.'))
    const checked = await services.oauth.checkAuthorizationRequest(form)
    if ('problem' in checked) {
      const p = checked.problem
      if (p.to === 'user') return html(reply, 400, messagePage(config, 'Authorization failed', p.message))
      return redirectWith(reply, p.redirectUri, { error: p.error, error_description: p.description, state: p.state })
    }
    if (str(form.decision) !== 'allow') {
      return redirectWith(reply, checked.ok.redirectUri, { error: 'access_denied', error_description: 'The user denied the request.', state: checked.ok.state })
    }
    return approve(reply, session.user, checked.ok)
  })

  // The sign-in form of the authorization page; it only ever returns to /oauth/authorize.
  app.post('/oauth/login', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    const raw = str(form.next) ?? ''
    // Re-serialized through URL so the Location header is always plain, percent-encoded ASCII.
    const target = raw.startsWith('/oauth/authorize?') ? new URL(raw, issuer) : null
    if (!target || target.origin !== new URL(issuer).origin || target.pathname !== '/oauth/authorize') {
      return html(reply, 400, messagePage(config, 'Sign in failed', 'The sign-in form was not sent from an authorization request.'))
    }
    const next = `${target.pathname}${target.search}`
    const csrfCookie = req.cookies?.[LOGIN_CSRF_COOKIE]
    const csrfToken = str(form.csrf_token)
    if (!csrfCookie || !csrfToken || !safeEqual(csrfToken, csrfCookie)) {
      return html(reply, 403, messagePage(config, 'Sign in failed', 'CSRF Failed: the sign-in form has expired or was not sent from this site. Start again.'))
    }
    const email = str(form.email) ?? ''
    const checked = await services.oauth.checkAuthorizationRequest(Object.fromEntries(target.searchParams))
    const appName = 'ok' in checked ? checked.ok.app.name || checked.ok.app.client_id : 'The application'
    try {
      const session = await services.users.login(email, str(form.password) ?? '')
      setSessionCookies(reply, session, secure)
      reply.clearCookie(LOGIN_CSRF_COOKIE, { path: '/oauth' })
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 400) return html(reply, 400, loginPage(config, { next, appName, email, csrfToken, error: err.detail }))
      throw err
    }
    return reply.code(303).redirect(next)
  })

  app.post('/oauth/token', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    try {
      const grantType = str(form.grant_type)
      if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
        throw new OAuthError(grantType ? 'unsupported_grant_type' : 'invalid_request', grantType ? `grant_type "${grantType}" is not supported.` : 'grant_type is required.')
      }
      const creds = clientCredentials(req, form)
      const client = await services.oauth.authenticateClient(creds.clientId, creds.clientSecret)
      const tokens =
        grantType === 'authorization_code'
          ? await services.oauth.exchangeCode(client, { code: str(form.code), codeVerifier: str(form.code_verifier), redirectUri: str(form.redirect_uri) })
          : await services.oauth.refresh(client, { refreshToken: str(form.refresh_token), scope: str(form.scope) })
      return oauthJson(reply, 200, tokens)
    } catch (err) {
      if (err instanceof OAuthError) {
        if (err.status === 401 && typeof req.headers.authorization === 'string') reply.header('www-authenticate', 'Basic realm="orgd"')
        return oauthJson(reply, err.status, err.body())
      }
      throw err
    }
  })

  // Token revocation (RFC 7009).
  app.post('/oauth/revoke', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    try {
      const creds = clientCredentials(req, form)
      const client = await services.oauth.authenticateClient(creds.clientId, creds.clientSecret)
      await services.oauth.revoke(client, str(form.token))
      return reply.code(200).header('cache-control', 'no-store').send()
    } catch (err) {
      if (err instanceof OAuthError) return oauthJson(reply, err.status, err.body())
      throw err
    }
  })

  // "Sign in with GitHub": PostHog's social-auth paths.
  app.get('/login/github', { schema: { hide: true } }, async (_req, reply) => {
    if (!services.github) return html(reply, 404, messagePage(config, 'GitHub sign-in', 'GitHub sign-in is not configured on this server.'))
    const state = randomToken(24)
    reply.setCookie(GITHUB_STATE_COOKIE, state, { path: '/complete/github', httpOnly: true, sameSite: 'lax', secure, maxAge: 600 })
    return reply.code(302).redirect(services.github.authorizationUrl(state).toString())
  })

  app.get('/complete/github', { schema: { hide: true } }, async (req, reply) => {
    if (!services.github) return html(reply, 404, messagePage(config, 'GitHub sign-in', 'GitHub sign-in is not configured on this server.'))
    const query = req.query as Record<string, unknown>
    const expected = req.cookies?.[GITHUB_STATE_COOKIE]
    reply.clearCookie(GITHUB_STATE_COOKIE, { path: '/complete/github' })
    const state = str(query.state)
    if (!expected || !state || !safeEqual(state, expected)) {
      return html(reply, 400, messagePage(config, 'GitHub sign-in failed', 'The sign-in could not be verified (state mismatch). Start again.'))
    }
    if (str(query.error)) return html(reply, 400, messagePage(config, 'GitHub sign-in failed', `GitHub did not grant access: ${str(query.error_description) ?? str(query.error)}`))
    const code = str(query.code)
    if (!code) return html(reply, 400, messagePage(config, 'GitHub sign-in failed', 'GitHub sent no code.'))
    let identity
    try {
      identity = await services.github.identityFor(code)
    } catch (err) {
      if (err instanceof GitHubSignInError) return html(reply, err.upstream ? 502 : 400, messagePage(config, 'GitHub sign-in failed', err.message))
      throw err
    }
    const session = await sessionOf(req)
    if (session) {
      try {
        await services.socialIdentities.linkGitHub(session.user, identity)
      } catch (err) {
        if (err instanceof ApiError) return html(reply, 400, messagePage(config, 'GitHub sign-in failed', err.detail))
        throw err
      }
      return html(reply, 200, messagePage(config, 'GitHub account linked', `GitHub account @${identity.login} is now linked to ${session.user.email}.`, false))
    }
    const user = await services.socialIdentities.userForGitHub(identity)
    if (!user) {
      return html(reply, 400, messagePage(config, 'GitHub sign-in failed', `No account is linked to GitHub user @${identity.login}. Sign in with your password, then link GitHub.`))
    }
    setSessionCookies(reply, await services.users.startSession(user.id), secure)
    return html(reply, 200, messagePage(config, 'Signed in with GitHub', `Signed in as ${user.email} with GitHub account @${identity.login}.`, false))
  })
}
