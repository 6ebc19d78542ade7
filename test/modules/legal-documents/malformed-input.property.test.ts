/**
 * Property tests: malformed input to every legal-documents route (and the webhook, the signing
 * page and the file route) never gives a 5xx, every JSON error has exactly PostHog's keys, and
 * nothing is half-written: the only rows that appear are the ones a 201 accounts for.
 * Seeded (FC_SEED, default fixed) so failures reproduce.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, expectErrorShape, type TestApp } from '../../helpers/app.ts'
import { DPA, orgFixture, type OrgFixture } from './fixtures.ts'
import { pct } from '../../helpers/net.ts'

const SEED = process.env.FC_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED ?? 20261129)
const RUNS = 60

let t: TestApp
let fx: OrgFixture
let docId: string

beforeAll(async () => {
  t = await createTestApp({ PANDADOC_WEBHOOK_SECRET: 'fuzz-secret' })
  fx = await orgFixture(t)
  docId = (await t.services.legalDocuments.createByOperator(fx.orgId, { ...DPA, document_type: 'MSA' } as never)).id
})
afterAll(async () => t?.close())

const nasty = fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '', ' ', "'; DROP TABLE legal_documents; --", 'x'.repeat(256), 'x'.repeat(513), 'MSA', 'baa', 'DPA ', '\u202e', 'a@b', '@', 'a@b.c\u0000')
const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(null, true, 0, -1, 1.5, 2 ** 53, [], {}, ['DPA'], { document_type: 'DPA' }),
  nasty,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: 255, max: 5000 }).map((n) => 'é'.repeat(n)),
)
const FIELDS = ['document_type', 'company_name', 'company_address', 'representative_email'] as const
const bodyArb = fc.oneof(
  fc.tuple(fc.constantFrom(...FIELDS), weird).map(([k, v]) => JSON.stringify({ ...DPA, [k]: v })),
  fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), weird, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('{', '[1,]', 'nul', '\u0000', '{"document_type":', ''),
)
const contentTypeArb = fc.constantFrom('application/json', 'application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'garbage')
const idArb = fc.oneof(
  fc.constantFrom('not-a-uuid', '%00', '..', '@current', 'null', '0', '-1', '%F0%9F%98%80', 'a'.repeat(400)),
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid().map((u) => `${u}0`),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map(pct),
)
const queryArb = fc
  .array(fc.tuple(fc.constantFrom('limit', 'offset', 'x'), fc.oneof(fc.constantFrom('-1', '0', '1e3', '99999999999999999999', 'NaN', '%00', ''), fc.string({ maxLength: 10 }).map(pct))), { maxLength: 4 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

async function count(): Promise<number> {
  const [r] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE organization_id = $1`, [fx.orgId])
  return r.n
}

function checkAnswer(status: number, contentType: string | undefined, body: string): void {
  expect(status, body).toBeLessThan(500)
  if (status >= 400 && contentType?.startsWith('application/json')) expectErrorShape(JSON.parse(body))
}

const headersFor = (session: boolean) => (session ? fx.admin_.headers : bearer(fx.adminKey))

describe('malformed input to legal-documents routes', () => {
  it('POST legal_documents/: bodies and content types', async () => {
    await fc.assert(
      fc.asyncProperty(bodyArb, contentTypeArb, fc.boolean(), async (payload, contentType, session) => {
        await t.db.query(`DELETE FROM legal_documents WHERE organization_id = $1 AND document_type = 'DPA'`, [fx.orgId])
        const before = await count()
        const res = await t.app.inject({ method: 'POST', url: `/api/organizations/${fx.orgId}/legal_documents/`, headers: { ...headersFor(session), 'content-type': contentType }, payload })
        checkAnswer(res.statusCode, res.headers['content-type'] as string | undefined, res.body)
        expect(await count()).toBe(before + (res.statusCode === 201 ? 1 : 0))
        if (res.statusCode === 201) expect(['BAA', 'DPA']).toContain(res.json().document_type)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('GET list: query strings and organization ids', async () => {
    await fc.assert(
      fc.asyncProperty(queryArb, fc.oneof(fc.constant(fx.orgId), idArb), async (query, org) => {
        const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${org}/legal_documents/?${query}`, headers: bearer(fx.adminKey) })
        checkAnswer(res.statusCode, res.headers['content-type'] as string | undefined, res.body)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('GET, DELETE and download of :id: malformed ids never reach a 5xx and delete nothing', async () => {
    await fc.assert(
      fc.asyncProperty(idArb, fc.constantFrom('GET /', 'DELETE /', 'GET /download/'), async (id, op) => {
        const [method, suffix] = op.split(' ') as ['GET' | 'DELETE', string]
        const before = await count()
        const res = await t.app.inject({ method, url: `/api/organizations/${fx.orgId}/legal_documents/${id}${suffix}`, headers: fx.admin_.headers })
        checkAnswer(res.statusCode, res.headers['content-type'] as string | undefined, res.body)
        expect(res.statusCode).not.toBe(204)
        expect(await count()).toBe(before)
      }),
      { seed: SEED, numRuns: RUNS },
    )
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE id = $1`, [docId])
    expect(n).toBe(1)
  })

  it('the webhook: unsigned or garbage bodies are 404, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(bodyArb, contentTypeArb, fc.option(fc.string({ maxLength: 70 })), async (payload, contentType, sig) => {
        const res = await t.app.inject({
          method: 'POST',
          url: `/api/legal_documents/pandadoc/${sig === null ? '' : `?signature=${pct(sig)}`}`,
          headers: { 'content-type': contentType },
          payload,
        })
        expect(res.statusCode).toBe(404)
        expectErrorShape(res.json())
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })

  it('the signing page and /files/: malformed tokens and keys are 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(idArb, bodyArb, async (token, payload) => {
        const get = await t.app.inject({ method: 'GET', url: `/legal/sign/${token}` })
        expect(get.statusCode).toBeLessThan(500)
        expect(get.statusCode).toBeGreaterThanOrEqual(400)
        const post = await t.app.inject({ method: 'POST', url: `/legal/sign/${token}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `full_name=${pct(payload)}&consent=yes` })
        expect(post.statusCode).toBeLessThan(500)
        expect(post.statusCode).toBeGreaterThanOrEqual(400)
        const file = await t.app.inject({ method: 'GET', url: `/files/legal_documents/${token}?expires=9999999999&signature=${pct(payload.slice(0, 64))}` })
        expect([403, 404]).toContain(file.statusCode)
      }),
      { seed: SEED, numRuns: RUNS },
    )
  })
})
