import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, errors } from './errors.ts'
import { scopesAllow } from './scopes.ts'
import type { UserRow } from '../modules/users/store.ts'
import type { Services } from '../services.ts'
import type { OrgContext } from '../modules/organizations/service.ts'

export type Principal =
  | { kind: 'session'; user: UserRow; session: { id: string; csrfToken: string; authenticatedAt: Date } }
  | {
      kind: 'personal_api_key'
      user: UserRow
      key: { id: string; scopes: string[] | null; scopedTeams: number[] | null; scopedOrganizations: string[] | null }
    }
  | { kind: 'oauth_access_token'; user: UserRow; token: { id: number; scopes: string[]; applicationId: string } }

/**
 * What a route needs, declared next to it and enforced here in PostHog's order:
 * authentication → API scope → organization → key restrictions → membership.
 */
export interface Access {
  /** `public`: anyone; `user`: any signed-in principal (default). */
  auth?: 'public' | 'user'
  /**
   * The scope an API key needs. `refuse_api_keys` answers PostHog's "does not support personal API
   * key access"; `none` skips scope checks (routes with their own key rules).
   */
  scope?: string | 'refuse_api_keys' | 'none'
  /**
   * Resolve `:organization_id` (UUID or `@current`) and require membership. A non-member gets
   * the generic 403 (organization-nested routes) or 404 (`/api/organizations/:id/` itself).
   */
  org?: boolean
  nonMember?: 'forbidden' | 'not_found'
  /** A session older than two hours may not do this (PostHog's TimeSensitiveActionPermission). */
  sensitive?: boolean
  /**
   * Object-level rights checked before the body is validated, as DRF checks object permissions
   * before the serializer runs (a member sending a bad level to someone else gets the 403).
   */
  precheck?: (req: FastifyRequest) => Promise<void> | void
  /**
   * A project-based endpoint: keys restricted to projects (`scoped_teams`) may call it, and the
   * route itself checks the project against the key (spec 7.4).
   */
  project?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
    org: OrgContext | null
  }
  interface FastifyContextConfig {
    access?: Access
  }
}

export const SESSION_COOKIE = 'sessionid'
export const CSRF_COOKIE = 'posthog_csrftoken'
export const CSRF_HEADER = 'x-csrftoken'
const SENSITIVE_AGE_MS = 2 * 3600 * 1000
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

type KeySource = 'Authorization header' | 'body' | 'query string'

function findApiKey(req: FastifyRequest): { token: string; source: KeySource } | null {
  const header = req.headers.authorization
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S.+)$/.exec(header)
    // pha_ tokens belong to OAuth, which another authenticator handles.
    if (m && !m[1].trim().startsWith('pha_')) return { token: m[1].trim(), source: 'Authorization header' }
  }
  const body = req.body as Record<string, unknown> | undefined
  if (body && typeof body === 'object' && !Array.isArray(body) && typeof body.personal_api_key === 'string' && body.personal_api_key) {
    return { token: body.personal_api_key, source: 'body' }
  }
  const query = req.query as Record<string, unknown> | undefined
  if (query && typeof query.personal_api_key === 'string' && query.personal_api_key) {
    return { token: query.personal_api_key, source: 'query string' }
  }
  return null
}

/** An OAuth access token (`pha_…`) in the Authorization header, which PostHog tries before API keys. */
function findOAuthToken(req: FastifyRequest): string | null {
  const header = req.headers.authorization
  if (typeof header !== 'string') return null
  const m = /^Bearer\s+(\S.+)$/.exec(header)
  const token = m?.[1].trim()
  return token && token.startsWith('pha_') ? token : null
}

async function authenticate(req: FastifyRequest, services: Services): Promise<Principal | null> {
  const oauthToken = findOAuthToken(req)
  if (oauthToken) {
    const found = await services.oauth.authenticateAccessToken(oauthToken)
    if (!found) throw errors.authenticationFailed('Invalid access token.')
    return { kind: 'oauth_access_token', user: found.user, token: found.token }
  }
  const candidate = findApiKey(req)
  if (candidate) {
    const found = await services.apiKeys.authenticate(candidate.token)
    if (!found) throw errors.authenticationFailed(`Personal API key found in request ${candidate.source} is invalid.`)
    return { kind: 'personal_api_key', user: found.user, key: found.key }
  }
  const cookie = req.cookies?.[SESSION_COOKIE]
  if (cookie) {
    const found = await services.users.authenticateSession(cookie)
    if (found) return { kind: 'session', user: found.user, session: found.session }
  }
  return null
}

function checkCsrf(req: FastifyRequest, principal: Principal): void {
  if (principal.kind !== 'session' || SAFE_METHODS.has(req.method)) return
  const header = req.headers[CSRF_HEADER]
  if (typeof header !== 'string' || header === '') throw errors.permissionDenied('CSRF Failed: CSRF token missing.')
  if (header !== principal.session.csrfToken) throw errors.permissionDenied('CSRF Failed: CSRF token incorrect.')
}

function checkScope(principal: Principal, scope: Access['scope']): void {
  if (principal.kind === 'session' || scope === undefined || scope === 'none') return
  if (scope === 'refuse_api_keys') throw errors.permissionDenied('This action does not support personal API key access')
  if (principal.kind === 'oauth_access_token' && principal.token.scopes.length === 0) {
    throw errors.permissionDenied('OAuth token has no scopes and cannot access this resource')
  }
  const granted = principal.kind === 'personal_api_key' ? principal.key.scopes : principal.token.scopes
  if (!scopesAllow(granted, scope)) throw errors.permissionDenied(`API key missing required scope '${scope}'`)
}

/** Key restrictions that depend on the organization (spec 7.4), checked before membership. */
export function checkKeyRestrictions(principal: Principal, org: OrgContext, projectEndpoint = false): void {
  if (principal.kind !== 'personal_api_key') return
  if (
    !org.members_can_use_personal_api_keys &&
    org.available_product_features.some((f) => f.key === 'organization_security_settings') &&
    org.level !== null &&
    org.level < 8
  ) {
    throw errors.permissionDenied(
      `Organization '${org.name}' does not allow using personal API keys. Contact an admin to enable personal API keys for this organization.`,
    )
  }
  if (!projectEndpoint && principal.key.scopedTeams && principal.key.scopedTeams.length > 0) {
    throw errors.permissionDenied('API keys with scoped projects are only supported on project-based endpoints.')
  }
  const orgs = principal.key.scopedOrganizations
  if (orgs && orgs.length > 0 && !orgs.includes(org.id)) {
    throw errors.permissionDenied(`API key does not have access to the requested organization: ID ${org.id}.`)
  }
}

export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest('principal', null)
  app.decorateRequest('org', null)

  // preValidation: the body is parsed (a key may travel in it) but not yet validated, so a
  // missing right is reported before a malformed field, as in PostHog.
  app.addHook('preValidation', async (req: FastifyRequest, _reply: FastifyReply) => {
    const access = req.routeOptions.config.access
    if (!access) return
    // A write with no body validates as an empty object, as DRF treats it.
    if (req.body === undefined && (req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT')) req.body = {}
    const principal = await authenticate(req, services)
    req.principal = principal
    if (principal) checkCsrf(req, principal)
    if (access.auth === 'public') return
    if (!principal) throw errors.notAuthenticated()
    checkScope(principal, access.scope)
    if (
      !access.org &&
      !access.project &&
      principal.kind === 'personal_api_key' &&
      principal.key.scopedTeams &&
      principal.key.scopedTeams.length > 0 &&
      typeof access.scope === 'string' &&
      access.scope.includes(':') &&
      !access.scope.startsWith('user:')
    ) {
      throw errors.permissionDenied('API keys with scoped projects are only supported on project-based endpoints.')
    }
    if (access.org) {
      const param = (req.params as Record<string, string>).organization_id
      const org = await services.organizations.resolveForUser(principal.user, param)
      checkKeyRestrictions(principal, org, access.project === true)
      if (org.level === null) throw access.nonMember === 'not_found' ? errors.notFound() : errors.permissionDenied()
      req.org = org
    }
    if (access.sensitive && principal.kind === 'session' && !SAFE_METHODS.has(req.method)) {
      if (Date.now() - principal.session.authenticatedAt.getTime() > SENSITIVE_AGE_MS) {
        throw new ApiError(
          403,
          'authentication_error',
          'sensitive_action_required_reauth',
          'This action requires you to be recently authenticated.',
        )
      }
    }
    if (access.precheck) await access.precheck(req)
  })
}

/** The signed-in principal of a route that declared `auth: 'user'`. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw errors.notAuthenticated()
  return req.principal
}

/** The organization resolved for a route that declared `org: true`. */
export function orgOf(req: FastifyRequest): OrgContext {
  if (!req.org) throw errors.organizationNotFound()
  return req.org
}
