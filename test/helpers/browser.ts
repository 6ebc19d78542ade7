import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

/** Debian's Chromium (`.ci/run` installs it when missing). */
const CHROMIUM = '/usr/bin/chromium'
// Without the background-networking flags Chromium keeps dialling Google's hosts, which this
// closed network refuses, many at a time.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Where browser tests leave their screenshots (git-ignored). */
export const SHOTS = join(process.cwd(), '.test-data')

export interface TestBrowser {
  context: BrowserContext
  page: Page
  close(): Promise<void>
}

/**
 * Chromium with a fresh profile and JavaScript turned off: orgd's pages must work without it.
 */
export async function openBrowser(viewport: { width: number; height: number }): Promise<TestBrowser> {
  mkdirSync(SHOTS, { recursive: true })
  const profileDir = mkdtempSync(join(tmpdir(), 'orgd-chromium-'))
  const context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, javaScriptEnabled: false, viewport })
  const page = context.pages()[0] ?? (await context.newPage())
  return {
    context,
    page,
    close: async () => {
      await context.close()
      rmSync(profileDir, { recursive: true, force: true })
    },
  }
}
