import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, login, seedWorld, type TestApp, type World } from '../../helpers/app.ts'

let t: TestApp
let w: World

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
})
afterAll(async () => t.close())

describe('organizations', () => {
  it('lists only the caller’s organizations, paginated', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/organizations/', headers: bearer(w.keys.admin) })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.count).toBe(1)
    expect(body.results[0].id).toBe(w.org.id)
    expect(body.results[0].membership_level).toBe(8)
    expect(body.results[0].member_count).toBe(3)
    expect(body.results[0].teams).toHaveLength(1)
    expect(body.results[0].projects[0].id).toBe(w.org.projectId)
  })

  it('creates an organization with the creator as owner, a default project, and switches to it', async () => {
    const s = await login(t.app, w.member.email)
    const res = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: s.headers, payload: { name: 'Brand New Co' } })
    expect(res.statusCode).toBe(201)
    const org = res.json()
    expect(org.name).toBe('Brand New Co')
    expect(org.slug).toBe('brand-new-co')
    expect(org.membership_level).toBe(15)
    expect(org.projects.map((p: { name: string }) => p.name)).toEqual(['Default project'])
    expect(org.teams[0].api_token).toMatch(/^phc_/)
    const me = await t.app.inject({ method: 'GET', url: '/api/users/@me/', headers: s.headers })
    expect(me.json().organization.id).toBe(org.id)
    expect(me.json().team.id).toBe(org.teams[0].id)
    expect(me.json().organizations.map((o: { id: string }) => o.id).sort()).toEqual([w.org.id, org.id].sort())
    const again = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: s.headers, payload: { name: 'Brand New Co' } })
    expect(again.statusCode).toBe(201)
    expect(again.json().slug).toMatch(/^brand-new-co-[a-zA-Z]{4}$/)
  })

  it('validates the name', async () => {
    const missing = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: bearer(w.keys.admin), payload: {} })
    expect(missing.json()).toEqual({ type: 'validation_error', code: 'required', detail: 'This field is required.', attr: 'name' })
    const blank = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: bearer(w.keys.admin), payload: { name: '' } })
    expect(blank.json()).toEqual({ type: 'validation_error', code: 'blank', detail: 'This field may not be blank.', attr: 'name' })
    const long = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: bearer(w.keys.admin), payload: { name: 'x'.repeat(65) } })
    expect(long.json()).toEqual({ type: 'validation_error', code: 'max_length', detail: 'Ensure this field has no more than 64 characters.', attr: 'name' })
    const nul = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: bearer(w.keys.admin), payload: { name: null } })
    expect(nul.json()).toEqual({ type: 'validation_error', code: 'null', detail: 'This field may not be null.', attr: 'name' })
  })

  it('retrieves by id and @current; a non-member gets 404', async () => {
    const byId = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.org.id}/`, headers: bearer(w.keys.member) })
    expect(byId.statusCode).toBe(200)
    expect(Object.keys(byId.json())).toEqual(expect.arrayContaining(['id', 'name', 'slug', 'membership_level', 'available_product_features', 'member_count']))
    const current = await t.app.inject({ method: 'GET', url: `/api/organizations/@current/`, headers: bearer(w.keys.outsider) })
    expect(current.json().id).toBe(w.other.id)
    const alien = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.other.id}/`, headers: bearer(w.keys.member) })
    expect(alien.statusCode).toBe(404)
  })

  it('admins update, members cannot; changes are logged', async () => {
    const denied = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/`, headers: bearer(w.keys.member), payload: { name: 'Nope' } })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe('Your organization access level is insufficient.')
    const ok = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/`, headers: bearer(w.keys.admin), payload: { name: 'Org O renamed', members_can_invite: false } })
    expect(ok.statusCode).toBe(200)
    expect(ok.json().name).toBe('Org O renamed')
    expect(ok.json().members_can_invite).toBe(false)
    const log = await t.db.query<{ detail: { changes: Array<{ field: string }> } }>(`SELECT detail FROM activity_log WHERE scope = 'Organization' AND activity = 'updated' AND item_id = $1`, [w.org.id])
    expect(log[0].detail.changes.map((c) => c.field).sort()).toEqual(['members_can_invite', 'name'])
    const bad = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${w.org.id}/`, headers: bearer(w.keys.admin), payload: { default_experiment_stats_method: 'magic' } })
    expect(bad.json()).toMatchObject({ code: 'invalid_choice', attr: 'default_experiment_stats_method' })
  })

  it('only owners delete', async () => {
    const s = await login(t.app, w.outsider.email)
    const created = await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: s.headers, payload: { name: 'Doomed' } })
    const id = created.json().id
    const { addMember } = await import('../../helpers/app.ts')
    await addMember(t.services, id, w.admin, 8)
    const denied = await t.app.inject({ method: 'DELETE', url: `/api/organizations/${id}/`, headers: bearer(w.keys.admin) })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe('Your organization access level is insufficient.')
    const ok = await t.app.inject({ method: 'DELETE', url: `/api/organizations/${id}/`, headers: s.headers })
    expect(ok.statusCode).toBe(204)
    const rows = await t.db.query(`SELECT 1 FROM organizations WHERE id = $1`, [id])
    expect(rows).toHaveLength(0)
    const [u] = await t.db.query<{ current_organization_id: string }>(`SELECT current_organization_id FROM users WHERE id = $1`, [w.outsider.id])
    expect(u.current_organization_id).toBe(w.other.id)
  })

  it('a key scoped to organizations only lists those', async () => {
    const { createKey } = await import('../../helpers/app.ts')
    const s = await login(t.app, w.owner.email)
    await t.app.inject({ method: 'POST', url: '/api/organizations/', headers: s.headers, payload: { name: 'Second' } })
    const key = await createKey(t.services, w.owner, ['organization:read'], { scoped_organizations: [w.org.id] })
    const res = await t.app.inject({ method: 'GET', url: '/api/organizations/', headers: bearer(key) })
    expect(res.json().results.map((o: { id: string }) => o.id)).toEqual([w.org.id])
  })
})

describe('users/@me', () => {
  it('returns PostHog’s user shape', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/users/@me/', headers: bearer(w.keys.owner) })
    expect(res.statusCode).toBe(200)
    const me = res.json()
    for (const k of ['uuid', 'distinct_id', 'first_name', 'last_name', 'email', 'is_email_verified', 'is_staff', 'organization', 'organizations', 'team']) expect(me).toHaveProperty(k)
    expect(me.uuid).toBe(w.owner.uuid)
    const [row] = await t.db.query<{ current_organization_id: string }>(`SELECT current_organization_id FROM users WHERE id = $1`, [w.owner.id])
    expect(me.organization.id).toBe(row.current_organization_id)
    expect(me.organizations.map((o: { id: string }) => o.id)).toContain(w.org.id)
  })

  it('refuses other users for non-staff', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/users/${w.admin.uuid}/`, headers: bearer(w.keys.owner) })
    expect(res.statusCode).toBe(403)
  })

  it('needs user:read on a key', async () => {
    const { createKey } = await import('../../helpers/app.ts')
    const key = await createKey(t.services, w.owner, ['organization:read'])
    const res = await t.app.inject({ method: 'GET', url: '/api/users/@me/', headers: bearer(key) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe("API key missing required scope 'user:read'")
  })
})
