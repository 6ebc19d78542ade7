/**
 * The organization OAuth application list against PostHog's published OpenAPI
 * (`PaginatedOrganizationOAuthApplicationList`, no deviations) and orgd's own `/api/schema/`.
 */
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, seedWorld, type TestApp, type World } from '../../helpers/app.ts'
import { createContract, loadOpenApi, type OpenApiDocument, POSTHOG_OPENAPI } from '../../helpers/contract.ts'
import { registerApp } from './helpers.ts'

const TEMPLATE = '/api/organizations/{organization_id}/oauth_applications/'

let t: TestApp
let w: World

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  await registerApp(t.services, w.org.id, { name: 'One', redirectUris: ['https://a.com/cb', 'https://b.com/cb'] })
  await registerApp(t.services, w.org.id, { name: '', verified: true })
})

afterAll(async () => {
  await t?.close()
})

describe('oauth_applications list contract', () => {
  it("matches PostHog's OpenAPI and orgd's own schema, at every page", async () => {
    const posthog = createContract(loadOpenApi(POSTHOG_OPENAPI))
    const doc = await t.app.inject({ method: 'GET', url: '/api/schema/' })
    const orgd = createContract(doc.json() as OpenApiDocument)
    for (const q of ['', '?limit=1', '?limit=1&offset=1', '?offset=5']) {
      const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/oauth_applications/${q}`, headers: bearer(w.keys.member) })
      expect(res.statusCode).toBe(200)
      posthog.expectMatchesOperation('GET', TEMPLATE, 200, res.json())
      orgd.expectMatchesOperation('GET', TEMPLATE, 200, res.json())
    }
    expect(posthog.componentProperties('OrganizationOAuthApplication').sort()).toEqual(['client_id', 'created', 'id', 'is_verified', 'name', 'redirect_uris_list', 'updated'])
  })
})
