import type { FastifyInstance, HTTPMethods } from 'fastify'
import { errors } from '../../http/errors.ts'

/**
 * PostHog operations orgd does not serve yet. They answer 501 with a message naming the
 * operation, so a client fails loudly instead of meeting a silent 404 or a fake answer.
 * Each entry disappears when its module lands.
 */
const PENDING: Array<{ method: HTTPMethods[]; url: string; what: string }> = []

export function notImplementedRoutes(app: FastifyInstance): void {
  for (const p of PENDING) {
    app.route({
      method: p.method,
      url: p.url,
      schema: { hide: true },
      config: { access: { scope: 'none' } },
      handler: async () => {
        throw errors.notImplemented(`${p.what} is not implemented in this version of orgd yet.`)
      },
    })
  }
}

export function pending(method: HTTPMethods[], url: string, what: string): void {
  PENDING.push({ method, url, what })
}

const org = '/api/organizations/:organization_id'
