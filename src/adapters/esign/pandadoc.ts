/**
 * PandaDoc's REST API (https://developers.pandadoc.com/reference): the few calls legal documents
 * need, with PandaDoc's own paths, `Authorization: API-Key …` header and JSON bodies.
 */
export class PandaDocError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
  ) {
    super(message)
  }
}

/** No API key: every call fails as PandaDoc being unreachable would. */
export class PandaDocNotConfigured extends PandaDocError {}

export interface PandaDocRecipient {
  email: string
  role: string
}

export interface CreateFromTemplate {
  name: string
  template_uuid: string
  recipients: PandaDocRecipient[]
  tokens: Array<{ name: string; value: string }>
  metadata: Record<string, string>
}

export interface PandaDocDocument {
  id: string
  status: string
  name?: string
}

/** PandaDoc's numeric status code for `document.voided`, as PATCH …/status takes it. */
export const PANDADOC_STATUS_VOIDED = 11

export class PandaDocClient {
  constructor(
    private readonly opts: { apiKey: string | null; baseUrl: string; timeoutMs?: number },
  ) {}

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    if (!this.opts.apiKey) throw new PandaDocNotConfigured('PANDADOC_API_KEY is not set')
    let res: Response
    try {
      res = await fetch(`${this.opts.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `API-Key ${this.opts.apiKey}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      })
    } catch (err) {
      throw new PandaDocError(`PandaDoc ${method} ${path} failed: ${err instanceof Error ? err.message : String(err)}`)
    }
    return res
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = await res.text().catch(() => '')
    throw new PandaDocError(`PandaDoc ${what} answered ${res.status}: ${text.slice(0, 300)}`, res.status)
  }

  async createFromTemplate(input: CreateFromTemplate): Promise<PandaDocDocument> {
    const res = await this.request('POST', '/public/v1/documents', input)
    if (!res.ok) return this.fail(res, 'create document')
    const doc = (await res.json()) as PandaDocDocument
    if (typeof doc.id !== 'string' || doc.id === '') throw new PandaDocError('PandaDoc create document answered without an id', res.status)
    return doc
  }

  async send(id: string, input: { subject: string; message: string; silent: boolean }): Promise<void> {
    const res = await this.request('POST', `/public/v1/documents/${encodeURIComponent(id)}/send`, input)
    if (!res.ok) return this.fail(res, 'send document')
    await res.body?.cancel()
  }

  /** The document's status, or null when PandaDoc no longer has it. */
  async status(id: string): Promise<PandaDocDocument | null> {
    const res = await this.request('GET', `/public/v1/documents/${encodeURIComponent(id)}`)
    if (res.status === 404) {
      await res.body?.cancel()
      return null
    }
    if (!res.ok) return this.fail(res, 'document status')
    return (await res.json()) as PandaDocDocument
  }

  /**
   * Voids a document that can still be signed (sent or viewed). Gone already, or in any other
   * state, counts as done. Anything else throws, so the caller keeps its row.
   */
  async void(id: string): Promise<'voided' | 'not_needed'> {
    const doc = await this.status(id)
    if (!doc) return 'not_needed'
    if (doc.status !== 'document.sent' && doc.status !== 'document.viewed') return 'not_needed'
    const res = await this.request('PATCH', `/public/v1/documents/${encodeURIComponent(id)}/status`, { status: PANDADOC_STATUS_VOIDED, notify_recipients: true })
    if (res.status === 404) {
      await res.body?.cancel()
      return 'not_needed'
    }
    if (!res.ok) return this.fail(res, 'void document')
    await res.body?.cancel()
    return 'voided'
  }

  async download(id: string): Promise<Buffer> {
    const res = await this.request('GET', `/public/v1/documents/${encodeURIComponent(id)}/download`)
    if (!res.ok) return this.fail(res, 'download document')
    const bytes = Buffer.from(await res.arrayBuffer())
    if (bytes.length === 0) throw new PandaDocError('PandaDoc download answered an empty body', res.status)
    return bytes
  }
}
