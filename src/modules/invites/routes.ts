import type { FastifyInstance } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { orgOf, principalOf } from '../../http/auth.ts'
import { errors } from '../../http/errors.ts'
import { paginate, readPage } from '../../http/pagination.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses, OrganizationIdParam } from '../../http/schemas.ts'
import { compileValidator } from '../../http/validation.ts'
import type { Services } from '../../services.ts'
import { BulkInviteInput, DelegateInput, InviteInput, InviteList, OrganizationInvite } from './schemas.ts'
import { MAX_BULK_INVITES } from './service.ts'

const BASE = '/api/organizations/:organization_id/invites'
const tags = ['invites']
const validateBulk = compileValidator(BulkInviteInput)

/** DRF's EmailField trims before it validates. */
function trimEmails<T>(body: T): T {
  const trim = (o: unknown) => {
    if (o && typeof o === 'object' && typeof (o as { target_email?: unknown }).target_email === 'string') {
      ;(o as { target_email: string }).target_email = (o as { target_email: string }).target_email.trim()
    }
  }
  if (Array.isArray(body)) body.forEach(trim)
  else trim(body)
  return body
}

export function inviteRoutes(app: FastifyInstance, services: Services): void {
  // Route-level body validation would run before the shape checks PostHog makes first.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.routeOptions.url?.startsWith(BASE)) trimEmails(req.body)
  })

  defineRoutes(app, [
    {
      method: 'GET',
      url: BASE,
      access: { scope: 'organization_member:read', org: true },
      schema: { tags, params: OrganizationIdParam, response: { 200: InviteList, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const page = readPage(req.query as Record<string, unknown>)
        const { count, results } = await services.invites.list(orgOf(req), page.limit, page.offset)
        return paginate(req, page, count, results)
      },
    },
    {
      method: 'POST',
      url: BASE,
      access: { scope: 'organization_member:write', org: true, sensitive: true },
      schema: { tags, params: OrganizationIdParam, body: InviteInput, response: { 201: OrganizationInvite, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req, reply) => {
        const [invite] = await services.invites.create(orgOf(req), principalOf(req).user, [req.body as Static<typeof InviteInput>], false)
        return reply.code(201).send(invite)
      },
    },
    {
      method: 'DELETE',
      url: `${BASE}/:id`,
      access: { scope: 'organization_member:write', org: true, sensitive: true },
      schema: { tags, response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404) } },
      handler: async (req, reply) => {
        await services.invites.delete(orgOf(req), principalOf(req).user, (req.params as { id: string }).id)
        return reply.code(204).send()
      },
    },
    {
      method: 'POST',
      url: `${BASE}/bulk`,
      access: { scope: 'organization_member:write', org: true, sensitive: true },
      schema: {
        tags,
        params: OrganizationIdParam,
        description: 'Creates up to 20 invites at once, all or nothing. Answers 201 with the invites in input order.',
        response: { 201: { type: 'array', items: OrganizationInvite }, ...errorResponses(400, 401, 403, 404) },
      },
      handler: async (req, reply) => {
        const body = req.body
        if (!Array.isArray(body)) throw errors.validation('This endpoint needs an array of data for bulk invite creation.')
        if (body.length > MAX_BULK_INVITES) throw errors.validation(`A maximum of ${MAX_BULK_INVITES} invites can be sent in a single request.`, null, 'max_length')
        const items = validateBulk(body)
        return reply.code(201).send(await services.invites.create(orgOf(req), principalOf(req).user, items, true))
      },
    },
    {
      method: 'POST',
      url: `${BASE}/delegate`,
      access: { scope: 'organization_member:write', org: true, sensitive: true },
      schema: { tags, params: OrganizationIdParam, body: DelegateInput, response: { 201: OrganizationInvite, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req, reply) => {
        const invite = await services.invites.delegate(orgOf(req), principalOf(req).user, req.body as Static<typeof DelegateInput>)
        return reply.code(201).send(invite)
      },
    },
  ])
}
