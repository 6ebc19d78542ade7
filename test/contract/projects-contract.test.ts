/**
 * Contract tests for the project operations: every response body is validated against PostHog's
 * OpenAPI description (`ProjectBackwardCompat`, `ProjectBackwardCompatBasic`,
 * `PaginatedProjectBackwardCompatBasicList`; /work/shared/openapi/posthog-organizations.openapi.json)
 * and against orgd's own document (`GET /api/schema/`), error answers included (each must be a
 * documented status of orgd's document). The full project carries exactly the properties PostHog's
 * schema lists, and the list items exactly the basic serializer's.
 *
 * No deviation from PostHog's document is needed for projects. PUT is not in PostHog's document
 * (it is in orgd's), nor are `/api/projects/{id}/` and the access-control endpoints: those are
 * checked against orgd's document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, seedWorld, type TestApp, type World } from '../helpers/app.ts'
import { createContract, loadOpenApi, type HttpMethod, type OpenApiContract, type OpenApiDocument, POSTHOG_OPENAPI } from '../helpers/contract.ts'

const LIST = '/api/organizations/{organization_id}/projects/'
const DETAIL = '/api/organizations/{organization_id}/projects/{id}/'
const ROOT = '/api/projects/{id}/'
const ACCESS = '/api/organizations/{organization_id}/projects/{id}/access_controls/'

let t: TestApp
let w: World
let posthog: OpenApiContract
let orgd: OpenApiContract

interface Call {
  status: number
  body: unknown
}

async function call(method: HttpMethod, url: string, key: string, payload?: unknown): Promise<Call> {
  const res = await t.app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload: payload as object }) })
  return { status: res.statusCode, body: res.body === '' ? '' : res.json() }
}

/** orgd's document names paths with `:param`-derived `{param}` and no trailing slash. */
const orgdPath = (template: string) => template.replace(/\/$/, '')

function both(method: HttpMethod, template: string, res: Call): void {
  posthog.expectMatchesOperation(method, template, res.status, res.body)
  orgd.expectMatchesOperation(method, orgdPath(template), res.status, res.body)
}

const O = () => `/api/organizations/${w.org.id}/projects`

beforeAll(async () => {
  posthog = createContract(loadOpenApi(POSTHOG_OPENAPI))
  t = await createTestApp()
  w = await seedWorld(t.services)
  const schema = await t.app.inject({ method: 'GET', url: '/api/schema/' })
  orgd = createContract(schema.json() as OpenApiDocument)
})
afterAll(async () => t?.close())

describe('projects against PostHog OpenAPI', () => {
  it('GET projects/: the paginated basic list, exactly the basic serializer fields', async () => {
    const res = await call('GET', `${O()}/?limit=1`, w.keys.member)
    expect(res.status).toBe(200)
    both('GET', LIST, res)
    const item = (res.body as { results: Array<Record<string, unknown>> }).results[0]
    expect(Object.keys(item).sort()).toEqual(posthog.componentProperties('ProjectBackwardCompatBasic').sort())
  })

  it('POST projects/: 201 with the full project, exactly the documented properties', async () => {
    const res = await call('POST', `${O()}/`, w.keys.admin, { name: 'Contract', session_recording_sample_rate: '0.5', business_model: 'b2c', week_start_day: 0 })
    expect(res.status).toBe(201)
    both('POST', LIST, res)
    expect(Object.keys(res.body as object).sort()).toEqual(posthog.componentProperties('ProjectBackwardCompat').sort())
    expect((res.body as Record<string, unknown>).session_recording_sample_rate).toBe('0.50')
  })

  it('GET and PATCH projects/:id/: the full project, with nulls and set values', async () => {
    const get = await call('GET', `${O()}/${w.org.projectId}/`, w.keys.member)
    expect(get.status).toBe(200)
    both('GET', DETAIL, get)
    const patch = await call('PATCH', `${O()}/${w.org.projectId}/`, w.keys.admin, {
      business_model: '',
      cookieless_server_hash_mode: null,
      week_start_day: 1,
      session_recording_sample_rate: 1,
      session_recording_linked_flag: { id: 3, key: 'k' },
      app_urls: ['https://a.example'],
      recording_domains: ['https://a.example'],
      person_display_name_properties: ['email'],
      tags: ['Web', 'web', ' app '],
    })
    expect(patch.status).toBe(200)
    both('PATCH', DETAIL, patch)
    expect((patch.body as Record<string, unknown>).tags).toEqual(['web', 'app'])
  })

  it('DELETE projects/:id/: 204 with no body', async () => {
    const created = await call('POST', `${O()}/`, w.keys.admin, { name: 'To delete' })
    const res = await call('DELETE', `${O()}/${(created.body as { id: number }).id}/`, w.keys.admin)
    expect(res.status).toBe(204)
    both('DELETE', DETAIL, res)
  })

  it('error answers are documented statuses of orgd and PostHog-shaped', async () => {
    const cases: Array<[HttpMethod, string, string, string, unknown]> = [
      ['GET', DETAIL, `${O()}/999999/`, w.keys.member, undefined],
      ['PATCH', DETAIL, `${O()}/${w.org.projectId}/`, w.keys.admin, { timezone: 'Nowhere' }],
      ['POST', LIST, `${O()}/`, w.keys.admin, { name: 'Contract' }],
      ['DELETE', DETAIL, `${O()}/${w.org.projectId}/`, w.keys.outsider, undefined],
      ['GET', LIST, `/api/organizations/${w.other.id}/projects/`, w.keys.member, undefined],
    ]
    for (const [method, template, url, key, payload] of cases) {
      const res = await call(method, url, key, payload)
      expect(res.status).toBeGreaterThanOrEqual(400)
      orgd.expectMatchesOperation(method, orgdPath(template), res.status, res.body)
    }
  })
})

describe("orgd's own document for the operations PostHog's does not list", () => {
  it('PUT projects/:id/, /api/projects/:id/ and access_controls', async () => {
    const put = await call('PUT', `${O()}/${w.org.projectId}/`, w.keys.admin, { product_description: 'put' })
    expect(put.status).toBe(200)
    orgd.expectMatchesOperation('PUT', orgdPath(DETAIL), 200, put.body)
    // The same schema as PostHog's PATCH answer.
    posthog.expectMatchesOperation('PATCH', DETAIL, 200, put.body)
    for (const method of ['GET', 'PATCH', 'PUT'] as const) {
      const res = await call(method, `/api/projects/${w.org.projectId}/`, w.keys.admin, method === 'GET' ? undefined : { product_description: 'root' })
      expect(res.status).toBe(200)
      orgd.expectMatchesOperation(method, orgdPath(ROOT), 200, res.body)
      posthog.expectMatchesOperation('GET', DETAIL, 200, res.body)
    }
    const acl = await call('GET', `${O()}/${w.org.projectId}/access_controls/`, w.keys.admin)
    orgd.expectMatchesOperation('GET', orgdPath(ACCESS), 200, acl.body)
    const set = await call('PUT', `${O()}/${w.org.projectId}/access_controls/`, w.keys.admin, { access_level: 'member' })
    orgd.expectMatchesOperation('PUT', orgdPath(ACCESS), 200, set.body)
    const after = await call('GET', `${O()}/${w.org.projectId}/access_controls/`, w.keys.admin)
    expect((after.body as { access_controls: unknown[] }).access_controls).toHaveLength(1)
    orgd.expectMatchesOperation('GET', orgdPath(ACCESS), 200, after.body)
  })
})
