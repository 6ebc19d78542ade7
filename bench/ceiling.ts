// The stack's ceiling: a bare Fastify route that runs exactly the statements orgd runs for
// GET /api/organizations/:id/members/ (the same store functions, so the same SQL text and the
// same parameters), over plain node-postgres or the same PGlite instance, with no auth
// framework, no validation, no response schema: the page's JSON text in a pagination envelope.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Queryable } from '../src/db/index.ts'
import { secureValueOf } from '../src/modules/api-keys/service.ts'
import { apiKeyStore } from '../src/modules/api-keys/store.ts'
import { memberStore } from '../src/modules/members/store.ts'
import { organizationStore } from '../src/modules/organizations/store.ts'

export type SearchFn = typeof memberStore.search

/** Per request, in orgd's order: key → organization + level → page (or search, which carries its count). */
export async function ceilingMembers(q: Queryable, token: string, organizationId: string, search: string, limit: number, offset: number, searchFn: SearchFn = memberStore.search) {
  // orgd: src/http/auth.ts → apiKeys.authenticate → apiKeyStore.findForAuth (last_used_at is
  // written at most hourly, so it is not part of the steady state).
  const auth = await apiKeyStore.findForAuth(q, secureValueOf(token))
  if (!auth) return null
  // orgd: organizations.resolveForUser → organizationStore.findWithLevel
  const org = await organizationStore.findWithLevel(q, organizationId, auth.user.id)
  if (!org || org.level === null) return null
  // orgd: members.list → memberStore.search (which counts) or memberStore.list (+ the
  // organization's member_count, which came with the previous statement).
  if (search) {
    const page = await searchFn(q, org.id, search, {}, limit, offset)
    return { count: page.total, results: page.results }
  }
  const rows = await memberStore.list(q, org.id, {}, false, limit, offset)
  return { count: org.member_count, results: rows }
}

/** `searchFn` lets a candidate search statement be measured beside orgd's own (the default). */
export async function buildCeiling(q: Queryable, searchFn: SearchFn = memberStore.search): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  app.get('/api/organizations/:organization_id/members/', async (req, reply) => {
    const header = req.headers.authorization ?? ''
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    const query = req.query as Record<string, string | undefined>
    const { organization_id } = req.params as { organization_id: string }
    const limit = Number(query.limit) || 100
    const offset = Number(query.offset) || 0
    const page = await ceilingMembers(q, token, organization_id, (query.search ?? '').trim(), limit, offset, searchFn)
    if (!page) return reply.code(403).type('application/json').send('{"detail":"forbidden"}')
    // The page is already JSON text (orgd sends it as it comes, too).
    return reply.type('application/json').send(`{"count":${page.count},"next":null,"previous":null,"results":${page.results}}`)
  })
  await app.ready()
  return app
}
