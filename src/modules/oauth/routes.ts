import type { FastifyInstance } from 'fastify'
import { orgOf } from '../../http/auth.ts'
import { errors } from '../../http/errors.ts'
import { paginate, readPage } from '../../http/pagination.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses, OrganizationIdParam } from '../../http/schemas.ts'
import type { Services } from '../../services.ts'
import { oauthServerRoutes } from './server-routes.ts'
import { ClientIdParam, OAuthApplicationList, OAuthApplicationMetadata } from './schemas.ts'

const tags = ['oauth_applications']

/** Everything OAuth serves: the application API, the authorization server, GitHub sign-in. */
export function oauthRoutes(app: FastifyInstance, services: Services): void {
  oauthApplicationRoutes(app, services)
  oauthServerRoutes(app, services)
}

/**
 * PostHog's read-only organization OAuth application list (no create, no detail route: those
 * answer 405 and 404) and the public metadata lookup a consent screen uses.
 */
export function oauthApplicationRoutes(app: FastifyInstance, services: Services): void {
  defineRoutes(app, [
    {
      method: 'GET',
      url: '/api/organizations/:organization_id/oauth_applications',
      access: { scope: 'organization:read', org: true },
      schema: { tags, params: OrganizationIdParam, response: { 200: OAuthApplicationList, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const page = readPage(req.query as Record<string, unknown>)
        const { count, results } = await services.oauth.listForOrganization(orgOf(req).id, page)
        return paginate(req, page, count, results)
      },
    },
  ])

  // Public: credentials are ignored entirely (a stale key in a consent screen's request must not
  // turn a public lookup into a 401).
  const metadataUrl = '/api/oauth_application/metadata/:client_id'
  app.route({
    method: 'GET',
    url: metadataUrl,
    schema: { tags, params: ClientIdParam, security: [], response: { 200: OAuthApplicationMetadata, ...errorResponses(404) } },
    handler: async (req) => services.oauth.metadata((req.params as { client_id: string }).client_id),
  })
  app.route({
    method: ['POST', 'PUT', 'PATCH', 'DELETE'],
    url: metadataUrl,
    schema: { hide: true },
    handler: async (req) => {
      throw errors.methodNotAllowed(req.method)
    },
  })
}
