import type { Config } from '../../config.ts'
import { createLocalStorage } from './local.ts'
import { createS3Storage } from './s3.ts'

export interface PresignOptions {
  expiresInSeconds: number
  contentType?: string
  contentDisposition?: string
}

/** Object storage for signed PDFs: S3-compatible in production, files under the data dir by default. */
export interface ObjectStorage {
  readonly kind: 's3' | 'local'
  put(key: string, body: Buffer, contentType: string): Promise<void>
  /** The object's bytes, or null when there is no such object. */
  get(key: string): Promise<Buffer | null>
  delete(key: string): Promise<void>
  /** A URL anyone can GET until it expires, answering with the given content type and disposition. */
  presignedGetUrl(key: string, opts: PresignOptions): Promise<string>
}

export function createStorage(config: Config, secretKey: string): ObjectStorage {
  if (config.s3.bucket) return createS3Storage(config.s3 as Config['s3'] & { bucket: string })
  return createLocalStorage({ dataDir: config.dataDir, siteUrl: config.siteUrl, secretKey })
}
