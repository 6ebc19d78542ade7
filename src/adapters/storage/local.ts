import { createHmac, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { safeEqual } from '../../lib/crypto.ts'
import type { ObjectStorage } from './index.ts'

/** Keys are paths of safe segments: no traversal out of the storage directory, ever. */
export function isSafeKey(key: string): boolean {
  return key.length > 0 && key.length <= 512 && key.split('/').every((seg) => /^[A-Za-z0-9._-]+$/.test(seg) && seg !== '.' && seg !== '..')
}

export interface SignedFileParams {
  key: string
  expires: number
  contentType: string
  contentDisposition: string
}

/** The HMAC over everything the URL promises: the key, the expiry and the response headers. */
export function fileSignature(secretKey: string, p: SignedFileParams): string {
  return createHmac('sha256', secretKey).update(`files\n${p.key}\n${p.expires}\n${p.contentType}\n${p.contentDisposition}`).digest('hex')
}

export type FileCheck = { ok: true; params: SignedFileParams } | { ok: false; reason: 'signature' | 'expired' }

/** Verifies a `/files/<key>?expires=&ct=&cd=&signature=` request. */
export function verifyFileUrl(secretKey: string, key: string, query: Record<string, unknown>, nowSeconds = Math.floor(Date.now() / 1000)): FileCheck {
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  const expiresRaw = str(query.expires)
  const signature = str(query.signature)
  const params: SignedFileParams = { key, expires: Number(expiresRaw), contentType: str(query.ct) ?? '', contentDisposition: str(query.cd) ?? '' }
  if (!isSafeKey(key) || !expiresRaw || !/^\d{1,12}$/.test(expiresRaw) || !signature) return { ok: false, reason: 'signature' }
  if (!safeEqual(signature, fileSignature(secretKey, params))) return { ok: false, reason: 'signature' }
  if (params.expires < nowSeconds) return { ok: false, reason: 'expired' }
  return { ok: true, params }
}

/** Files under `<dataDir>/objects`, handed out through orgd's own `/files/...` route with signed, expiring URLs. */
export function createLocalStorage(opts: { dataDir: string; siteUrl: string; secretKey: string }): ObjectStorage & { pathOf(key: string): string } {
  const root = resolve(opts.dataDir, 'objects')
  const pathOf = (key: string) => {
    if (!isSafeKey(key)) throw new Error(`invalid storage key "${key}"`)
    const p = resolve(root, ...key.split('/'))
    if (!p.startsWith(root + sep)) throw new Error(`invalid storage key "${key}"`)
    return p
  }
  return {
    kind: 'local',
    pathOf,
    async put(key, body) {
      const path = pathOf(key)
      await mkdir(dirname(path), { recursive: true })
      // Write then rename: a reader never sees half a PDF, and a crash leaves no partial object.
      const tmp = `${path}.${randomBytes(8).toString('hex')}.tmp`
      await writeFile(tmp, body)
      await rename(tmp, path)
    },
    async get(key) {
      try {
        return await readFile(pathOf(key))
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return null
        throw err
      }
    },
    async delete(key) {
      await rm(pathOf(key), { force: true })
    },
    async presignedGetUrl(key, o) {
      const params: SignedFileParams = {
        key,
        expires: Math.floor(Date.now() / 1000) + o.expiresInSeconds,
        contentType: o.contentType ?? 'application/octet-stream',
        contentDisposition: o.contentDisposition ?? '',
      }
      const url = new URL(`${opts.siteUrl}/files/${key.split('/').map(encodeURIComponent).join('/')}`)
      url.searchParams.set('expires', String(params.expires))
      url.searchParams.set('ct', params.contentType)
      if (params.contentDisposition) url.searchParams.set('cd', params.contentDisposition)
      url.searchParams.set('signature', fileSignature(opts.secretKey, params))
      return url.toString()
    },
  }
}

export const localObjectPath = (dataDir: string, key: string) => join(dataDir, 'objects', ...key.split('/'))
