/**
 * OAuth applications: spec legal-oauth-projects.md B.1–B.3 and case 9 of section E, plus the
 * redirect-URI rules as a table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redirectUriProblem } from '../../../src/modules/oauth/redirect-uris.ts'
import { bearer, createKey, expectErrorShape, login, seedWorld, createTestApp, type Session, type TestApp, type World } from '../../helpers/app.ts'
import { registerApp, type RegisteredApp } from './helpers.ts'

const SEVEN = ['client_id', 'created', 'id', 'is_verified', 'name', 'redirect_uris_list', 'updated']

let t: TestApp
let w: World
let a1: RegisteredApp
let a2: RegisteredApp
let foreign: RegisteredApp
let memberSession: Session

const list = (org = w.org.id) => `/api/organizations/${org}/oauth_applications/`

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  a1 = await registerApp(t.services, w.org.id, { name: 'A1', redirectUris: ['https://a.com/cb', 'https://b.com/cb'] })
  a2 = await registerApp(t.services, w.org.id, { name: 'A2', verified: true })
  // Make A1 clearly older than A2, whatever the clock resolution.
  await t.db.query(`UPDATE oauth_applications SET created = now() - interval '1 hour' WHERE id = $1`, [a1.id])
  foreign = await registerApp(t.services, w.other.id, { name: 'Elsewhere' })
  memberSession = await login(t.app, w.member.email)
})

afterAll(async () => {
  await t?.close()
})

describe('case 9: GET oauth_applications/ as a member', () => {
  it('lists the organization\'s apps newest first, seven fields each', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/organizations/@current/oauth_applications/', headers: memberSession.headers })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.count).toBe(2)
    expect(body.next).toBeNull()
    expect(body.previous).toBeNull()
    expect(body.results.map((r: { id: string }) => r.id)).toEqual([a2.id, a1.id])
    for (const r of body.results) expect(Object.keys(r).sort()).toEqual(SEVEN)
    const first = body.results[1]
    expect(first).toMatchObject({ name: 'A1', client_id: a1.client_id, is_verified: false, redirect_uris_list: ['https://a.com/cb', 'https://b.com/cb'] })
    expect(body.results[0].is_verified).toBe(true)
    expect(new Date(first.created).toISOString()).toBe(first.created)
    expect(JSON.stringify(body)).not.toContain(foreign.client_id)
    expect(JSON.stringify(body)).not.toContain('client_secret')
  })

  it('POST is 405, a detail URL is 404, anonymous is 401', async () => {
    const post = await t.app.inject({ method: 'POST', url: list(), headers: bearer(w.keys.member), payload: { name: 'x' } })
    expect(post.statusCode).toBe(405)
    expect(post.json()).toEqual({ type: 'invalid_request', code: 'method_not_allowed', detail: 'Method "POST" not allowed.', attr: null })
    const detail = await t.app.inject({ method: 'GET', url: `${list()}${a1.id}/`, headers: bearer(w.keys.member) })
    expect(detail.statusCode).toBe(404)
    expectErrorShape(detail.json())
    const anon = await t.app.inject({ method: 'GET', url: list() })
    expect(anon.statusCode).toBe(401)
    expect(anon.json()).toEqual({ type: 'authentication_error', code: 'not_authenticated', detail: 'Authentication credentials were not provided.', attr: null })
  })

  it('a non-member gets 403, an unknown or malformed organization 404, and the other org sees only its app', async () => {
    const outsider = await t.app.inject({ method: 'GET', url: list(), headers: bearer(w.keys.outsider) })
    expect(outsider.statusCode).toBe(403)
    expect(outsider.json().detail).toBe('You do not have permission to perform this action.')
    for (const bad of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      const res = await t.app.inject({ method: 'GET', url: list(bad), headers: bearer(w.keys.member) })
      expect(res.statusCode).toBe(404)
      expect(res.json().detail).toBe('Organization not found.')
    }
    const own = await t.app.inject({ method: 'GET', url: list(w.other.id), headers: bearer(w.keys.outsider) })
    expect(own.json().results.map((r: { id: string }) => r.id)).toEqual([foreign.id])
  })

  it('token access needs organization:read (write also works)', async () => {
    const read = await createKey(t.services, w.member, ['organization:read'])
    const write = await createKey(t.services, w.member, ['organization:write'])
    const other = await createKey(t.services, w.member, ['organization_member:read'])
    expect((await t.app.inject({ method: 'GET', url: list(), headers: bearer(read) })).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'GET', url: list(), headers: bearer(write) })).statusCode).toBe(200)
    const denied = await t.app.inject({ method: 'GET', url: list(), headers: bearer(other) })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe("API key missing required scope 'organization:read'")
  })

  it('pages with limit and offset', async () => {
    const res = await t.app.inject({ method: 'GET', url: `${list()}?limit=1`, headers: bearer(w.keys.member) })
    const body = res.json()
    expect(body.count).toBe(2)
    expect(body.results.map((r: { id: string }) => r.id)).toEqual([a2.id])
    expect(body.next).toBe(`http://localhost${list()}?limit=1&offset=1`)
    const second = await t.app.inject({ method: 'GET', url: `${list()}?limit=1&offset=1`, headers: bearer(w.keys.member) })
    expect(second.json().results.map((r: { id: string }) => r.id)).toEqual([a1.id])
  })

  it('apps without an organization never appear (deleted organization: SET NULL)', async () => {
    const orphan = await registerApp(t.services, w.org.id, { name: 'Orphan' })
    await t.db.query(`UPDATE oauth_applications SET organization_id = NULL WHERE id = $1`, [orphan.id])
    const res = await t.app.inject({ method: 'GET', url: list(), headers: bearer(w.keys.member) })
    expect(res.json().count).toBe(2)
    expect(JSON.stringify(res.json())).not.toContain(orphan.client_id)
  })
})

describe('public metadata', () => {
  it('returns exactly {name, client_id, is_verified} without authentication', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/oauth_application/metadata/${a2.client_id}/` })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ name: 'A2', client_id: a2.client_id, is_verified: true })
  })

  it('an unknown client id is 404 "Not found."', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/oauth_application/metadata/nope/' })
    expect(res.statusCode).toBe(404)
    expect(res.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null })
  })
})

describe('B.3 model rules', () => {
  it('client id is 40 characters of [A-Za-z0-9]; the secret is stored only as a hash', async () => {
    const created = await t.services.oauth.create({ organizationId: w.org.id, name: 'Model', redirectUris: ['https://m.example/cb'] })
    expect(created.client_id).toMatch(/^[A-Za-z0-9]{40}$/)
    expect(created.client_secret).toMatch(/^[A-Za-z0-9]{128}$/)
    const [row] = await t.db.query<Record<string, unknown>>(`SELECT * FROM oauth_applications WHERE id = $1`, [created.id])
    expect(row.client_secret_hash).toMatch(/^sha256\$[0-9a-f]{64}$/)
    expect(JSON.stringify(row)).not.toContain(created.client_secret!)
    expect(row).toMatchObject({ client_type: 'confidential', authorization_grant_type: 'authorization-code', algorithm: 'RS256', skip_authorization: false, is_verified: false, is_first_party: false })
    expect(row.id).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('a public client has no secret', async () => {
    const created = await t.services.oauth.create({ organizationId: w.org.id, name: 'Native', redirectUris: ['com.example.app:/oauth'], clientType: 'public' })
    expect(created.client_secret).toBeNull()
    expect(created.client_type).toBe('public')
  })

  it('the database refuses another grant type, algorithm or skip_authorization', async () => {
    for (const [col, value] of [['authorization_grant_type', "'client-credentials'"], ['algorithm', "'HS256'"], ['skip_authorization', 'true']]) {
      await expect(t.db.query(`UPDATE oauth_applications SET ${col} = ${value} WHERE id = $1`, [a1.id])).rejects.toThrow()
    }
    await expect(t.db.query(`UPDATE oauth_applications SET redirect_uris = '' WHERE id = $1`, [a1.id])).rejects.toThrow()
  })

  it('redirect URIs are required; scopes must be object:action; optional scopes need required ones', async () => {
    const base = { organizationId: w.org.id, name: 'Bad' }
    await expect(t.services.oauth.create({ ...base, redirectUris: [] })).rejects.toMatchObject({ attr: 'redirect_uris', detail: 'At least one redirect URI is required.' })
    await expect(t.services.oauth.create({ ...base, redirectUris: ['https://x.example/cb'], scopes: ['everything'] })).rejects.toMatchObject({ attr: 'scopes', detail: 'Invalid scope: everything' })
    await expect(t.services.oauth.create({ ...base, redirectUris: ['https://x.example/cb'], scopes: ['*'] })).rejects.toMatchObject({ attr: 'scopes' })
    await expect(t.services.oauth.create({ ...base, redirectUris: ['https://x.example/cb'], optionalScopes: ['project:read'] })).rejects.toMatchObject({ attr: 'optional_scopes' })
    await expect(t.services.oauth.create({ ...base, redirectUris: ['https://x.example/cb'], scopes: ['project:read'], optionalScopes: ['project'] })).rejects.toMatchObject({ attr: 'optional_scopes' })
    const ok = await t.services.oauth.create({ ...base, redirectUris: ['https://x.example/cb'], scopes: ['project:read'], optionalScopes: ['project:write'] })
    expect(ok.optional_scopes).toEqual(['project:write'])
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM oauth_applications WHERE name = 'Bad'`)
    expect(n).toBe(1)
  })
})

describe('redirect URI rules (table)', () => {
  const table: Array<[string, boolean]> = [
    ['https://example.com/callback', true],
    ['https://example.com:8443/cb?x=1', true],
    ['http://localhost/cb', true],
    ['http://localhost:3000/callback', true],
    ['http://127.0.0.1:8080/cb', true],
    ['http://127.10.20.30/cb', true],
    ['http://[::1]:9000/cb', true],
    ['com.example.app:/oauth', true],
    ['com.example.app:/oauth/callback?x=y', true],
    ['myapp://callback', true],
    ['http://example.com/callback', false],
    ['http://localhost.evil.com/cb', false],
    ['http://128.0.0.1/cb', false],
    ['http://10.0.0.1/cb', false],
    ['javascript:alert(1)', false],
    ['JavaScript:alert(1)', false],
    ['data:text/html,hi', false],
    ['file:///etc/passwd', false],
    ['blob:https://example.com/uuid', false],
    ['vbscript:msgbox', false],
    ['https://example.com/cb#frag', false],
    ['https://example.com/cb#', false],
    ['com.example.app:/oauth#x', false],
    ['/relative/path', false],
    ['example.com/cb', false],
    ['', false],
    ['https://exa mple.com/cb', false],
  ]
  it.each(table)('%s → allowed: %s', (uri, allowed) => {
    expect(redirectUriProblem(uri) === null).toBe(allowed)
  })
})
