/**
 * The local provider end to end, in Chromium (JavaScript off: the page must work without it):
 * the representative opens the emailed signing link, is refused without consent, signs with a
 * typed name, and an admin then downloads the signed PDF through the 302. The PDF keeps the
 * original pages, gains an audit page, and the hash on it is the unsigned PDF's.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BrowserContext, Page } from 'playwright-core'
import { openBrowser, SHOTS, type TestBrowser } from '../../helpers/browser.ts'
import { PDFDocument } from 'pdf-lib'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { sha256 } from '../../../src/adapters/esign/local.ts'
import { unsignedKey } from '../../../src/modules/legal-documents/service.ts'
import { bearer, PASSWORD, type TestApp } from '../../helpers/app.ts'
import { serveWithMail, type ServedApp } from '../../helpers/served.ts'
import { hrefs, type ReceivedMail, type TestSmtp } from '../../helpers/smtp.ts'
import { BAA, DPA, orgFixture, type OrgFixture } from './fixtures.ts'
import { infoEntry, pageText } from './pdf-text.ts'


let served: ServedApp
let smtp: TestSmtp
let t: TestApp
let fx: OrgFixture
let site: string
let browser: TestBrowser | undefined
let context: BrowserContext
let page: Page

beforeAll(async () => {
  served = await serveWithMail({ PRODUCT_NAME: 'Acme Analytics', LEGAL_COUNTERSIGNER_EMAIL: 'legal@acme-analytics.example' })
  ;({ t, smtp, site } = served)
  fx = await orgFixture(t)
  browser = await openBrowser({ width: 1000, height: 900 })
  context = browser.context
  page = browser.page
})

afterAll(async () => {
  await browser?.close()
  await served?.close()
})

beforeEach(async () => {
  await context.clearCookies()
})

async function mailTo(email: string, n = 1): Promise<ReceivedMail> {
  const deadline = Date.now() + 20_000
  while (smtp.to(email).length < n) {
    if (Date.now() > deadline) throw new Error(`no email to ${email}`)
    await sleep(25)
  }
  return smtp.to(email)[n - 1]
}

function signingLink(mail: ReceivedMail): string {
  const fromText = mail.parsed.text?.match(/https?:\/\/\S+\/legal\/sign\/\S+/)?.[0]
  expect(fromText).toBeDefined()
  expect(hrefs(mail.parsed.html)).toContain(fromText)
  return fromText!
}

describe('signing on orgd’s own page', () => {
  it('the emailed link opens the document; consent is required; the signed PDF downloads with its audit page', async () => {
    const res = await fetch(`${site}/api/organizations/${fx.orgId}/legal_documents/`, {
      method: 'POST',
      headers: { ...bearer(fx.adminKey), 'content-type': 'application/json' },
      body: JSON.stringify({ ...DPA, company_name: 'Zoë & Søn ApS', representative_email: 'signer@zoe.example' }),
    })
    expect(res.status).toBe(201)
    const doc = (await res.json()) as { id: string }

    const mail = await mailTo('signer@zoe.example')
    expect(mail.parsed.subject).toBe('Please sign: Acme Analytics DPA')
    const link = signingLink(mail)
    expect(link.startsWith(`${site}/legal/sign/${doc.id}.`)).toBe(true)

    const opened = await page.goto(link)
    expect(opened?.status()).toBe(200)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign the Data Processing Agreement')
    expect(await page.locator('main').textContent()).toContain('Zoë & Søn ApS')
    expect(await page.locator('main').textContent()).toContain('1 Analytics Way')
    expect(await page.getByRole('article', { name: 'Data Processing Agreement' }).textContent()).toContain('Provider processes personal data on behalf of Customer')
    const pdfHref = await page.getByRole('link', { name: 'Open the document (PDF)' }).getAttribute('href')
    const unsigned = await context.request.get(new URL(pdfHref!, site).toString())
    expect(unsigned.status()).toBe(200)
    expect(unsigned.headers()['content-type']).toBe('application/pdf')
    const unsignedBytes = Buffer.from(await unsigned.body())
    const [row0] = await t.db.query<{ unsigned_pdf_sha256: string }>(`SELECT unsigned_pdf_sha256 FROM legal_documents WHERE id = $1`, [doc.id])
    expect(sha256(unsignedBytes)).toBe(row0.unsigned_pdf_sha256)
    expect(await page.locator('main').textContent()).toContain(row0.unsigned_pdf_sha256)
    await page.screenshot({ path: join(SHOTS, 'legal-sign-form.png'), fullPage: true })

    // The name alone is not enough.
    await page.getByLabel('Your full name').fill('Zoë Sørensen')
    const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign the DPA' }).click()])
    expect(refused.status()).toBe(400)
    await page.waitForLoadState('load')
    expect(await page.getByRole('alert').textContent()).toBe('Confirm that you agree to sign electronically.')
    expect(await page.getByLabel('Your full name').inputValue()).toBe('Zoë Sørensen')
    expect(await page.getByRole('checkbox').getAttribute('aria-invalid')).toBe('true')
    const [mid] = await t.db.query<{ status: string }>(`SELECT status FROM legal_documents WHERE id = $1`, [doc.id])
    expect(mid.status).toBe('submitted_for_signature')

    await page.getByRole('checkbox').check()
    const [signed] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign the DPA' }).click()])
    expect(signed.status()).toBe(200)
    await page.waitForLoadState('load')
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Data Processing Agreement signed')
    expect(await page.getByRole('status').textContent()).toContain('Thank you, Zoë Sørensen.')
    await page.screenshot({ path: join(SHOTS, 'legal-signed.png'), fullPage: true })

    // The link is spent.
    const again = await page.goto(link)
    expect(again?.status()).toBe(404)
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('This document has already been signed.')
    expect(await page.locator('form').count()).toBe(0)

    // An admin downloads the signed PDF through the 302.
    const login = await context.request.post(`${site}/api/login/`, { data: { email: fx.admin.email, password: PASSWORD } })
    expect(login.status()).toBe(200)
    const listed = await context.request.get(`${site}/api/organizations/${fx.orgId}/legal_documents/${doc.id}/`)
    expect(await listed.json()).toMatchObject({ status: 'signed', signed_pdf_stored: true })
    const redirect = await context.request.get(`${site}/api/organizations/${fx.orgId}/legal_documents/${doc.id}/download/`, { maxRedirects: 0 })
    expect(redirect.status()).toBe(302)
    const location = redirect.headers()['location']
    expect(location.startsWith(`${site}/files/legal_documents/${doc.id}.pdf?`)).toBe(true)
    const file = await context.request.get(location)
    expect(file.status()).toBe(200)
    expect(file.headers()['content-type']).toBe('application/pdf')
    expect(file.headers()['content-disposition']).toBe(`attachment; filename="Acme-Analytics-DPA-${doc.id}.pdf"`)

    const signedPdf = await PDFDocument.load(await file.body())
    const original = await PDFDocument.load(unsignedBytes)
    expect(signedPdf.getPageCount()).toBe(original.getPageCount() + 1)
    const auditLines = pageText(signedPdf.getPages().at(-1)!)
    expect(auditLines).toContain('Audit trail')
    expect(auditLines).toContain(`Document: ${doc.id}`)
    expect(auditLines).toContain('Signer email: signer@zoe.example')
    expect(auditLines).toContain('Signer IP address: 127.0.0.1')
    expect(auditLines.find((l) => l.startsWith('Signed at (UTC): '))).toMatch(/^Signed at \(UTC\): \d{4}-\d{2}-\d{2}T/)
    const label = auditLines.indexOf('SHA-256 of the unsigned PDF:')
    expect(label).toBeGreaterThan(0)
    expect(auditLines[label + 1]).toBe(sha256(unsignedBytes))
    // The name is not ASCII, so it is set in the embedded font; the machine-readable record has it.
    const audit = JSON.parse(infoEntry(signedPdf, 'SignatureAudit')!)
    expect(audit).toMatchObject({ document_id: doc.id, signer_name: 'Zoë Sørensen', signer_email: 'signer@zoe.example', ip: '127.0.0.1', unsigned_sha256: sha256(unsignedBytes) })
    // The stored original is the one the hash names.
    const storedOriginal = await t.services.storage.get(unsignedKey(t.services.config, doc.id))
    expect(sha256(storedOriginal!)).toBe(audit.unsigned_sha256)
    const [row] = await t.db.query<{ signer_name: string; signer_ip: string; signing_nonce: string | null }>(`SELECT signer_name, signer_ip, signing_nonce FROM legal_documents WHERE id = $1`, [doc.id])
    expect(row).toEqual({ signer_name: 'Zoë Sørensen', signer_ip: '127.0.0.1', signing_nonce: null })
  })

  it('deleting an unsigned document voids its link', async () => {
    const res = await fetch(`${site}/api/organizations/${fx.orgId}/legal_documents/`, {
      method: 'POST',
      headers: { ...bearer(fx.adminKey), 'content-type': 'application/json' },
      body: JSON.stringify({ ...BAA, representative_email: 'void@zoe.example' }),
    })
    expect(res.status).toBe(201)
    const { id } = (await res.json()) as { id: string }
    const link = signingLink(await mailTo('void@zoe.example'))
    expect((await page.goto(link))?.status()).toBe(200)
    const del = await fetch(`${site}/api/organizations/${fx.orgId}/legal_documents/${id}/`, { method: 'DELETE', headers: bearer(fx.adminKey) })
    expect(del.status).toBe(204)
    const gone = await page.goto(link)
    expect(gone?.status()).toBe(404)
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('This signing link is not valid any more. The document may have been cancelled.')
    const post = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'full_name=Someone+Else&consent=yes' })
    expect(post.status).toBe(409)
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE id = $1`, [id])
    expect(n).toBe(0)
    // The unsigned PDF is cleaned up by its job.
    const deadline = Date.now() + 10_000
    while ((await t.services.storage.get(unsignedKey(t.services.config, id))) !== null) {
      if (Date.now() > deadline) throw new Error('unsigned PDF was not removed')
      await sleep(50)
    }
  })
})
