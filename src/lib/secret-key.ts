import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Config } from '../config.ts'

/**
 * The HMAC key for signed URLs and links. SECRET_KEY when set; otherwise a random key written once
 * to the data directory, so every process sharing that directory (and every restart) agrees on it.
 */
export function resolveSecretKey(config: Pick<Config, 'secretKey' | 'dataDir'>): string {
  if (config.secretKey) return config.secretKey
  const file = join(config.dataDir, 'secret_key')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    mkdirSync(config.dataDir, { recursive: true })
    try {
      // 'wx': two processes starting together must not each write their own key.
      writeFileSync(file, randomBytes(32).toString('hex'), { flag: 'wx', mode: 0o600 })
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err
    }
    return readFileSync(file, 'utf8').trim()
  }
}
