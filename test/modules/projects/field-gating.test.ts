/**
 * The member/admin gating matrix (spec C.7): for every writable field, a member below project
 * admin is refused with "Only project admins can modify these settings: <field>" exactly when the
 * field is in PostHog's TEAM_CONFIG_ADMIN_FIELDS_SET, and a project admin may write it. Each field
 * is sent with a valid value, so every field also has one accepted value here. Organization O has
 * no access_control entitlement (member → level 1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GENEROUS_ENTITLEMENTS } from '../../../src/config.ts'
import { ADMIN_FIELDS, MEMBER_FIELDS, WRITABLE } from '../../../src/modules/projects/validate.ts'
import { bearer, createTestApp, expectErrorShape, seedWorld, type TestApp, type World } from '../../helpers/app.ts'

let t: TestApp
let w: World

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  await t.services.organizations.setEntitlements(w.org.id, GENEROUS_ENTITLEMENTS.filter((f) => f.key !== 'access_control'))
})
afterAll(async () => t.close())

/** One valid value for every writable field. */
const VALID: Record<string, unknown> = {
  name: 'Gated name',
  product_description: 'about',
  tags: ['a'],
  app_urls: ['https://example.com'],
  anonymize_ips: true,
  completed_snippet_onboarding: true,
  test_account_filters: [{ key: 'email', type: 'person', operator: 'is_set' }],
  test_account_filters_default_checked: true,
  path_cleaning_filters: [{ regex: '/u/\\d+', alias: '/u/:id' }],
  is_demo: false,
  timezone: 'Europe/Berlin',
  data_attributes: ['data-x'],
  person_display_name_properties: ['email'],
  correlation_config: { excluded_person_property_names: [] },
  autocapture_opt_out: true,
  autocapture_exceptions_opt_in: true,
  autocapture_web_vitals_opt_in: true,
  autocapture_web_vitals_allowed_metrics: ['LCP'],
  autocapture_exceptions_errors_to_ignore: ['x'],
  capture_console_log_opt_in: false,
  capture_performance_opt_in: false,
  session_recording_opt_in: true,
  session_recording_sample_rate: '0.25',
  session_recording_minimum_duration_milliseconds: 1000,
  session_recording_linked_flag: { id: 1, key: 'flag' },
  session_recording_network_payload_capture_config: { recordBody: true },
  session_recording_masking_config: { maskAllInputs: false },
  session_recording_url_trigger_config: [{ url: 'a', matching: 'regex' }],
  session_recording_url_blocklist_config: [],
  session_recording_event_trigger_config: ['$pageview'],
  session_recording_trigger_match_type_config: 'all',
  session_recording_trigger_groups: { version: 2, groups: [] },
  session_recording_retention_period: '90d',
  session_replay_config: { record_canvas: true },
  survey_config: { a: 1 },
  access_control: null,
  week_start_day: 1,
  primary_dashboard: null,
  live_events_columns: ['event'],
  recording_domains: ['https://example.com'],
  inject_web_apps: true,
  extra_settings: { x: 1 },
  modifiers: { bounceRateDurationSeconds: 15 },
  has_completed_onboarding_for: { product_analytics: true },
  surveys_opt_in: true,
  heatmaps_opt_in: true,
  flags_persistence_default: true,
  receive_org_level_activity_logs: false,
  business_model: 'b2b',
  conversations_enabled: false,
  conversations_settings: { widget_domains: [] },
  logs_settings: { capture_console_logs: true },
  proactive_tasks_enabled: false,
  revenue_analytics_config: { filter_test_accounts: true },
  marketing_analytics_config: { attribution_window_days: 7 },
  customer_analytics_config: { account_group_type_index: null },
  workflows_config: { capture_workflows_engagement_events: true },
  feature_flag_policy_config: {},
  base_currency: 'GBP',
  capture_dead_clicks: true,
  cookieless_server_hash_mode: 1,
  human_friendly_comparison_periods: true,
  feature_flag_confirmation_enabled: true,
  feature_flag_confirmation_message: 'Sure?',
  default_evaluation_contexts_enabled: true,
  require_evaluation_contexts: true,
  default_data_theme: 1,
  onboarding_tasks: { a: 'done' },
  web_analytics_pre_aggregated_tables_enabled: true,
}

describe('gating matrix', () => {
  it('has a valid value for every writable field', () => {
    expect(WRITABLE.map((f) => f.name).filter((n) => !(n in VALID))).toEqual([])
  })

  it.each(WRITABLE.map((f) => [f.name]))('%s', async (field) => {
    const url = `/api/organizations/${w.org.id}/projects/${w.org.projectId}/`
    const payload = { [field]: VALID[field] }
    const asMember = await t.app.inject({ method: 'PATCH', url, headers: bearer(w.keys.member), payload })
    if (ADMIN_FIELDS.has(field)) {
      expect(asMember.statusCode, asMember.body).toBe(403)
      expectErrorShape(asMember.json())
      expect(asMember.json().detail).toBe(`Only project admins can modify these settings: ${field}`)
    } else {
      expect(MEMBER_FIELDS.has(field) || field === 'product_description' || field === 'tags').toBe(true)
      expect(asMember.statusCode, asMember.body).toBe(200)
    }
    const asAdmin = await t.app.inject({ method: 'PATCH', url, headers: bearer(w.keys.admin), payload })
    expect(asAdmin.statusCode, asAdmin.body).toBe(200)
  })
})
