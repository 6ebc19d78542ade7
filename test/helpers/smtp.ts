import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server'
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser'
import type { AddressInfo } from 'node:net'

/** One message as the SMTP server received it. */
export interface ReceivedMail {
  /** RCPT TO addresses of the SMTP envelope, lower-cased. */
  envelopeTo: string[]
  /** MAIL FROM of the envelope. */
  envelopeFrom: string | null
  raw: Buffer
  parsed: ParsedMail
}

/**
 * Decides, for the n-th message the server sees (1-based, counting refused ones), whether to
 * refuse it: return a reason to answer the DATA command with a 451, or null to accept it.
 */
export type RefusePolicy = (n: number, session: SMTPServerSession) => string | null

export interface TestSmtp {
  port: number
  /** An SMTP_URL for orgd pointing at this server (no TLS: there is no certificate here). */
  url: string
  /** Accepted messages, in the order they were accepted. */
  messages: ReceivedMail[]
  /** How many DATA commands were answered so far (accepted and refused). */
  readonly attempts: number
  /** Replace the refusal policy; null accepts everything. */
  refuse: RefusePolicy | null
  /** Accepted messages whose envelope includes this address (case-insensitive). */
  to(address: string): ReceivedMail[]
  close(): Promise<void>
}

function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

/**
 * A real SMTP server on a free local port (smtp-server), without auth or TLS. Messages are parsed
 * with mailparser before the server answers 250, so once the sender's `sendMail` resolves the
 * message is already in `messages`.
 */
export async function startSmtp(opts: { refuse?: RefusePolicy | null } = {}): Promise<TestSmtp> {
  let attempts = 0
  const messages: ReceivedMail[] = []
  const state: { refuse: RefusePolicy | null } = { refuse: opts.refuse ?? null }
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 200,
    socketTimeout: 10_000,
    onData(stream, session, callback) {
      readAll(stream).then(
        async (raw) => {
          attempts += 1
          const reason = state.refuse?.(attempts, session) ?? null
          if (reason !== null) {
            callback(Object.assign(new Error(reason), { responseCode: 451 }))
            return
          }
          const parsed = await simpleParser(raw)
          messages.push({
            envelopeTo: session.envelope.rcptTo.map((a) => a.address.toLowerCase()),
            envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
            raw,
            parsed,
          })
          callback()
        },
        (err: Error) => callback(err),
      )
    },
  })
  server.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err)
    server.server.once('error', onError)
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', onError)
      resolve()
    })
  })
  const port = (server.server.address() as AddressInfo).port
  return {
    port,
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    messages,
    get attempts() {
      return attempts
    },
    get refuse() {
      return state.refuse
    },
    set refuse(p: RefusePolicy | null) {
      state.refuse = p
    },
    to(address: string) {
      const a = address.toLowerCase()
      return messages.filter((m) => m.envelopeTo.includes(a))
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Every address in a parsed To/Cc/Reply-To header, lower-cased. */
export function addresses(field: AddressObject | AddressObject[] | undefined): string[] {
  if (!field) return []
  const list = Array.isArray(field) ? field : [field]
  return list.flatMap((o) => o.value.map((v) => (v.address ?? '').toLowerCase()))
}

/** The href of every link in an HTML body. */
export function hrefs(html: string | false | undefined): string[] {
  if (!html) return []
  return [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1].replace(/&amp;/g, '&'))
}
