import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, HTTPMethods } from 'fastify'
import type { Access } from './auth.ts'
import { errors } from './errors.ts'

export interface RouteDef {
  method: HTTPMethods | HTTPMethods[]
  url: string
  access: Access
  schema?: FastifySchema
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

/**
 * Registers a module's routes. Every other method on the same path answers 405 after the same
 * authentication and membership checks, because PostHog checks permissions before routing by
 * method (a GET on a detail URL in someone else's organization is a 403, not a 405).
 */
export function defineRoutes(app: FastifyInstance, defs: RouteDef[]): void {
  const byUrl = new Map<string, { methods: Set<string>; access: Access }>()
  for (const def of defs) {
    app.route({ method: def.method, url: def.url, schema: def.schema, config: { access: def.access }, handler: def.handler })
    const entry = byUrl.get(def.url) ?? { methods: new Set<string>(), access: def.access }
    for (const m of Array.isArray(def.method) ? def.method : [def.method]) entry.methods.add(m)
    byUrl.set(def.url, entry)
  }
  for (const [url, { methods, access }] of byUrl) {
    const others = ALL_METHODS.filter((m) => !methods.has(m))
    if (others.length === 0) continue
    app.route({
      method: others,
      url,
      schema: { hide: true } as FastifySchema,
      config: { access: { ...access, scope: 'none', sensitive: false } },
      handler: async (req) => {
        throw errors.methodNotAllowed(req.method)
      },
    })
  }
}
