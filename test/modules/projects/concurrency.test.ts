/**
 * Concurrency (meaningful on PostgreSQL, where requests really overlap; on PGlite the single
 * connection serializes them and the same answers must come out):
 * - concurrent creates of one name: exactly one 201, the others PostHog's 409, never a 500;
 * - concurrent creates without a name: distinct "Default project N" names;
 * - concurrent creates at the plan limit: never more projects than the limit;
 * - concurrent PATCHes of different fields: every change survives;
 * - PATCH racing DELETE (and the deletion job): no 5xx, and the project ends up deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENEROUS_ENTITLEMENTS } from '../../../src/config.ts'
import { bearer, createKey, createOrg, createTestApp, createUser, expectErrorShape, type TestApp } from '../../helpers/app.ts'

let t: TestApp

beforeAll(async () => {
  t = await createTestApp()
})
afterAll(async () => t.close())

async function orgWithAdmin(features = GENEROUS_ENTITLEMENTS) {
  const owner = await createUser(t.services)
  const org = await createOrg(t.services, owner, 'Race')
  await t.services.organizations.setEntitlements(org.id, features)
  return { org, key: await createKey(t.services, owner) }
}

const post = (orgId: string, key: string, payload: object) => t.app.inject({ method: 'POST', url: `/api/organizations/${orgId}/projects/`, headers: bearer(key), payload })

describe('concurrent creates', () => {
  it('of one name: one 201, the rest 409 with PostHog body', async () => {
    const { org, key } = await orgWithAdmin()
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => post(org.id, key, { name: i % 2 ? 'Same Name' : '  same name ' })))
    const statuses = results.map((r) => r.statusCode).sort()
    expect(statuses.filter((s) => s === 201)).toHaveLength(1)
    expect(statuses.filter((s) => s === 409)).toHaveLength(7)
    for (const r of results.filter((x) => x.statusCode === 409)) {
      expectErrorShape(r.json())
      expect(r.json()).toMatchObject({ type: 'server_error', code: 'conflict', attr: null })
      expect(r.json().detail).toMatch(/^There is already a project called "(Same Name|same name)" in this organization\. Choose a different name\.$/)
    }
    const rows = await t.db.query(`SELECT 1 FROM projects WHERE organization_id = $1 AND lower(name) = 'same name'`, [org.id])
    expect(rows).toHaveLength(1)
  })

  it('without a name: distinct default names', async () => {
    const { org, key } = await orgWithAdmin()
    const results = await Promise.all(Array.from({ length: 6 }, () => post(org.id, key, {})))
    expect(results.map((r) => r.statusCode)).toEqual(Array(6).fill(201))
    const names = results.map((r) => r.json().name).sort()
    expect(names).toEqual(['Default project 2', 'Default project 3', 'Default project 4', 'Default project 5', 'Default project 6', 'Default project 7'])
  })

  it('at the plan limit: never more than the limit', async () => {
    const { org, key } = await orgWithAdmin(GENEROUS_ENTITLEMENTS.map((f) => (f.key === 'organizations_projects' ? { ...f, limit: 3 } : f)))
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => post(org.id, key, { name: `P${i}` })))
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(2)
    expect(results.filter((r) => r.statusCode === 403)).toHaveLength(4)
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM projects WHERE organization_id = $1`, [org.id])
    expect(n).toBe(3)
  })
})

describe('concurrent updates', () => {
  it('PATCHes of different fields all survive', async () => {
    const { org, key } = await orgWithAdmin()
    const url = `/api/organizations/${org.id}/projects/${org.projectId}/`
    const patches: Array<Record<string, unknown>> = [
      { timezone: 'Europe/Lisbon' },
      { product_description: 'described' },
      { session_recording_opt_in: true },
      { anonymize_ips: true },
      { week_start_day: 1 },
      { surveys_opt_in: true },
      { base_currency: 'EUR' },
      { name: 'Renamed concurrently' },
      { survey_config: { a: 1 } },
      { modifiers: { bounceRateDurationSeconds: 20 } },
    ]
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(patches.map((payload) => t.app.inject({ method: 'PATCH', url, headers: bearer(key), payload })))
      expect(results.map((r) => r.statusCode)).toEqual(Array(patches.length).fill(200))
    }
    const final = (await t.app.inject({ method: 'GET', url, headers: bearer(key) })).json()
    for (const p of patches) for (const [k, v] of Object.entries(p)) expect(final[k]).toEqual(v)
  })

  it('merging PATCHes of one JSON field keep every key', async () => {
    const { org, key } = await orgWithAdmin()
    const url = `/api/organizations/${org.id}/projects/${org.projectId}/`
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => t.app.inject({ method: 'PATCH', url, headers: bearer(key), payload: { survey_config: { [`k${i}`]: i } } })))
    expect(results.map((r) => r.statusCode)).toEqual(Array(8).fill(200))
    const final = (await t.app.inject({ method: 'GET', url, headers: bearer(key) })).json()
    expect(Object.keys(final.survey_config).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `k${i}`).sort())
  })

  it('PATCH racing DELETE and the deletion job: no 5xx, the project ends up deleted', async () => {
    const { org, key } = await orgWithAdmin()
    const id = (await post(org.id, key, { name: 'Racing' })).json().id
    const url = `/api/organizations/${org.id}/projects/${id}/`
    const patches = Array.from({ length: 6 }, (_, i) => t.app.inject({ method: 'PATCH', url, headers: bearer(key), payload: { product_description: `v${i}` } }))
    const del = t.app.inject({ method: 'DELETE', url, headers: bearer(key) })
    const drain = del.then(() => t.services.worker.drain())
    const results = await Promise.all([...patches, del])
    await drain
    for (const r of results) {
      expect(r.statusCode, r.body).toBeLessThan(500)
      if (r.statusCode >= 400) expectErrorShape(r.json())
    }
    expect((await del).statusCode).toBe(204)
    const late = await Promise.all(Array.from({ length: 3 }, () => t.app.inject({ method: 'PATCH', url, headers: bearer(key), payload: { product_description: 'late' } })))
    for (const r of late) expect(r.statusCode).toBe(404)
    expect(await t.db.query(`SELECT 1 FROM projects WHERE id = $1`, [id])).toHaveLength(0)
  })
})
