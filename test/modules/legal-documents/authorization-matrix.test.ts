/**
 * Authorization matrix for every legal-documents route × every kind of caller (anonymous, an
 * unknown key, member/admin/owner keys, a non-member's key, keys without the scope, with read only,
 * restricted to another organization or to projects, sessions of each level, a non-member session
 * and a staff user without membership), plus another organization's ids and CSRF. Every expected
 * answer is written down; every non-2xx body must be exactly PostHog's error shape; refused writes
 * must change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { UserRow } from '../../../src/modules/users/store.ts'
import { signedKey } from '../../../src/modules/legal-documents/service.ts'
import { bearer, createKey, createOrg, createTestApp, createUser, expectErrorShape, login, PASSWORD, type TestApp } from '../../helpers/app.ts'
import { DPA, orgFixture, type OrgFixture } from './fixtures.ts'

type Method = 'GET' | 'POST' | 'DELETE'
type CallerId =
  | 'anonymous' | 'unknownKey' | 'memberKey' | 'adminKey' | 'ownerKey' | 'outsiderKey' | 'noScopeKey' | 'readKey' | 'otherOrgKey' | 'teamKey'
  | 'ownerSession' | 'adminSession' | 'memberSession' | 'outsiderSession' | 'staffSession'

let t: TestApp
let fx: OrgFixture
let otherOrgId: string
let theirDocId: string
const callers = {} as Record<CallerId, Record<string, string>>

const INSUFFICIENT = 'Your organization access level is insufficient.'
const GENERIC = 'You do not have permission to perform this action.'
const NO_KEYS = 'This action does not support personal API key access'
const TEAM = 'API keys with scoped projects are only supported on project-based endpoints.'

type Expect = number | [number, string]

interface Route {
  name: string
  method: Method
  /** Builds the URL; called right before each request, after `prepare`. */
  url: (docId: string) => string
  /** A fresh target for each call (writes consume it). */
  prepare: () => Promise<string>
  body?: Record<string, unknown>
  writes: boolean
  expect: Record<CallerId, Expect>
}

const base = () => `/api/organizations/${fx.orgId}/legal_documents`

async function unsignedDoc(): Promise<string> {
  await t.db.query(`DELETE FROM legal_documents WHERE organization_id = $1 AND document_type = 'DPA'`, [fx.orgId])
  const doc = await t.services.legalDocuments.createByOperator(fx.orgId, DPA as never)
  return doc.id
}

async function signedStoredDoc(): Promise<string> {
  const [existing] = await t.db.query<{ id: string }>(`SELECT id FROM legal_documents WHERE organization_id = $1 AND document_type = 'BAA'`, [fx.orgId])
  if (existing) return existing.id
  const doc = await t.services.legalDocuments.createByOperator(fx.orgId, { ...DPA, document_type: 'BAA' } as never)
  await t.db.query(`UPDATE legal_documents SET status = 'signed', signed_pdf_stored = true WHERE id = $1`, [doc.id])
  await t.services.storage.put(signedKey(t.services.config, doc.id), Buffer.from('%PDF-1.7\n%%EOF\n'), 'application/pdf')
  return doc.id
}

const keyRefusals = (ok: Expect, write: boolean): Pick<Record<CallerId, Expect>, 'anonymous' | 'unknownKey' | 'outsiderKey' | 'noScopeKey' | 'readKey' | 'otherOrgKey' | 'teamKey' | 'memberKey' | 'adminKey' | 'ownerKey'> => ({
  anonymous: [401, 'Authentication credentials were not provided.'],
  unknownKey: [401, 'Personal API key found in request Authorization header is invalid.'],
  memberKey: [403, INSUFFICIENT],
  adminKey: ok,
  ownerKey: ok,
  outsiderKey: [403, GENERIC],
  noScopeKey: [403, `API key missing required scope 'legal_document:${write ? 'write' : 'read'}'`],
  readKey: write ? [403, "API key missing required scope 'legal_document:write'"] : ok,
  otherOrgKey: [403, `API key does not have access to the requested organization: ID ${'ORG'}.`],
  teamKey: [403, TEAM],
})

const sessions = (ok: Expect): Pick<Record<CallerId, Expect>, 'ownerSession' | 'adminSession' | 'memberSession' | 'outsiderSession' | 'staffSession'> => ({
  ownerSession: ok,
  adminSession: ok,
  memberSession: [403, INSUFFICIENT],
  outsiderSession: [403, GENERIC],
  staffSession: [403, GENERIC],
})

const ROUTES: Route[] = [
  { name: 'GET legal_documents/', method: 'GET', url: () => `${base()}/`, prepare: async () => '', writes: false, expect: { ...keyRefusals(200, false), ...sessions(200) } },
  { name: 'POST legal_documents/', method: 'POST', url: () => `${base()}/`, prepare: async () => {
    await t.db.query(`DELETE FROM legal_documents WHERE organization_id = $1 AND document_type = 'DPA'`, [fx.orgId])
    return ''
  }, body: DPA, writes: true, expect: { ...keyRefusals(201, true), ...sessions(201) } },
  { name: 'GET legal_documents/:id/', method: 'GET', url: (id) => `${base()}/${id}/`, prepare: unsignedDoc, writes: false, expect: { ...keyRefusals(200, false), ...sessions(200) } },
  { name: 'DELETE legal_documents/:id/', method: 'DELETE', url: (id) => `${base()}/${id}/`, prepare: unsignedDoc, writes: true, expect: { ...keyRefusals(204, true), ...sessions(204) } },
  {
    name: 'GET legal_documents/:id/download/',
    method: 'GET',
    url: (id) => `${base()}/${id}/download/`,
    prepare: signedStoredDoc,
    writes: false,
    expect: {
      anonymous: [401, 'Authentication credentials were not provided.'],
      unknownKey: [401, 'Personal API key found in request Authorization header is invalid.'],
      memberKey: [403, NO_KEYS],
      adminKey: [403, NO_KEYS],
      ownerKey: [403, NO_KEYS],
      outsiderKey: [403, NO_KEYS],
      noScopeKey: [403, NO_KEYS],
      readKey: [403, NO_KEYS],
      otherOrgKey: [403, NO_KEYS],
      teamKey: [403, NO_KEYS],
      ownerSession: 302,
      adminSession: 302,
      memberSession: [403, INSUFFICIENT],
      outsiderSession: [403, GENERIC],
      staffSession: 302,
    },
  },
]

async function rowCount(): Promise<number> {
  const [r] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents`)
  return r.n
}

beforeAll(async () => {
  t = await createTestApp()
  fx = await orgFixture(t)
  const outsider = await createUser(t.services, { password: PASSWORD })
  const other = await createOrg(t.services, outsider, 'Other')
  otherOrgId = other.id
  const staff: UserRow = await createUser(t.services, { password: PASSWORD })
  await t.db.query(`UPDATE users SET is_staff = true WHERE id = $1`, [staff.id])
  theirDocId = (await t.services.legalDocuments.createByOperator(other.id, DPA as never)).id
  const s = t.services
  const restricted = async (scopes: string[], extra: { scoped_organizations?: string[]; scoped_teams?: number[] } = {}) => createKey(s, fx.owner, scopes, extra)
  const otherOrgKey = await restricted(['*'], { scoped_organizations: [fx.orgId] })
  await t.db.query(`UPDATE personal_api_keys SET scoped_organizations = $1 WHERE label = 'test' AND scoped_organizations IS NOT NULL AND user_id = $2`, [[otherOrgId], fx.owner.id])
  Object.assign(callers, {
    anonymous: {},
    unknownKey: bearer('phx_not_a_real_key_at_all_0123456789abcdef'),
    memberKey: bearer(fx.memberKey),
    adminKey: bearer(fx.adminKey),
    ownerKey: bearer(fx.ownerKey),
    outsiderKey: bearer(await createKey(s, outsider)),
    noScopeKey: bearer(await restricted(['project:read'])),
    readKey: bearer(await restricted(['legal_document:read'])),
    otherOrgKey: bearer(otherOrgKey),
    teamKey: bearer(await restricted(['*'], { scoped_teams: [(await t.db.query<{ id: number }>(`SELECT id FROM teams WHERE organization_id = $1 LIMIT 1`, [fx.orgId]))[0].id] })),
    ownerSession: (await login(t.app, fx.owner.email)).headers,
    adminSession: fx.admin_.headers,
    memberSession: fx.member_.headers,
    outsiderSession: (await login(t.app, outsider.email)).headers,
    staffSession: (await login(t.app, staff.email)).headers,
  })
})
afterAll(async () => t?.close())

describe.each(ROUTES)('$name', (route) => {
  it.each(Object.keys(ROUTES[0].expect) as CallerId[])('%s', async (caller) => {
    const id = await route.prepare()
    const before = await rowCount()
    const res = await t.app.inject({ method: route.method, url: route.url(id), headers: callers[caller], ...(route.body ? { payload: route.body } : {}) })
    const exp = route.expect[caller]
    const [status, detail] = Array.isArray(exp) ? exp : [exp, null]
    expect(res.statusCode, res.body).toBe(status)
    if (status >= 400) {
      const body = res.json()
      expectErrorShape(body)
      if (detail) expect(body.detail).toBe(detail.replace('ORG', fx.orgId))
      if (route.writes) expect(await rowCount()).toBe(before)
    } else if (status === 201) {
      expect(await rowCount()).toBe(before + 1)
    } else if (status === 204) {
      expect(await rowCount()).toBe(before - 1)
    } else if (status === 302) {
      expect(res.headers.location).toMatch(new RegExp(`/files/legal_documents/${id}\\.pdf\\?`))
    }
  })
})

describe('another organization’s ids and CSRF', () => {
  it('an admin of O reaching X’s document through O gets 404 on every object route', async () => {
    for (const [method, suffix] of [['GET', '/'], ['DELETE', '/'], ['GET', '/download/']] as const) {
      const res = await t.app.inject({ method, url: `${base()}/${theirDocId}${suffix}`, headers: fx.admin_.headers })
      expect(res.statusCode, `${method} ${suffix}`).toBe(404)
      expectErrorShape(res.json())
    }
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM legal_documents WHERE id = $1`, [theirDocId])
    expect(n).toBe(1)
  })

  it('an admin of O on X’s URL is a non-member: 403 for everything', async () => {
    for (const [method, url] of [
      ['GET', `/api/organizations/${otherOrgId}/legal_documents/`],
      ['GET', `/api/organizations/${otherOrgId}/legal_documents/${theirDocId}/`],
      ['DELETE', `/api/organizations/${otherOrgId}/legal_documents/${theirDocId}/`],
    ] as const) {
      const res = await t.app.inject({ method, url, headers: bearer(fx.adminKey) })
      expect(res.statusCode).toBe(403)
      expect(res.json().detail).toBe(GENERIC)
    }
  })

  it('a session write without the CSRF header is refused and writes nothing', async () => {
    await t.db.query(`DELETE FROM legal_documents WHERE organization_id = $1 AND document_type = 'DPA'`, [fx.orgId])
    const before = await rowCount()
    const { 'x-csrftoken': _, ...noCsrf } = fx.admin_.headers
    const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: noCsrf, payload: DPA })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('CSRF Failed: CSRF token missing.')
    expect(await rowCount()).toBe(before)
  })

  it('other methods are 405 after the same checks', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `${base()}/`, headers: bearer(fx.adminKey), payload: {} })
    expect(res.statusCode).toBe(405)
    const member = await t.app.inject({ method: 'PUT', url: `/api/organizations/${otherOrgId}/legal_documents/`, headers: bearer(fx.adminKey), payload: {} })
    expect(member.statusCode).toBe(403)
  })
})
