import { Type, type TSchema } from '@sinclair/typebox'
import { DateTime, Nullable, Paginated } from '../../http/schemas.ts'

const Any = (description?: string) => Type.Unknown(description ? { description } : {})
const NBool = Nullable(Type.Boolean())
const StrList = Type.Array(Type.String())

/** PostHog's ProjectBackwardCompatBasicSerializer (the list). */
export const ProjectBasic = Type.Object({
  id: Type.Integer(),
  uuid: Type.String({ format: 'uuid' }),
  organization: Type.String({ format: 'uuid' }),
  project_id: Type.Integer(),
  api_token: Type.String(),
  name: Type.String(),
  completed_snippet_onboarding: Type.Boolean(),
  has_completed_onboarding_for: Any(),
  ingested_event: Type.Boolean(),
  is_demo: Type.Boolean(),
  timezone: Type.String(),
  access_control: Type.Boolean(),
  tags: StrList,
})

export const ProjectList = Paginated(ProjectBasic)

const fields: Record<string, TSchema> = {
  id: Type.Integer(),
  organization: Type.String({ format: 'uuid' }),
  name: Type.String(),
  product_description: Nullable(Type.String()),
  tags: StrList,
  created_at: DateTime,
  effective_membership_level: Nullable(Type.Unsafe<1 | 8 | 15>({ enum: [1, 8, 15] })),
  has_group_types: Type.Boolean(),
  group_types: Type.Array(Type.Object({}, { additionalProperties: true })),
  live_events_token: Nullable(Type.String()),
  updated_at: Nullable(DateTime),
  uuid: Type.String({ format: 'uuid' }),
  api_token: Type.String(),
  app_urls: Type.Array(Nullable(Type.String())),
  anonymize_ips: Type.Boolean(),
  completed_snippet_onboarding: Type.Boolean(),
  ingested_event: Type.Boolean(),
  test_account_filters: Any(),
  test_account_filters_default_checked: NBool,
  path_cleaning_filters: Any(),
  is_demo: Type.Boolean(),
  timezone: Type.String(),
  data_attributes: Any(),
  person_display_name_properties: Nullable(StrList),
  correlation_config: Any(),
  autocapture_opt_out: NBool,
  autocapture_exceptions_opt_in: NBool,
  autocapture_web_vitals_opt_in: NBool,
  autocapture_web_vitals_allowed_metrics: Any(),
  autocapture_exceptions_errors_to_ignore: Any(),
  capture_console_log_opt_in: NBool,
  capture_performance_opt_in: NBool,
  session_recording_opt_in: Type.Boolean(),
  session_recording_sample_rate: Nullable(Type.String({ description: 'decimal 0.00–1.00' })),
  session_recording_minimum_duration_milliseconds: Nullable(Type.Integer()),
  session_recording_linked_flag: Any(),
  session_recording_network_payload_capture_config: Any(),
  session_recording_masking_config: Any(),
  session_recording_url_trigger_config: Nullable(Type.Array(Any())),
  session_recording_url_blocklist_config: Nullable(Type.Array(Any())),
  session_recording_event_trigger_config: Nullable(Type.Array(Nullable(Type.String()))),
  session_recording_trigger_match_type_config: Nullable(Type.String()),
  session_recording_trigger_groups: Any(),
  session_recording_retention_period: Type.String(),
  session_replay_config: Any(),
  survey_config: Any(),
  access_control: Type.Boolean(),
  week_start_day: Nullable(Type.Integer()),
  primary_dashboard: Nullable(Type.Integer()),
  live_events_columns: Nullable(StrList),
  recording_domains: Nullable(Type.Array(Nullable(Type.String()))),
  person_on_events_querying_enabled: Type.Boolean(),
  inject_web_apps: NBool,
  extra_settings: Any(),
  modifiers: Any(),
  default_modifiers: Type.Object({}, { additionalProperties: true }),
  has_completed_onboarding_for: Any(),
  surveys_opt_in: NBool,
  heatmaps_opt_in: NBool,
  product_intents: Type.Array(Type.Object({}, { additionalProperties: true })),
  flags_persistence_default: NBool,
  secret_api_token: Nullable(Type.String()),
  secret_api_token_backup: Nullable(Type.String()),
  receive_org_level_activity_logs: NBool,
  business_model: Nullable(Type.String()),
  conversations_enabled: NBool,
  conversations_settings: Any(),
  logs_settings: Any(),
  proactive_tasks_enabled: NBool,
  available_setup_task_ids: StrList,
  is_pending_deletion: NBool,
  project_id: Type.Integer(),
  user_access_level: Nullable(Type.String()),
  managed_viewsets: Type.Record(Type.String(), Type.Boolean()),
  revenue_analytics_config: Type.Object({}, { additionalProperties: true }),
  marketing_analytics_config: Type.Object({}, { additionalProperties: true }),
  customer_analytics_config: Type.Object({}, { additionalProperties: true }),
  workflows_config: Type.Object({}, { additionalProperties: true }),
  feature_flag_policy_config: Type.Object({}, { additionalProperties: true }),
  base_currency: Type.String(),
  capture_dead_clicks: NBool,
  cookieless_server_hash_mode: Nullable(Type.Integer()),
  human_friendly_comparison_periods: NBool,
  feature_flag_confirmation_enabled: NBool,
  feature_flag_confirmation_message: Nullable(Type.String()),
  default_evaluation_contexts_enabled: NBool,
  require_evaluation_contexts: NBool,
  default_data_theme: Nullable(Type.Integer()),
  onboarding_tasks: Any(),
  web_analytics_pre_aggregated_tables_enabled: NBool,
  event_retention_months: Type.Integer(),
  events_retention_enforced: Type.Boolean(),
}

/** PostHog's ProjectBackwardCompatSerializer (retrieve, create, update). */
export const Project = Type.Object(fields)

/** Any writable field of the project (spec C.2); unknown and read-only keys are ignored. */
export const ProjectWrite = Type.Object(
  Object.fromEntries(Object.entries(fields).map(([k, s]) => [k, Type.Optional(Type.Unsafe({ description: (s as { description?: string }).description }))])),
  { additionalProperties: true, description: 'Any writable field of the project; read-only fields are ignored.' },
)

export const OrgProjectParams = Type.Object({ organization_id: Type.String(), id: Type.String() })
export const ProjectParams = Type.Object({ id: Type.String() })

export const AccessControlEntry = Type.Object({
  id: Type.Integer(),
  access_level: Type.String(),
  organization_member: Nullable(Type.String({ format: 'uuid' })),
  user_uuid: Nullable(Type.String({ format: 'uuid' })),
  role: Type.Null(),
  resource: Type.Literal('project'),
  resource_id: Type.String(),
  created_by: Type.Null(),
  created_at: DateTime,
  updated_at: DateTime,
})

export const AccessControls = Type.Object({
  access_controls: Type.Array(AccessControlEntry),
  available_access_levels: StrList,
  default_access_level: Type.String(),
  user_access_level: Nullable(Type.String()),
  user_can_edit_access_levels: Type.Boolean(),
})

export const AccessControlPut = Type.Object({
  access_level: Type.Optional(Type.Unknown({ description: '"none", "member", "admin", or null to remove the row' })),
  organization_member: Type.Optional(Type.Unknown({ description: 'membership id (OrganizationMember.id); absent or null: the project default' })),
})

export const AccessControlResult = Type.Object({
  access_level: Nullable(Type.String()),
  organization_member: Nullable(Type.String({ format: 'uuid' })),
  resource: Type.Literal('project'),
  resource_id: Type.String(),
})
