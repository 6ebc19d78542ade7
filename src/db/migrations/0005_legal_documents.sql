-- Legal documents (BAA, DPA, MSA) sent for e-signature through PandaDoc or orgd's own signing page.

CREATE TABLE legal_documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  document_type varchar(8) NOT NULL CHECK (document_type IN ('BAA', 'DPA', 'MSA')),
  company_name varchar(255) NOT NULL,
  company_address varchar(512) NOT NULL,
  representative_email varchar(254) NOT NULL,
  status varchar(32) NOT NULL DEFAULT 'submitted_for_signature' CHECK (status IN ('submitted_for_signature', 'signed')),
  -- Which e-signature provider owns the envelope: kept per row so changing ESIGN_PROVIDER does not
  -- strand documents already out for signature.
  provider text NOT NULL CHECK (provider IN ('pandadoc', 'local')),
  pandadoc_document_id varchar(64) NOT NULL DEFAULT '',
  signed_pdf_stored boolean NOT NULL DEFAULT false,
  -- Local provider: the signing link is derived from this nonce with SECRET_KEY; clearing it voids the link.
  signing_nonce text,
  unsigned_pdf_sha256 text,
  -- Local provider: one signature at a time; a claim that outlives a crashed request expires.
  signing_claimed_until timestamptz,
  signer_name text,
  signer_ip text,
  signed_at timestamptz,
  created_by_id integer REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- At most one document of each type per organization, under any concurrency.
CREATE UNIQUE INDEX unique_legal_document_per_org_and_type ON legal_documents (organization_id, document_type);
CREATE INDEX legal_documents_org_created ON legal_documents (organization_id, created_at DESC, id DESC);
-- Webhooks find their row by PandaDoc's id.
CREATE INDEX legal_documents_pandadoc_id ON legal_documents (pandadoc_document_id) WHERE pandadoc_document_id <> '';
-- Reconciliation walks pending PandaDoc rows oldest first, and signed rows still missing their PDF.
CREATE INDEX legal_documents_pending ON legal_documents (created_at) WHERE status = 'submitted_for_signature' AND provider = 'pandadoc';
CREATE INDEX legal_documents_unarchived ON legal_documents (created_at) WHERE status = 'signed' AND NOT signed_pdf_stored;
CREATE INDEX legal_documents_created_by ON legal_documents (created_by_id);
-- The reconciliation job schedules its next run only when none is waiting.
CREATE INDEX jobs_pending_by_kind ON jobs (kind) WHERE status IN ('queued', 'running');
