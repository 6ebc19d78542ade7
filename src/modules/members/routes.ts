import type { FastifyInstance } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { orgOf, principalOf } from '../../http/auth.ts'
import { errors } from '../../http/errors.ts'
import { paginatedJson, readPage } from '../../http/pagination.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses, OrganizationIdParam } from '../../http/schemas.ts'
import type { Services } from '../../services.ts'
import { GithubLogin, MemberList, MemberParams, MemberPatch, OrganizationMember, ScopedApiKeys } from './schemas.ts'

const BASE = '/api/organizations/:organization_id/members'
const tags = ['members']

function parseUpdatedAfter(raw: unknown): Date | undefined {
  if (raw === undefined || raw === '') return undefined
  const d = typeof raw === 'string' ? new Date(raw) : new Date(NaN)
  // Years outside 1..9999 parse in JavaScript but not in every PostgreSQL build.
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) {
    throw errors.validation('Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].', 'updated_after')
  }
  return d
}

export function memberRoutes(app: FastifyInstance, services: Services): void {
  defineRoutes(app, [
    {
      method: 'GET',
      url: BASE,
      access: { scope: 'organization_member:read', org: true },
      schema: { tags, params: OrganizationIdParam, response: { 200: MemberList, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req, reply) => {
        const query = req.query as Record<string, unknown>
        const page = readPage(query)
        const { count, results } = await services.members.list(orgOf(req), {
          search: typeof query.search === 'string' ? query.search : undefined,
          order: typeof query.order === 'string' ? query.order : undefined,
          email: typeof query.email === 'string' && query.email !== '' ? query.email : undefined,
          updatedAfter: parseUpdatedAfter(query.updated_after),
          ...page,
        })
        // The page is JSON written by the database in the documented shape (the contract tests hold it to it).
        return reply.type('application/json; charset=utf-8').send(paginatedJson(req, page, count, results))
      },
    },
    {
      method: ['PATCH', 'PUT'],
      url: `${BASE}/:user__uuid`,
      access: {
        scope: 'organization_member:write',
        org: true,
        sensitive: true,
        precheck: (req) => services.members.checkCanEditTarget(orgOf(req), principalOf(req).user, (req.params as { user__uuid: string }).user__uuid),
      },
      schema: { tags, params: MemberParams, body: MemberPatch, response: { 200: OrganizationMember, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req) => {
        const { user__uuid } = req.params as Static<typeof MemberParams>
        const body = req.body as Static<typeof MemberPatch>
        return services.members.updateLevel(orgOf(req), principalOf(req).user, user__uuid, body.level === undefined ? undefined : Number(body.level))
      },
    },
    {
      method: 'DELETE',
      url: `${BASE}/:user__uuid`,
      access: { scope: 'organization_member:write', org: true, sensitive: true },
      schema: { tags, params: MemberParams, response: { 204: { type: 'null' }, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req, reply) => {
        const { user__uuid } = req.params as Static<typeof MemberParams>
        await services.members.remove(orgOf(req), principalOf(req).user, user__uuid)
        return reply.code(204).send()
      },
    },
    {
      method: 'GET',
      url: `${BASE}/:user__uuid/github_login`,
      access: { scope: 'organization_member:read', org: true },
      schema: { tags, params: MemberParams, response: { 200: GithubLogin, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const { user__uuid } = req.params as Static<typeof MemberParams>
        return services.members.githubLogin(orgOf(req), principalOf(req).user, user__uuid)
      },
    },
    {
      method: 'GET',
      url: `${BASE}/:user__uuid/scoped_api_keys`,
      access: { scope: 'refuse_api_keys', org: true },
      schema: { tags, params: MemberParams, response: { 200: ScopedApiKeys, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const { user__uuid } = req.params as Static<typeof MemberParams>
        return services.members.scopedApiKeys(orgOf(req), principalOf(req).user, user__uuid)
      },
    },
  ])
}
