/**
 * The local provider without a browser: the agreement PDF and the signing link, what the page
 * refuses (bad token, no name, no consent, a link still being prepared, a second signature),
 * two signatures racing, and the operator's CLI creating an MSA.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PDFDocument } from 'pdf-lib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signingToken } from '../../../src/adapters/esign/local.ts'
import { LEGAL_JOBS } from '../../../src/modules/legal-documents/service.ts'
import { bearer, createTestApp, type TestApp } from '../../helpers/app.ts'
import { orgdEnv, runOrgd } from '../../helpers/processes.ts'
import { testDbKind } from '../../helpers/env.ts'
import { BAA, DPA, orgFixture, type OrgFixture } from './fixtures.ts'

const SECRET_KEY = 'local-signing-secret'
// A one-off CLI process opens and migrates its own database; on a busy machine that is slow.
const CLI_TIMEOUT = 150_000
let t: TestApp
let fx: OrgFixture

beforeAll(async () => {
  t = await createTestApp({ SECRET_KEY, PRODUCT_NAME: 'Acme Analytics' })
  fx = await orgFixture(t)
})
afterAll(async () => t?.close())

const form = (full_name: string, consent: boolean) => new URLSearchParams({ full_name, ...(consent ? { consent: 'yes' } : {}) }).toString()
const post = (token: string, body: string, ip = '203.0.113.7') =>
  t.app.inject({ method: 'POST', url: `/legal/sign/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': ip }, payload: body })

async function created(type: 'DPA' | 'BAA') {
  await t.db.query(`DELETE FROM legal_documents WHERE organization_id = $1 AND document_type = $2`, [fx.orgId, type])
  const res = await t.app.inject({ method: 'POST', url: `/api/organizations/${fx.orgId}/legal_documents/`, headers: bearer(fx.adminKey), payload: type === 'DPA' ? DPA : BAA })
  expect(res.statusCode).toBe(201)
  const id = res.json().id as string
  const [row] = await t.db.query<{ signing_nonce: string }>(`SELECT signing_nonce FROM legal_documents WHERE id = $1`, [id])
  return { id, token: signingToken(SECRET_KEY, id, row.signing_nonce) }
}

describe('local signing', () => {
  it('the link waits for the PDF, then shows the document; the email job carries the same link', async () => {
    const { id, token } = await created('DPA')
    const early = await t.app.inject({ method: 'GET', url: `/legal/sign/${token}` })
    expect(early.statusCode).toBe(404)
    expect(early.body).toContain('still being prepared')
    await t.services.worker.drain()
    const page = await t.app.inject({ method: 'GET', url: `/legal/sign/${token}` })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.body).toContain('<label for="full_name">Your full name</label>')
    expect(page.body).toContain('id="consent"')
    const [email] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE kind = $1 AND payload->>'documentId' = $2`, [LEGAL_JOBS.signingEmail, id])
    expect(email.n).toBe(1)
    const mail = await t.db.query<{ status: string }>(`SELECT status FROM jobs WHERE kind = $1 AND payload->>'documentId' = $2`, [LEGAL_JOBS.signingEmail, id])
    expect(mail[0].status).toBe('queued')
    await t.services.worker.drain()
    const pdf = await t.app.inject({ method: 'GET', url: `/legal/sign/${token}/document.pdf` })
    expect(pdf.statusCode).toBe(200)
    const doc = await PDFDocument.load(pdf.rawPayload)
    expect(doc.getTitle()).toBe('Acme Analytics DPA — Acme, Inc.')
    expect(doc.getPageCount()).toBeGreaterThanOrEqual(1)
  })

  it('refuses a tampered token, a missing name and a missing consent, changing nothing', async () => {
    const { id, token } = await created('BAA')
    await t.services.worker.drain()
    const tampered = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')
    expect((await t.app.inject({ method: 'GET', url: `/legal/sign/${tampered}` })).statusCode).toBe(404)
    expect((await post(tampered, form('Ada Lovelace', true))).statusCode).toBe(409)
    const noName = await post(token, form(' ', true))
    expect(noName.statusCode).toBe(400)
    expect(noName.body).toContain('Type your full name to sign.')
    expect(noName.body).toContain('aria-invalid="true"')
    const noConsent = await post(token, form('Ada Lovelace', false))
    expect(noConsent.statusCode).toBe(400)
    expect(noConsent.body).toContain('value="Ada Lovelace"')
    const [row] = await t.db.query<{ status: string }>(`SELECT status FROM legal_documents WHERE id = $1`, [id])
    expect(row.status).toBe('submitted_for_signature')
  })

  it('two signatures at once: one signs, the other is told the link is used; BAA side effects once', async () => {
    await t.db.query(`UPDATE organizations SET is_ai_data_processing_approved = true WHERE id = $1`, [fx.orgId])
    const { id, token } = await created('BAA')
    await t.services.worker.drain()
    const [a, b] = await Promise.all([post(token, form('Ada Lovelace', true)), post(token, form('Grace Hopper', true))])
    expect([a.statusCode, b.statusCode].sort()).toEqual([200, 409])
    const [row] = await t.db.query<{ status: string; signed_pdf_stored: boolean; signer_ip: string; signer_name: string }>(
      `SELECT status, signed_pdf_stored, signer_ip, signer_name FROM legal_documents WHERE id = $1`,
      [id],
    )
    expect(row).toMatchObject({ status: 'signed', signed_pdf_stored: true, signer_ip: '203.0.113.7' })
    expect((a.statusCode === 200 ? 'Ada Lovelace' : 'Grace Hopper')).toBe(row.signer_name)
    const logs = await t.db.query(`SELECT 1 FROM activity_log WHERE scope = 'LegalDocument' AND item_id = $1 AND activity = 'signed'`, [id])
    expect(logs).toHaveLength(1)
    const [org] = await t.db.query<{ is_ai_data_processing_approved: boolean }>(`SELECT is_ai_data_processing_approved FROM organizations WHERE id = $1`, [fx.orgId])
    expect(org.is_ai_data_processing_approved).toBe(false)
    const owners = await t.db.query(`SELECT 1 FROM jobs WHERE kind = $1 AND payload->>'documentId' = $2`, [LEGAL_JOBS.baaSignedEmail, id])
    expect(owners).toHaveLength(1)
    // A signed local document needs no archive job, and cannot be deleted.
    const archives = await t.db.query(`SELECT 1 FROM jobs WHERE kind = $1 AND payload->>'documentId' = $2`, [LEGAL_JOBS.archive, id])
    expect(archives).toHaveLength(0)
    expect((await t.app.inject({ method: 'DELETE', url: `/api/organizations/${fx.orgId}/legal_documents/${id}/`, headers: bearer(fx.adminKey) })).statusCode).toBe(403)
  })
})

describe('operator CLI', () => {
  it('`orgd legal-documents create --type MSA` creates an MSA the API cannot', async () => {
    // The CLI opens the database itself: a PGlite data directory of its own, or this file's PostgreSQL database.
    const dataDir = mkdtempSync(join(tmpdir(), 'orgd-cli-legal-'))
    try {
      const env = orgdEnv({ ORGD_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...(testDbKind() === 'postgres' && t.url ? { DATABASE_URL: t.url } : {}) })
      let orgId = fx.orgId
      if (testDbKind() === 'pglite') {
        const boot = await runOrgd(['bootstrap', '--email', 'op@example.com', '--password', 'a-long-password', '--organization-name', 'Operated', '--json'], env, CLI_TIMEOUT)
        expect(boot.code, boot.stderr).toBe(0)
        orgId = JSON.parse(boot.stdout).organization.id
      } else {
        await t.db.query(`DELETE FROM legal_documents WHERE organization_id = $1 AND document_type = 'MSA'`, [orgId])
      }
      const res = await runOrgd(['legal-documents', 'create', '--organization', orgId, '--type', 'msa', '--company-name', 'Acme, Inc.', '--company-address', '1 Analytics Way', '--representative-email', 'ada@acme.example', '--json'], env, CLI_TIMEOUT)
      expect(res.code, res.stderr).toBe(0)
      const doc = JSON.parse(res.stdout)
      expect(doc).toMatchObject({ document_type: 'MSA', company_name: 'Acme, Inc.', status: 'submitted_for_signature', created_by: null })
      const again = await runOrgd(['legal-documents', 'create', '--organization', orgId, '--type', 'MSA', '--company-name', 'Acme', '--company-address', 'x', '--representative-email', 'ada@acme.example'], env, CLI_TIMEOUT)
      expect(again.code).toBe(1)
      expect(again.stderr).toContain('Your organization already has a MSA.')
      const bad = await runOrgd(['legal-documents', 'create', '--organization', orgId, '--type', 'NDA', '--company-name', 'A', '--company-address', 'x', '--representative-email', 'a@b.co'], env, CLI_TIMEOUT)
      expect(bad.code).not.toBe(0)
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 4 * CLI_TIMEOUT)
})
