import { createHmac } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { orgOf, principalOf } from '../../http/auth.ts'
import { ApiError, errors } from '../../http/errors.ts'
import { paginate, readPage } from '../../http/pagination.ts'
import { defineRoutes } from '../../http/routes.ts'
import { errorResponses, OrganizationIdParam } from '../../http/schemas.ts'
import { safeEqual } from '../../lib/crypto.ts'
import { verifyFileUrl } from '../../adapters/storage/local.ts'
import { clauses } from '../../adapters/esign/local.ts'
import type { Services } from '../../services.ts'
import { CreateLegalDocument, LegalDocumentDTO, LegalDocumentList } from './schemas.ts'
import { renderSignPage, type SignPageState } from './sign-page.ts'

const BASE = '/api/organizations/:organization_id/legal_documents'
const tags = ['legal_documents']
const TRIMMED = ['company_name', 'company_address', 'representative_email'] as const

export function legalDocumentRoutes(app: FastifyInstance, services: Services): void {
  const legal = services.legalDocuments
  // IsOrganizationAdminOrOwner runs before the serializer: a member gets the 403, not a 400.
  const adminOnly = (req: FastifyRequest) => legal.requireAdmin(orgOf(req))

  // DRF's CharField and EmailField trim before they validate.
  app.addHook('preValidation', async (req) => {
    if (req.method !== 'POST' || req.routeOptions.url !== BASE) return
    const body = req.body as Record<string, unknown> | null
    if (!body || typeof body !== 'object' || Array.isArray(body)) return
    for (const k of TRIMMED) if (typeof body[k] === 'string') body[k] = (body[k] as string).trim()
  })

  defineRoutes(app, [
    {
      method: 'GET',
      url: BASE,
      access: { scope: 'legal_document:read', org: true, precheck: adminOnly },
      schema: { tags, params: OrganizationIdParam, response: { 200: LegalDocumentList, ...errorResponses(401, 403, 404) } },
      handler: async (req) => {
        const page = readPage(req.query as Record<string, unknown>)
        const { count, results } = await legal.list(orgOf(req), page.limit, page.offset)
        return paginate(req, page, count, results)
      },
    },
    {
      method: 'POST',
      url: BASE,
      access: { scope: 'legal_document:write', org: true, precheck: adminOnly },
      schema: { tags, params: OrganizationIdParam, body: CreateLegalDocument, response: { 201: LegalDocumentDTO, ...errorResponses(400, 401, 403, 404) } },
      handler: async (req, reply) => {
        const doc = await legal.create(orgOf(req), principalOf(req).user, req.body as Static<typeof CreateLegalDocument>)
        return reply.code(201).send(doc)
      },
    },
    {
      method: 'GET',
      url: `${BASE}/:id`,
      access: { scope: 'legal_document:read', org: true, precheck: adminOnly },
      schema: { tags, response: { 200: LegalDocumentDTO, ...errorResponses(401, 403, 404) } },
      handler: async (req) => legal.get(orgOf(req), (req.params as { id: string }).id),
    },
    {
      method: 'DELETE',
      url: `${BASE}/:id`,
      access: { scope: 'legal_document:write', org: true, precheck: adminOnly },
      schema: {
        tags,
        description: 'Deletes an unsigned document: the envelope is voided first, and if that fails the answer is 503 and the row stays. Signed documents answer 403.',
        response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404, 503) },
      },
      handler: async (req, reply) => {
        await legal.delete(orgOf(req), principalOf(req).user, (req.params as { id: string }).id)
        return reply.code(204).send()
      },
    },
    {
      method: 'GET',
      url: `${BASE}/:id/download`,
      // Staff may download without membership, so the organization is resolved in the handler.
      access: { scope: 'refuse_api_keys' },
      schema: {
        tags,
        description: 'Redirects (302) to a URL for the signed PDF that expires in 60 seconds; 404 until the document is signed and stored. Ask again each time.',
        response: { 302: { type: 'null' }, ...errorResponses(401, 403, 404) },
      },
      handler: async (req, reply) => {
        const user = principalOf(req).user
        const org = await services.organizations.resolveForUser(user, (req.params as { organization_id: string }).organization_id)
        const url = await legal.downloadUrl(org, user, (req.params as { id: string }).id)
        return reply.code(302).header('location', url).header('cache-control', 'no-store').send()
      },
    },
  ])

  registerWebhook(app, services)
  registerSigningPages(app, services)
  registerFiles(app, services)
}

/** PandaDoc's signature: lowercase hex HMAC-SHA256 of the raw body with the shared key. */
export function pandadocSignature(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex')
}

interface PandaDocEvent {
  event?: unknown
  data?: unknown
}

function registerWebhook(app: FastifyInstance, services: Services): void {
  // The signature covers the exact bytes PandaDoc sent, so this route reads the raw body: its own
  // plugin scope, where every content type arrives as a Buffer.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    // Any declared media type (even a malformed one) is read as bytes: before the signature is
    // checked, nothing may answer differently from an unknown route.
    scope.addHook('onRequest', async (req) => {
      req.headers['content-type'] = 'application/octet-stream'
    })
    scope.post('/api/legal_documents/pandadoc', { schema: { hide: true } }, async (req, reply) => {
      const secret = services.config.pandadoc.webhookSecret
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      const header = req.headers['x-pandadoc-signature']
      const query = (req.query as Record<string, unknown>).signature
      // The query parameter counts only when the header is absent; an empty header fails.
      const given = header !== undefined ? (Array.isArray(header) ? header[0] : header) : typeof query === 'string' ? query : ''
      // A wrong signature looks exactly like a route that does not exist.
      if (!secret || !given || !safeEqual(given.toLowerCase(), pandadocSignature(secret, raw))) throw errors.notFound()
      let parsed: unknown
      try {
        parsed = JSON.parse(raw.toString('utf8'))
      } catch {
        throw errors.parseError('Invalid body.')
      }
      const events = (Array.isArray(parsed) ? parsed : [parsed]) as PandaDocEvent[]
      let applied = false
      for (const ev of events) {
        if (!ev || typeof ev !== 'object' || ev.event !== 'document_state_changed') continue
        const data = (Array.isArray(ev.data) ? ev.data[0] : ev.data) as Record<string, unknown> | undefined
        if (!data || typeof data !== 'object' || typeof data.id !== 'string' || typeof data.status !== 'string') continue
        const template = data.template && typeof data.template === 'object' ? (data.template as { id?: unknown }).id : undefined
        if (await services.legalDocuments.applyPandaDocEvent({ id: data.id, status: data.status, templateId: typeof template === 'string' ? template : null })) applied = true
      }
      // 204 for events that are not ours, so PandaDoc does not retry them.
      return applied ? reply.code(200).send({ status: 'ok' }) : reply.code(204).send()
    })
  })
}

function clientIp(req: FastifyRequest): string {
  return req.ip || req.socket.remoteAddress || 'unknown'
}

function registerSigningPages(app: FastifyInstance, services: Services): void {
  const legal = services.legalDocuments
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).header('cache-control', 'no-store').header('x-frame-options', 'SAMEORIGIN').type('text/html; charset=utf-8').send(body)

  async function state(token: string): Promise<SignPageState> {
    const found = await legal.forSigning(token)
    if (!found.ok) {
      const message =
        found.reason === 'signed'
          ? 'This document has already been signed.'
          : found.reason === 'preparing'
            ? 'The document is still being prepared. Try again in a minute.'
            : 'This signing link is not valid any more. The document may have been cancelled.'
      return { kind: 'error', message }
    }
    const r = found.row
    return {
      kind: 'form',
      token,
      documentType: r.document_type,
      companyName: r.company_name,
      companyAddress: r.company_address,
      representativeEmail: r.representative_email,
      organizationName: found.organizationName,
      unsignedSha256: r.unsigned_pdf_sha256 ?? '',
      clauses: clauses({
        documentId: r.id,
        documentType: r.document_type,
        productName: services.config.productName,
        countersignerEmail: services.config.legalCountersignerEmail,
        companyName: r.company_name,
        companyAddress: r.company_address,
        representativeEmail: r.representative_email,
        date: r.created_at,
      }),
    }
  }

  app.get('/legal/sign/:token', { schema: { hide: true } }, async (req, reply) => {
    const s = await state((req.params as { token: string }).token)
    return html(reply, s.kind === 'error' ? 404 : 200, renderSignPage(services.config, s))
  })

  app.get('/legal/sign/:token/document.pdf', { schema: { hide: true } }, async (req, reply) => {
    const found = await legal.forSigning((req.params as { token: string }).token)
    if (!found.ok) throw errors.notFound()
    const pdf = await legal.unsignedPdf(found.row)
    return reply
      .header('cache-control', 'no-store')
      .header('content-disposition', `inline; filename="${found.row.document_type}-${found.row.id}.pdf"`)
      .type('application/pdf')
      .send(pdf)
  })

  app.post('/legal/sign/:token', { schema: { hide: true } }, async (req, reply) => {
    const token = (req.params as { token: string }).token
    const form = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>
    const fullName = typeof form.full_name === 'string' ? form.full_name : ''
    const consent = form.consent === 'yes' || form.consent === 'on' || form.consent === true
    try {
      const row = await legal.sign(token, { fullName, consent, ip: clientIp(req) })
      return html(reply, 200, renderSignPage(services.config, { kind: 'signed', documentType: row.document_type, companyName: row.company_name, signerName: row.signer_name }))
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      const s = await state(token)
      if (s.kind !== 'form') return html(reply, err.statusCode === 400 ? 409 : err.statusCode, renderSignPage(services.config, { kind: 'error', message: err.detail }))
      const field = err.attr === 'full_name' || err.attr === 'consent' ? err.attr : null
      const status = err.code === 'signing_in_progress' ? 409 : err.statusCode
      return html(reply, status, renderSignPage(services.config, { ...s, error: { message: err.detail, field }, fullName }))
    }
  })
}

function registerFiles(app: FastifyInstance, services: Services): void {
  app.get('/files/*', { schema: { hide: true } }, async (req, reply) => {
    const storage = services.storage
    if (storage.kind !== 'local') throw errors.notFound()
    const key = (req.params as { '*': string })['*']
    const check = verifyFileUrl(services.secretKey, key, req.query as Record<string, unknown>)
    if (!check.ok) throw errors.permissionDenied(check.reason === 'expired' ? 'This link has expired.' : 'This link is not valid.')
    const bytes = await storage.get(key)
    if (!bytes) throw errors.notFound()
    reply.header('cache-control', 'private, no-store').type(check.params.contentType || 'application/octet-stream')
    if (check.params.contentDisposition) reply.header('content-disposition', check.params.contentDisposition)
    return reply.send(bytes)
  })
}
