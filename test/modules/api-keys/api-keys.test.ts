import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, login, seedWorld, type Session, type TestApp, type World } from '../../helpers/app.ts'

let t: TestApp
let w: World
let s: Session

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  s = await login(t.app, w.member.email)
})
afterAll(async () => t.close())

describe('personal API keys CRUD', () => {
  it('creates a key, shows the value once, masks it afterwards, and the key works', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'CI', scopes: ['organization_member:read'] } })
    expect(res.statusCode).toBe(201)
    const key = res.json()
    expect(key.value).toMatch(/^phx_[0-9A-Za-z]{40,}$/)
    expect(key.mask_value).toBe(`phx_...${key.value.slice(-4)}`)
    expect(key.user_id).toBe(w.member.uuid)
    const list = await t.app.inject({ method: 'GET', url: '/api/personal_api_keys/', headers: s.headers })
    expect(Array.isArray(list.json())).toBe(true)
    const listed = list.json().find((k: { id: string }) => k.id === key.id)
    expect(listed.value).toBeNull()
    const works = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(key.value) })
    expect(works.statusCode).toBe(200)
    const current = await t.app.inject({ method: 'GET', url: '/api/personal_api_keys/@current/', headers: bearer(key.value) })
    expect(current.json().id).toBe(key.id)
    expect(current.json().value).toBeNull()
  })

  it('validates scopes, scoped organizations and scoped teams', async () => {
    const bad = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'x', scopes: ['nonsense:read'] } })
    expect(bad.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'Invalid scope: nonsense:read', attr: 'scopes' })
    const internal = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'x', scopes: ['internal_run:read'] } })
    expect(internal.json().detail).toBe('Invalid scope: internal_run:read')
    const alienOrg = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'x', scopes: ['*'], scoped_organizations: [w.other.id] } })
    expect(alienOrg.json().detail).toBe('You must be a member of all organizations that you are scoping the key to.')
    const badUuid = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'x', scopes: ['*'], scoped_organizations: ['nope'] } })
    expect(badUuid.json().detail).toBe('Invalid organization UUID')
    const alienTeam = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'x', scopes: ['*'], scoped_teams: [w.other.projectId] } })
    expect(alienTeam.json().detail).toBe('You must be a member of all teams that you are scoping the key to.')
    const longLabel = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'x'.repeat(41), scopes: ['*'] } })
    expect(longLabel.json()).toMatchObject({ code: 'max_length', attr: 'label' })
  })

  it('updates, rolls and deletes', async () => {
    const created = (await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'roll me', scopes: ['*'] } })).json()
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/personal_api_keys/${created.id}/`, headers: s.headers, payload: { label: 'renamed' } })
    expect(patched.json().label).toBe('renamed')
    expect(patched.json().scopes).toEqual(['*'])
    const rolled = await t.app.inject({ method: 'POST', url: `/api/personal_api_keys/${created.id}/roll/`, headers: s.headers })
    expect(rolled.json().value).toMatch(/^phx_/)
    expect(rolled.json().last_rolled_at).not.toBeNull()
    const old = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(created.value) })
    expect(old.statusCode).toBe(401)
    const del = await t.app.inject({ method: 'DELETE', url: `/api/personal_api_keys/${created.id}/`, headers: s.headers })
    expect(del.statusCode).toBe(204)
    const gone = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/members/`, headers: bearer(rolled.json().value) })
    expect(gone.statusCode).toBe(401)
    const again = await t.app.inject({ method: 'DELETE', url: `/api/personal_api_keys/${created.id}/`, headers: s.headers })
    expect(again.statusCode).toBe(404)
  })

  it('cannot reach another user’s key', async () => {
    const mine = (await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: s.headers, payload: { label: 'mine', scopes: ['*'] } })).json()
    const other = await login(t.app, w.admin.email)
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const res = await t.app.inject({ method, url: `/api/personal_api_keys/${mine.id}/`, headers: other.headers, payload: method === 'PATCH' ? { label: 'x' } : undefined })
      expect(res.statusCode).toBe(404)
    }
  })

  it('a key can read only itself', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/personal_api_keys/', headers: bearer(w.keys.member) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('This action does not support Personal API Key access')
    const create = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: bearer(w.keys.member), payload: { label: 'x', scopes: ['*'] } })
    expect(create.statusCode).toBe(403)
  })

  it('limits a user to 10 keys', async () => {
    const u = await login(t.app, w.outsider.email)
    const existing = (await t.app.inject({ method: 'GET', url: '/api/personal_api_keys/', headers: u.headers })).json().length
    for (let i = existing; i < 10; i++) {
      const r = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: u.headers, payload: { label: `k${i}`, scopes: ['*'] } })
      expect(r.statusCode).toBe(201)
    }
    const over = await t.app.inject({ method: 'POST', url: '/api/personal_api_keys/', headers: u.headers, payload: { label: 'eleven', scopes: ['*'] } })
    expect(over.statusCode).toBe(400)
    expect(over.json().detail).toBe('You can only have 10 personal API keys. Remove an existing key before creating a new one.')
  })
})
