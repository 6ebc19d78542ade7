import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { principalOf } from '../../http/auth.ts'
import { errors } from '../../http/errors.ts'
import { defineRoutes } from '../../http/routes.ts'
import { DateTime, errorResponses, Nullable } from '../../http/schemas.ts'
import type { Services } from '../../services.ts'

const ApiKey = Type.Object({
  id: Type.String(),
  label: Type.String(),
  value: Nullable(Type.String()),
  mask_value: Type.String(),
  created_at: DateTime,
  last_used_at: Nullable(DateTime),
  user_id: Type.String(),
  scopes: Type.Array(Type.String()),
  scoped_teams: Nullable(Type.Array(Type.Integer())),
  scoped_organizations: Nullable(Type.Array(Type.String())),
  last_rolled_at: Nullable(DateTime),
})

const fields = {
  label: Type.String({ minLength: 1, maxLength: 40 }),
  scopes: Type.Array(Type.String()),
  scoped_teams: Nullable(Type.Array(Type.Integer())),
  scoped_organizations: Nullable(Type.Array(Type.String())),
}
const ApiKeyCreate = Type.Object({
  label: fields.label,
  scopes: fields.scopes,
  scoped_teams: Type.Optional(fields.scoped_teams),
  scoped_organizations: Type.Optional(fields.scoped_organizations),
})
const ApiKeyPatch = Type.Partial(Type.Object(fields))
const IdParam = Type.Object({ id: Type.String() })

const tags = ['personal_api_keys']

/**
 * A personal API key may only read itself (PostHog's PersonalApiKeySelfAccessPermission); keys
 * are managed from a logged-in session.
 */
/** Key ids are base62 tokens; anything else names no key. */
function keyId(req: FastifyRequest): string {
  const { id } = req.params as { id: string }
  if (id !== '@current' && !/^[0-9A-Za-z]{1,50}$/.test(id)) throw errors.notFound()
  return id
}

function sessionUser(req: FastifyRequest) {
  const principal = principalOf(req)
  // OAuth access tokens may not manage personal API keys either: only a signed-in person may.
  if (principal.kind !== 'session') throw errors.permissionDenied('This action does not support Personal API Key access')
  return principal.user
}

export function apiKeyRoutes(app: FastifyInstance, services: Services): void {
  defineRoutes(app, [
    {
      method: 'GET',
      url: '/api/personal_api_keys',
      access: { scope: 'none' },
      schema: { tags, response: { 200: Type.Array(ApiKey), ...errorResponses(401, 403) } },
      handler: async (req) => services.apiKeys.list(sessionUser(req)),
    },
    {
      method: 'POST',
      url: '/api/personal_api_keys',
      access: { scope: 'none', sensitive: true, precheck: (req) => void sessionUser(req) },
      schema: { tags, body: ApiKeyCreate, response: { 201: ApiKey, ...errorResponses(400, 401, 403) } },
      handler: async (req, reply) => reply.code(201).send(await services.apiKeys.create(sessionUser(req), req.body as Static<typeof ApiKeyCreate>)),
    },
    {
      method: 'GET',
      url: '/api/personal_api_keys/:id',
      access: { scope: 'none' },
      schema: { tags, params: IdParam, response: { 200: ApiKey, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const principal = principalOf(req)
        const id = keyId(req)
        if (principal.kind === 'oauth_access_token') throw errors.permissionDenied('This action does not support Personal API Key access')
        if (principal.kind === 'personal_api_key') {
          if (id !== '@current' && id !== principal.key.id) throw errors.permissionDenied('This action does not support Personal API Key access')
          return services.apiKeys.get(principal.user, principal.key.id)
        }
        // A session has no "current key".
        if (id === '@current') throw errors.notFound()
        return services.apiKeys.get(principal.user, id)
      },
    },
    {
      method: ['PATCH', 'PUT'],
      url: '/api/personal_api_keys/:id',
      access: { scope: 'none', sensitive: true, precheck: (req) => void sessionUser(req) },
      schema: { tags, params: IdParam, body: ApiKeyPatch, response: { 200: ApiKey, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req) => {
        const id = keyId(req)
        return services.apiKeys.update(sessionUser(req), id, req.body as Static<typeof ApiKeyPatch>)
      },
    },
    {
      method: 'DELETE',
      url: '/api/personal_api_keys/:id',
      access: { scope: 'none', sensitive: true },
      schema: { tags, params: IdParam, response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404) } },
      handler: async (req, reply) => {
        const id = keyId(req)
        await services.apiKeys.delete(sessionUser(req), id)
        return reply.code(204).send()
      },
    },
    {
      method: 'POST',
      url: '/api/personal_api_keys/:id/roll',
      access: { scope: 'none', sensitive: true },
      schema: { tags, params: IdParam, response: { 200: ApiKey, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const id = keyId(req)
        return services.apiKeys.roll(sessionUser(req), id)
      },
    },
  ])
}
