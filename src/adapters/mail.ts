import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import nodemailer from 'nodemailer'

export interface MailMessage {
  to: string
  subject: string
  html: string
  text: string
  replyTo?: string
}

/** Where email goes: SMTP in production, `.eml` files in the embedded default. */
export interface Mailer {
  readonly kind: 'smtp' | 'file'
  send(message: MailMessage): Promise<{ messageId: string }>
  close(): void
}

export interface MailerOptions {
  smtpUrl: string | null
  from: string
  dataDir: string
  log?: (msg: string) => void
}

// Slow or dead SMTP servers must fail a job attempt, not hang a worker.
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 }

export function createMailer(opts: MailerOptions): Mailer {
  if (opts.smtpUrl) {
    const url = new URL(opts.smtpUrl)
    const transport = nodemailer.createTransport({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)),
      secure: url.protocol === 'smtps:',
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      // Local test servers and internal relays often have no certificate worth checking.
      ignoreTLS: url.searchParams.get('ignoreTLS') === 'true',
      tls: url.searchParams.get('rejectUnauthorized') === 'false' ? { rejectUnauthorized: false } : undefined,
      ...SMTP_TIMEOUTS,
      // The worker sends a claimed batch at once: reuse a few connections instead of one
      // TCP + SMTP handshake per message.
      pool: true,
      maxConnections: 5,
      maxMessages: 100,
    })
    return {
      kind: 'smtp',
      async send(m) {
        const info = await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, html: m.html, text: m.text, replyTo: m.replyTo })
        return { messageId: info.messageId }
      },
      close: () => transport.close(),
    }
  }
  const dir = join(opts.dataDir, 'mail')
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  return {
    kind: 'file',
    async send(m) {
      const info = await transport.sendMail({ from: opts.from, to: m.to, subject: m.subject, html: m.html, text: m.text, replyTo: m.replyTo })
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${info.messageId.replace(/[^\w.-]/g, '')}.eml`)
      writeFileSync(file, info.message as Buffer)
      opts.log?.(`email to ${m.to} ("${m.subject}") written to ${file}`)
      return { messageId: info.messageId }
    },
    close: () => transport.close(),
  }
}
