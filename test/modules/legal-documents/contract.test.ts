/**
 * Contract: legal-documents responses against PostHog's OpenAPI description
 * (`LegalDocumentDTO`, `PaginatedLegalDocumentDTOList`) and against orgd's own published document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, type TestApp } from '../../helpers/app.ts'
import { createContract, loadOpenApi, type OpenApiContract, type OpenApiDocument, POSTHOG_OPENAPI } from '../../helpers/contract.ts'
import { BAA, DPA, orgFixture, type OrgFixture } from './fixtures.ts'

const LIST = '/api/organizations/{organization_id}/legal_documents/'
const ONE = '/api/organizations/{organization_id}/legal_documents/{id}/'

let t: TestApp
let fx: OrgFixture
let posthog: OpenApiContract
let orgd: OpenApiContract

beforeAll(async () => {
  posthog = createContract(loadOpenApi(POSTHOG_OPENAPI))
  t = await createTestApp()
  fx = await orgFixture(t)
  const schema = await t.app.inject({ method: 'GET', url: '/api/schema/' })
  orgd = createContract(schema.json() as OpenApiDocument)
})
afterAll(async () => t?.close())

function both(method: 'GET' | 'POST' | 'DELETE', template: string, status: number, body: unknown): void {
  posthog.expectMatchesOperation(method, template, status, body)
  orgd.expectMatchesOperation(method, template, status, body)
}

describe('LegalDocumentDTO', () => {
  it('create, retrieve, list (with a creator and without) and delete match both documents', async () => {
    const created = await t.app.inject({ method: 'POST', url: `/api/organizations/${fx.orgId}/legal_documents/`, headers: bearer(fx.adminKey), payload: DPA })
    expect(created.statusCode).toBe(201)
    both('POST', LIST, 201, created.json())
    expect(Object.keys(created.json()).sort()).toEqual(posthog.componentProperties('LegalDocumentDTO').sort())

    // A document the operator created has no creator: `created_by` is null.
    await t.services.legalDocuments.createByOperator(fx.orgId, BAA as never)
    const one = await t.app.inject({ method: 'GET', url: `/api/organizations/${fx.orgId}/legal_documents/${created.json().id}/`, headers: bearer(fx.adminKey) })
    both('GET', ONE, 200, one.json())
    const list = await t.app.inject({ method: 'GET', url: `/api/organizations/${fx.orgId}/legal_documents/?limit=1`, headers: bearer(fx.adminKey) })
    both('GET', LIST, 200, list.json())
    const all = await t.app.inject({ method: 'GET', url: `/api/organizations/${fx.orgId}/legal_documents/`, headers: bearer(fx.adminKey) })
    expect(all.json().results.map((r: { created_by: unknown }) => r.created_by === null)).toEqual([true, false])
    both('GET', LIST, 200, all.json())

    const del = await t.app.inject({ method: 'DELETE', url: `/api/organizations/${fx.orgId}/legal_documents/${created.json().id}/`, headers: bearer(fx.adminKey) })
    expect(del.statusCode).toBe(204)
    posthog.expectMatchesOperation('DELETE', ONE, 204, '')
  })

  it('the checker really rejects a DTO that leaks provider fields or misses one', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${fx.orgId}/legal_documents/`, headers: bearer(fx.adminKey) })
    const dto = res.json().results[0]
    const { signed_pdf_stored: _, ...missing } = dto
    expect(posthog.check('GET', ONE, 200, missing).join('\n')).toMatch(/signed_pdf_stored/)
    expect(posthog.check('GET', ONE, 200, { ...dto, created_by: 'someone' }).length).toBeGreaterThan(0)
    expect(res.body).not.toContain('company_address')
    expect(res.body).not.toContain('pandadoc_document_id')
  })
})
