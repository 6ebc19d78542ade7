import { createTestApp, type TestApp } from './app.ts'
import { freePort } from './net.ts'
import { startSmtp, type TestSmtp } from './smtp.ts'

/** orgd as a person's browser meets it: listening on 127.0.0.1, mailing a local SMTP server, its job worker running. */
export interface ServedApp {
  t: TestApp
  smtp: TestSmtp
  /** The SITE_URL the app writes into its links and pages. */
  site: string
  close(): Promise<void>
}

export async function serveWithMail(env: Record<string, string> = {}): Promise<ServedApp> {
  const smtp = await startSmtp()
  const port = await freePort()
  const site = `http://127.0.0.1:${port}`
  const t = await createTestApp({ SITE_URL: site, SMTP_URL: smtp.url, JOB_POLL_MS: '50', ...env })
  await t.app.listen({ port, host: '127.0.0.1' })
  t.services.worker.start()
  return {
    t,
    smtp,
    site,
    close: async () => {
      await t.close()
      await smtp.close()
    },
  }
}
