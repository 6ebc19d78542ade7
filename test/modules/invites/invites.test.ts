import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addMember, bearer, createKey, createTestApp, createUser, expectErrorShape, login, seedWorld, uniqueEmail, type TestApp, type World } from '../../helpers/app.ts'
import { checkInviteResponses } from './contract.ts'

let t: TestApp
let w: World
const base = () => `/api/organizations/${w.org.id}/invites`

beforeAll(async () => {
  t = await createTestApp()
  await checkInviteResponses(t)
  w = await seedWorld(t.services)
})
afterAll(async () => t.close())

async function count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const [r] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)
  return r.n
}

describe('POST invites/ (spec cases 1, 2, 4)', () => {
  it('requires target_email', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/organizations/@current/invites/', headers: bearer(w.keys.admin), payload: {} })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ type: 'validation_error', code: 'required', detail: 'This field is required.', attr: 'target_email' })
  })

  it('lower-cases the email and answers PostHog’s invite shape', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/organizations/@current/invites/', headers: bearer(w.keys.admin), payload: { target_email: 'Test.User@Example.COM' } })
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(body).toMatchObject({ target_email: 'test.user@example.com', level: 1, is_expired: false, message: null, private_project_access: [] })
    expect(body.created_by.uuid).toBe(w.admin.uuid)
    expect(body).not.toHaveProperty('send_email')
    expect(body).not.toHaveProperty('combine_pending_invites')
    expect(body.email_delivery).toMatchObject({ status: 'queued', attempts: 0 })
    expect(await count('jobs', `kind = 'email.invite' AND payload->>'inviteId' = $1`, [body.id])).toBe(1)
  })

  it('validates each field with DRF’s messages', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ target_email: null }, 'null', 'target_email'],
      [{ target_email: 'not-an-email' }, 'invalid_input', 'target_email'],
      [{ target_email: 'a@b.com', first_name: 'x'.repeat(31) }, 'max_length', 'first_name'],
      [{ target_email: 'a@b.com', level: 5 }, 'invalid_choice', 'level'],
      [{ target_email: 'a@b.com', private_project_access: 'x' }, 'invalid_input', 'private_project_access'],
      [{ target_email: 'a@b.com', private_project_access: [1] }, 'invalid_input', 'private_project_access'],
      [{ target_email: 'a@b.com', private_project_access: [{ id: 1 }] }, 'invalid_input', 'private_project_access'],
      [{ target_email: 'a@b.com', private_project_access: [{ id: 'x', level: 'member' }] }, 'invalid_input', 'private_project_access'],
      [{ target_email: 'a@b.com', private_project_access: [{ id: 1, level: 'owner' }] }, 'invalid_input', 'private_project_access'],
      [{ target_email: 'a@b.com', private_project_access: [{ id: 999999, level: 'member' }] }, 'invalid_input', 'private_project_access'],
    ]
    for (const [payload, code, attr] of cases) {
      const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload })
      expect(res.statusCode, JSON.stringify(payload)).toBe(400)
      expect(res.json()).toMatchObject({ type: 'validation_error', code, attr })
    }
    expect(await count('invites', `target_email = 'a@b.com'`)).toBe(0)
  })

  it('refuses inviting above your own level, creating nothing', async () => {
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.member), payload: { target_email: 'a@b.com', level: 8 } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('You cannot invite a user with a higher permission level than your own.')
    const owner = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: 'a@b.com', level: 15 } })
    expect(owner.statusCode).toBe(403)
    expect(await count('invites', `target_email = 'a@b.com'`)).toBe(0)
  })

  it('refuses an address that already belongs to a member, case-insensitively', async () => {
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: w.member.email.toUpperCase() } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'A user with this email address already belongs to the organization.', attr: null })
  })

  it('with send_email false queues no email', async () => {
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: uniqueEmail('quiet'), send_email: false } })
    expect(res.statusCode).toBe(201)
    expect(res.json().emailing_attempt_made).toBe(false)
    expect(res.json().email_delivery).toBeNull()
  })

  it('members may not invite when the organization turned it off', async () => {
    await t.db.query(`UPDATE organizations SET members_can_invite = false WHERE id = $1`, [w.org.id])
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.member), payload: { target_email: uniqueEmail() } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('You do not have permission to perform this action.')
    const admin = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: uniqueEmail() } })
    expect(admin.statusCode).toBe(201)
    await t.db.query(`UPDATE organizations SET members_can_invite = true WHERE id = $1`, [w.org.id])
  })
})

describe('GET invites/ (spec case 3)', () => {
  it('keeps one invite per address, newest first, paginated', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: 'x@posthog.com' } })
      expect(r.statusCode).toBe(201)
    }
    expect(await count('invites', `organization_id = $1 AND target_email = 'x@posthog.com'`, [w.org.id])).toBe(1)
    const list = await t.app.inject({ method: 'GET', url: base(), headers: bearer(w.keys.member) })
    expect(list.statusCode).toBe(200)
    const body = list.json()
    expect(Object.keys(body).sort()).toEqual(['count', 'next', 'previous', 'results'])
    expect(body.results.filter((i: { target_email: string }) => i.target_email === 'x@posthog.com')).toHaveLength(1)
    const created = body.results.map((i: { created_at: string }) => i.created_at)
    expect(created).toEqual([...created].sort().reverse())
  })

  it('shows expired invites with is_expired', async () => {
    const r = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: uniqueEmail('old') } })
    await t.db.query(`UPDATE invites SET created_at = now() - interval '4 days' WHERE id = $1`, [r.json().id])
    const list = await t.app.inject({ method: 'GET', url: `${base()}/?limit=1000`, headers: bearer(w.keys.member) })
    const old = list.json().results.find((i: { id: string }) => i.id === r.json().id)
    expect(old.is_expired).toBe(true)
  })
})

describe('POST invites/bulk/ (spec cases 5, 6)', () => {
  it('refuses more than 20 items, creating nothing', async () => {
    const before = await count('invites')
    const items = Array.from({ length: 21 }, () => ({ target_email: uniqueEmail('bulk') }))
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: items })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ type: 'validation_error', code: 'max_length', detail: 'A maximum of 20 invites can be sent in a single request.', attr: null })
    expect(await count('invites')).toBe(before)
  })

  it('is all-or-nothing on a bad item, and creates valid batches in input order', async () => {
    const before = await count('invites')
    const bad = Array.from({ length: 5 }, (_, i) => ({ target_email: i === 4 ? null : uniqueEmail('b') }))
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: bad })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'null', attr: '__4__target_email' })
    expect(await count('invites')).toBe(before)
    const jobsBefore = await count('jobs')

    const good = Array.from({ length: 7 }, () => ({ target_email: uniqueEmail('good') }))
    const ok = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: good })
    expect(ok.statusCode).toBe(201)
    expect(ok.json().map((i: { target_email: string }) => i.target_email)).toEqual(good.map((g) => g.target_email))
    expect(await count('jobs')).toBe(jobsBefore + 7)
  })

  it('checks existing members before writing anything', async () => {
    const before = await count('invites')
    const items = [{ target_email: uniqueEmail('fine') }, { target_email: w.member.email }]
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: items })
    expect(res.statusCode).toBe(400)
    expect(await count('invites')).toBe(before)
  })

  it('refuses an item above the caller’s level with no invite created', async () => {
    const before = await count('invites')
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.member), payload: [{ target_email: uniqueEmail() }, { target_email: uniqueEmail(), level: 8 }] })
    expect(res.statusCode).toBe(403)
    expect(await count('invites')).toBe(before)
  })

  it('answers a non-array body with PostHog’s message, and [] with []', async () => {
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: { target_email: 'a@b.com' } })
    expect(res.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'This endpoint needs an array of data for bulk invite creation.', attr: null })
    const empty = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: [] })
    expect(empty.statusCode).toBe(201)
    expect(empty.json()).toEqual([])
  })
})

describe('combine_pending_invites (spec case 7)', () => {
  it('merges with a live admin invite, but not an expired one', async () => {
    const email = uniqueEmail('combine')
    await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: email, level: 8, private_project_access: [{ id: w.org.projectId, level: 'member' }] } })
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: email, level: 1, combine_pending_invites: true, private_project_access: [{ id: w.org.projectId, level: 'admin' }] } })
    expect(res.statusCode).toBe(201)
    expect(res.json().level).toBe(8)
    expect(res.json().private_project_access).toEqual([{ id: w.org.projectId, level: 'admin' }])
    expect(await count('invites', `target_email = $1`, [email])).toBe(1)

    const email2 = uniqueEmail('combine-old')
    const old = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: email2, level: 8 } })
    await t.db.query(`UPDATE invites SET created_at = now() - interval '1 year' WHERE id = $1`, [old.json().id])
    const res2 = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: email2, level: 1, combine_pending_invites: true } })
    expect(res2.json().level).toBe(1)
    expect(await count('invites', `target_email = $1`, [email2])).toBe(1)
  })

  it('a combined level above the inviter’s own is refused', async () => {
    const email = uniqueEmail('combine-403')
    await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: email, level: 8 } })
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.member), payload: { target_email: email, combine_pending_invites: true } })
    expect(res.statusCode).toBe(403)
    expect(await count('invites', `target_email = $1 AND level = 8`, [email])).toBe(1)
  })
})

describe('permissions (spec cases 8, 9)', () => {
  it('another organization is a generic 403', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/organizations/${w.other.id}/invites/`, headers: bearer(w.keys.admin) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('You do not have permission to perform this action.')
    const bulk = await t.app.inject({ method: 'POST', url: `/api/organizations/${w.other.id}/invites/bulk/`, headers: bearer(w.keys.admin), payload: [] })
    expect(bulk.statusCode).toBe(403)
  })

  it('members cannot delete invites; admins can (204, empty)', async () => {
    const r = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: uniqueEmail('del') } })
    const id = r.json().id
    const denied = await t.app.inject({ method: 'DELETE', url: `${base()}/${id}/`, headers: bearer(w.keys.member) })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toContain('Your organization access level is insufficient.')
    const ok = await t.app.inject({ method: 'DELETE', url: `${base()}/${id}/`, headers: bearer(w.keys.admin) })
    expect(ok.statusCode).toBe(204)
    expect(ok.body).toBe('')
    const again = await t.app.inject({ method: 'DELETE', url: `${base()}/${id}/`, headers: bearer(w.keys.admin) })
    expect(again.statusCode).toBe(404)
    expectErrorShape(again.json())
  })

  it('an invite of another organization is a 404 here', async () => {
    const { id } = (await t.app.inject({ method: 'POST', url: `/api/organizations/${w.other.id}/invites/`, headers: bearer(w.keys.outsider), payload: { target_email: uniqueEmail() } })).json()
    const res = await t.app.inject({ method: 'DELETE', url: `${base()}/${id}/`, headers: bearer(w.keys.owner) })
    expect(res.statusCode).toBe(404)
  })

  it('no retrieve or update: 405 at home', async () => {
    const r = await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: uniqueEmail() } })
    const get = await t.app.inject({ method: 'GET', url: `${base()}/${r.json().id}/`, headers: bearer(w.keys.admin) })
    expect(get.statusCode).toBe(405)
    const patch = await t.app.inject({ method: 'PATCH', url: `${base()}/${r.json().id}/`, headers: bearer(w.keys.admin), payload: {} })
    expect(patch.statusCode).toBe(405)
  })

  it('a read-only key can list but not create (spec 15)', async () => {
    const key = await createKey(t.services, w.admin, ['organization_member:read'])
    expect((await t.app.inject({ method: 'GET', url: base(), headers: bearer(key) })).statusCode).toBe(200)
    const res = await t.app.inject({ method: 'POST', url: base(), headers: bearer(key), payload: { target_email: uniqueEmail() } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe("API key missing required scope 'organization_member:write'")
  })
})

describe('POST invites/delegate/ (spec case 10)', () => {
  it('members cannot delegate', async () => {
    const res = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.member), payload: { target_email: 'eng@example.com' } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('Only organization admins can delegate setup, as delegation grants admin access.')
  })

  it('creates an admin-level delegation invite, idempotently, and cancelling clears the pointer', async () => {
    const res = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.admin), payload: { target_email: 'eng@example.com', message: 'please help' } })
    expect(res.statusCode).toBe(201)
    expect(res.json().level).toBe(8)
    expect(res.json().message).toBe('please help')
    const [row] = await t.db.query<{ is_setup_delegation: boolean }>(`SELECT is_setup_delegation FROM invites WHERE id = $1`, [res.json().id])
    expect(row.is_setup_delegation).toBe(true)
    const [u] = await t.db.query<{ onboarding_delegated_to_invite_id: string; onboarding_skipped_reason: string }>(`SELECT onboarding_delegated_to_invite_id, onboarding_skipped_reason FROM users WHERE id = $1`, [w.admin.id])
    expect(u).toEqual({ onboarding_delegated_to_invite_id: res.json().id, onboarding_skipped_reason: 'delegated' })
    expect(await count('jobs', `kind = 'email.delegation' AND payload->>'inviteId' = $1`, [res.json().id])).toBe(1)

    const again = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.admin), payload: { target_email: 'eng@example.com', message: 'please help' } })
    expect(again.statusCode).toBe(201)
    expect(again.json().id).toBe(res.json().id)
    expect(await count('jobs', `kind = 'email.delegation' AND payload->>'inviteId' = $1`, [res.json().id])).toBe(1)

    const del = await t.app.inject({ method: 'DELETE', url: `${base()}/${res.json().id}/`, headers: bearer(w.keys.admin) })
    expect(del.statusCode).toBe(204)
    const [after] = await t.db.query<{ p: string | null; r: string | null }>(`SELECT onboarding_delegated_to_invite_id AS p, onboarding_skipped_reason AS r FROM users WHERE id = $1`, [w.admin.id])
    expect(after).toEqual({ p: null, r: null })
  })

  it('refuses an existing member with existing_member, and validates its fields', async () => {
    const res = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.admin), payload: { target_email: w.member.email } })
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('existing_member')
    const missing = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.admin), payload: {} })
    expect(missing.json()).toMatchObject({ code: 'required', attr: 'target_email' })
    const long = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.admin), payload: { target_email: 'z@example.com', message: 'x'.repeat(1001) } })
    expect(long.json()).toMatchObject({ code: 'max_length', attr: 'message' })
  })
})

describe('joining through an invite (spec 5)', () => {
  it('previews, then a new account joins at the invite level with project access', async () => {
    const email = uniqueEmail('joiner')
    const inv = (await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: email, level: 8, private_project_access: [{ id: w.org.projectId, level: 'admin' }] } })).json()
    const preview = await t.app.inject({ method: 'GET', url: `/api/signup/${inv.id}/` })
    expect(preview.statusCode).toBe(200)
    expect(preview.json()).toEqual({ id: inv.id, target_email: email, first_name: '', organization_name: 'Org O' })
    const missing = await t.app.inject({ method: 'POST', url: `/api/signup/${inv.id}/`, payload: { first_name: 'Jo' } })
    expect(missing.json()).toEqual({ type: 'validation_error', code: 'required', detail: 'This field is required.', attr: 'password' })
    const join = await t.app.inject({ method: 'POST', url: `/api/signup/${inv.id}/`, payload: { first_name: 'Jo', password: 'a-long-password' } })
    expect(join.statusCode).toBe(201)
    expect(join.json()).toMatchObject({ email, first_name: 'Jo', is_email_verified: false, redirect_url: '/' })
    const [m] = await t.db.query<{ level: number; id: string }>(`SELECT m.level, m.id FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2`, [w.org.id, email])
    expect(m.level).toBe(8)
    const [pa] = await t.db.query<{ access_level: string }>(`SELECT access_level FROM project_access WHERE membership_id = $1`, [m.id])
    expect(pa.access_level).toBe('admin')
    expect(await count('invites', `id = $1`, [inv.id])).toBe(0)
    const used = await t.app.inject({ method: 'POST', url: `/api/signup/${inv.id}/`, payload: { first_name: 'Jo', password: 'a-long-password' } })
    expect(used.json()).toMatchObject({ code: 'expired', detail: 'This invite has already been used.' })
  })

  it('each acceptance error has its code', async () => {
    const bad = await t.app.inject({ method: 'GET', url: `/api/signup/00000000-0000-4000-8000-000000000000/` })
    expect(bad.json()).toMatchObject({ code: 'invalid_input', detail: 'The provided invite ID is not valid.' })
    const notUuid = await t.app.inject({ method: 'GET', url: `/api/signup/nope/` })
    expect(notUuid.statusCode).toBe(400)

    const someone = await createUser(t.services, { password: 'correct horse battery staple' })
    const inv = (await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: uniqueEmail('other') } })).json()
    const s = await login(t.app, someone.email)
    const wrong = await t.app.inject({ method: 'POST', url: `/api/signup/${inv.id}/`, headers: s.headers, payload: {} })
    expect(wrong.json()).toMatchObject({ code: 'invalid_recipient', detail: 'This invite is intended for another email address.' })

    const exists = (await t.app.inject({ method: 'POST', url: base(), headers: bearer(w.keys.admin), payload: { target_email: someone.email } })).json()
    const anon = await t.app.inject({ method: 'GET', url: `/api/signup/${exists.id}/` })
    expect(anon.json()).toMatchObject({ code: 'account_exists', detail: `/login?next=/signup/${exists.id}` })

    await t.db.query(`UPDATE invites SET created_at = now() - interval '4 days' WHERE id = $1`, [exists.id])
    const expired = await t.app.inject({ method: 'GET', url: `/api/signup/${exists.id}/`, headers: s.headers })
    expect(expired.json()).toMatchObject({ code: 'expired', detail: 'This invite has expired. Please ask your admin for a new one.' })
    await t.db.query(`UPDATE invites SET created_at = now() WHERE id = $1`, [exists.id])

    const ok = await t.app.inject({ method: 'POST', url: `/api/signup/${exists.id}/`, headers: s.headers, payload: {} })
    expect(ok.statusCode).toBe(201)
    await addMember(t.services, w.org.id, someone, 1)
    const again = (await t.app.inject({ method: 'POST', url: `/api/organizations/${w.other.id}/invites/`, headers: bearer(w.keys.outsider), payload: { target_email: uniqueEmail() } })).json()
    expect(again.id).toBeDefined()
  })

  it('accepting a delegation marks the delegator accepted', async () => {
    const email = uniqueEmail('delegate')
    const inv = (await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.owner), payload: { target_email: email } })).json()
    const join = await t.app.inject({ method: 'POST', url: `/api/signup/${inv.id}/`, payload: { first_name: 'Del', password: 'a-long-password' } })
    expect(join.statusCode).toBe(201)
    const [u] = await t.db.query<{ accepted: Date | null }>(`SELECT onboarding_delegation_accepted_at AS accepted FROM users WHERE id = $1`, [w.owner.id])
    expect(u.accepted).toBeInstanceOf(Date)
  })
})

describe('odd and very long invite ids get PostHog’s answers, never a parse error', () => {
  const ids = ['x'.repeat(501), 'x'.repeat(5000), `${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}${'a'.repeat(600)}`, 'not-a-uuid', '0', '%E2%98%83']
  const invalid = { type: 'validation_error', code: 'invalid_input', detail: 'The provided invite ID is not valid.', attr: null }

  it('DELETE invites/:id/ is 404 "Not found."', async () => {
    for (const id of ids) {
      const res = await t.app.inject({ method: 'DELETE', url: `${base()}/${id}/`, headers: bearer(w.keys.owner) })
      expect(res.statusCode, `${id.slice(0, 20)}… ${res.body.slice(0, 200)}`).toBe(404)
      expect(res.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null })
    }
  })

  it('GET and POST /api/signup/:id/ are 400 "The provided invite ID is not valid."', async () => {
    for (const id of ids) {
      const get = await t.app.inject({ method: 'GET', url: `/api/signup/${id}/` })
      expect(get.statusCode, `${id.slice(0, 20)}… ${get.body.slice(0, 200)}`).toBe(400)
      expect(get.json()).toEqual(invalid)
      const post = await t.app.inject({ method: 'POST', url: `/api/signup/${id}/`, payload: { first_name: 'Long', password: 'correct horse battery staple 5' } })
      expect(post.statusCode, `${id.slice(0, 20)}… ${post.body.slice(0, 200)}`).toBe(400)
      expect(post.json()).toEqual(invalid)
    }
    expect(await count('users', `first_name = 'Long'`)).toBe(0)
  })

  it('the /signup/:id page says the invite is not valid, in HTML', async () => {
    for (const id of ids) {
      const res = await t.app.inject({ method: 'GET', url: `/signup/${id}` })
      expect(res.statusCode, `${id.slice(0, 20)}… ${res.body.slice(0, 200)}`).toBe(400)
      expect(res.headers['content-type']).toMatch(/^text\/html/)
      expect(res.body).toContain('The provided invite ID is not valid.')
    }
  })
})

describe('the /signup/:id form with fields that are not strings', () => {
  it('answers the page with the error (400), never a 500, and creates nothing', async () => {
    const email = uniqueEmail('form-junk')
    const inv = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.owner), payload: { target_email: email, send_email: false } })
    const id = (inv.json() as { id: string }).id
    for (const payload of [{ action: 'create', first_name: [{ id: 'x' }], password: 'correct horse battery staple 8' }, { action: 'create', first_name: 'Ann', password: 12345678901 }, { action: ['join'] }]) {
      const res = await t.app.inject({ method: 'POST', url: `/signup/${id}`, payload })
      expect(res.statusCode, res.body.slice(0, 300)).toBe(400)
      expect(res.headers['content-type']).toMatch(/^text\/html/)
      expect(res.body).toContain('This field is required.')
    }
    expect(await count('users', `email = $1`, [email])).toBe(0)
  })
})

describe('one bulk request naming an address twice', () => {
  it('the later item replaces the earlier one, merging when it asks to, as two requests would', async () => {
    const a = uniqueEmail('twice')
    const b = uniqueEmail('twice')
    const res = await t.app.inject({
      method: 'POST',
      url: `${base()}/bulk/`,
      headers: bearer(w.keys.owner),
      payload: [
        { target_email: a, level: 8, send_email: false },
        { target_email: b, level: 8, send_email: false },
        { target_email: a.toUpperCase(), level: 1, send_email: false, combine_pending_invites: true, private_project_access: [{ id: w.org.projectId, level: 'member' }] },
        { target_email: b, level: 1, send_email: false },
      ],
    })
    expect(res.statusCode, res.body).toBe(201)
    const body = res.json() as Array<{ id: string; target_email: string; level: number }>
    expect(body.map((i) => [i.target_email, i.level])).toEqual([[a, 8], [b, 8], [a, 8], [b, 1]])
    const rows = await t.db.query<{ id: string; target_email: string; level: number; private_project_access: unknown }>(
      `SELECT id, target_email, level, private_project_access FROM invites WHERE target_email = ANY ($1::text[]) ORDER BY target_email`,
      [[a, b]],
    )
    expect(rows.map((r) => [r.target_email, r.level])).toEqual([[a, 8], [b, 1]].sort((x, y) => String(x[0]).localeCompare(String(y[0]))))
    expect(rows.find((r) => r.target_email === a)!.private_project_access).toEqual([{ id: w.org.projectId, level: 'member' }])
    // The surviving invites are the later items' ones.
    expect(rows.map((r) => r.id).sort()).toEqual([body[2].id, body[3].id].sort())
  })
})
