import type { FastifyInstance, FastifyRequest } from 'fastify'
import { checkKeyRestrictions, orgOf, principalOf, type Access } from '../../http/auth.ts'
import { errors } from '../../http/errors.ts'
import { paginate, readPage } from '../../http/pagination.ts'
import { defineRoutes, type RouteDef } from '../../http/routes.ts'
import { errorResponses, OrganizationIdParam } from '../../http/schemas.ts'
import type { Services } from '../../services.ts'
import { AccessControlPut, AccessControlResult, AccessControls, OrgProjectParams, Project, ProjectList, ProjectParams, ProjectWrite } from './schemas.ts'
import type { Caller, ResolvedProject } from './service.ts'

const ORG_BASE = '/api/organizations/:organization_id/projects'
const tags = ['projects']

declare module 'fastify' {
  interface FastifyRequest {
    project: ResolvedProject | null
  }
}

function callerOf(req: FastifyRequest): Caller {
  const principal = principalOf(req)
  return { user: principal.user, scopedTeams: principal.kind === 'personal_api_key' ? principal.key.scopedTeams : null }
}

function projectOf(req: FastifyRequest): ResolvedProject {
  if (!req.project) throw errors.notFound()
  return req.project
}

const body = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>

export function projectRoutes(app: FastifyInstance, services: Services): void {
  app.decorateRequest('project', null)
  const projects = services.projects

  /**
   * Finds the project before the body is looked at, as PostHog's object permissions run before
   * its serializer. Nested paths use the URL's organization; `/api/projects/:id` the project's own.
   */
  const resolveProject = (nested: boolean) => async (req: FastifyRequest) => {
    const caller = callerOf(req)
    const principal = principalOf(req)
    const { id } = req.params as { id: string }
    req.project = await projects.resolve(caller, id, nested ? orgOf(req) : null, async (organizationId) => {
      const org = await services.organizations.resolveForUser(principal.user, organizationId)
      checkKeyRestrictions(principal, org, true)
      return org
    })
  }

  const detailAccess = (nested: boolean, scope: string, extra?: (req: FastifyRequest) => Promise<void>): Access => ({
    scope,
    org: nested,
    project: true,
    precheck: async (req) => {
      await resolveProject(nested)(req)
      if (extra) await extra(req)
    },
  })

  const detailRoutes = (base: string, nested: boolean): RouteDef[] => {
    const params = nested ? OrgProjectParams : ProjectParams
    return [
      {
        method: 'GET',
        url: `${base}/:id`,
        access: detailAccess(nested, 'project:read'),
        schema: { tags, params, response: { 200: Project, ...errorResponses(401, 403, 404) } },
        handler: async (req) => projects.view(projectOf(req), principalOf(req).user),
      },
      {
        method: 'PATCH',
        url: `${base}/:id`,
        access: detailAccess(nested, 'project:write'),
        schema: { tags, params, body: ProjectWrite, response: { 200: Project, ...errorResponses(400, 401, 403, 404, 409) } },
        handler: async (req) => projects.update(projectOf(req), callerOf(req), body(req)),
      },
      {
        method: 'PUT',
        url: `${base}/:id`,
        access: detailAccess(nested, 'project:write', async (req) => projects.checkCanPut(projectOf(req).org, req.body)),
        schema: { tags, params, body: ProjectWrite, response: { 200: Project, ...errorResponses(400, 401, 403, 404, 409) } },
        handler: async (req) => projects.update(projectOf(req), callerOf(req), body(req)),
      },
      ...(nested
        ? [
            {
              method: 'DELETE',
              url: `${base}/:id`,
              access: detailAccess(nested, 'project:write'),
              schema: { tags, params, response: { 204: { type: 'null' }, ...errorResponses(400, 401, 403, 404) } },
              handler: async (req, reply) => {
                await projects.requestDeletion(projectOf(req), callerOf(req))
                return reply.code(204).send()
              },
            } satisfies RouteDef,
          ]
        : []),
      {
        method: 'PATCH',
        url: `${base}/:id/reset_token`,
        access: detailAccess(nested, 'project:write'),
        schema: { tags, params, response: { 200: Project, ...errorResponses(401, 403, 404) } },
        handler: async (req) => projects.resetToken(projectOf(req), callerOf(req)),
      },
      {
        method: 'PATCH',
        url: `${base}/:id/rotate_secret_token`,
        access: detailAccess(nested, 'project:write'),
        schema: { tags, params, response: { 200: Project, ...errorResponses(401, 403, 404) } },
        handler: async (req) => projects.rotateSecretToken(projectOf(req), callerOf(req)),
      },
      {
        method: 'PATCH',
        url: `${base}/:id/delete_secret_token_backup`,
        access: detailAccess(nested, 'project:write'),
        schema: { tags, params, response: { 200: Project, ...errorResponses(401, 403, 404) } },
        handler: async (req) => projects.deleteSecretTokenBackup(projectOf(req), callerOf(req)),
      },
      {
        method: 'GET',
        url: `${base}/:id/access_controls`,
        access: detailAccess(nested, 'access_control:read'),
        schema: { tags, params, response: { 200: AccessControls, ...errorResponses(401, 403, 404) } },
        handler: async (req) => projects.accessControls(projectOf(req)),
      },
      {
        method: 'PUT',
        url: `${base}/:id/access_controls`,
        access: detailAccess(nested, 'access_control:write'),
        schema: { tags, params, body: AccessControlPut, response: { 200: AccessControlResult, ...errorResponses(400, 401, 403, 404) } },
        handler: async (req) => projects.setAccessControl(projectOf(req), callerOf(req), body(req)),
      },
    ]
  }

  defineRoutes(app, [
    {
      method: 'GET',
      url: ORG_BASE,
      access: { scope: 'project:read', org: true, project: true },
      schema: { tags, params: OrganizationIdParam, response: { 200: ProjectList, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const query = req.query as Record<string, unknown>
        const page = readPage(query)
        const search = typeof query.search === 'string' ? query.search : null
        const { count, results } = await projects.list(orgOf(req), callerOf(req), { search, ...page })
        return paginate(req, page, count, results)
      },
    },
    {
      method: 'POST',
      url: ORG_BASE,
      access: {
        scope: 'project:write',
        org: true,
        project: true,
        precheck: (req) => projects.checkCanCreate(orgOf(req), callerOf(req), req.body),
      },
      schema: { tags, params: OrganizationIdParam, body: ProjectWrite, response: { 201: Project, ...errorResponses(400, 401, 403, 404, 409) } },
      handler: async (req, reply) => reply.code(201).send(await projects.create(orgOf(req), callerOf(req), body(req))),
    },
    ...detailRoutes(ORG_BASE, true),
    ...detailRoutes('/api/projects', false),
  ])
}
