/**
 * Object storage: S3 against s3rver started here (upload, presigned download with the response
 * overrides, expiry), an independent SigV4 check of the presigned URL (s3rver's own checks are
 * not what production S3 does), and the local default's signed `/files/...` URLs (tampered or
 * expired → 403).
 */
import { createHash, createHmac } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { createStorage, type ObjectStorage } from '../../src/adapters/storage/index.ts'
import { createS3Storage } from '../../src/adapters/storage/s3.ts'
import { verifyFileUrl } from '../../src/adapters/storage/local.ts'
import { createTestApp, expectErrorShape, type TestApp } from '../helpers/app.ts'
import { freePort } from '../helpers/net.ts'

const BUCKET = 'orgd-test'
const ACCESS = 'S3RVER'
const SECRET = 'S3RVER'
let s3rver: S3rver
let s3dir: string
let endpoint: string
let s3: ObjectStorage

beforeAll(async () => {
  s3dir = mkdtempSync(join(tmpdir(), 'orgd-s3rver-'))
  const port = await freePort()
  s3rver = new S3rver({ port, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: BUCKET, configs: [] }] })
  await s3rver.run()
  endpoint = `http://127.0.0.1:${port}`
  s3 = createS3Storage({ bucket: BUCKET, endpoint, region: 'eu-west-1', accessKeyId: ACCESS, secretAccessKey: SECRET, forcePathStyle: true })
})
afterAll(async () => {
  await s3rver?.close()
  rmSync(s3dir, { recursive: true, force: true })
})

const pdfBytes = Buffer.from('%PDF-1.7\n% test object\n%%EOF\n')

describe('S3 storage against s3rver', () => {
  it('stores, reads back, and hands out a presigned GET with the content-type and disposition overrides', async () => {
    await s3.put('legal_documents/a.pdf', pdfBytes, 'application/pdf')
    expect((await s3.get('legal_documents/a.pdf'))?.equals(pdfBytes)).toBe(true)
    expect(await s3.get('legal_documents/missing.pdf')).toBeNull()
    const url = await s3.presignedGetUrl('legal_documents/a.pdf', { expiresInSeconds: 60, contentType: 'application/pdf', contentDisposition: 'attachment; filename="Acme-DPA-a.pdf"' })
    const res = await fetch(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/pdf')
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="Acme-DPA-a.pdf"')
    expect(Buffer.from(await res.arrayBuffer()).equals(pdfBytes)).toBe(true)
    await s3.delete('legal_documents/a.pdf')
    expect(await s3.get('legal_documents/a.pdf')).toBeNull()
  })

  it('a presigned URL stops working once it expires', async () => {
    await s3.put('legal_documents/b.pdf', pdfBytes, 'application/pdf')
    const url = await s3.presignedGetUrl('legal_documents/b.pdf', { expiresInSeconds: 1 })
    expect((await fetch(url)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 2100))
    const late = await fetch(url)
    expect(late.status).toBe(403)
    expect(await late.text()).toContain('Request has expired')
  })

  it('a write to an unreachable S3 fails instead of hanging', async () => {
    const dead = createS3Storage({ bucket: BUCKET, endpoint: `http://127.0.0.1:${await freePort()}`, region: 'eu-west-1', accessKeyId: ACCESS, secretAccessKey: SECRET, forcePathStyle: true })
    await expect(dead.put('legal_documents/c.pdf', pdfBytes, 'application/pdf')).rejects.toThrow()
  })
})

/** RFC 3986 encoding, as SigV4 canonical requests need it. */
const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest()

/** AWS Signature Version 4 for a presigned GET, computed from the URL alone (query auth, UNSIGNED-PAYLOAD). */
function expectedSignature(url: URL, secret: string): string {
  const params = [...url.searchParams.entries()].filter(([k]) => k !== 'X-Amz-Signature')
  const query = params
    .map(([k, v]) => [enc(k), enc(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const path = url.pathname.split('/').map((seg) => enc(decodeURIComponent(seg))).join('/')
  const canonical = ['GET', path, query, `host:${url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n')
  const amzDate = url.searchParams.get('X-Amz-Date')!
  const scope = url.searchParams.get('X-Amz-Credential')!.split('/').slice(1).join('/')
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
  const [date, region, service] = scope.split('/')
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request')
  return createHmac('sha256', key).update(toSign).digest('hex')
}

describe('the presigned URL itself (SigV4)', () => {
  it('carries a 60-second SigV4 signature over the key and the response overrides', async () => {
    const before = new Date()
    const url = new URL(await s3.presignedGetUrl('legal_documents/sig.pdf', { expiresInSeconds: 60, contentType: 'application/pdf', contentDisposition: 'attachment; filename="X-DPA-1.pdf"' }))
    expect(url.pathname).toBe(`/${BUCKET}/legal_documents/sig.pdf`)
    const q = url.searchParams
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256')
    expect(q.get('X-Amz-Expires')).toBe('60')
    expect(q.get('X-Amz-SignedHeaders')).toBe('host')
    expect(q.get('response-content-type')).toBe('application/pdf')
    expect(q.get('response-content-disposition')).toBe('attachment; filename="X-DPA-1.pdf"')
    const [access, date, region, service, term] = q.get('X-Amz-Credential')!.split('/')
    expect([access, region, service, term]).toEqual([ACCESS, 'eu-west-1', 's3', 'aws4_request'])
    expect(date).toBe(before.toISOString().slice(0, 10).replace(/-/g, ''))
    const signedAt = q.get('X-Amz-Date')!
    expect(signedAt).toMatch(/^\d{8}T\d{6}Z$/)
    const t = Date.UTC(+signedAt.slice(0, 4), +signedAt.slice(4, 6) - 1, +signedAt.slice(6, 8), +signedAt.slice(9, 11), +signedAt.slice(11, 13), +signedAt.slice(13, 15))
    expect(Math.abs(t - before.getTime())).toBeLessThan(5000)
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/)
    expect(q.get('X-Amz-Signature')).toBe(expectedSignature(url, SECRET))

    // Any change to what was signed changes the signature a real S3 computes.
    for (const [k, v] of [['response-content-disposition', 'inline'], ['X-Amz-Expires', '604800'], ['response-content-type', 'text/html']] as const) {
      const tampered = new URL(url)
      tampered.searchParams.set(k, v)
      expect(expectedSignature(tampered, SECRET)).not.toBe(q.get('X-Amz-Signature'))
    }
    const otherKey = new URL(url)
    otherKey.pathname = `/${BUCKET}/legal_documents/other.pdf`
    expect(expectedSignature(otherKey, SECRET)).not.toBe(q.get('X-Amz-Signature'))
    expect(expectedSignature(url, 'another-secret')).not.toBe(q.get('X-Amz-Signature'))
  })
})

describe('local storage and GET /files/...', () => {
  let t: TestApp
  let local: ObjectStorage
  beforeAll(async () => {
    t = await createTestApp({ SECRET_KEY: 'local-storage-test-secret' })
    local = t.services.storage
  })
  afterAll(async () => t?.close())

  const path = (u: string) => {
    const url = new URL(u)
    return `${url.pathname}${url.search}`
  }

  it('is the default, and serves a fresh signed URL with the overrides', async () => {
    expect(local.kind).toBe('local')
    await local.put('legal_documents/l.pdf', pdfBytes, 'application/pdf')
    const url = await local.presignedGetUrl('legal_documents/l.pdf', { expiresInSeconds: 60, contentType: 'application/pdf', contentDisposition: 'attachment; filename="orgd-DPA-l.pdf"' })
    expect(url.startsWith('http://orgd.test/files/legal_documents/l.pdf?')).toBe(true)
    const res = await t.app.inject({ method: 'GET', url: path(url) })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/pdf')
    expect(res.headers['content-disposition']).toBe('attachment; filename="orgd-DPA-l.pdf"')
    expect(res.headers['cache-control']).toBe('private, no-store')
    expect(res.rawPayload.equals(pdfBytes)).toBe(true)
  })

  it('a tampered URL is 403', async () => {
    await local.put('legal_documents/m.pdf', pdfBytes, 'application/pdf')
    await local.put('legal_documents/n.pdf', Buffer.from('secret'), 'application/pdf')
    const good = new URL(await local.presignedGetUrl('legal_documents/m.pdf', { expiresInSeconds: 60, contentType: 'application/pdf', contentDisposition: 'attachment' }))
    const variants: URL[] = []
    const set = (k: string, v: string | null) => {
      const u = new URL(good)
      if (v === null) u.searchParams.delete(k)
      else u.searchParams.set(k, v)
      variants.push(u)
    }
    set('expires', String(Number(good.searchParams.get('expires')) + 3600))
    set('ct', 'text/html')
    set('cd', 'inline')
    set('signature', good.searchParams.get('signature')!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')))
    set('signature', null)
    set('expires', null)
    const otherFile = new URL(good)
    otherFile.pathname = '/files/legal_documents/n.pdf'
    variants.push(otherFile)
    for (const u of variants) {
      const res = await t.app.inject({ method: 'GET', url: `${u.pathname}${u.search}` })
      expect(res.statusCode, u.toString()).toBe(403)
      expectErrorShape(res.json())
    }
    for (const bad of ['/files/../secret_key?expires=1&signature=x', '/files/legal_documents/%2e%2e/x?expires=1&signature=x']) {
      expect([403, 404]).toContain((await t.app.inject({ method: 'GET', url: bad })).statusCode)
    }
  })

  it('an expired URL is 403', async () => {
    await local.put('legal_documents/e.pdf', pdfBytes, 'application/pdf')
    const url = await local.presignedGetUrl('legal_documents/e.pdf', { expiresInSeconds: 1, contentType: 'application/pdf' })
    expect((await t.app.inject({ method: 'GET', url: path(url) })).statusCode).toBe(200)
    await new Promise((r) => setTimeout(r, 2100))
    const late = await t.app.inject({ method: 'GET', url: path(url) })
    expect(late.statusCode).toBe(403)
    expect(late.json().detail).toBe('This link has expired.')
    // The check itself, at a fixed clock.
    const u = new URL(url)
    const q = Object.fromEntries(u.searchParams)
    expect(verifyFileUrl('local-storage-test-secret', 'legal_documents/e.pdf', q, Number(q.expires)).ok).toBe(true)
    expect(verifyFileUrl('local-storage-test-secret', 'legal_documents/e.pdf', q, Number(q.expires) + 1)).toEqual({ ok: false, reason: 'expired' })
    expect(verifyFileUrl('another-secret', 'legal_documents/e.pdf', q, Number(q.expires))).toEqual({ ok: false, reason: 'signature' })
  })

  it('with S3 configured, storage is S3 and /files/ serves nothing', async () => {
    const config = loadConfig({ S3_BUCKET: BUCKET, S3_ENDPOINT: endpoint, S3_ACCESS_KEY_ID: ACCESS, S3_SECRET_ACCESS_KEY: SECRET, ORGD_DATA_DIR: s3dir })
    expect(config.s3).toMatchObject({ bucket: BUCKET, endpoint, forcePathStyle: true, region: 'us-east-1' })
    expect(createStorage(config, 'k').kind).toBe('s3')
  })
})
