/**
 * The signed PDF's way into S3 (s3rver) when S3 is down: the archive job retries until the PDF is
 * stored, download answers 404 meanwhile, and the 302 then points at a 60-second presigned URL.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../helpers/app.ts'
import { freePort } from '../../helpers/net.ts'
import { startFakePandaDoc, type FakePandaDoc } from './fake-pandadoc.ts'
import { DPA, orgFixture } from './fixtures.ts'

const SECRET = 'pandadoc-webhook-secret'
const BUCKET = 'legal-pdfs'
let fake: FakePandaDoc
let t: TestApp
let s3: S3rver | null = null
let s3port: number
let s3dir: string
let site: string

async function startS3(): Promise<void> {
  s3 = new S3rver({ port: s3port, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: BUCKET, configs: [] }] })
  await s3.run()
}

beforeAll(async () => {
  fake = await startFakePandaDoc()
  s3dir = mkdtempSync(join(tmpdir(), 'orgd-s3rver-'))
  s3port = await freePort()
  await startS3()
  const port = await freePort()
  site = `http://127.0.0.1:${port}`
  t = await createTestApp({
    SITE_URL: site,
    ESIGN_PROVIDER: 'pandadoc',
    PANDADOC_API_KEY: fake.apiKey,
    PANDADOC_API_BASE_URL: fake.url,
    PANDADOC_WEBHOOK_SECRET: SECRET,
    PANDADOC_DPA_TEMPLATE_ID: 'tpl-dpa',
    PRODUCT_NAME: 'Acme Analytics',
    S3_BUCKET: BUCKET,
    S3_ENDPOINT: `http://127.0.0.1:${s3port}`,
    S3_REGION: 'eu-central-1',
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    OBJECT_STORAGE_LEGAL_DOCUMENTS_FOLDER: 'legal',
  })
  await t.app.listen({ port, host: '127.0.0.1' })
})
afterAll(async () => {
  await t?.close()
  await fake?.close()
  await s3?.close()
  rmSync(s3dir, { recursive: true, force: true })
})

it('S3 down during the archive: retried until stored, 404 meanwhile, then a presigned 302', async () => {
  const fx = await orgFixture(t)
  const base = `/api/organizations/${fx.orgId}/legal_documents`
  const created = await t.app.inject({ method: 'POST', url: `${base}/`, headers: bearer(fx.adminKey), payload: DPA })
  expect(created.statusCode).toBe(201)
  const id = created.json().id as string
  await t.services.worker.drain()
  const [{ pandadoc_document_id: pd }] = await t.db.query<{ pandadoc_document_id: string }>(`SELECT pandadoc_document_id FROM legal_documents WHERE id = $1`, [id])
  fake.setStatus(pd, 'document.completed')

  await s3!.close()
  s3 = null
  const hook = await fake.deliver(`${site}/api/legal_documents/pandadoc`, SECRET, [fake.event(fake.docs.get(pd)!, 'document.completed')])
  expect(hook.status).toBe(200)
  await t.services.worker.drain()
  const [job] = await t.db.query<{ status: string; attempts: number; last_error: string }>(`SELECT status, attempts, last_error FROM jobs WHERE kind = 'legal.archive' AND payload->>'documentId' = $1`, [id])
  expect(job.status).toBe('queued')
  expect(job.attempts).toBe(1)
  expect(job.last_error).not.toBe('')
  const [r1] = await t.db.query<{ status: string; signed_pdf_stored: boolean }>(`SELECT status, signed_pdf_stored FROM legal_documents WHERE id = $1`, [id])
  expect(r1).toEqual({ status: 'signed', signed_pdf_stored: false })
  const url = `${base}/${id}/download/`
  expect((await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })).statusCode).toBe(404)

  await startS3()
  await new Promise((r) => setTimeout(r, 100))
  await t.services.worker.drain()
  const [r2] = await t.db.query<{ signed_pdf_stored: boolean }>(`SELECT signed_pdf_stored FROM legal_documents WHERE id = $1`, [id])
  expect(r2.signed_pdf_stored).toBe(true)

  const res = await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })
  expect(res.statusCode).toBe(302)
  const location = new URL(res.headers.location as string)
  expect(location.origin).toBe(`http://127.0.0.1:${s3port}`)
  expect(location.pathname).toBe(`/${BUCKET}/legal/${id}.pdf`)
  expect(location.searchParams.get('X-Amz-Expires')).toBe('60')
  expect(location.searchParams.get('response-content-type')).toBe('application/pdf')
  expect(location.searchParams.get('response-content-disposition')).toBe(`attachment; filename="Acme-Analytics-DPA-${id}.pdf"`)
  const file = await fetch(location)
  expect(file.status).toBe(200)
  expect(file.headers.get('content-disposition')).toBe(`attachment; filename="Acme-Analytics-DPA-${id}.pdf"`)
  expect(Buffer.from(await file.arrayBuffer()).equals(fake.docs.get(pd)!.pdf)).toBe(true)
})
