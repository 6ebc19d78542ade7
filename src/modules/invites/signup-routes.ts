import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { SESSION_COOKIE } from '../../http/auth.ts'
import { ApiError, errors } from '../../http/errors.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses } from '../../http/schemas.ts'
import { safeEqual } from '../../lib/crypto.ts'
import type { Services } from '../../services.ts'
import { toUserBasic, type UserRow } from '../users/store.ts'
import { setSessionCookies } from '../users/session-cookies.ts'
import { SignupInput, SignupPreview, SignupResult } from './schemas.ts'
import { renderJoined, renderSignupPage, type SignupPageState } from './signup-page.ts'

/**
 * Joining an organization through an invite: PostHog's JSON endpoints under /api/signup/, and the
 * server-rendered page that the invite email links to (works without JavaScript).
 */
export function signupRoutes(app: FastifyInstance, services: Services): void {
  const secure = services.config.siteUrl.startsWith('https://')

  async function newAccount(firstName: string | undefined, password: string | undefined, role?: string | null) {
    if (!firstName || firstName.trim() === '') throw errors.required('first_name')
    if (!password) throw errors.required('password')
    services.users.checkNewPassword(password)
    return { firstName: firstName.trim(), passwordHash: await services.users.hashPassword(password), roleAtOrganization: role ?? null, distinctId: services.users.newDistinctId() }
  }

  defineRoutes(app, [
    {
      method: 'GET',
      url: '/api/signup/:invite_id',
      access: { auth: 'public' },
      schema: { tags: ['invites'], response: { 200: SignupPreview, ...errorResponses(400, 401) } },
      handler: async (req) => services.invites.preview((req.params as { invite_id: string }).invite_id, req.principal?.user ?? null),
    },
    {
      method: 'POST',
      url: '/api/signup/:invite_id',
      access: { auth: 'public' },
      schema: { tags: ['invites'], body: SignupInput, response: { 201: SignupResult, ...errorResponses(400, 401, 403) } },
      handler: async (req, reply) => {
        const inviteId = (req.params as { invite_id: string }).invite_id
        const body = req.body as Static<typeof SignupInput>
        const current = req.principal?.user ?? null
        const account = current ? null : await newAccount(body.first_name, body.password, body.role_at_organization)
        const { user } = await services.invites.accept(inviteId, current, account)
        if (!current) setSessionCookies(reply, await services.users.startSession(user.id), secure)
        return reply.code(201).send({ ...toUserBasic(user), redirect_url: '/' })
      },
    },
  ])

  async function sessionOf(req: FastifyRequest): Promise<{ user: UserRow; csrfToken: string } | null> {
    const cookie = req.cookies?.[SESSION_COOKIE]
    if (!cookie) return null
    const found = await services.users.authenticateSession(cookie)
    return found ? { user: found.user, csrfToken: found.session.csrfToken } : null
  }

  async function pageState(inviteId: string, session: { user: UserRow; csrfToken: string } | null): Promise<SignupPageState> {
    try {
      const p = await services.invites.preview(inviteId, session?.user ?? null)
      return { kind: session ? 'join' : 'create', inviteId, organizationName: p.organization_name, inviterName: p.inviter_name, email: p.target_email, firstName: p.first_name, csrfToken: session?.csrfToken }
    } catch (err) {
      if (err instanceof ApiError && err.code === 'account_exists') {
        const p = await services.invites.previewUnchecked(inviteId)
        return { kind: 'login', inviteId, organizationName: p.organization_name, inviterName: p.inviter_name, email: p.target_email, firstName: '' }
      }
      if (err instanceof ApiError) return { kind: 'error', inviteId, message: err.detail }
      throw err
    }
  }

  function html(reply: FastifyReply, status: number, body: string) {
    return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body)
  }

  app.get('/signup/:invite_id', { schema: { hide: true } }, async (req, reply) => {
    const { invite_id } = req.params as { invite_id: string }
    const state = await pageState(invite_id, await sessionOf(req))
    return html(reply, state.kind === 'error' ? 400 : 200, renderSignupPage(services.config, state))
  })

  app.post('/signup/:invite_id', { schema: { hide: true } }, async (req, reply) => {
    const { invite_id } = req.params as { invite_id: string }
    // The form's fields are strings; anything else (a JSON body with an array, say) counts as absent.
    const raw = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>
    const form = Object.fromEntries(['action', 'csrf_token', 'first_name', 'password'].map((k) => [k, typeof raw[k] === 'string' ? raw[k] : undefined])) as Record<
      'action' | 'csrf_token' | 'first_name' | 'password',
      string | undefined
    >
    const session = await sessionOf(req)
    try {
      let userId: number
      if (form.action === 'join') {
        if (!session) throw errors.notAuthenticated()
        if (!form.csrf_token || !safeEqual(form.csrf_token, session.csrfToken)) throw errors.permissionDenied('CSRF Failed: CSRF token incorrect.')
        userId = (await services.invites.accept(invite_id, session.user, null)).user.id
      } else if (form.action === 'login') {
        const p = await services.invites.previewUnchecked(invite_id)
        const login = await services.users.login(p.target_email, form.password ?? '')
        setSessionCookies(reply, login, secure)
        const user = await services.users.findByEmail(p.target_email)
        userId = (await services.invites.accept(invite_id, user, null)).user.id
      } else {
        const account = await newAccount(form.first_name, form.password)
        userId = (await services.invites.accept(invite_id, null, account)).user.id
        setSessionCookies(reply, await services.users.startSession(userId), secure)
      }
      const [org] = await services.db.query<{ organization_id: string }>(`SELECT current_organization_id AS organization_id FROM users WHERE id = $1`, [userId])
      return reply.redirect(`/joined?organization=${encodeURIComponent(org.organization_id)}`, 303)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      const state = await pageState(invite_id, session)
      return html(reply, err.statusCode, renderSignupPage(services.config, { ...state, error: err.detail, firstNameValue: form.first_name }))
    }
  })

  app.get('/joined', { schema: { hide: true } }, async (req, reply) => {
    const session = await sessionOf(req)
    const orgId = (req.query as { organization?: string }).organization ?? ''
    const rows = session && /^[0-9a-f-]{36}$/i.test(orgId)
      ? await services.db.query<{ name: string }>(`SELECT o.name FROM organizations o JOIN memberships m ON m.organization_id = o.id WHERE o.id = $1 AND m.user_id = $2`, [orgId, session.user.id])
      : []
    if (!session || rows.length === 0) return html(reply, 404, renderJoined(services.config, null, null))
    return html(reply, 200, renderJoined(services.config, rows[0].name, session.user.email))
  })
}
