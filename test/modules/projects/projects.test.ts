/**
 * Projects (spec ../shared/spec/legal-oauth-projects.md section C): cases 10–15 of section E, one
 * test per C.8 rule (valid and invalid), defaults of a new project, merges, field gating, private
 * projects, deletion through the durable job, and the helpers other modules use.
 */
import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProductFeature } from '../../../src/config.ts'
import { GENEROUS_ENTITLEMENTS } from '../../../src/config.ts'
import { addMember, bearer, createKey, createOrg, createTestApp, createUser, expectErrorShape, login, seedWorld, type TestApp, type World } from '../../helpers/app.ts'

let t: TestApp
let w: World
const projects = (org = w.org.id) => `/api/organizations/${org}/projects`

const without = (...keys: string[]): ProductFeature[] => GENEROUS_ENTITLEMENTS.filter((f) => !keys.includes(f.key))
const withFeature = (features: ProductFeature[], f: ProductFeature): ProductFeature[] => [...features.filter((x) => x.key !== f.key), f]

async function freshOrg(features: ProductFeature[] = GENEROUS_ENTITLEMENTS) {
  const owner = await createUser(t.services, { firstName: 'Owen' })
  const admin = await createUser(t.services, { firstName: 'Ada' })
  const member = await createUser(t.services, { firstName: 'Max' })
  const org = await createOrg(t.services, owner, 'Fresh')
  await addMember(t.services, org.id, admin, 8)
  await addMember(t.services, org.id, member, 1)
  for (const u of [admin, member]) await t.db.query(`UPDATE users SET current_organization_id = $1, current_team_id = $2 WHERE id = $3`, [org.id, org.projectId, u.id])
  await t.services.organizations.setEntitlements(org.id, features)
  return {
    org,
    owner,
    admin,
    member,
    keys: { owner: await createKey(t.services, owner), admin: await createKey(t.services, admin), member: await createKey(t.services, member) },
  }
}

async function req(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, key: string, payload?: unknown) {
  return t.app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload: payload as object }) })
}

beforeAll(async () => {
  t = await createTestApp({ SECRET_KEY: 'test-secret-key-0123456789' })
  w = await seedWorld(t.services)
})
afterAll(async () => t.close())

describe('case 10: project plan limit', () => {
  it('an organization without the projects entitlement has one project', async () => {
    const f = await freshOrg(without('organizations_projects'))
    const res = await req('POST', projects(f.org.id), f.keys.admin, { name: 'New Project' })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({
      type: 'authentication_error',
      code: 'permission_denied',
      detail: 'You have reached the maximum limit of allowed projects for your current plan. Upgrade your plan to be able to create and manage more projects.',
      attr: null,
    })
  })

  it('a limit of 2 allows one more; demo projects do not count', async () => {
    const f = await freshOrg(withFeature(GENEROUS_ENTITLEMENTS, { key: 'organizations_projects', name: 'Projects', limit: 2 }))
    const demo = await req('POST', projects(f.org.id), f.keys.admin, { name: 'Demo', is_demo: true })
    expect(demo.statusCode).toBe(201)
    expect(demo.json().is_demo).toBe(true)
    // PostHog makes no starter dashboard for a demo project.
    expect(demo.json().primary_dashboard).toBeNull()
    expect(await t.db.query(`SELECT 1 FROM dashboards WHERE team_id = $1`, [demo.json().id])).toHaveLength(0)
    const first = await req('POST', projects(f.org.id), f.keys.admin, { name: 'Second' })
    expect(first.statusCode).toBe(201)
    const second = await req('POST', projects(f.org.id), f.keys.admin, { name: 'Third' })
    expect(second.statusCode).toBe(403)
    expect(second.json().detail).toContain('maximum limit of allowed projects')
    // A second demo project is refused too.
    const demo2 = await req('POST', projects(f.org.id), f.keys.admin, { name: 'Demo 2', is_demo: true })
    expect(demo2.statusCode).toBe(403)
    // PATCH is allowed at the limit, PUT is not (PremiumMultiProjectPermission covers update).
    const id = first.json().id
    expect((await req('PATCH', `${projects(f.org.id)}/${id}/`, f.keys.admin, { product_description: 'x' })).statusCode).toBe(200)
    expect((await req('PUT', `${projects(f.org.id)}/${id}/`, f.keys.admin, { product_description: 'y' })).statusCode).toBe(403)
  })

  it('an unlimited entitlement still has the hard cap of 2000', async () => {
    const f = await freshOrg(withFeature(GENEROUS_ENTITLEMENTS, { key: 'organizations_projects', name: 'Projects', limit: null }))
    await t.db.query(
      `WITH p AS (INSERT INTO projects (organization_id, name) SELECT $1, 'bulk ' || g FROM generate_series(1, 1999) g RETURNING id, name)
       INSERT INTO teams (id, project_id, organization_id, name, api_token) SELECT id, id, $1, name, 'phc_bulk_' || id FROM p`,
      [f.org.id],
    )
    const res = await req('POST', projects(f.org.id), f.keys.admin, { name: 'One too many' })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe("You have reached the maximum limit of 2000 projects per organization. Contact support if you'd like access to more projects.")
  })
})

describe('case 11: who can create', () => {
  it('members need members_can_create_projects and the invite-settings entitlement', async () => {
    const f = await freshOrg()
    await t.db.query(`UPDATE organizations SET members_can_create_projects = false WHERE id = $1`, [f.org.id])
    const denied = await req('POST', projects(f.org.id), f.keys.member, { name: 'By member' })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe('You need to be an organization admin or above to create new projects.')
    await t.db.query(`UPDATE organizations SET members_can_create_projects = true WHERE id = $1`, [f.org.id])
    const ok = await req('POST', projects(f.org.id), f.keys.member, { name: 'By member' })
    expect(ok.statusCode).toBe(201)
    await t.services.organizations.setEntitlements(f.org.id, without('organization_invite_settings'))
    const noFeature = await req('POST', projects(f.org.id), f.keys.member, { name: 'By member 2' })
    expect(noFeature.statusCode).toBe(403)
    // Demo projects only need membership; a value that is not true is no demo.
    for (const notDemo of ['0', 'false', 0, false, null]) {
      const res = await req('POST', projects(f.org.id), f.keys.member, { name: 'Sneaky', is_demo: notDemo })
      expect(res.statusCode, String(notDemo)).toBe(403)
    }
    const demo = await req('POST', projects(f.org.id), f.keys.member, { name: 'Member demo', is_demo: 'true' })
    expect(demo.statusCode).toBe(201)
    expect(demo.json().is_demo).toBe(true)
  })

  it('admin-only fields on create: a member is refused, an admin is not', async () => {
    const f = await freshOrg()
    const denied = await req('POST', projects(f.org.id), f.keys.member, { name: 'Logs', receive_org_level_activity_logs: true })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe('Only organization admins can set these settings on project creation: receive_org_level_activity_logs')
    const two = await req('POST', projects(f.org.id), f.keys.member, { name: 'Logs', timezone: 'Europe/Lisbon', anonymize_ips: true })
    expect(two.json().detail).toBe('Only organization admins can set these settings on project creation: anonymize_ips, timezone')
    expect(await t.db.query(`SELECT 1 FROM projects WHERE organization_id = $1 AND name = 'Logs'`, [f.org.id])).toHaveLength(0)
    const ok = await req('POST', projects(f.org.id), f.keys.admin, { name: 'Logs', receive_org_level_activity_logs: true })
    expect(ok.statusCode).toBe(201)
    expect(ok.json().receive_org_level_activity_logs).toBe(true)
  })

  it('a non-member gets 403, an unknown organization 404', async () => {
    const res = await req('POST', projects(w.other.id), w.keys.member, { name: 'x' })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('You do not have permission to perform this action.')
    const missing = await req('POST', projects('00000000-0000-0000-0000-000000000000'), w.keys.member, { name: 'x' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json().detail).toBe('Organization not found.')
  })
})

describe('case 12: create defaults and names', () => {
  it('creates "Default project 2" with every default, switches the current project, logs it', async () => {
    const f = await freshOrg()
    const res = await req('POST', projects('@current').replace('@current', f.org.id), f.keys.admin, {})
    expect(res.statusCode).toBe(201)
    const p = res.json()
    expect(p.name).toBe('Default project 2')
    expect(p.api_token).toMatch(/^phc_[0-9A-Za-z]{20,}$/)
    expect(p.timezone).toBe('UTC')
    expect(p.session_recording_retention_period).toBe('30d')
    expect(p.test_account_filters).toEqual([{ key: 'id', type: 'cohort', value: expect.any(Number), operator: 'not_in' }])
    const cohort = await t.db.query<{ name: string; team_id: number }>(`SELECT name, team_id FROM cohorts WHERE id = $1`, [p.test_account_filters[0].value])
    expect(cohort).toEqual([{ name: 'Internal / Test users', team_id: p.id }])
    // PostHog's starter dashboard: pinned, in the new project, its primary dashboard.
    expect(p.primary_dashboard).toEqual(expect.any(Number))
    const dashboards = await t.db.query<{ id: number; name: string; pinned: boolean }>(`SELECT id, name, pinned FROM dashboards WHERE team_id = $1`, [p.id])
    expect(dashboards).toEqual([{ id: p.primary_dashboard, name: 'My App Dashboard', pinned: true }])
    expect(p.is_pending_deletion).toBe(false)
    expect(p.project_id).toBe(p.id)
    expect(p.effective_membership_level).toBe(8)
    expect(p.user_access_level).toBe('admin')
    expect(p.organization).toBe(f.org.id)
    // Defaults of C.2
    expect(p).toMatchObject({
      product_description: null,
      app_urls: [],
      anonymize_ips: false,
      completed_snippet_onboarding: false,
      ingested_event: false,
      test_account_filters_default_checked: null,
      path_cleaning_filters: [],
      is_demo: false,
      data_attributes: ['data-attr'],
      person_display_name_properties: null,
      correlation_config: {},
      autocapture_opt_out: null,
      capture_console_log_opt_in: true,
      capture_performance_opt_in: true,
      session_recording_opt_in: false,
      session_recording_sample_rate: null,
      session_recording_minimum_duration_milliseconds: null,
      session_recording_url_trigger_config: [],
      session_recording_url_blocklist_config: [],
      session_recording_event_trigger_config: [],
      session_replay_config: null,
      survey_config: null,
      access_control: false,
      week_start_day: null,
      extra_settings: { recorder_script: 'posthog-recorder', starter_dashboard_variant: 'control' },
      modifiers: null,
      flags_persistence_default: false,
      secret_api_token: null,
      secret_api_token_backup: null,
      receive_org_level_activity_logs: false,
      business_model: null,
      base_currency: 'USD',
      capture_dead_clicks: false,
      cookieless_server_hash_mode: 0,
      human_friendly_comparison_periods: false,
      default_data_theme: null,
      has_group_types: false,
      group_types: [],
      product_intents: [],
      tags: [],
      managed_viewsets: { revenue_analytics: false },
    })
    expect(Array.isArray(p.available_setup_task_ids)).toBe(true)
    const admin = await t.db.query<{ current_team_id: number }>(`SELECT current_team_id FROM users WHERE id = $1`, [f.admin.id])
    expect(admin[0].current_team_id).toBe(p.id)
    const log = await t.db.query<{ scope: string }>(`SELECT scope FROM activity_log WHERE item_id = $1 AND activity = 'created' ORDER BY scope`, [String(p.id)])
    expect(log.map((l) => l.scope)).toEqual(['Project', 'Team'])
  })

  it('the live events token is a livestream JWT for 7 days signed with SECRET_KEY', async () => {
    const res = await req('GET', `${projects()}/${w.org.projectId}/`, w.keys.admin)
    const token: string = res.json().live_events_token
    const [h, p, s] = token.split('.')
    expect(createHmac('sha256', 'test-secret-key-0123456789').update(`${h}.${p}`).digest('base64url')).toBe(s)
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    expect(claims).toMatchObject({ aud: 'livestream', team_id: w.org.projectId, api_token: res.json().api_token, user_id: w.admin.id, organization_id: w.org.id })
    expect(claims.exp - claims.iat).toBe(7 * 24 * 3600)
  })

  it('a duplicate name, compared trimmed and case-insensitively, is 409', async () => {
    const f = await freshOrg()
    expect((await req('POST', projects(f.org.id), f.keys.admin, {})).statusCode).toBe(201)
    const res = await req('POST', projects(f.org.id), f.keys.admin, { name: '  default PROJECT 2 ' })
    expect(res.statusCode).toBe(409)
    expect(res.json()).toEqual({
      type: 'server_error',
      code: 'conflict',
      detail: 'There is already a project called "default PROJECT 2" in this organization. Choose a different name.',
      attr: null,
    })
    // Renaming onto a taken name is a conflict too.
    const other = await req('POST', projects(f.org.id), f.keys.admin, { name: 'Other' })
    const rename = await req('PATCH', `${projects(f.org.id)}/${other.json().id}/`, f.keys.admin, { name: 'DEFAULT project' })
    expect(rename.statusCode).toBe(409)
    // Another organization may use the name.
    expect((await req('POST', projects(w.org.id), w.keys.admin, { name: 'Default project 2' })).statusCode).toBe(201)
  })

  it('primary_dashboard cannot be set on creation; analytics sub-configs sent on create are dropped; test_account_filters are overwritten', async () => {
    const f = await freshOrg()
    const dash = await req('POST', projects(f.org.id), f.keys.admin, { name: 'D', primary_dashboard: 1 })
    expect(dash.statusCode).toBe(400)
    expect(dash.json()).toMatchObject({ attr: 'primary_dashboard', detail: 'Primary dashboard cannot be set on project creation.' })
    const res = await req('POST', projects(f.org.id), f.keys.admin, {
      name: 'Configs',
      marketing_analytics_config: { attribution_window_days: 30 },
      test_account_filters: [{ key: 'email', type: 'person', operator: 'is_set' }],
      id: 999999,
      api_token: 'phc_mine',
    })
    expect(res.statusCode).toBe(201)
    expect(res.json().marketing_analytics_config.attribution_window_days).toBe(90)
    expect(res.json().test_account_filters[0].type).toBe('cohort')
    expect(res.json().id).not.toBe(999999)
    expect(res.json().api_token).not.toBe('phc_mine')
  })
})

describe('case 13 and C.8: update validation', () => {
  const patch = (payload: unknown) => req('PATCH', `${projects()}/${w.org.projectId}/`, w.keys.admin, payload)
  const invalid = async (payload: unknown, expected: { attr?: string | null; code?: string; detail?: string; status?: number }) => {
    const res = await patch(payload)
    expect(res.statusCode, JSON.stringify(payload) + ' ' + res.body).toBe(expected.status ?? 400)
    expectErrorShape(res.json())
    const body = res.json()
    if ('attr' in expected) expect(body.attr).toBe(expected.attr)
    if (expected.code) expect(body.code).toBe(expected.code)
    if (expected.detail) expect(body.detail).toContain(expected.detail)
    return body
  }
  const valid = async (payload: Record<string, unknown>, check?: (p: Record<string, unknown>) => void) => {
    const res = await patch(payload)
    expect(res.statusCode, JSON.stringify(payload) + ' ' + res.body).toBe(200)
    if (check) check(res.json())
    else for (const [k, v] of Object.entries(payload)) expect(res.json()[k]).toEqual(v)
    return res.json()
  }

  it('timezone', async () => {
    expect(await invalid({ timezone: 'America/I_Dont_Exist' }, {})).toEqual({
      type: 'validation_error',
      code: 'invalid_choice',
      detail: '"America/I_Dont_Exist" is not a valid choice.',
      attr: 'timezone',
    })
    await valid({ timezone: 'Europe/Lisbon' })
    await valid({ timezone: 'UTC' })
  })

  it('session_recording_sample_rate', async () => {
    await invalid({ session_recording_sample_rate: '1.5' }, { attr: 'session_recording_sample_rate', code: 'max_value', detail: 'Ensure this value is less than or equal to 1.' })
    expect(await invalid({ session_recording_sample_rate: 'Welwyn Garden City' }, {})).toEqual({
      attr: 'session_recording_sample_rate',
      code: 'invalid_input',
      detail: 'A valid number is required.',
      type: 'validation_error',
    })
    await invalid({ session_recording_sample_rate: -1 }, { code: 'min_value', detail: 'Ensure this value is greater than or equal to 0.' })
    await invalid({ session_recording_sample_rate: 0.534 }, { code: 'max_decimal_places', detail: 'Ensure that there are no more than 2 decimal places.' })
    await valid({ session_recording_sample_rate: 0.4 }, (p) => expect(p.session_recording_sample_rate).toBe('0.40'))
    await valid({ session_recording_sample_rate: '1' }, (p) => expect(p.session_recording_sample_rate).toBe('1.00'))
    await valid({ session_recording_sample_rate: null })
  })

  it('session_recording_minimum_duration_milliseconds', async () => {
    await invalid({ session_recording_minimum_duration_milliseconds: 30001 }, { detail: 'Ensure this value is less than or equal to 30000.', code: 'max_value' })
    await invalid({ session_recording_minimum_duration_milliseconds: -1 }, { code: 'min_value' })
    await invalid({ session_recording_minimum_duration_milliseconds: '0.5' }, { detail: 'A valid integer is required.' })
    await invalid({ session_recording_minimum_duration_milliseconds: 'text' }, { detail: 'A valid integer is required.' })
    await valid({ session_recording_minimum_duration_milliseconds: 5000 })
  })

  it('week_start_day', async () => {
    await invalid({ week_start_day: 3 }, { code: 'invalid_choice', attr: 'week_start_day' })
    await valid({ week_start_day: 1 })
    await valid({ week_start_day: null })
  })

  it('primary_dashboard: a dashboard of this team, of another team, none, null', async () => {
    const [own] = await t.db.query<{ primary_dashboard: number }>(`SELECT primary_dashboard FROM teams WHERE id = $1`, [w.org.projectId])
    expect(own.primary_dashboard).toEqual(expect.any(Number))
    const [second] = await t.db.query<{ id: number }>(`INSERT INTO dashboards (team_id, name, pinned) VALUES ($1, 'Second', false) RETURNING id`, [w.org.projectId])
    await valid({ primary_dashboard: second.id })
    await valid({ primary_dashboard: String(own.primary_dashboard) }, (p) => expect(p.primary_dashboard).toBe(own.primary_dashboard))

    // Another organization's default project has its own starter dashboard.
    const f = await freshOrg()
    const [other] = await t.db.query<{ primary_dashboard: number }>(`SELECT primary_dashboard FROM teams WHERE id = $1`, [f.org.projectId])
    expect(other.primary_dashboard).toEqual(expect.any(Number))
    expect(await invalid({ primary_dashboard: other.primary_dashboard }, {})).toEqual({
      type: 'validation_error',
      code: 'invalid_input',
      detail: 'Dashboard does not belong to this team.',
      attr: 'primary_dashboard',
    })
    const [{ max }] = await t.db.query<{ max: number }>(`SELECT max(id) AS max FROM dashboards`)
    expect(await invalid({ primary_dashboard: max + 1000 }, {})).toEqual({
      type: 'validation_error',
      code: 'does_not_exist',
      detail: `Invalid pk "${max + 1000}" - object does not exist.`,
      attr: 'primary_dashboard',
    })
    await invalid({ primary_dashboard: 2 ** 40 }, { attr: 'primary_dashboard', code: 'does_not_exist' })
    await invalid({ primary_dashboard: true }, { attr: 'primary_dashboard', code: 'incorrect_type', detail: 'Incorrect type. Expected pk value, received bool.' })
    await invalid({ primary_dashboard: 'x' }, { attr: 'primary_dashboard', code: 'incorrect_type', detail: 'Incorrect type. Expected pk value, received str.' })
    // The refused values changed nothing.
    expect((await req('GET', `${projects()}/${w.org.projectId}/`, w.keys.admin)).json().primary_dashboard).toBe(own.primary_dashboard)
    await valid({ primary_dashboard: null })
    // Deleting the primary dashboard clears it.
    await valid({ primary_dashboard: second.id })
    await t.db.query(`DELETE FROM dashboards WHERE id = $1`, [second.id])
    expect((await req('GET', `${projects()}/${w.org.projectId}/`, w.keys.admin)).json().primary_dashboard).toBeNull()
  })

  it('access_control is deprecated', async () => {
    await invalid({ access_control: true }, { detail: 'deprecated', attr: 'access_control' })
    await invalid({ access_control: false, name: 'Whatever' }, { detail: 'deprecated' })
    const name = (await t.db.query<{ name: string }>(`SELECT name FROM projects WHERE id = $1`, [w.org.projectId]))[0].name
    expect(name).not.toBe('Whatever')
  })

  it('name', async () => {
    await invalid({ name: '   ' }, { code: 'blank', detail: 'This field may not be blank.', attr: 'name' })
    await invalid({ name: 'x'.repeat(201) }, { code: 'max_length', detail: 'Ensure this field has no more than 200 characters.' })
    await invalid({ name: null }, { code: 'null' })
    await valid({ name: '  Renamed  ' }, (p) => expect(p.name).toBe('Renamed'))
    const team = await t.db.query<{ name: string }>(`SELECT name FROM teams WHERE id = $1`, [w.org.projectId])
    expect(team[0].name).toBe('Renamed')
  })

  it('product_description', async () => {
    await invalid({ product_description: 'x'.repeat(1001) }, { code: 'max_length', attr: 'product_description' })
    await valid({ product_description: 'An app' })
    await valid({ product_description: null })
  })

  it('session_recording_linked_flag', async () => {
    await invalid({ session_recording_linked_flag: 'flag' }, { detail: 'Must provide a dictionary or None.' })
    await invalid({ session_recording_linked_flag: { id: 1 } }, { detail: "Must provide a dictionary with only 'id' and 'key' keys." })
    await invalid({ session_recording_linked_flag: { id: 1.5, key: 'k' } }, { detail: "Must provide an integer 'id'." })
    await invalid({ session_recording_linked_flag: { id: true, key: 'k' } }, { detail: "Must provide an integer 'id'." })
    await valid({ session_recording_linked_flag: { id: '7', key: 'k', variant: 'v' } }, (p) => expect(p.session_recording_linked_flag).toEqual({ id: 7, key: 'k', variant: 'v' }))
    await valid({ session_recording_linked_flag: null })
  })

  it('session_recording_network_payload_capture_config and masking config', async () => {
    await invalid({ session_recording_network_payload_capture_config: { recordHeaders: true, other: 1 } }, { attr: 'session_recording_network_payload_capture_config' })
    await valid({ session_recording_network_payload_capture_config: { recordHeaders: true, recordBody: false } })
    await invalid({ session_recording_masking_config: { maskAllInputs: 'yes' } }, { detail: 'maskAllInputs must be a boolean.' })
    await invalid({ session_recording_masking_config: { maskTextSelector: 1 } }, { detail: 'maskTextSelector must be a string.' })
    await invalid({ session_recording_masking_config: { nope: true } }, { attr: 'session_recording_masking_config' })
    await valid({ session_recording_masking_config: { maskAllInputs: true, blockSelector: '.secret' } })
  })

  it('session_recording_trigger_match_type_config follows the Team rule', async () => {
    await invalid({ session_recording_trigger_match_type_config: 'some' }, { code: 'invalid_choice' })
    await valid({ session_recording_trigger_match_type_config: 'any' })
    await valid({ session_recording_trigger_match_type_config: null })
  })

  it('session_recording_trigger_groups (v2)', async () => {
    const group = { id: 'g1', sampleRate: 0.5, minDurationMs: 1000, conditions: { matchType: 'all', events: ['$pageview', { name: 'signup', properties: [{ key: 'plan', type: 'event', operator: 'exact', value: 'pro' }] }], urls: [{ url: '^https://a\\.com', matching: 'regex' }], flag: { key: 'f' } } }
    await valid({ session_recording_trigger_groups: { version: 2, groups: [group], fallbackSampleRate: 0.1 } })
    await invalid({ session_recording_trigger_groups: { version: 2, groups: [{ ...group, sampleRate: 1.5 }] } }, { detail: "Group 0: invalid sampleRate '1.5'. Must be a number between 0 and 1." })
    await invalid({ session_recording_trigger_groups: { version: 2, groups: [{ ...group, sampleRate: true }] } }, { detail: 'Group 0: invalid sampleRate' })
    await invalid({ session_recording_trigger_groups: { version: 1, groups: [] } }, { attr: 'session_recording_trigger_groups' })
    await invalid({ session_recording_trigger_groups: { version: 2, groups: [{ ...group, conditions: { urls: [{ url: '(', matching: 'regex' }] } }] } }, { detail: 'Group 0' })
    await invalid({ session_recording_trigger_groups: { version: 2, groups: [{ ...group, conditions: { properties: [{ key: 'a', type: 'group', value: 1 }] } }] } }, { detail: 'Group 0' })
    await invalid({ session_recording_trigger_groups: { version: 2, groups: [{ ...group, minDurationMs: 30001 }] } }, { detail: 'minDurationMs' })
    await valid({ session_recording_trigger_groups: null })
  })

  it('session_replay_config allows record_canvas and ai_config keys only, and merges two levels', async () => {
    await invalid({ session_replay_config: { nope: 1 } }, { detail: 'Must provide a dictionary with only allowed keys' })
    await invalid({ session_replay_config: { ai_config: { nope: 1 } } }, { detail: 'Must provide a dictionary with only allowed keys' })
    await valid({ session_replay_config: { record_canvas: true, ai_config: { opt_in: true, preferred_events: ['a'] } } })
    await valid({ session_replay_config: { ai_config: { excluded_events: ['b'] } } }, (p) =>
      expect(p.session_replay_config).toEqual({ record_canvas: true, ai_config: { opt_in: true, preferred_events: ['a'], excluded_events: ['b'] } }),
    )
    await valid({ session_replay_config: null })
  })

  it('booleans', async () => {
    await invalid({ autocapture_exceptions_opt_in: 'maybe' }, { detail: 'Must be a valid boolean.', attr: 'autocapture_exceptions_opt_in' })
    await invalid({ anonymize_ips: null }, { code: 'null', attr: 'anonymize_ips' })
    await valid({ autocapture_exceptions_opt_in: true, heatmaps_opt_in: false, capture_dead_clicks: null })
  })

  it('autocapture_exceptions_errors_to_ignore (no attr)', async () => {
    await invalid({ autocapture_exceptions_errors_to_ignore: 'x' }, { attr: null, detail: 'Must provide a list for field: autocapture_exceptions_errors_to_ignore.' })
    await invalid({ autocapture_exceptions_errors_to_ignore: [1] }, { attr: null, detail: 'Must provide a list of strings to field: autocapture_exceptions_errors_to_ignore.' })
    await invalid({ autocapture_exceptions_errors_to_ignore: ['x'.repeat(300)] }, { attr: null, detail: 'must be less than 300 characters' })
    await valid({ autocapture_exceptions_errors_to_ignore: ['ResizeObserver loop'] })
  })

  it('app_urls', async () => {
    await valid({ app_urls: ['https://a.com', null, '', 'https://b.com'] }, (p) => expect(p.app_urls).toEqual(['https://a.com', 'https://b.com']))
    await invalid({ app_urls: ['https://*.*.*.*.*.*.example.com'] }, { detail: 'Each URL can include up to 5 wildcards. Remove the extra ones from this entry.', attr: 'app_urls' })
    await valid({ app_urls: ['https://*.example.com/*/*/*/*/*/*/*'] })
    await invalid({ app_urls: ['http://['] }, { attr: 'app_urls' })
    await invalid({ app_urls: ['x'.repeat(201)] }, { code: 'max_length' })
    await valid({ app_urls: null }, (p) => expect(p.app_urls).toEqual([]))
  })

  it('recording_domains', async () => {
    await valid({ recording_domains: ['https://a.com', null, ''] }, (p) => expect(p.recording_domains).toEqual(['https://a.com']))
    await invalid({ recording_domains: ['x'.repeat(201)] }, { code: 'max_length', attr: 'recording_domains__0' })
    await invalid({ recording_domains: 'https://a.com' }, { code: 'not_a_list', attr: 'recording_domains' })
    await valid({ recording_domains: null })
  })

  it('test_account_filters', async () => {
    await invalid({ test_account_filters: [{ type: 'person', value: 'x' }] }, { attr: 'test_account_filters', detail: 'Must provide an array of valid property filters.' })
    await invalid({ test_account_filters: [{ key: 'a', type: 'nope', value: 'x' }] }, { attr: 'test_account_filters' })
    await invalid({ test_account_filters: [{ key: 'a', type: 'person', operator: 'sounds_like', value: 'x' }] }, { attr: 'test_account_filters' })
    await invalid({ test_account_filters: [{ key: 'id', type: 'cohort', value: 'abc' }] }, { attr: 'test_account_filters' })
    await invalid({ test_account_filters: 'x' }, { attr: 'test_account_filters' })
    await valid({ test_account_filters: [{ key: 'email', type: 'person', operator: 'is_set' }] })
  })

  it('path_cleaning_filters', async () => {
    await invalid({ path_cleaning_filters: 'x' }, { detail: 'Must provide a list of path cleaning rules.' })
    await invalid({ path_cleaning_filters: [{ alias: 'a' }] }, { detail: 'A path cleaning rule needs a regex. Remove the rule or give it one.' })
    await invalid({ path_cleaning_filters: [{ regex: '(' }] }, { detail: "Invalid path cleaning regex '('" })
    await invalid({ path_cleaning_filters: [{ regex: '(?=a)' }] }, { detail: 'Invalid path cleaning regex' })
    await invalid({ path_cleaning_filters: [{ regex: '/u/(\\d+)', alias: '/u/\\2' }] }, { detail: "The alias '/u/\\2' references capture group \\2, but its regex has 1 capture group(s)." })
    await valid({ path_cleaning_filters: [{ regex: '/u/(\\d+)', alias: '/u/\\1' }] })
    await valid({ path_cleaning_filters: null })
  })

  it('modifiers: shallow merge, bounce rate bounds, unknown keys', async () => {
    await invalid({ modifiers: { bounceRateDurationSeconds: 121 } }, { attr: 'bounceRateDurationSeconds', detail: 'Must be between 1 and 120 seconds.' })
    await invalid({ modifiers: { whatever: 1 } }, { detail: 'Invalid modifier key.' })
    await valid({ modifiers: { bounceRateDurationSeconds: 30 } })
    await valid({ modifiers: { personsOnEventsMode: 'disabled' } }, (p) => expect(p.modifiers).toEqual({ bounceRateDurationSeconds: 30, personsOnEventsMode: 'disabled' }))
  })

  it('logs_settings: retention choices, entitlement, once per day', async () => {
    await invalid({ logs_settings: { retention_days: 7 } }, { detail: 'retention_days must be one of [14, 30]' })
    const denied = await patch({ logs_settings: { retention_days: 30 } })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe('This organization does not have permission to set Logs retention to 30 days.')
    await t.services.organizations.setEntitlements(w.org.id, [...GENEROUS_ENTITLEMENTS, { key: 'logs_retention_30_days', name: 'Logs 30' }, { key: 'logs_retention_14_days', name: 'Logs 14' }])
    try {
      await valid({ logs_settings: { retention_days: 30 } }, (p) => expect((p.logs_settings as Record<string, unknown>).retention_days).toBe(30))
      await invalid({ logs_settings: { retention_days: 14 } }, { detail: 'You can only update retention settings once per 24 hours. Please wait 24 more hour(s).' })
    } finally {
      await t.services.organizations.setEntitlements(w.org.id, GENEROUS_ENTITLEMENTS)
    }
  })

  it('conversations: widget_domains rule, token generated and cleared, merge', async () => {
    await invalid({ conversations_settings: { widget_domains: ['https://*.*.*.*.*.*.a.com'] } }, { detail: 'Each URL can include up to 5 wildcards.' })
    const on = await valid({ conversations_enabled: true }, (p) => expect(typeof (p.conversations_settings as Record<string, unknown>).widget_public_token).toBe('string'))
    const token = (on.conversations_settings as Record<string, unknown>).widget_public_token
    await valid({ conversations_settings: { widget_domains: ['https://a.com', null], widget_public_token: 'mine' } }, (p) =>
      expect(p.conversations_settings).toEqual({ widget_public_token: token, widget_domains: ['https://a.com'] }),
    )
    await valid({ conversations_enabled: false }, (p) => expect((p.conversations_settings as Record<string, unknown>).widget_public_token).toBeNull())
  })

  it('proactive_tasks_enabled', async () => {
    await invalid({ proactive_tasks_enabled: true }, { status: 403, detail: 'Proactive tasks can only be enabled for authorized teams.' })
    await valid({ proactive_tasks_enabled: false })
  })

  it('session_recording_retention_period against the entitlement', async () => {
    await invalid({ session_recording_retention_period: '2y' }, { code: 'invalid_choice' })
    await valid({ session_recording_retention_period: '1y' })
    await t.services.organizations.setEntitlements(w.org.id, withFeature(GENEROUS_ENTITLEMENTS, { key: 'session_replay_data_retention', name: 'r', limit: 90, unit: 'days' }))
    try {
      const res = await invalid({ session_recording_retention_period: '5y' }, { status: 403 })
      expect(res.detail).toBe("This organization does not have permission to set retention period of length '5y' - longest allowable retention period is '90d'.")
      await valid({ session_recording_retention_period: '90d' })
    } finally {
      await t.services.organizations.setEntitlements(w.org.id, GENEROUS_ENTITLEMENTS)
    }
  })

  it('base_currency, business_model, cookieless_server_hash_mode', async () => {
    await invalid({ base_currency: 'XXX' }, { code: 'invalid_choice', attr: 'base_currency' })
    await valid({ base_currency: 'EUR' })
    await invalid({ business_model: 'b2z' }, { code: 'invalid_choice' })
    await valid({ business_model: 'b2b' })
    await valid({ business_model: '' })
    await invalid({ cookieless_server_hash_mode: 3 }, { code: 'invalid_choice' })
    await valid({ cookieless_server_hash_mode: 2 })
  })

  it('analytics configs: nested rules, partial updates, sources_map merge', async () => {
    await invalid({ marketing_analytics_config: { attribution_window_days: 91 } }, { attr: 'marketing_analytics_config', detail: 'attribution_window_days' })
    await invalid({ marketing_analytics_config: { attribution_mode: 'random' } }, { attr: 'marketing_analytics_config' })
    await valid({ marketing_analytics_config: { sources_map: { a: { x: 1 }, b: { y: 2 } }, attribution_window_days: 30 } }, (p) =>
      expect(p.marketing_analytics_config).toMatchObject({ sources_map: { a: { x: 1 }, b: { y: 2 } }, attribution_window_days: 30, conversion_goals: [] }),
    )
    await valid({ marketing_analytics_config: { sources_map: { a: null, b: { z: 3 } } } }, (p) => {
      const m = p.marketing_analytics_config as Record<string, unknown>
      expect(m.sources_map).toEqual({ b: { y: 2, z: 3 } })
      expect(m.attribution_window_days).toBe(30)
      expect(m.attribution_mode).toBe('last_touch')
    })
    await invalid({ customer_analytics_config: { account_group_type_index: 9 } }, { attr: 'customer_analytics_config' })
    await invalid({ workflows_config: { email_tracking_consent_mode: 'always' } }, { attr: 'workflows_config' })
    await valid({ workflows_config: { email_tracking_consent_mode: 'opt_in' } }, (p) =>
      expect(p.workflows_config).toEqual({ capture_workflows_engagement_events: false, email_tracking_consent_mode: 'opt_in' }),
    )
    await invalid({ revenue_analytics_config: { base_currency: 'NOPE' } }, { attr: 'revenue_analytics_config' })
  })

  it('survey_config merges shallowly and null clears', async () => {
    await valid({ survey_config: { appearance: { a: 1 } } })
    await valid({ survey_config: { other: true } }, (p) => expect(p.survey_config).toEqual({ appearance: { a: 1 }, other: true }))
    await valid({ survey_config: null })
    const log = await t.db.query(`SELECT 1 FROM activity_log WHERE scope = 'Survey' AND item_id = $1`, [String(w.org.projectId)])
    expect(log.length).toBeGreaterThan(0)
  })

  it('read-only fields are ignored; default_data_theme is hidden without the data color themes feature', async () => {
    const before = (await req('GET', `${projects()}/${w.org.projectId}/`, w.keys.admin)).json()
    const res = await patch({ id: 1, api_token: 'phc_x', uuid: '00000000-0000-0000-0000-000000000000', ingested_event: true, secret_api_token: 'phs_x', is_pending_deletion: true, effective_membership_level: 15, default_data_theme: 3 })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ id: before.id, api_token: before.api_token, uuid: before.uuid, ingested_event: false, secret_api_token: null, is_pending_deletion: false, default_data_theme: 3 })
    await t.services.organizations.setEntitlements(w.org.id, without('data_color_themes'))
    try {
      expect((await req('GET', `${projects()}/${w.org.projectId}/`, w.keys.admin)).json().default_data_theme).toBeNull()
    } finally {
      await t.services.organizations.setEntitlements(w.org.id, GENEROUS_ENTITLEMENTS)
    }
  })

  it('each change is logged with before and after', async () => {
    await patch({ timezone: 'Asia/Tokyo' })
    await patch({ timezone: 'Europe/Paris', product_description: 'desc 2' })
    const rows = await t.db.query<{ scope: string; detail: { changes: Array<{ field: string; before: unknown; after: unknown }> } }>(
      `SELECT scope, detail FROM activity_log WHERE item_id = $1 AND activity = 'updated' ORDER BY id DESC LIMIT 2`,
      [String(w.org.projectId)],
    )
    const all = rows.flatMap((r) => r.detail.changes.map((c) => ({ scope: r.scope, ...c })))
    expect(all).toContainEqual({ scope: 'Team', type: 'Team', action: 'changed', field: 'timezone', before: 'Asia/Tokyo', after: 'Europe/Paris' })
    expect(all).toContainEqual(expect.objectContaining({ scope: 'Project', field: 'product_description', after: 'desc 2' }))
    // An unchanged value writes no log row.
    const count = async () => (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM activity_log WHERE item_id = $1`, [String(w.org.projectId)]))[0].n
    const n = await count()
    await patch({ timezone: 'Europe/Paris' })
    expect(await count()).toBe(n)
  })
})

describe('case 14: member field gating', () => {
  it('without access control, members may change only member-safe fields; the whole request is rejected', async () => {
    const f = await freshOrg(without('access_control'))
    const url = `${projects(f.org.id)}/${f.org.projectId}/`
    const tz = await req('PATCH', url, f.keys.member, { timezone: 'Europe/Lisbon' })
    expect(tz.statusCode).toBe(403)
    expect(tz.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: 'Only project admins can modify these settings: timezone', attr: null })
    expect((await req('PATCH', url, f.keys.member, { name: 'x' })).statusCode).toBe(403)
    const mixed = await req('PATCH', url, f.keys.member, { surveys_opt_in: true, timezone: 'Europe/Lisbon', app_urls: [] })
    expect(mixed.statusCode).toBe(403)
    expect(mixed.json().detail).toBe('Only project admins can modify these settings: app_urls, timezone')
    const row = await t.db.query<{ surveys_opt_in: boolean | null }>(`SELECT surveys_opt_in FROM teams WHERE id = $1`, [f.org.projectId])
    expect(row[0].surveys_opt_in).toBeNull()
    // Unchanged values are gated too.
    expect((await req('PATCH', url, f.keys.member, { timezone: 'UTC' })).statusCode).toBe(403)
    const ok = await req('PATCH', url, f.keys.member, { session_recording_opt_in: true, surveys_opt_in: true, product_description: 'members may' })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({ session_recording_opt_in: true, surveys_opt_in: true, product_description: 'members may', effective_membership_level: 1, user_access_level: 'member' })
    expect((await req('PATCH', url, f.keys.admin, { timezone: 'Europe/Lisbon' })).statusCode).toBe(200)
    // Field validation comes before the gate, as in PostHog's serializer.
    expect((await req('PATCH', url, f.keys.member, { timezone: 'Nowhere/Land' })).statusCode).toBe(400)
  })

  it('API key scopes: project:read cannot PATCH, project:write can', async () => {
    const readKey = await createKey(t.services, w.admin, ['project:read'])
    const res = await req('PATCH', `${projects()}/${w.org.projectId}/`, readKey, { timezone: 'Europe/Lisbon' })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toContain('project:write')
    const writeKey = await createKey(t.services, w.admin, ['project:write'])
    expect((await req('PATCH', `${projects()}/${w.org.projectId}/`, writeKey, { timezone: 'Europe/Lisbon' })).statusCode).toBe(200)
    expect((await req('GET', `${projects()}/${w.org.projectId}/`, writeKey)).statusCode).toBe(200)
  })

  it('receive_org_level_activity_logs needs an organization admin', async () => {
    const f = await freshOrg()
    // With access control and no rows a member is a project admin, yet still not an org admin.
    const url = `${projects(f.org.id)}/${f.org.projectId}/`
    const res = await req('PATCH', url, f.keys.member, { receive_org_level_activity_logs: true })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('Only organization owners and admins can modify the receive_org_level_activity_logs setting.')
    expect((await req('PATCH', url, f.keys.admin, { receive_org_level_activity_logs: true })).statusCode).toBe(200)
  })
})

describe('case 15: delete', () => {
  it('members get 403; admins 204; pending at once; a second DELETE 400; the job removes everything', async () => {
    const f = await freshOrg(without('access_control'))
    const created = (await req('POST', projects(f.org.id), f.keys.admin, { name: 'Doomed' })).json()
    const url = `${projects(f.org.id)}/${created.id}/`
    const scopedKey = await createKey(t.services, f.admin, ['*'], { scoped_teams: [created.id, f.org.projectId] })
    const onlyThisKey = await createKey(t.services, f.admin, ['*'], { scoped_teams: [created.id] })
    await t.db.query(`INSERT INTO project_access (project_id, membership_id, access_level) VALUES ($1, NULL, 'member')`, [created.id])
    const denied = await req('DELETE', url, f.keys.member)
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe("You don't have sufficient permissions in the project.")
    const res = await req('DELETE', url, f.keys.admin)
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    const get = await req('GET', url, f.keys.admin)
    expect(get.json().is_pending_deletion).toBe(true)
    const again = await req('DELETE', url, f.keys.admin)
    expect(again.statusCode).toBe(400)
    expect(again.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'This project is already being deleted.', attr: null })
    const jobs = await t.db.query<{ payload: Record<string, unknown> }>(`SELECT payload FROM jobs WHERE kind = 'project.delete' AND payload->>'project_id' = $1`, [String(created.id)])
    expect(jobs).toHaveLength(1)
    expect(jobs[0].payload).toMatchObject({ team_ids: [created.id], project_id: created.id, user_id: f.admin.id, project_name: 'Doomed' })
    // The name is free again while the project is being deleted.
    expect((await req('POST', projects(f.org.id), f.keys.admin, { name: 'Doomed' })).statusCode).toBe(201)

    await t.services.worker.drain()
    expect(await t.db.query(`SELECT 1 FROM projects WHERE id = $1`, [created.id])).toHaveLength(0)
    expect(await t.db.query(`SELECT 1 FROM teams WHERE id = $1`, [created.id])).toHaveLength(0)
    expect(await t.db.query(`SELECT 1 FROM project_access WHERE project_id = $1`, [created.id])).toHaveLength(0)
    const key = await t.db.query<{ scoped_teams: number[] }>(`SELECT scoped_teams FROM personal_api_keys WHERE user_id = $1 AND scoped_teams IS NOT NULL`, [f.admin.id])
    expect(key).toEqual([{ scoped_teams: [f.org.projectId] }])
    // The key that reached only the deleted project is gone, not widened to every project.
    expect((await req('GET', projects(f.org.id), onlyThisKey)).statusCode).toBe(401)
    expect((await req('GET', projects(f.org.id), scopedKey)).json().results.map((p: { id: number }) => p.id)).toEqual([f.org.projectId])
    const log = await t.db.query<{ scope: string }>(`SELECT scope FROM activity_log WHERE item_id = $1 AND activity = 'deleted' ORDER BY scope`, [String(created.id)])
    expect(log.map((l) => l.scope)).toEqual(['Project', 'Team'])
    expect((await req('GET', url, f.keys.admin)).statusCode).toBe(404)
  })

  it('a failed deletion clears the flag so the user can retry', async () => {
    const f = await freshOrg()
    const created = (await req('POST', projects(f.org.id), f.keys.admin, { name: 'Sticky' })).json()
    const url = `${projects(f.org.id)}/${created.id}/`
    await t.db.exec(`CREATE FUNCTION test_block_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'blocked for the test'; END $$;
      CREATE TRIGGER test_block_delete BEFORE DELETE ON projects FOR EACH ROW EXECUTE FUNCTION test_block_delete();`)
    try {
      expect((await req('DELETE', url, f.keys.admin)).statusCode).toBe(204)
      await t.services.worker.drain()
      expect((await req('GET', url, f.keys.admin)).json().is_pending_deletion).toBe(false)
      const job = await t.db.query<{ status: string; last_error: string }>(`SELECT status, last_error FROM jobs WHERE kind = 'project.delete' AND payload->>'project_id' = $1`, [String(created.id)])
      expect(job[0]).toMatchObject({ status: 'failed' })
      expect(job[0].last_error).toContain('blocked for the test')
    } finally {
      await t.db.exec(`DROP TRIGGER test_block_delete ON projects; DROP FUNCTION test_block_delete();`)
    }
    expect((await req('DELETE', url, f.keys.admin)).statusCode).toBe(204)
    await t.services.worker.drain()
    expect((await req('GET', url, f.keys.admin)).statusCode).toBe(404)
  })

  it('cross-organization and invisible private projects are 404', async () => {
    expect((await req('DELETE', `${projects()}/${w.other.projectId}/`, w.keys.admin)).statusCode).toBe(404)
    const f = await freshOrg()
    const hidden = (await req('POST', projects(f.org.id), f.keys.admin, { name: 'Hidden' })).json()
    await t.db.query(`INSERT INTO project_access (project_id, membership_id, access_level) VALUES ($1, NULL, 'none')`, [hidden.id])
    const res = await req('DELETE', `${projects(f.org.id)}/${hidden.id}/`, f.keys.member)
    expect(res.statusCode).toBe(404)
    expect(res.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null })
  })
})

describe('list and retrieve', () => {
  it('lists with the basic serializer, search and pagination', async () => {
    const f = await freshOrg()
    for (const n of ['Alpha web', 'Beta app', 'alphabet soup', '100%_real']) await req('POST', projects(f.org.id), f.keys.admin, { name: n })
    const all = await req('GET', `${projects(f.org.id)}/?limit=2`, f.keys.member)
    expect(all.statusCode).toBe(200)
    const body = all.json()
    expect(body.count).toBe(5)
    expect(body.results).toHaveLength(2)
    expect(body.next).toBe(`http://localhost${projects(f.org.id)}/?limit=2&offset=2`)
    expect(Object.keys(body.results[0]).sort()).toEqual(
      ['access_control', 'api_token', 'completed_snippet_onboarding', 'has_completed_onboarding_for', 'id', 'ingested_event', 'is_demo', 'name', 'organization', 'project_id', 'tags', 'timezone', 'uuid'].sort(),
    )
    const search = await req('GET', `${projects(f.org.id)}/?search=ALPHA`, f.keys.member)
    expect(search.json().results.map((p: { name: string }) => p.name)).toEqual(['Alpha web', 'alphabet soup'])
    const literal = await req('GET', `${projects(f.org.id)}/?search=${encodeURIComponent('%_')}`, f.keys.member)
    expect(literal.json().results.map((p: { name: string }) => p.name)).toEqual(['100%_real'])
    const page2 = await req('GET', `${projects(f.org.id)}/?limit=2&offset=4`, f.keys.member)
    expect(page2.json()).toMatchObject({ count: 5, next: null })
    expect(page2.json().results).toHaveLength(1)
  })

  it('retrieve by id, @current, and /api/projects/:id', async () => {
    const direct = await req('GET', `/api/projects/${w.org.projectId}/`, w.keys.member)
    expect(direct.statusCode).toBe(200)
    expect(direct.json().id).toBe(w.org.projectId)
    await t.db.query(`UPDATE users SET current_team_id = $1 WHERE id = $2`, [w.org.projectId, w.member.id])
    const current = await req('GET', `/api/projects/@current`, w.keys.member)
    expect(current.json().id).toBe(w.org.projectId)
    const nestedCurrent = await req('GET', `${projects('@current')}/@current/`, w.keys.member)
    expect(nestedCurrent.json().id).toBe(w.org.projectId)
    // @current must belong to the URL's organization.
    const otherOrg = await createOrg(t.services, w.member, 'Mine too')
    await t.db.query(`UPDATE users SET current_team_id = $1 WHERE id = $2`, [w.org.projectId, w.member.id])
    expect((await req('GET', `${projects(otherOrg.id)}/@current/`, w.keys.member)).statusCode).toBe(404)
    // Another organization's project: 404 by id, nested or not.
    expect((await req('GET', `${projects()}/${w.other.projectId}/`, w.keys.member)).statusCode).toBe(404)
    expect((await req('GET', `/api/projects/${w.other.projectId}/`, w.keys.member)).statusCode).toBe(404)
    for (const bad of ['abc', '0', '-1', '99999999999', '1.5', '2147483648']) {
      const res = await req('GET', `${projects()}/${bad}/`, w.keys.member)
      expect(res.statusCode, bad).toBe(404)
      expectErrorShape(res.json())
    }
    const patched = await req('PATCH', `/api/projects/${w.org.projectId}/`, w.keys.admin, { product_description: 'via /api/projects' })
    expect(patched.json().product_description).toBe('via /api/projects')
    expect((await req('DELETE', `/api/projects/${w.org.projectId}/`, w.keys.admin)).statusCode).toBe(405)
  })

  it('works with a logged-in session too', async () => {
    const session = await login(t.app, w.admin.email)
    const res = await t.app.inject({ method: 'PATCH', url: `${projects()}/${w.org.projectId}/`, headers: session.headers, payload: { completed_snippet_onboarding: true } })
    expect(res.statusCode).toBe(200)
    expect(res.json().completed_snippet_onboarding).toBe(true)
  })

  it('secret token rotation and api token reset (admins)', async () => {
    const f = await freshOrg(without('access_control'))
    const url = `${projects(f.org.id)}/${f.org.projectId}`
    const first = await req('PATCH', `${url}/rotate_secret_token/`, f.keys.admin)
    expect(first.statusCode).toBe(200)
    expect(first.json().secret_api_token).toMatch(/^phs_/)
    const second = await req('PATCH', `${url}/rotate_secret_token/`, f.keys.admin)
    expect(second.json().secret_api_token_backup).toBe(first.json().secret_api_token)
    const cleared = await req('PATCH', `${url}/delete_secret_token_backup/`, f.keys.admin)
    expect(cleared.json().secret_api_token_backup).toBeNull()
    const reset = await req('PATCH', `${url}/reset_token/`, f.keys.admin)
    expect(reset.json().api_token).toMatch(/^phc_/)
    expect(reset.json().api_token).not.toBe(first.json().api_token)
    expect((await req('PATCH', `${url}/rotate_secret_token/`, f.keys.member)).statusCode).toBe(403)
  })
})

describe('private projects (C.9)', () => {
  it('visibility and levels for members with each access level', async () => {
    const f = await freshOrg()
    const mk = async (name: string) => (await req('POST', projects(f.org.id), f.keys.admin, { name })).json().id as number
    const open = await mk('Open')
    const closed = await mk('Closed')
    const memberOnly = await mk('Member only')
    const granted = await mk('Granted')
    const membership = (await t.db.query<{ id: string }>(`SELECT id FROM memberships WHERE organization_id = $1 AND user_id = $2`, [f.org.id, f.member.id]))[0].id
    const put = (id: number, payload: unknown, key = f.keys.admin) => req('PUT', `${projects(f.org.id)}/${id}/access_controls/`, key, payload)
    expect((await put(closed, { access_level: 'none' })).statusCode).toBe(200)
    expect((await put(memberOnly, { access_level: 'member' })).statusCode).toBe(200)
    expect((await put(granted, { access_level: 'none' })).statusCode).toBe(200)
    expect((await put(granted, { access_level: 'admin', organization_member: membership })).statusCode).toBe(200)

    const list = await req('GET', projects(f.org.id), f.keys.member)
    const names = list.json().results.map((p: { name: string }) => p.name)
    expect(names).toEqual(['Default project', 'Open', 'Member only', 'Granted'])
    expect(list.json().count).toBe(4)
    const get = async (id: number, key = f.keys.member) => req('GET', `${projects(f.org.id)}/${id}/`, key)
    expect((await get(open)).json()).toMatchObject({ effective_membership_level: 8, user_access_level: 'admin' })
    expect((await get(memberOnly)).json()).toMatchObject({ effective_membership_level: 1, user_access_level: 'member' })
    expect((await get(granted)).json()).toMatchObject({ effective_membership_level: 8, user_access_level: 'admin' })
    expect((await get(closed)).statusCode).toBe(404)
    expect((await req('GET', `/api/projects/${closed}/`, f.keys.member)).statusCode).toBe(404)
    // @current pointing at an invisible project is 403.
    await t.db.query(`UPDATE users SET current_team_id = $1 WHERE id = $2`, [closed, f.member.id])
    const cur = await req('GET', `/api/projects/@current/`, f.keys.member)
    expect(cur.statusCode).toBe(403)
    expect(cur.json().detail).toBe("You don't have sufficient permissions in the project.")
    // Admins see everything, at level 8 (owners too: the newest code caps at 8).
    expect((await get(closed, f.keys.admin)).json().effective_membership_level).toBe(8)
    expect((await get(closed, f.keys.owner)).json().effective_membership_level).toBe(8)
    expect((await req('GET', projects(f.org.id), f.keys.admin)).json().count).toBe(5)
    // A member-level member is gated like a member; an admin-level one is not.
    expect((await req('PATCH', `${projects(f.org.id)}/${memberOnly}/`, f.keys.member, { timezone: 'Europe/Lisbon' })).statusCode).toBe(403)
    expect((await req('PATCH', `${projects(f.org.id)}/${granted}/`, f.keys.member, { timezone: 'Europe/Lisbon' })).statusCode).toBe(200)
    // Without the access_control entitlement the rows are not used.
    await t.services.organizations.setEntitlements(f.org.id, without('access_control'))
    expect((await get(closed)).json()).toMatchObject({ effective_membership_level: 1, user_access_level: 'member' })
    expect((await req('GET', projects(f.org.id), f.keys.member)).json().count).toBe(5)
    expect((await put(closed, { access_level: 'member' })).statusCode).toBe(403)
  })

  it('access_controls endpoints: shape, validation, removal, rights', async () => {
    const f = await freshOrg()
    const id = (await req('POST', projects(f.org.id), f.keys.admin, { name: 'AC' })).json().id
    const url = `${projects(f.org.id)}/${id}/access_controls/`
    const empty = await req('GET', url, f.keys.admin)
    expect(empty.json()).toEqual({ access_controls: [], available_access_levels: ['none', 'member', 'admin'], default_access_level: 'admin', user_access_level: 'admin', user_can_edit_access_levels: true })
    const membership = (await t.db.query<{ id: string }>(`SELECT id FROM memberships WHERE organization_id = $1 AND user_id = $2`, [f.org.id, f.member.id]))[0].id
    expect((await req('PUT', url, f.keys.admin, { access_level: 'member', organization_member: membership })).json()).toEqual({
      access_level: 'member',
      organization_member: membership,
      resource: 'project',
      resource_id: String(id),
    })
    const listed = (await req('GET', `/api/projects/${id}/access_controls/`, f.keys.admin)).json().access_controls
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({ access_level: 'member', organization_member: membership, user_uuid: f.member.uuid, resource: 'project', resource_id: String(id), role: null })
    const bad = await req('PUT', url, f.keys.admin, { access_level: 'owner' })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ attr: 'access_level', code: 'invalid_choice' })
    expect((await req('PUT', url, f.keys.admin, { access_level: 'none', organization_member: '00000000-0000-0000-0000-000000000000' })).json().attr).toBe('organization_member')
    expect((await req('PUT', url, f.keys.admin, { access_level: 'none', organization_member: 'nope' })).json().attr).toBe('organization_member')
    expect((await req('PUT', url, f.keys.admin, {})).json()).toMatchObject({ code: 'required', attr: 'access_level' })
    // The member (now "member" level) may not change rows.
    expect((await req('PUT', url, f.keys.member, { access_level: 'admin', organization_member: membership })).statusCode).toBe(403)
    expect((await req('PUT', url, f.keys.admin, { access_level: null, organization_member: membership })).statusCode).toBe(200)
    expect((await req('GET', url, f.keys.admin)).json().access_controls).toEqual([])
    // Scope: access_control:read / :write.
    const projectKey = await createKey(t.services, f.admin, ['project:write'])
    const scoped = await req('GET', url, projectKey)
    expect(scoped.statusCode).toBe(403)
    expect(scoped.json().detail).toBe("API key missing required scope 'access_control:read'")
  })
})

describe('helpers other modules use', () => {
  it('invites: project ids outside the integer range give the project-access message with attr', async () => {
    const res = await req('POST', `/api/organizations/${w.org.id}/invites/`, w.keys.admin, {
      target_email: 'range@example.com',
      private_project_access: [{ id: 2 ** 40, level: 'member' }],
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({
      type: 'validation_error',
      code: 'invalid_input',
      detail: 'Project does not exist on this organization, or it is private and you do not have access to it.',
      attr: 'private_project_access',
    })
  })

  it("an organization's first project has the same defaults as one created through the API", async () => {
    const res = await req('GET', `${projects(w.other.id)}/${w.other.projectId}/`, w.keys.outsider)
    expect(res.json()).toMatchObject({
      name: 'Default project',
      test_account_filters: [{ key: 'id', type: 'cohort', value: expect.any(Number), operator: 'not_in' }],
      extra_settings: { recorder_script: 'posthog-recorder', starter_dashboard_variant: 'control' },
    })
  })

  it('the organization serializer reports real project settings', async () => {
    await req('PATCH', `${projects()}/${w.org.projectId}/`, w.keys.admin, { timezone: 'Asia/Tokyo' })
    const org = await req('GET', `/api/organizations/${w.org.id}/`, w.keys.admin)
    const team = org.json().teams.find((x: { id: number }) => x.id === w.org.projectId)
    expect(team.timezone).toBe('Asia/Tokyo')
  })
})
