/**
 * Legal documents with the PandaDoc provider: section E cases 1–8 of
 * ../shared/spec/legal-oauth-projects.md, the webhook (A.9), reconciliation, and the fault cases
 * (PandaDoc down at create, void failure, restart mid-archive), against a local server speaking
 * PandaDoc's REST API. PRODUCT_NAME is "PostHog" here so every message is PostHog's, word for word.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, createUser, expectErrorShape, login, PASSWORD, type TestApp } from '../../helpers/app.ts'
import { freePort } from '../../helpers/net.ts'
import { createServices } from '../../../src/services.ts'
import { startFakePandaDoc, type FakePandaDoc } from './fake-pandadoc.ts'
import { BAA, DPA, orgFixture, type OrgFixture } from './fixtures.ts'

const SECRET = 'pandadoc-webhook-secret'
let fake: FakePandaDoc
let t: TestApp
let site: string
let hook: string

const ENV = {
  ESIGN_PROVIDER: 'pandadoc',
  PANDADOC_WEBHOOK_SECRET: SECRET,
  PANDADOC_BAA_TEMPLATE_ID: 'tpl-baa',
  PANDADOC_DPA_TEMPLATE_ID: 'tpl-dpa',
  PRODUCT_NAME: 'PostHog',
  LEGAL_COUNTERSIGNER_EMAIL: 'sales@posthog.com',
}

beforeAll(async () => {
  fake = await startFakePandaDoc()
  const port = await freePort()
  site = `http://127.0.0.1:${port}`
  t = await createTestApp({ ...ENV, SITE_URL: site, PANDADOC_API_KEY: fake.apiKey, PANDADOC_API_BASE_URL: fake.url })
  await t.app.listen({ port, host: '127.0.0.1' })
  hook = `${site}/api/legal_documents/pandadoc/`
})
afterAll(async () => {
  await t?.close()
  await fake?.close()
})

const base = (fx: OrgFixture) => `/api/organizations/${fx.orgId}/legal_documents`
const runJobs = () => t.services.worker.drain()

async function row(id: string) {
  const [r] = await t.db.query<{ status: string; pandadoc_document_id: string; signed_pdf_stored: boolean }>(
    `SELECT status, pandadoc_document_id, signed_pdf_stored FROM legal_documents WHERE id = $1`,
    [id],
  )
  return r ?? null
}

async function createDoc(fx: OrgFixture, body: Record<string, unknown> = DPA) {
  const res = await t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: bearer(fx.adminKey), payload: body })
  expect(res.statusCode, res.body).toBe(201)
  return res.json() as { id: string; document_type: string }
}

/** Creates the document and lets the job create its PandaDoc envelope; returns both ids. */
async function withEnvelope(fx: OrgFixture, body: Record<string, unknown> = DPA) {
  const doc = await createDoc(fx, body)
  await runJobs()
  const pd = (await row(doc.id))!.pandadoc_document_id
  expect(pd).not.toBe('')
  return { id: doc.id, pd, fakeDoc: fake.docs.get(pd)! }
}

async function complete(id: string, pd: string) {
  fake.setStatus(pd, 'document.completed')
  const res = await fake.deliver(hook, SECRET, [fake.event(fake.docs.get(pd)!, 'document.completed')])
  expect(res.status).toBe(200)
  expect(await res.json()).toEqual({ status: 'ok' })
  expect((await row(id))!.status).toBe('signed')
}

describe('case 1: admin-only, reads included', () => {
  it('a member gets 403 on the list; an admin gets an empty page', async () => {
    const fx = await orgFixture(t)
    const member = await t.app.inject({ method: 'GET', url: '/api/organizations/@current/legal_documents/', headers: fx.member_.headers })
    expect(member.statusCode).toBe(403)
    expect(member.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: 'Your organization access level is insufficient.', attr: null })
    const admin = await t.app.inject({ method: 'GET', url: '/api/organizations/@current/legal_documents/', headers: fx.admin_.headers })
    expect(admin.statusCode).toBe(200)
    expect(admin.json()).toEqual({ count: 0, next: null, previous: null, results: [] })
  })
})

describe('case 2: create a DPA', () => {
  it('answers 201 with the DTO and creates the PandaDoc envelope from the template', async () => {
    const fx = await orgFixture(t)
    const before = fake.requests.length
    const res = await t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: fx.admin_.headers, payload: { ...DPA, dpa_mode: 'pretty' } })
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(Object.keys(body).sort()).toEqual(['company_name', 'created_at', 'created_by', 'document_type', 'id', 'representative_email', 'signed_pdf_stored', 'status'])
    expect(body).toMatchObject({
      document_type: 'DPA',
      company_name: 'Acme, Inc.',
      representative_email: 'ada@acme.example',
      status: 'submitted_for_signature',
      signed_pdf_stored: false,
      created_by: { first_name: 'Ada', email: fx.admin.email },
    })
    expect(body).not.toHaveProperty('company_address')
    expect(body).not.toHaveProperty('pandadoc_document_id')
    expect(new Date(body.created_at).toISOString()).toBe(body.created_at)

    // The envelope is created by a durable job, outside the request.
    expect(fake.requests.length).toBe(before)
    await runJobs()
    const created = fake.requests.slice(before).filter((r) => r.method === 'POST' && r.path === '/public/v1/documents')
    expect(created).toHaveLength(1)
    expect(created[0].authorization).toBe(`API-Key ${fake.apiKey}`)
    expect(created[0].contentType).toBe('application/json')
    expect(created[0].body).toEqual({
      name: 'PostHog DPA — Acme, Inc.',
      template_uuid: 'tpl-dpa',
      recipients: [
        { email: 'sales@posthog.com', role: 'PostHog' },
        { email: 'ada@acme.example', role: 'Client' },
      ],
      tokens: [
        { name: 'Client.Company', value: 'Acme, Inc.' },
        { name: 'Client.StreetAddress', value: '1 Analytics Way' },
      ],
      metadata: { legal_document_id: body.id, organization_id: fx.orgId, document_type: 'DPA' },
    })
    const stored = await row(body.id)
    expect(fake.docs.has(stored!.pandadoc_document_id)).toBe(true)

    const got = await t.app.inject({ method: 'GET', url: `${base(fx)}/${body.id}/`, headers: bearer(fx.adminKey) })
    expect(got.statusCode).toBe(200)
    expect(got.json()).toEqual(body)
    expect(got.body).not.toContain(stored!.pandadoc_document_id)

    const log = await t.db.query<{ activity: string; user_id: number; detail: { context: Record<string, string> } }>(
      `SELECT activity, user_id, detail FROM activity_log WHERE scope = 'LegalDocument' AND item_id = $1`,
      [body.id],
    )
    expect(log).toEqual([{ activity: 'created', user_id: fx.admin.id, detail: { context: { document_type: 'DPA', company_name: 'Acme, Inc.' } } }])
  })

  it('a member is refused before the body is looked at, and nothing is written', async () => {
    const fx = await orgFixture(t)
    const res = await t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: bearer(fx.memberKey), payload: { document_type: 'nope' } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('Your organization access level is insufficient.')
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE organization_id = $1`, [fx.orgId])
    expect(n).toBe(0)
  })

  it('lists newest first, paginated, and only this organization', async () => {
    const fx = await orgFixture(t)
    const other = await orgFixture(t)
    const dpa = await createDoc(fx)
    const baa = await createDoc(fx, BAA)
    await createDoc(other)
    await t.db.query(`UPDATE legal_documents SET created_at = created_at - interval '1 minute' WHERE id = $1`, [dpa.id])
    const page1 = await t.app.inject({ method: 'GET', url: `${base(fx)}/?limit=1`, headers: bearer(fx.ownerKey) })
    expect(page1.statusCode).toBe(200)
    expect(page1.json()).toMatchObject({ count: 2, previous: null, results: [{ id: baa.id }] })
    expect(page1.json().next).toBe(`http://localhost${base(fx)}/?limit=1&offset=1`)
    const page2 = await t.app.inject({ method: 'GET', url: `${base(fx)}/?limit=1&offset=1`, headers: bearer(fx.ownerKey) })
    expect(page2.json().results.map((r: { id: string }) => r.id)).toEqual([dpa.id])
  })
})

describe('case 3: one document per type', () => {
  it('a second DPA is a 400 naming document_type; a BAA can coexist', async () => {
    const fx = await orgFixture(t)
    await createDoc(fx)
    const again = await t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: bearer(fx.adminKey), payload: DPA })
    expect(again.statusCode).toBe(400)
    expect(again.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'Your organization already has a DPA. Contact support if you need a new one.', attr: 'document_type' })
    await createDoc(fx, BAA)
  })

  it('concurrent creates: exactly one 201, every other answer the 400', async () => {
    const fx = await orgFixture(t)
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: bearer(fx.adminKey), payload: DPA })),
    )
    const codes = answers.map((a) => a.statusCode).sort()
    expect(codes).toEqual([201, 400, 400, 400, 400, 400])
    for (const a of answers.filter((x) => x.statusCode === 400)) expect(a.json().detail).toBe('Your organization already has a DPA. Contact support if you need a new one.')
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE organization_id = $1`, [fx.orgId])
    expect(n).toBe(1)
  })

  it('the database itself refuses a second row of a type (the unique index)', async () => {
    const fx = await orgFixture(t)
    const doc = await createDoc(fx)
    const dup = t.db.query(
      `INSERT INTO legal_documents (organization_id, document_type, company_name, company_address, representative_email, provider)
       SELECT organization_id, document_type, 'x', 'y', 'z@example.com', provider FROM legal_documents WHERE id = $1`,
      [doc.id],
    )
    await expect(dup).rejects.toMatchObject({ code: '23505' })
  })
})

describe('case 4: BAA entitlement', () => {
  it('without legal_documents_baa a BAA is 403; a DPA is still fine', async () => {
    const fx = await orgFixture(t, [{ key: 'organizations_projects', name: 'Projects', limit: 1 }])
    const res = await t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: bearer(fx.adminKey), payload: BAA })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: 'A Boost, Scale, or Enterprise add-on is required to generate a BAA.', attr: null })
    await createDoc(fx, DPA)
  })
})

describe('case 5: no MSA through the API; the address is required', () => {
  it('MSA → invalid_choice; no company_address → required; other field errors', async () => {
    const fx = await orgFixture(t)
    const cases: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ ...DPA, document_type: 'MSA' }, { code: 'invalid_choice', attr: 'document_type', detail: '"MSA" is not a valid choice.' }],
      [{ ...DPA, company_address: undefined }, { code: 'required', attr: 'company_address', detail: 'This field is required.' }],
      [{ ...DPA, company_address: '   ' }, { code: 'blank', attr: 'company_address' }],
      [{ ...DPA, company_address: 'x'.repeat(513) }, { code: 'max_length', attr: 'company_address' }],
      [{ ...DPA, company_name: 'x'.repeat(256) }, { code: 'max_length', attr: 'company_name' }],
      [{ ...DPA, representative_email: 'not-an-email' }, { attr: 'representative_email', detail: 'Enter a valid email address.' }],
      [{ ...DPA, document_type: undefined }, { code: 'required', attr: 'document_type' }],
      [{ ...DPA, document_type: null }, { code: 'null', attr: 'document_type' }],
    ]
    for (const [payload, expected] of cases) {
      const res = await t.app.inject({ method: 'POST', url: `${base(fx)}/`, headers: bearer(fx.adminKey), payload })
      expect(res.statusCode, JSON.stringify(payload)).toBe(400)
      expect(res.json()).toMatchObject({ type: 'validation_error', ...expected })
    }
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE organization_id = $1`, [fx.orgId])
    expect(n).toBe(0)
  })

  it('the operator creates an MSA through the CLI service path', async () => {
    const fx = await orgFixture(t)
    const msa = await t.services.legalDocuments.createByOperator(fx.orgId, { ...DPA, document_type: 'MSA' })
    expect(msa).toMatchObject({ document_type: 'MSA', created_by: null, status: 'submitted_for_signature' })
    const list = await t.app.inject({ method: 'GET', url: `${base(fx)}/`, headers: bearer(fx.adminKey) })
    expect(list.json().results.map((r: { document_type: string }) => r.document_type)).toEqual(['MSA'])
  })
})

describe('case 6: delete and the void failure mode', () => {
  it('a sent envelope is voided (status 11), the row goes, and the type can be created again', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    fake.setStatus(pd, 'document.sent')
    const before = fake.requests.length
    const res = await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    const calls = fake.requests.slice(before).map((r) => `${r.method} ${r.path}`)
    expect(calls).toEqual([`GET /public/v1/documents/${pd}`, `PATCH /public/v1/documents/${pd}/status`])
    expect(fake.requests.at(-1)!.body).toEqual({ status: 11, notify_recipients: true })
    expect(fake.docs.get(pd)!.status).toBe('document.voided')
    expect(await row(id)).toBeNull()
    const log = await t.db.query<{ activity: string }>(`SELECT activity FROM activity_log WHERE scope = 'LegalDocument' AND item_id = $1 ORDER BY id`, [id])
    expect(log.map((l) => l.activity)).toEqual(['created', 'deleted'])
    await createDoc(fx)
  })

  it('a draft (not yet sent) envelope needs no void', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    const before = fake.requests.length
    expect((await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })).statusCode).toBe(204)
    expect(fake.requests.slice(before).map((r) => r.method)).toEqual(['GET'])
    expect(fake.docs.get(pd)!.status).toBe('document.uploaded')
  })

  it('an envelope PandaDoc no longer has counts as voided', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    fake.docs.delete(pd)
    expect((await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })).statusCode).toBe(204)
  })

  it('when the void fails: 503 legal_document_void_failed and the row stays', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    fake.setStatus(pd, 'document.viewed')
    for (const how of [500, 'reset'] as const) {
      fake.fail('void', how)
      const res = await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })
      expect(res.statusCode).toBe(503)
      expect(res.json()).toEqual({
        type: 'server_error',
        code: 'legal_document_void_failed',
        detail: "Couldn't cancel the PandaDoc envelope. Please try again, or contact PostHog support if this keeps happening.",
        attr: null,
      })
      expect(await row(id)).not.toBeNull()
    }
    // A failing status read is a failed void too.
    fake.clearFailures()
    fake.fail('status', 502)
    expect((await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })).statusCode).toBe(503)
    fake.clearFailures()
    const log = await t.db.query(`SELECT 1 FROM activity_log WHERE scope = 'LegalDocument' AND item_id = $1 AND activity = 'deleted'`, [id])
    expect(log).toHaveLength(0)
    // Once PandaDoc answers again, the retry succeeds.
    expect((await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })).statusCode).toBe(204)
    expect(fake.docs.get(pd)!.status).toBe('document.voided')
  })

  it('not-a-uuid and another organization’s id are 404', async () => {
    const fx = await orgFixture(t)
    const other = await orgFixture(t)
    const theirs = await createDoc(other)
    for (const id of ['not-a-uuid', theirs.id, '00000000-0000-0000-0000-000000000000']) {
      for (const method of ['GET', 'DELETE'] as const) {
        const res = await t.app.inject({ method, url: `${base(fx)}/${id}/`, headers: bearer(fx.adminKey) })
        expect(res.statusCode, `${method} ${id}`).toBe(404)
        expect(res.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null })
      }
    }
    expect(await row(theirs.id)).not.toBeNull()
  })

  it('deleting before the envelope exists calls nothing, and the pending create then does nothing', async () => {
    const fx = await orgFixture(t)
    const doc = await createDoc(fx)
    const before = fake.requests.length
    expect((await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${doc.id}/`, headers: bearer(fx.adminKey) })).statusCode).toBe(204)
    await runJobs()
    const mine = fake.requests.slice(before).filter((r) => (r.body as { metadata?: { legal_document_id?: string } } | null)?.metadata?.legal_document_id === doc.id)
    expect(mine).toEqual([])
  })
})

describe('case 7: signed documents cannot be deleted', () => {
  it('403 with PostHog’s words; PandaDoc is not called; the row stays', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    await complete(id, pd)
    const before = fake.requests.length
    const res = await t.app.inject({ method: 'DELETE', url: `${base(fx)}/${id}/`, headers: bearer(fx.ownerKey) })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({
      type: 'authentication_error',
      code: 'permission_denied',
      detail: "Signed documents can't be deleted from the UI. Contact PostHog support if you need to remove a signed record.",
      attr: null,
    })
    expect(fake.requests.length).toBe(before)
    expect((await row(id))!.status).toBe('signed')
  })
})

describe('case 8: download', () => {
  it('404 unsigned, 404 signed but not stored, then a fresh 302 to a 60-second URL; members 403; keys refused', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    const url = `${base(fx)}/${id}/download`
    const unsigned = await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })
    expect(unsigned.statusCode).toBe(404)
    expectErrorShape(unsigned.json())

    fake.setStatus(pd, 'document.completed')
    const res = await fake.deliver(hook, SECRET, [fake.event(fake.docs.get(pd)!, 'document.completed')])
    expect(res.status).toBe(200)
    const notStored = await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })
    expect(notStored.statusCode).toBe(404)

    await runJobs()
    expect((await row(id))!.signed_pdf_stored).toBe(true)
    const t0 = Math.floor(Date.now() / 1000)
    const ok = await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })
    expect(ok.statusCode).toBe(302)
    const location = new URL(ok.headers.location as string)
    expect(location.pathname).toBe(`/files/legal_documents/${id}.pdf`)
    const expires = Number(location.searchParams.get('expires'))
    expect(expires - t0).toBeGreaterThanOrEqual(59)
    expect(expires - t0).toBeLessThanOrEqual(61)
    const file = await fetch(location)
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toBe('application/pdf')
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="PostHog-DPA-${id}.pdf"`)
    expect(Buffer.from(await file.arrayBuffer()).equals(fake.docs.get(pd)!.pdf)).toBe(true)

    // Made fresh on each call.
    await new Promise((r) => setTimeout(r, 1100))
    const again = await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })
    expect(again.headers.location).not.toBe(ok.headers.location)

    const member = await t.app.inject({ method: 'GET', url, headers: fx.member_.headers })
    expect(member.statusCode).toBe(403)
    expect(member.json().detail).toBe('Your organization access level is insufficient.')
    const key = await t.app.inject({ method: 'GET', url, headers: bearer(fx.ownerKey) })
    expect(key.statusCode).toBe(403)
    expect(key.json().detail).toBe('This action does not support personal API key access')
    const anonymous = await t.app.inject({ method: 'GET', url })
    expect(anonymous.statusCode).toBe(401)

    // Staff without membership: allowed, still scoped by the organization in the URL.
    const staff = await createUser(t.services, { password: PASSWORD })
    await t.db.query(`UPDATE users SET is_staff = true WHERE id = $1`, [staff.id])
    const staffSession = await login(t.app, staff.email)
    expect((await t.app.inject({ method: 'GET', url, headers: staffSession.headers })).statusCode).toBe(302)
    const other = await orgFixture(t)
    expect((await t.app.inject({ method: 'GET', url: `${base(other)}/${id}/download`, headers: staffSession.headers })).statusCode).toBe(404)
    // A non-staff non-member gets the generic 403.
    expect((await t.app.inject({ method: 'GET', url: `${base(other)}/${id}/download`, headers: fx.admin_.headers })).statusCode).toBe(403)
    // Another organization's document through your own organization: 404.
    expect((await t.app.inject({ method: 'GET', url: `/api/organizations/${other.orgId}/legal_documents/${id}/download`, headers: other.admin_.headers })).statusCode).toBe(404)
    expect((await t.app.inject({ method: 'GET', url: `${base(fx)}/not-a-uuid/download`, headers: fx.admin_.headers })).statusCode).toBe(404)
  })
})

describe('webhook (A.9)', () => {
  it('document.draft sends the envelope with PostHog’s subject and message', async () => {
    const fx = await orgFixture(t)
    const { pd, fakeDoc } = await withEnvelope(fx)
    fake.setStatus(pd, 'document.draft')
    const res = await fake.deliver(hook, SECRET, fake.event(fakeDoc, 'document.draft'), { via: 'header' })
    expect(res.status).toBe(200)
    const before = fake.requests.length
    await runJobs()
    const send = fake.requests.slice(before).find((r) => r.path === `/public/v1/documents/${pd}/send`)
    expect(send?.method).toBe('POST')
    expect(send?.body).toEqual({
      subject: 'Please sign: PostHog DPA',
      message: 'Hi,\n\nPlease find attached the DPA for your review and signature. You can also forward this document to reassign it if needed.\n\n- The PostHog Team',
      silent: false,
    })
    expect(fake.docs.get(pd)!.status).toBe('document.sent')
  })

  it('document.completed signs once: a replay changes nothing and queues nothing', async () => {
    const fx = await orgFixture(t)
    const { id, pd, fakeDoc } = await withEnvelope(fx)
    await complete(id, pd)
    const jobs = async () => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE kind = 'legal.archive' AND payload->>'documentId' = $1`, [id]))[0].n
    expect(await jobs()).toBe(1)
    const replay = await fake.deliver(hook, SECRET, [fake.event(fakeDoc, 'document.completed')])
    expect(replay.status).toBe(200)
    expect(await jobs()).toBe(1)
    const signedLogs = await t.db.query(`SELECT 1 FROM activity_log WHERE scope = 'LegalDocument' AND item_id = $1 AND activity = 'signed'`, [id])
    expect(signedLogs).toHaveLength(1)
    // A draft event after signing sends nothing.
    const before = fake.requests.length
    await fake.deliver(hook, SECRET, fake.event(fakeDoc, 'document.draft'))
    await runJobs()
    expect(fake.requests.slice(before).some((r) => r.path.endsWith('/send'))).toBe(false)
  })

  it('a BAA signed turns AI data processing off and emails the owners', async () => {
    const fx = await orgFixture(t)
    await t.db.query(`UPDATE organizations SET is_ai_data_processing_approved = true WHERE id = $1`, [fx.orgId])
    const { id, pd } = await withEnvelope(fx, BAA)
    await complete(id, pd)
    const [org] = await t.db.query<{ is_ai_data_processing_approved: boolean }>(`SELECT is_ai_data_processing_approved FROM organizations WHERE id = $1`, [fx.orgId])
    expect(org.is_ai_data_processing_approved).toBe(false)
    const mails = await t.db.query<{ to: string }>(`SELECT payload->>'to' AS to FROM jobs WHERE kind = 'email.legal_baa_signed' AND payload->>'documentId' = $1`, [id])
    expect(mails.map((m) => m.to)).toEqual([fx.owner.email])
  })

  it('a wrong, missing or empty signature is a 404, and changes nothing', async () => {
    const fx = await orgFixture(t)
    const { id, fakeDoc } = await withEnvelope(fx)
    const ev = [fake.event(fakeDoc, 'document.completed')]
    const raw = JSON.stringify(ev)
    const { sign } = await import('./fake-pandadoc.ts')
    const attempts: Response[] = [
      await fake.deliver(hook, SECRET, ev, { signature: sign('wrong-secret', raw) }),
      await fake.deliver(hook, SECRET, ev, { signature: sign('wrong-secret', raw), via: 'header' }),
      // Signed over different bytes than were sent.
      await fake.deliver(hook, SECRET, ev, { signature: sign(SECRET, raw + ' ') }),
      await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw }),
      // An empty header fails even when the query carries a good signature.
      await fetch(`${hook}?signature=${sign(SECRET, raw)}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-pandadoc-signature': '' }, body: raw }),
    ]
    for (const res of attempts) {
      expect(res.status).toBe(404)
      expectErrorShape(await res.json())
    }
    expect((await row(id))!.status).toBe('submitted_for_signature')
  })

  it('an unknown document, another event or a template mismatch answers 204; bad JSON 400', async () => {
    const fx = await orgFixture(t)
    const { fakeDoc } = await withEnvelope(fx)
    const unknown = { ...fakeDoc, id: 'no-such-document' }
    expect((await fake.deliver(hook, SECRET, [fake.event(unknown, 'document.completed')])).status).toBe(204)
    expect((await fake.deliver(hook, SECRET, [{ event: 'recipient_completed', data: { id: fakeDoc.id } }])).status).toBe(204)
    expect((await fake.deliver(hook, SECRET, [fake.event({ ...fakeDoc, template_uuid: 'tpl-other' }, 'document.completed')])).status).toBe(204)
    // `data` as a list: the first element counts.
    const listData = { event: 'document_state_changed', data: [{ id: 'nobody', status: 'document.completed' }] }
    expect((await fake.deliver(hook, SECRET, listData)).status).toBe(204)
    const bad = await fake.deliver(hook, SECRET, null, { rawBody: '{not json' })
    expect(bad.status).toBe(400)
    expect((await bad.json()).detail).toBe('Invalid body.')
  })
})

describe('faults and reconciliation', () => {
  it('PandaDoc down at create: the row is kept and the create is retried until it succeeds', async () => {
    const fx = await orgFixture(t)
    fake.fail('create', 'reset')
    const doc = await createDoc(fx)
    await runJobs()
    expect((await row(doc.id))!.pandadoc_document_id).toBe('')
    const [job] = await t.db.query<{ status: string; attempts: number; last_error: string }>(
      `SELECT status, attempts, last_error FROM jobs WHERE kind = 'legal.prepare' AND payload->>'documentId' = $1`,
      [doc.id],
    )
    expect(job).toMatchObject({ status: 'queued', attempts: 1 })
    expect(job.last_error).toMatch(/PandaDoc/)
    fake.fail('create', 503)
    await new Promise((r) => setTimeout(r, 60))
    await runJobs()
    expect((await row(doc.id))!.pandadoc_document_id).toBe('')
    fake.clearFailures()
    await new Promise((r) => setTimeout(r, 120))
    await runJobs()
    const pd = (await row(doc.id))!.pandadoc_document_id
    expect(fake.docs.get(pd)?.metadata.legal_document_id).toBe(doc.id)
    // The reconciliation schedule starts with the first envelope.
    const sched = await t.db.query<{ in_s: number }>(`SELECT extract(epoch FROM run_at - now())::int AS in_s FROM jobs WHERE kind = 'legal.reconcile' AND status = 'queued'`)
    expect(sched).toHaveLength(1)
    expect(sched[0].in_s).toBeGreaterThan(0)
    expect(sched[0].in_s).toBeLessThanOrEqual(15 * 60)
  })

  it('reconciliation signs a completed envelope whose webhook was lost, and archives it', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    fake.setStatus(pd, 'document.completed')
    const r = await t.services.legalDocuments.reconcile()
    expect(r.signed).toBeGreaterThanOrEqual(1)
    expect((await row(id))!.status).toBe('signed')
    await runJobs()
    expect((await row(id))!.signed_pdf_stored).toBe(true)
  })

  it('archive failures retry, download stays 404 meanwhile; a worker dying mid-archive is taken over', async () => {
    const fx = await orgFixture(t)
    const { id, pd } = await withEnvelope(fx)
    fake.fail('download', 500)
    await complete(id, pd)
    await runJobs()
    const url = `${base(fx)}/${id}/download`
    expect((await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })).statusCode).toBe(404)
    fake.clearFailures()
    // The worker claimed the retry and died (process killed): the job is "running" with a lock that ran out.
    await t.db.query(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = now() - interval '1 second' WHERE kind = 'legal.archive' AND payload->>'documentId' = $1`,
      [id],
    )
    expect((await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })).statusCode).toBe(404)
    // A new process over the same database takes the job over.
    const restarted = createServices(t.db, t.services.config, { log: () => {} })
    expect(await restarted.worker.drain()).toBeGreaterThanOrEqual(1)
    await restarted.worker.stop()
    expect((await row(id))!.signed_pdf_stored).toBe(true)
    expect((await t.app.inject({ method: 'GET', url, headers: fx.admin_.headers })).statusCode).toBe(302)
  })
})
