/**
 * A local HTTP server speaking PandaDoc's public REST API for the calls orgd makes
 * (https://developers.pandadoc.com/reference): the same paths, the `Authorization: API-Key …`
 * header, JSON bodies and status codes, with PandaDoc's document lifecycle
 * (uploaded → draft → sent → viewed → completed, or voided). It can fail on demand, and it sends
 * webhooks signed as PandaDoc does (HMAC-SHA256 of the raw body, hex, `?signature=`).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { PDFDocument, StandardFonts } from 'pdf-lib'

export interface FakeDoc {
  id: string
  name: string
  status: string
  template_uuid: string
  recipients: Array<{ email: string; role: string }>
  tokens: Array<{ name: string; value: string }>
  metadata: Record<string, string>
  pdf: Buffer
}

export interface SeenRequest {
  method: string
  path: string
  authorization: string | undefined
  contentType: string | undefined
  body: unknown
}

/** Which call to break: `reset` drops the connection, a number answers that status. */
export type Failure = number | 'reset'
export type Operation = 'create' | 'status' | 'send' | 'void' | 'download'

const STATUS_CODES: Record<number, string> = { 11: 'document.voided' }

export interface FakePandaDoc {
  url: string
  apiKey: string
  docs: Map<string, FakeDoc>
  requests: SeenRequest[]
  fail(op: Operation, how: Failure, times?: number): void
  clearFailures(): void
  setStatus(id: string, status: string): void
  /** POSTs a webhook to `target`, signed with `secret` (or a given signature), as PandaDoc does. */
  deliver(target: string, secret: string, body: unknown, opts?: { via?: 'header' | 'query'; signature?: string; rawBody?: string }): Promise<Response>
  event(doc: FakeDoc, status: string): Record<string, unknown>
  close(): Promise<void>
}

async function samplePdf(title: string): Promise<Buffer> {
  const pdf = await PDFDocument.create()
  const page = pdf.addPage()
  page.drawText(`Completed: ${title}`, { x: 50, y: 700, size: 14, font: await pdf.embedFont(StandardFonts.Helvetica) })
  return Buffer.from(await pdf.save())
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

export const sign = (secret: string, raw: string) => createHmac('sha256', secret).update(raw).digest('hex')

export async function startFakePandaDoc(apiKey = 'pd-test-key'): Promise<FakePandaDoc> {
  const docs = new Map<string, FakeDoc>()
  const requests: SeenRequest[] = []
  const failures = new Map<Operation, { how: Failure; times: number }>()
  const sockets = new Set<Socket>()

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  function broken(op: Operation, res: ServerResponse): boolean {
    const f = failures.get(op)
    if (!f || f.times === 0) return false
    f.times -= 1
    if (f.how === 'reset') res.socket?.destroy()
    else json(res, f.how, { type: 'request_error', detail: `injected failure of ${op}` })
    return true
  }

  const server = createServer(async (req, res) => {
    const raw = await readBody(req)
    const url = new URL(req.url ?? '/', 'http://fake')
    let body: unknown = null
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'))
      } catch {
        return json(res, 400, { type: 'request_error', detail: 'JSON parse error' })
      }
    }
    requests.push({ method: req.method ?? '', path: url.pathname, authorization: req.headers.authorization, contentType: req.headers['content-type'], body })
    if (req.headers.authorization !== `API-Key ${apiKey}`) return json(res, 401, { type: 'authorization_error', detail: 'Authentication credentials were not provided.' })

    const m = /^\/public\/v1\/documents(?:\/([^/]+))?(?:\/(send|status|download))?\/?$/.exec(url.pathname)
    if (!m) return json(res, 404, { type: 'not_found', detail: 'Not found' })
    const [, id, action] = m
    if (!id && req.method === 'POST') {
      if (broken('create', res)) return
      const b = body as Partial<FakeDoc> | null
      if (!b || typeof b.name !== 'string' || typeof b.template_uuid !== 'string' || !Array.isArray(b.recipients)) {
        return json(res, 400, { type: 'request_error', detail: 'name, template_uuid and recipients are required' })
      }
      const doc: FakeDoc = {
        id: randomBytes(11).toString('base64url'),
        name: b.name,
        status: 'document.uploaded',
        template_uuid: b.template_uuid,
        recipients: b.recipients,
        tokens: b.tokens ?? [],
        metadata: b.metadata ?? {},
        pdf: await samplePdf(b.name),
      }
      docs.set(doc.id, doc)
      return json(res, 201, { id: doc.id, name: doc.name, status: doc.status, date_created: new Date().toISOString(), uuid: doc.id })
    }
    const doc = id ? docs.get(id) : undefined
    if (!action && req.method === 'GET') {
      if (broken('status', res)) return
      if (!doc) return json(res, 404, { type: 'request_error', detail: 'Not found' })
      return json(res, 200, { id: doc.id, name: doc.name, status: doc.status, template: { id: doc.template_uuid }, metadata: doc.metadata })
    }
    if (action === 'send' && req.method === 'POST') {
      if (broken('send', res)) return
      if (!doc) return json(res, 404, { type: 'request_error', detail: 'Not found' })
      if (doc.status !== 'document.draft') return json(res, 400, { type: 'request_error', detail: `Document is in ${doc.status} status` })
      doc.status = 'document.sent'
      return json(res, 200, { id: doc.id, name: doc.name, status: doc.status })
    }
    if (action === 'status' && req.method === 'PATCH') {
      if (broken('void', res)) return
      if (!doc) return json(res, 404, { type: 'request_error', detail: 'Not found' })
      const code = (body as { status?: unknown } | null)?.status
      if (typeof code !== 'number' || !STATUS_CODES[code]) return json(res, 400, { type: 'request_error', detail: 'Invalid status' })
      doc.status = STATUS_CODES[code]
      res.writeHead(204)
      return res.end()
    }
    if (action === 'download' && req.method === 'GET') {
      if (broken('download', res)) return
      if (!doc) return json(res, 404, { type: 'request_error', detail: 'Not found' })
      if (doc.status !== 'document.completed') return json(res, 409, { type: 'request_error', detail: 'Document is not completed' })
      res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': doc.pdf.length })
      return res.end(doc.pdf)
    }
    return json(res, 405, { type: 'request_error', detail: 'Method not allowed' })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    docs,
    requests,
    fail(op, how, times = Number.POSITIVE_INFINITY) {
      failures.set(op, { how, times })
    },
    clearFailures() {
      failures.clear()
    },
    setStatus(id, status) {
      const d = docs.get(id)
      if (!d) throw new Error(`no fake document ${id}`)
      d.status = status
    },
    event(doc, status) {
      return {
        event: 'document_state_changed',
        data: { id: doc.id, name: doc.name, status, template: { id: doc.template_uuid, name: 'template' }, metadata: doc.metadata, date_created: new Date().toISOString() },
      }
    },
    async deliver(target, secret, body, opts = {}) {
      const raw = opts.rawBody ?? JSON.stringify(body)
      const signature = opts.signature ?? sign(secret, raw)
      const via = opts.via ?? 'query'
      const url = via === 'query' ? `${target}?signature=${encodeURIComponent(signature)}` : target
      return fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(via === 'header' ? { 'x-pandadoc-signature': signature } : {}) },
        body: raw,
      })
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
