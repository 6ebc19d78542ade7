import { randomBytes } from 'node:crypto'
import type { Config } from '../../config.ts'
import type { Db, Queryable } from '../../db/index.ts'
import type { ObjectStorage } from '../../adapters/storage/index.ts'
import { PandaDocClient, PandaDocError } from '../../adapters/esign/pandadoc.ts'
import { parseSigningToken, sha256, signAgreement, signingTokenMatches } from '../../adapters/esign/local.ts'
import { ApiError, errors } from '../../http/errors.ts'
import { enqueue } from '../../jobs/queue.ts'
import { isUuid } from '../../lib/ids.ts'
import { activityLog } from '../activity-log/service.ts'
import { LEVEL, type OrgContext } from '../organizations/service.ts'
import type { UserRow } from '../users/store.ts'
import { legalDocumentStore, type DocumentType, type LegalDocumentRow, type LegalDocumentWithCreator } from './store.ts'

export const LEGAL_JOBS = {
  prepare: 'legal.prepare',
  send: 'legal.pandadoc_send',
  archive: 'legal.archive',
  reconcile: 'legal.reconcile',
  deleteObject: 'legal.delete_object',
  signingEmail: 'email.legal_signing',
  baaSignedEmail: 'email.legal_baa_signed',
} as const

export const BAA_ENTITLEMENT = 'legal_documents_baa'
export const DOWNLOAD_URL_TTL_SECONDS = 60
export const RECONCILE_EVERY_MS = 15 * 60_000
export const RECONCILE_MAX_AGE_DAYS = 30
export const RECONCILE_BATCH = 50
/** How long one signing request may hold the document before another may try. */
export const SIGNING_CLAIM_SECONDS = 120

export interface LegalDocumentView {
  id: string
  document_type: string
  company_name: string
  representative_email: string
  status: string
  signed_pdf_stored: boolean
  created_by: { first_name: string; email: string } | null
  created_at: Date
}

export interface CreateInput {
  document_type: DocumentType
  company_name: string
  company_address: string
  representative_email: string
}

export function toView(r: LegalDocumentWithCreator): LegalDocumentView {
  return {
    id: r.id,
    document_type: r.document_type,
    company_name: r.company_name,
    representative_email: r.representative_email,
    status: r.status,
    signed_pdf_stored: r.signed_pdf_stored,
    created_by: r.created_by ? { first_name: r.created_by.first_name ?? '', email: r.created_by.email } : null,
    created_at: r.created_at,
  }
}

export const signedKey = (config: Config, id: string) => `${config.legalDocumentsFolder}/${id}.pdf`
export const unsignedKey = (config: Config, id: string) => `${config.legalDocumentsFolder}/unsigned/${id}.pdf`

const UNIQUE = 'unique_legal_document_per_org_and_type'

export interface LegalDeps {
  db: Db
  config: Config
  storage: ObjectStorage
  pandadoc: PandaDocClient
  secretKey: string
  afterCommit: () => void
  log: (msg: string, extra?: Record<string, unknown>) => void
}

/** Schedules the next reconciliation run unless one is already waiting. */
export async function scheduleReconcile(q: Queryable, delayMs: number): Promise<void> {
  await q.query(
    `INSERT INTO jobs (kind, payload, run_at)
     SELECT $1, '{}'::jsonb, now() + ($2::int * interval '1 millisecond')
      WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND status = 'queued')`,
    [LEGAL_JOBS.reconcile, delayMs],
  )
}

/**
 * The side effects of a document becoming signed, in the transaction that flips it: the
 * activity log; for a BAA, AI data processing turned off and the owners told; for PandaDoc, the
 * archive of the signed PDF.
 */
export async function afterSigned(q: Queryable, row: LegalDocumentRow): Promise<void> {
  await activityLog.record(q, {
    organizationId: row.organization_id,
    userId: null,
    scope: 'LegalDocument',
    itemId: row.id,
    activity: 'signed',
    detail: { context: { document_type: row.document_type, company_name: row.company_name } },
  })
  if (row.document_type === 'BAA') {
    await q.query(`UPDATE organizations SET is_ai_data_processing_approved = false, updated_at = now() WHERE id = $1`, [row.organization_id])
    const owners = await q.query<{ email: string }>(
      `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND m.level = $2 AND u.is_active`,
      [row.organization_id, LEVEL.OWNER],
    )
    for (const o of owners) await enqueue(q, LEGAL_JOBS.baaSignedEmail, { documentId: row.id, organizationId: row.organization_id, to: o.email })
  }
  if (!row.signed_pdf_stored) await enqueue(q, LEGAL_JOBS.archive, { documentId: row.id })
}

export function createLegalDocumentService(deps: LegalDeps) {
  const { db, config, storage, pandadoc } = deps

  function requireAdmin(org: OrgContext): void {
    if ((org.level ?? 0) < LEVEL.ADMIN) throw errors.permissionDenied('Your organization access level is insufficient.')
  }

  const alreadyHas = (type: string) => errors.validation(`Your organization already has a ${type}. Contact support if you need a new one.`, 'document_type')

  async function insert(organizationId: string, features: OrgContext['available_product_features'], createdBy: UserRow | null, input: CreateInput): Promise<LegalDocumentWithCreator> {
    if (input.document_type === 'BAA' && !features.some((f) => f.key === BAA_ENTITLEMENT)) {
      throw errors.permissionDenied('A Boost, Scale, or Enterprise add-on is required to generate a BAA.')
    }
    let row: LegalDocumentRow
    try {
      row = await db.tx(async (q) => {
        if (await legalDocumentStore.exists(q, organizationId, input.document_type)) throw alreadyHas(input.document_type)
        const inserted = await legalDocumentStore.insert(q, {
          organizationId,
          documentType: input.document_type,
          companyName: input.company_name,
          companyAddress: input.company_address,
          representativeEmail: input.representative_email,
          provider: config.esignProvider,
          signingNonce: config.esignProvider === 'local' ? randomBytes(24).toString('base64url') : null,
          createdById: createdBy?.id ?? null,
        })
        await enqueue(q, LEGAL_JOBS.prepare, { documentId: inserted.id })
        await activityLog.record(q, {
          organizationId,
          userId: createdBy?.id ?? null,
          scope: 'LegalDocument',
          itemId: inserted.id,
          activity: 'created',
          detail: { context: { document_type: inserted.document_type, company_name: inserted.company_name } },
        })
        return inserted
      })
    } catch (err) {
      // Two creates at once: the loser meets the unique index, and gets the same answer a later request would.
      const e = err as { code?: string; constraint?: string }
      if (e.code === '23505' && (e.constraint === UNIQUE || e.constraint === undefined)) throw alreadyHas(input.document_type)
      throw err
    }
    deps.afterCommit()
    return { ...row, created_by: createdBy ? { first_name: createdBy.first_name, email: createdBy.email } : null }
  }

  return {
    requireAdmin,

    async list(org: OrgContext, limit: number, offset: number): Promise<{ count: number; results: LegalDocumentView[] }> {
      requireAdmin(org)
      const [rows, count] = await Promise.all([legalDocumentStore.page(db, org.id, limit, offset), legalDocumentStore.count(db, org.id)])
      return { count, results: rows.map(toView) }
    },

    async get(org: OrgContext, id: string): Promise<LegalDocumentView> {
      requireAdmin(org)
      const row = isUuid(id) ? await legalDocumentStore.getWithCreator(db, org.id, id.toLowerCase()) : null
      if (!row) throw errors.notFound()
      return toView(row)
    },

    async create(org: OrgContext, user: UserRow, input: CreateInput): Promise<LegalDocumentView> {
      requireAdmin(org)
      if (input.document_type !== 'BAA' && input.document_type !== 'DPA') {
        throw errors.validation(`"${input.document_type}" is not a valid choice.`, 'document_type', 'invalid_choice')
      }
      return toView(await insert(org.id, org.available_product_features, user, input))
    },

    /** The operator's path (CLI): any type including MSA, no entitlement check, no creator. */
    async createByOperator(organizationId: string, input: CreateInput): Promise<LegalDocumentView> {
      const [org] = await db.query<{ id: string }>(`SELECT id FROM organizations WHERE id = $1`, [organizationId])
      if (!org) throw errors.organizationNotFound()
      return toView(await insert(organizationId, [{ key: BAA_ENTITLEMENT, name: 'BAA' }], null, input))
    },

    /**
     * A.7: signed documents stay; the envelope is voided before the row goes, and a failed void
     * keeps the row (503). The void is a slow outside call, so it runs between two short
     * transactions rather than inside one; the second re-locks and re-checks the row.
     */
    async delete(org: OrgContext, user: UserRow, id: string): Promise<void> {
      requireAdmin(org)
      if (!isUuid(id)) throw errors.notFound()
      const docId = id.toLowerCase()
      const signedRefusal = () =>
        errors.permissionDenied(`Signed documents can't be deleted from the UI. Contact ${config.productName} support if you need to remove a signed record.`)
      const row = await db.tx(async (q) => {
        const r = await legalDocumentStore.getInOrganization(q, org.id, docId, true)
        if (!r) throw errors.notFound()
        if (r.status === 'signed') throw signedRefusal()
        return r
      })
      if (row.provider === 'pandadoc' && row.pandadoc_document_id !== '') {
        try {
          await pandadoc.void(row.pandadoc_document_id)
        } catch (err) {
          deps.log('legal document void failed', { id: row.id, err: String(err) })
          throw new ApiError(
            503,
            'server_error',
            'legal_document_void_failed',
            `Couldn't cancel the PandaDoc envelope. Please try again, or contact ${config.productName} support if this keeps happening.`,
          )
        }
      }
      await db.tx(async (q) => {
        const r = await legalDocumentStore.getInOrganization(q, org.id, docId, true)
        if (!r) throw errors.notFound()
        if (r.status === 'signed') throw signedRefusal()
        // An envelope created while this request voided (the create job was in flight) is voided by that job.
        await legalDocumentStore.delete(q, r.id)
        if (r.provider === 'local') await enqueue(q, LEGAL_JOBS.deleteObject, { key: unsignedKey(config, r.id) })
        await activityLog.record(q, {
          organizationId: org.id,
          userId: user.id,
          scope: 'LegalDocument',
          itemId: r.id,
          activity: 'deleted',
          detail: { context: { document_type: r.document_type, company_name: r.company_name } },
        })
      })
      deps.afterCommit()
    },

    /**
     * A.8: a fresh 60-second URL to the signed PDF, or 404 until it is signed and stored. Staff
     * need no membership; the lookup is still scoped to the organization in the URL.
     */
    async downloadUrl(org: OrgContext, user: UserRow, id: string): Promise<string> {
      if (!user.is_staff) {
        if (org.level === null) throw errors.permissionDenied()
        requireAdmin(org)
      }
      const row = isUuid(id) ? await legalDocumentStore.getInOrganization(db, org.id, id.toLowerCase()) : null
      if (!row || row.status !== 'signed' || !row.signed_pdf_stored) throw errors.notFound()
      const product = config.productName.replace(/[^A-Za-z0-9._-]+/g, '-')
      return storage.presignedGetUrl(signedKey(config, row.id), {
        expiresInSeconds: DOWNLOAD_URL_TTL_SECONDS,
        contentType: 'application/pdf',
        contentDisposition: `attachment; filename="${product}-${row.document_type}-${row.id}.pdf"`,
      })
    },

    // ---- local signing ------------------------------------------------------------------------

    /** The document behind a signing link, or why the link cannot be used. */
    async forSigning(token: string): Promise<{ ok: true; row: LegalDocumentRow; organizationName: string } | { ok: false; reason: 'invalid' | 'signed' | 'preparing' }> {
      const parsed = parseSigningToken(token)
      if (!parsed) return { ok: false, reason: 'invalid' }
      const row = await legalDocumentStore.get(db, parsed.id)
      if (!row || row.provider !== 'local') return { ok: false, reason: 'invalid' }
      if (row.status === 'signed') return { ok: false, reason: 'signed' }
      if (!signingTokenMatches(deps.secretKey, parsed, row.signing_nonce)) return { ok: false, reason: 'invalid' }
      if (!row.unsigned_pdf_sha256) return { ok: false, reason: 'preparing' }
      const [org] = await db.query<{ name: string }>(`SELECT name FROM organizations WHERE id = $1`, [row.organization_id])
      return { ok: true, row, organizationName: org?.name ?? '' }
    },

    async unsignedPdf(row: LegalDocumentRow): Promise<Buffer> {
      const bytes = await storage.get(unsignedKey(config, row.id))
      if (!bytes || sha256(bytes) !== row.unsigned_pdf_sha256) throw errors.notFound('The document is not available.')
      return bytes
    },

    /**
     * Signs with the typed name. The signature slot is claimed first (so two submissions cannot
     * both write a PDF), the signed PDF is stored outside any transaction, then the row flips to
     * signed and stored in one conditional update. A link voided meanwhile changes nothing, and
     * its stray object is removed; a failed upload releases the claim so the signer can retry.
     */
    async sign(token: string, input: { fullName: string; consent: boolean; ip: string }): Promise<LegalDocumentRow> {
      const name = input.fullName.trim().replace(/\s+/g, ' ')
      if (name.length < 2) throw errors.validation('Type your full name to sign.', 'full_name')
      if (name.length > 200) throw errors.validation('Ensure this field has no more than 200 characters.', 'full_name', 'max_length')
      if (!input.consent) throw errors.validation('Confirm that you agree to sign electronically.', 'consent', 'required')
      const found = await this.forSigning(token)
      if (!found.ok) throw errors.validation(found.reason === 'signed' ? 'This document has already been signed.' : 'This signing link is not valid any more.', null, found.reason)
      const row = found.row
      const nonce = row.signing_nonce!
      const claimed = await db.tx((q) => legalDocumentStore.claimSigning(q, row.id, nonce, SIGNING_CLAIM_SECONDS))
      if (!claimed) throw errors.validation('This document is being signed right now.', null, 'signing_in_progress')
      let stored = false
      try {
        const unsigned = await this.unsignedPdf(row)
        const at = new Date()
        const signed = await signAgreement(unsigned, {
          documentId: row.id,
          signerName: name,
          signerEmail: row.representative_email,
          signedAt: at,
          ip: input.ip,
          unsignedSha256: sha256(unsigned),
        })
        await storage.put(signedKey(config, row.id), signed, 'application/pdf')
        stored = true
        const updated = await db.tx(async (q) => {
          const current = await legalDocumentStore.get(q, row.id, true)
          if (!current || current.signing_nonce !== nonce) return null
          const flipped = await legalDocumentStore.markSigned(q, row.id, { name, ip: input.ip, at, stored: true })
          if (flipped) await afterSigned(q, flipped)
          return flipped
        })
        if (!updated) {
          await storage.delete(signedKey(config, row.id)).catch(() => {})
          throw errors.validation('This signing link is not valid any more.', null, 'invalid')
        }
        deps.afterCommit()
        return updated
      } catch (err) {
        if (!stored || !(err instanceof ApiError)) await db.tx((q) => legalDocumentStore.releaseSigning(q, row.id)).catch(() => {})
        throw err
      }
    },

    // ---- PandaDoc webhook and reconciliation ----------------------------------------------------

    /**
     * One `document_state_changed` event. Returns whether it matched one of this deployment's
     * documents (unknown ids belong to another deployment sharing the PandaDoc account).
     */
    async applyPandaDocEvent(data: { id: string; status: string; templateId: string | null }): Promise<boolean> {
      const row = await legalDocumentStore.byPandaDocId(db, data.id)
      if (!row) return false
      const template = config.pandadoc.templateIds[row.document_type]
      if (template && data.templateId !== template) return false
      if (data.status === 'document.draft') {
        if (row.status === 'signed') return true
        await db.tx((q) => enqueue(q, LEGAL_JOBS.send, { documentId: row.id }))
        deps.afterCommit()
        return true
      }
      if (data.status === 'document.completed') {
        await db.tx(async (q) => {
          const flipped = await legalDocumentStore.markSigned(q, row.id, null)
          if (flipped) await afterSigned(q, flipped)
        })
        deps.afterCommit()
        return true
      }
      return false
    },

    /** A.9's reconciliation: catches completions whose webhook was lost, and PDFs not yet archived. */
    async reconcile(): Promise<{ checked: number; signed: number; archivesQueued: number }> {
      const pending = await legalDocumentStore.pendingPandaDoc(db, RECONCILE_MAX_AGE_DAYS, RECONCILE_BATCH)
      let signed = 0
      for (const row of pending) {
        try {
          const doc = await pandadoc.status(row.pandadoc_document_id)
          if (doc?.status !== 'document.completed') continue
          const flipped = await db.tx(async (q) => {
            const f = await legalDocumentStore.markSigned(q, row.id, null)
            if (f) await afterSigned(q, f)
            return f
          })
          if (flipped) signed += 1
        } catch (err) {
          if (!(err instanceof PandaDocError)) throw err
          deps.log('legal document reconcile: status failed', { id: row.id, err: err.message })
        }
      }
      const unarchived = await legalDocumentStore.signedWithoutPdf(db, RECONCILE_BATCH)
      let archivesQueued = 0
      await db.tx(async (q) => {
        for (const [i, row] of unarchived.entries()) {
          const [waiting] = await q.query(`SELECT 1 FROM jobs WHERE kind = $1 AND status IN ('queued', 'running') AND payload->>'documentId' = $2`, [LEGAL_JOBS.archive, row.id])
          if (waiting) continue
          // Staggered one per second, so a backlog does not hit PandaDoc's rate limit at once.
          await q.query(`INSERT INTO jobs (kind, payload, run_at) VALUES ($1, $2, now() + ($3::int * interval '1 second'))`, [LEGAL_JOBS.archive, JSON.stringify({ documentId: row.id }), i])
          archivesQueued += 1
        }
      })
      if (signed > 0 || archivesQueued > 0) deps.afterCommit()
      return { checked: pending.length, signed, archivesQueued }
    },
  }
}

export type LegalDocumentService = ReturnType<typeof createLegalDocumentService>
