import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../../src/config.ts'
import { resolveSecretKey } from '../../../src/lib/secret-key.ts'

describe('legal documents settings', () => {
  it('defaults: local signing, local storage, PandaDoc’s public API', () => {
    const c = loadConfig({ SITE_URL: 'https://analytics.example.com' })
    expect(c.esignProvider).toBe('local')
    expect(c.s3.bucket).toBeNull()
    expect(c.pandadoc.baseUrl).toBe('https://api.pandadoc.com')
    expect(c.legalCountersignerEmail).toBe('legal@analytics.example.com')
    expect(c.legalDocumentsFolder).toBe('legal_documents')
  })

  it('reads every setting and names the variable when one is wrong', () => {
    const c = loadConfig({
      ESIGN_PROVIDER: 'pandadoc',
      PANDADOC_API_KEY: 'k',
      PANDADOC_API_BASE_URL: 'http://127.0.0.1:9/',
      PANDADOC_DPA_TEMPLATE_ID: 'tpl',
      S3_BUCKET: 'b',
      S3_ENDPOINT: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'false',
      OBJECT_STORAGE_LEGAL_DOCUMENTS_FOLDER: '/legal/',
    })
    expect(c.pandadoc).toMatchObject({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9', templateIds: { DPA: 'tpl', BAA: null } })
    expect(c.s3).toMatchObject({ bucket: 'b', endpoint: 'http://minio:9000', forcePathStyle: false })
    expect(c.legalDocumentsFolder).toBe('legal')
    expect(() => loadConfig({ ESIGN_PROVIDER: 'docusign' })).toThrow(ConfigError)
    expect(() => loadConfig({ ESIGN_PROVIDER: 'docusign' })).toThrow(/ESIGN_PROVIDER/)
    expect(() => loadConfig({ PANDADOC_API_BASE_URL: 'not a url' })).toThrow(/PANDADOC_API_BASE_URL/)
    expect(() => loadConfig({ S3_ENDPOINT: 'nope' })).toThrow(/S3_ENDPOINT/)
  })

  it('without SECRET_KEY, one random key is kept in the data directory and reused', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'orgd-secret-'))
    try {
      const a = resolveSecretKey({ secretKey: null, dataDir })
      expect(a).toMatch(/^[0-9a-f]{64}$/)
      expect(resolveSecretKey({ secretKey: null, dataDir })).toBe(a)
      expect(readFileSync(join(dataDir, 'secret_key'), 'utf8')).toBe(a)
      expect(resolveSecretKey({ secretKey: 'set', dataDir })).toBe('set')
    } finally {
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
