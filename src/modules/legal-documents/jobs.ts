import type { Config } from '../../config.ts'
import type { Mailer } from '../../adapters/mail.ts'
import type { ObjectStorage } from '../../adapters/storage/index.ts'
import type { PandaDocClient } from '../../adapters/esign/pandadoc.ts'
import { DOCUMENT_TITLES, renderAgreement, sha256, signingToken } from '../../adapters/esign/local.ts'
import { enqueue, type JobHandler } from '../../jobs/queue.ts'
import { esc } from '../../lib/html.ts'
import { legalDocumentStore } from './store.ts'
import { LEGAL_JOBS, RECONCILE_EVERY_MS, scheduleReconcile, signedKey, unsignedKey, type LegalDocumentService } from './service.ts'

export interface LegalJobDeps {
  config: Config
  mailer: Mailer
  storage: ObjectStorage
  pandadoc: PandaDocClient
  secretKey: string
  service: () => LegalDocumentService
  log: (msg: string, extra?: Record<string, unknown>) => void
}

function layout(productName: string, bodyHtml: string): string {
  return `<!doctype html><html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d1f27;max-width:560px;margin:0 auto;padding:24px">
${bodyHtml}
<p style="color:#6b6f7b;font-size:12px;margin-top:32px">Sent by ${esc(productName)}.</p></body></html>`
}

export const signingLink = (config: Config, token: string) => `${config.siteUrl}/legal/sign/${token}`

/**
 * Background work of legal documents. Each handler re-reads its row and is safe to run twice:
 * delivery is at least once, and a deleted document makes every pending job a no-op.
 */
export function legalJobHandlers(d: LegalJobDeps): Record<string, JobHandler> {
  const { config } = d
  const product = config.productName

  const prepareLocal: JobHandler = async (job, db) => {
    const row = await legalDocumentStore.get(db, String(job.payload.documentId))
    if (!row || row.status === 'signed' || row.unsigned_pdf_sha256 || !row.signing_nonce) return
    const pdf = await renderAgreement({
      documentId: row.id,
      documentType: row.document_type,
      productName: product,
      countersignerEmail: config.legalCountersignerEmail,
      companyName: row.company_name,
      companyAddress: row.company_address,
      representativeEmail: row.representative_email,
      date: row.created_at,
    })
    await d.storage.put(unsignedKey(config, row.id), pdf, 'application/pdf')
    const recorded = await db.tx(async (q) => {
      if (!(await legalDocumentStore.setUnsignedHash(q, row.id, sha256(pdf)))) return false
      await enqueue(q, LEGAL_JOBS.signingEmail, { documentId: row.id })
      return true
    })
    // Deleted while rendering: the object has no row any more.
    if (!recorded && !(await legalDocumentStore.get(db, row.id))) await d.storage.delete(unsignedKey(config, row.id))
  }

  const preparePandaDoc: JobHandler = async (job, db) => {
    const row = await legalDocumentStore.get(db, String(job.payload.documentId))
    if (!row || row.pandadoc_document_id !== '' || row.status === 'signed') return
    const template = config.pandadoc.templateIds[row.document_type]
    if (!template) {
      d.log(`legal document ${row.id}: no PandaDoc template configured for ${row.document_type}; envelope not created`)
      return
    }
    const doc = await d.pandadoc.createFromTemplate({
      name: `${product} ${row.document_type} — ${row.company_name}`,
      template_uuid: template,
      recipients: [
        { email: config.legalCountersignerEmail, role: product },
        { email: row.representative_email, role: 'Client' },
      ],
      tokens: [
        { name: 'Client.Company', value: row.company_name },
        { name: 'Client.StreetAddress', value: row.company_address },
      ],
      metadata: { legal_document_id: row.id, organization_id: row.organization_id, document_type: row.document_type },
    })
    const recorded = await db.tx(async (q) => {
      const ok = await legalDocumentStore.setPandaDocId(q, row.id, doc.id)
      if (ok) await scheduleReconcile(q, RECONCILE_EVERY_MS)
      return ok
    })
    if (!recorded) {
      // The row went away while PandaDoc was creating the envelope: nobody must be asked to sign it.
      await d.pandadoc.void(doc.id).catch((err) => d.log(`legal document ${row.id}: voiding orphan envelope ${doc.id} failed`, { err: String(err) }))
    }
  }

  return {
    [LEGAL_JOBS.prepare]: async (job, db) => {
      const row = await legalDocumentStore.get(db, String(job.payload.documentId))
      if (!row) return
      return row.provider === 'local' ? prepareLocal(job, db) : preparePandaDoc(job, db)
    },

    [LEGAL_JOBS.send]: async (job, db) => {
      const row = await legalDocumentStore.get(db, String(job.payload.documentId))
      if (!row || row.status === 'signed' || row.pandadoc_document_id === '') return
      await d.pandadoc.send(row.pandadoc_document_id, {
        subject: `Please sign: ${product} ${row.document_type}`,
        message: `Hi,\n\nPlease find attached the ${row.document_type} for your review and signature. You can also forward this document to reassign it if needed.\n\n- The ${product} Team`,
        silent: false,
      })
    },

    [LEGAL_JOBS.archive]: async (job, db) => {
      const row = await legalDocumentStore.get(db, String(job.payload.documentId))
      if (!row || row.status !== 'signed' || row.signed_pdf_stored) return
      if (row.provider === 'pandadoc') {
        const pdf = await d.pandadoc.download(row.pandadoc_document_id)
        await d.storage.put(signedKey(config, row.id), pdf, 'application/pdf')
      } else if (!(await d.storage.get(signedKey(config, row.id)))) {
        throw new Error(`signed PDF of local document ${row.id} is missing from storage`)
      }
      await legalDocumentStore.markStored(db, row.id)
    },

    [LEGAL_JOBS.reconcile]: async (_job, db) => {
      try {
        const r = await d.service().reconcile()
        d.log('legal documents reconciled', r)
      } finally {
        // The schedule continues while anything is still out for signature.
        const [pending] = await db.query(`SELECT 1 FROM legal_documents WHERE status = 'submitted_for_signature' AND provider = 'pandadoc' LIMIT 1`)
        if (pending) await db.tx((q) => scheduleReconcile(q, RECONCILE_EVERY_MS))
      }
    },

    [LEGAL_JOBS.deleteObject]: async (job) => {
      await d.storage.delete(String(job.payload.key))
    },

    [LEGAL_JOBS.signingEmail]: async (job, db) => {
      const row = await legalDocumentStore.get(db, String(job.payload.documentId))
      if (!row || row.status === 'signed' || !row.signing_nonce) return
      const [org] = await db.query<{ name: string }>(`SELECT name FROM organizations WHERE id = $1`, [row.organization_id])
      const link = signingLink(config, signingToken(d.secretKey, row.id, row.signing_nonce))
      const title = DOCUMENT_TITLES[row.document_type] ?? row.document_type
      await d.mailer.send({
        to: row.representative_email,
        subject: `Please sign: ${product} ${row.document_type}`,
        text: `Hi,\n\n${org?.name ?? row.company_name} asked ${product} to prepare a ${title} (${row.document_type}) for ${row.company_name}. Please review and sign it here:\n\n${link}\n\nYou can also forward this email to the person who signs for ${row.company_name}.\n\n- The ${product} Team\n`,
        html: layout(
          product,
          `<h2>Please sign: ${esc(product)} ${esc(row.document_type)}</h2>
<p>${esc(org?.name ?? row.company_name)} asked ${esc(product)} to prepare a ${esc(title)} (${esc(row.document_type)}) for <strong>${esc(row.company_name)}</strong>.</p>
<p><a href="${esc(link)}" style="display:inline-block;background:#1d4aff;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">Review and sign</a></p>
<p>Or open this link: <a href="${esc(link)}">${esc(link)}</a></p>`,
        ),
      })
    },

    [LEGAL_JOBS.baaSignedEmail]: async (job, db) => {
      const [org] = await db.query<{ name: string }>(`SELECT name FROM organizations WHERE id = $1`, [job.payload.organizationId])
      if (!org) return
      await d.mailer.send({
        to: String(job.payload.to),
        subject: `Your ${product} BAA is signed: AI data processing is now off`,
        text: `The Business Associate Agreement for ${org.name} has been signed. To keep protected health information out of AI features, ${product} turned off AI data processing for ${org.name}. An admin can turn it back on in the organization settings.\n`,
        html: layout(product, `<p>The Business Associate Agreement for <strong>${esc(org.name)}</strong> has been signed.</p><p>To keep protected health information out of AI features, ${esc(product)} turned off AI data processing for ${esc(org.name)}. An admin can turn it back on in the organization settings.</p>`),
      })
    },
  }
}
