import type { FastifyInstance } from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { principalOf } from '../../http/auth.ts'
import { clearSessionCookies, setSessionCookies } from './session-cookies.ts'
import { errors } from '../../http/errors.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses } from '../../http/schemas.ts'
import type { Services } from '../../services.ts'
import { organizationJson } from '../organizations/routes.ts'

const Login = Type.Object({ email: Type.String({ format: 'email', maxLength: 254 }), password: Type.String({ minLength: 1 }) })

export function userRoutes(app: FastifyInstance, services: Services): void {
  const secure = services.config.siteUrl.startsWith('https://')

  defineRoutes(app, [
    {
      method: 'POST',
      url: '/api/login',
      access: { auth: 'public' },
      schema: { tags: ['auth'], body: Login, response: { 200: Type.Object({ success: Type.Boolean() }), ...errorResponses(400) } },
      handler: async (req, reply) => {
        const { email, password } = req.body as Static<typeof Login>
        setSessionCookies(reply, await services.users.login(email, password), secure)
        return { success: true }
      },
    },
    {
      method: 'POST',
      url: '/api/logout',
      access: { auth: 'user', scope: 'refuse_api_keys' },
      schema: { tags: ['auth'], response: { 204: { type: 'null' }, ...errorResponses(401, 403) } },
      handler: async (req, reply) => {
        const principal = principalOf(req)
        if (principal.kind === 'session') await services.users.logout(principal.session.id)
        clearSessionCookies(reply)
        return reply.code(204).send()
      },
    },
    {
      method: 'GET',
      url: '/api/users/:uuid',
      access: { scope: 'user:read' },
      schema: { tags: ['users'], params: Type.Object({ uuid: Type.String() }), response: errorResponses(401, 403) },
      handler: async (req) => {
        const principal = principalOf(req)
        const { uuid } = req.params as { uuid: string }
        if (uuid !== '@me' && uuid.toLowerCase() !== principal.user.uuid) {
          throw errors.permissionDenied("As a non-staff user you're only allowed to access the `@me` user instance.")
        }
        return services.users.me(principal.user, principal.kind === 'session' ? principal : { kind: principal.kind }, async (orgId) => {
          const org = await services.organizations.resolveForUser(principal.user, orgId)
          return organizationJson(await services.organizations.get(org, principal.user))
        })
      },
    },
  ])
}
