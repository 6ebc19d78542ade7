import type { Queryable } from '../../db/index.ts'

export type DocumentType = 'BAA' | 'DPA' | 'MSA'
export type LegalStatus = 'submitted_for_signature' | 'signed'

export interface LegalDocumentRow {
  id: string
  organization_id: string
  document_type: DocumentType
  company_name: string
  company_address: string
  representative_email: string
  status: LegalStatus
  provider: 'pandadoc' | 'local'
  pandadoc_document_id: string
  signed_pdf_stored: boolean
  signing_nonce: string | null
  unsigned_pdf_sha256: string | null
  signer_name: string | null
  signer_ip: string | null
  signed_at: Date | null
  created_by_id: number | null
  created_at: Date
  updated_at: Date
}

export interface LegalDocumentWithCreator extends LegalDocumentRow {
  created_by: { first_name: string; email: string } | null
}

const COLUMNS = `d.id, d.organization_id, d.document_type, d.company_name, d.company_address, d.representative_email, d.status,
  d.provider, d.pandadoc_document_id, d.signed_pdf_stored, d.signing_nonce, d.unsigned_pdf_sha256, d.signer_name, d.signer_ip,
  d.signed_at, d.created_by_id, d.created_at, d.updated_at`

// The creator joined once for a whole page (no N+1).
const WITH_CREATOR = `${COLUMNS},
  CASE WHEN u.id IS NULL THEN NULL ELSE json_build_object('first_name', u.first_name, 'email', u.email) END AS created_by`
const FROM = `legal_documents d LEFT JOIN users u ON u.id = d.created_by_id`

export interface NewLegalDocument {
  organizationId: string
  documentType: DocumentType
  companyName: string
  companyAddress: string
  representativeEmail: string
  provider: 'pandadoc' | 'local'
  signingNonce: string | null
  createdById: number | null
}

export const legalDocumentStore = {
  async page(q: Queryable, organizationId: string, limit: number, offset: number): Promise<LegalDocumentWithCreator[]> {
    return q.query<LegalDocumentWithCreator>(
      `SELECT ${WITH_CREATOR} FROM ${FROM} WHERE d.organization_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2 OFFSET $3`,
      [organizationId, limit, offset],
    )
  },

  async count(q: Queryable, organizationId: string): Promise<number> {
    const [r] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE organization_id = $1`, [organizationId])
    return r.n
  },

  async getWithCreator(q: Queryable, organizationId: string, id: string): Promise<LegalDocumentWithCreator | null> {
    const rows = await q.query<LegalDocumentWithCreator>(`SELECT ${WITH_CREATOR} FROM ${FROM} WHERE d.organization_id = $1 AND d.id = $2`, [organizationId, id])
    return rows[0] ?? null
  },

  async getInOrganization(q: Queryable, organizationId: string, id: string, forUpdate = false): Promise<LegalDocumentRow | null> {
    const rows = await q.query<LegalDocumentRow>(
      `SELECT ${COLUMNS} FROM legal_documents d WHERE d.organization_id = $1 AND d.id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
      [organizationId, id],
    )
    return rows[0] ?? null
  },

  async get(q: Queryable, id: string, forUpdate = false): Promise<LegalDocumentRow | null> {
    const rows = await q.query<LegalDocumentRow>(`SELECT ${COLUMNS} FROM legal_documents d WHERE d.id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id])
    return rows[0] ?? null
  },

  async byPandaDocId(q: Queryable, pandadocId: string): Promise<LegalDocumentRow | null> {
    if (pandadocId === '') return null
    // The repeated `<> ''` lets the planner use the partial index even for a parameterized query.
    const rows = await q.query<LegalDocumentRow>(`SELECT ${COLUMNS} FROM legal_documents d WHERE d.pandadoc_document_id = $1 AND d.pandadoc_document_id <> '' LIMIT 1`, [pandadocId])
    return rows[0] ?? null
  },

  async exists(q: Queryable, organizationId: string, type: DocumentType): Promise<boolean> {
    const rows = await q.query(`SELECT 1 FROM legal_documents WHERE organization_id = $1 AND document_type = $2`, [organizationId, type])
    return rows.length > 0
  },

  async insert(q: Queryable, n: NewLegalDocument): Promise<LegalDocumentRow> {
    const rows = await q.query<LegalDocumentRow>(
      `INSERT INTO legal_documents AS d (organization_id, document_type, company_name, company_address, representative_email, provider, signing_nonce, created_by_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [n.organizationId, n.documentType, n.companyName, n.companyAddress, n.representativeEmail, n.provider, n.signingNonce, n.createdById],
    )
    return rows[0]
  },

  async delete(q: Queryable, id: string): Promise<void> {
    await q.query(`DELETE FROM legal_documents WHERE id = $1`, [id])
  },

  /** Records PandaDoc's id once; false when the row is gone (deleted meanwhile) or already has one. */
  async setPandaDocId(q: Queryable, id: string, pandadocId: string): Promise<boolean> {
    const rows = await q.query(`UPDATE legal_documents SET pandadoc_document_id = $2, updated_at = now() WHERE id = $1 AND pandadoc_document_id = '' RETURNING id`, [id, pandadocId])
    return rows.length > 0
  },

  async setUnsignedHash(q: Queryable, id: string, hash: string): Promise<boolean> {
    const rows = await q.query(
      `UPDATE legal_documents SET unsigned_pdf_sha256 = $2, updated_at = now() WHERE id = $1 AND unsigned_pdf_sha256 IS NULL AND status = 'submitted_for_signature' RETURNING id`,
      [id, hash],
    )
    return rows.length > 0
  },

  /** The one transition to signed: conditional, so a replayed event changes nothing the second time. */
  async markSigned(q: Queryable, id: string, signer: { name: string; ip: string; at: Date; stored: boolean } | null): Promise<LegalDocumentRow | null> {
    const rows = await q.query<LegalDocumentRow>(
      `UPDATE legal_documents AS d SET status = 'signed', signed_at = coalesce($2, now()), signer_name = $3, signer_ip = $4,
              signed_pdf_stored = $5, signing_nonce = NULL, signing_claimed_until = NULL, updated_at = now()
        WHERE d.id = $1 AND d.status <> 'signed' RETURNING ${COLUMNS}`,
      [id, signer?.at ?? null, signer?.name ?? null, signer?.ip ?? null, signer?.stored ?? false],
    )
    return rows[0] ?? null
  },

  /** Takes the one signing slot of a pending local document whose nonce is still `nonce`. */
  async claimSigning(q: Queryable, id: string, nonce: string, seconds: number): Promise<boolean> {
    const rows = await q.query(
      `UPDATE legal_documents SET signing_claimed_until = now() + ($3::int * interval '1 second')
        WHERE id = $1 AND signing_nonce = $2 AND status = 'submitted_for_signature'
          AND (signing_claimed_until IS NULL OR signing_claimed_until < now())
        RETURNING id`,
      [id, nonce, seconds],
    )
    return rows.length > 0
  },

  async releaseSigning(q: Queryable, id: string): Promise<void> {
    await q.query(`UPDATE legal_documents SET signing_claimed_until = NULL WHERE id = $1`, [id])
  },

  async markStored(q: Queryable, id: string): Promise<boolean> {
    const rows = await q.query(`UPDATE legal_documents SET signed_pdf_stored = true, updated_at = now() WHERE id = $1 AND status = 'signed' RETURNING id`, [id])
    return rows.length > 0
  },

  /** Pending PandaDoc envelopes younger than `maxAgeDays`, oldest first. */
  async pendingPandaDoc(q: Queryable, maxAgeDays: number, limit: number): Promise<LegalDocumentRow[]> {
    return q.query<LegalDocumentRow>(
      `SELECT ${COLUMNS} FROM legal_documents d
        WHERE d.status = 'submitted_for_signature' AND d.provider = 'pandadoc' AND d.created_at > now() - ($1::int * interval '1 day')
          AND d.pandadoc_document_id <> ''
        ORDER BY d.created_at LIMIT $2`,
      [maxAgeDays, limit],
    )
  },

  async signedWithoutPdf(q: Queryable, limit: number): Promise<LegalDocumentRow[]> {
    return q.query<LegalDocumentRow>(`SELECT ${COLUMNS} FROM legal_documents d WHERE d.status = 'signed' AND NOT d.signed_pdf_stored ORDER BY d.created_at LIMIT $1`, [limit])
  },
}
