import type { FastifyInstance } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { orgOf, principalOf } from '../../http/auth.ts'
import { errors } from '../../http/errors.ts'
import { paginate, readPage } from '../../http/pagination.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses, OrganizationIdParam } from '../../http/schemas.ts'
import type { Services } from '../../services.ts'
import type { OrganizationView } from './service.ts'
import { Organization, OrganizationCreate, OrganizationList, OrganizationPatch } from './schemas.ts'

const tags = ['organizations']

export function organizationJson(o: OrganizationView) {
  return { ...o, metadata: { instance_tag: 'none' }, default_role_id: null }
}

export function organizationRoutes(app: FastifyInstance, services: Services): void {
  defineRoutes(app, [
    {
      method: 'GET',
      url: '/api/organizations',
      access: { scope: 'organization:read' },
      schema: { tags, response: { 200: OrganizationList, ...errorResponses(401, 403) } },
      handler: async (req) => {
        const principal = principalOf(req)
        const page = readPage(req.query as Record<string, unknown>)
        const only = principal.kind === 'personal_api_key' && principal.key.scopedOrganizations?.length ? principal.key.scopedOrganizations : null
        const { count, results } = await services.organizations.list(principal.user, only, page.limit, page.offset)
        return paginate(req, page, count, results.map(organizationJson))
      },
    },
    {
      method: 'POST',
      url: '/api/organizations',
      access: { scope: 'organization:write', sensitive: true },
      schema: { tags, body: OrganizationCreate, response: { 201: Organization, ...errorResponses(400, 401, 403) } },
      handler: async (req, reply) => {
        const body = req.body as Static<typeof OrganizationCreate>
        const org = await services.organizations.createForRequest(principalOf(req).user, body.name)
        return reply.code(201).send(organizationJson(org))
      },
    },
    {
      method: 'GET',
      url: '/api/organizations/:organization_id',
      access: { scope: 'organization:read', org: true, nonMember: 'not_found' },
      schema: { tags, params: OrganizationIdParam, response: { 200: Organization, ...errorResponses(401, 403, 404) } },
      handler: async (req) => organizationJson(await services.organizations.get(orgOf(req), principalOf(req).user)),
    },
    {
      method: ['PATCH', 'PUT'],
      url: '/api/organizations/:organization_id',
      access: {
        scope: 'organization:write',
        org: true,
        nonMember: 'not_found',
        sensitive: true,
        precheck: (req) => {
          if ((orgOf(req).level ?? 0) < 8) throw errors.permissionDenied('Your organization access level is insufficient.')
        },
      },
      schema: { tags, params: OrganizationIdParam, body: OrganizationPatch, response: { 200: Organization, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req) =>
        organizationJson(await services.organizations.update(orgOf(req), principalOf(req).user, req.body as Static<typeof OrganizationPatch>)),
    },
    {
      method: 'DELETE',
      url: '/api/organizations/:organization_id',
      access: { scope: 'organization:write', org: true, nonMember: 'not_found', sensitive: true },
      schema: { tags, params: OrganizationIdParam, response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404) } },
      handler: async (req, reply) => {
        await services.organizations.delete(orgOf(req), principalOf(req).user)
        return reply.code(204).send()
      },
    },
  ])
}
