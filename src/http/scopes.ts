/**
 * PostHog's API scope objects. Kept as data: PostHog adds objects often, and only the checks
 * (`write` implies `read`, `*`, INTERNAL never grantable) are behaviour.
 */
export const SCOPE_OBJECTS = [
  'action', 'access_control', 'account', 'activity_log', 'alert', 'annotation', 'approvals', 'batch_export',
  'batch_import', 'batch_import_support', 'billing', 'business_knowledge', 'canvas', 'clickhouse_test_cluster_perf',
  'cohort', 'comment', 'conversation', 'customer_analytics', 'customer_task', 'customer_journey',
  'customer_profile_config', 'data_catalog', 'data_catalog_approval', 'dashboard', 'event_filter', 'dashboard_template',
  'dataset', 'early_access_feature', 'endpoint', 'engineering_analytics', 'error_tracking', 'evaluation', 'element',
  'event_definition', 'experiment', 'experiment_holdout', 'experiment_saved_metric', 'export', 'external_data_schema',
  'external_data_source', 'feature_flag', 'file_system', 'file_system_shortcut', 'group', 'health_issue', 'heatmap',
  'hog_flow', 'hog_function', 'ingestion_warning', 'insight', 'insight_variable', 'integration', 'interactive_run',
  'internal_run', 'legal_document', 'link', 'live_debugger', 'llm_analytics', 'ai_observability_clusters', 'llm_gateway',
  'llm_playground', 'llm_prompt', 'llm_provider_key', 'llm_skill', 'logs', 'loop', 'loop_context_internal',
  'marketing_analytics', 'mcp_builtin_agent', 'mcp_analytics', 'metrics', 'notebook', 'organization',
  'organization_integration', 'organization_member', 'person', 'plugin', 'product_enablement', 'product_tour', 'project',
  'property_definition', 'query', 'query_performance', 'replay_scanner', 'review_hog', 'revenue_analytics',
  'session_recording', 'session_recording_playlist', 'sharing_configuration', 'signal_scout', 'signal_scout_internal',
  'signal_scout_report', 'signal_scratchpad_internal', 'stamphog', 'streamlit_app', 'subscription', 'survey', 'tagger',
  'ticket', 'task', 'toolbar', 'tracing', 'field_note', 'uploaded_media', 'usage_metric', 'user', 'user_interview',
  'vision_action', 'vision_alert', 'visual_review', 'warehouse_objects', 'warehouse_table', 'warehouse_view',
  'web_analytics', 'webhook', 'wizard_session',
] as const

export const INTERNAL_SCOPE_OBJECTS: ReadonlySet<string> = new Set([
  'clickhouse_test_cluster_perf', 'interactive_run', 'internal_run', 'loop_context_internal', 'mcp_builtin_agent',
  'signal_scout_internal', 'signal_scout_report', 'signal_scratchpad_internal',
])

const GRANTABLE: ReadonlySet<string> = new Set<string>(SCOPE_OBJECTS.filter((o) => !INTERNAL_SCOPE_OBJECTS.has(o)))

/** A scope a personal API key may hold: `*` or `<object>:<read|write>` for a non-internal object. */
export function isGrantableScope(scope: string): boolean {
  if (scope === '*') return true
  const m = /^([a-z_]+):(read|write)$/.exec(scope)
  return m !== null && GRANTABLE.has(m[1])
}

/** Does a key holding `granted` satisfy `required`? `write` implies `read`; `*` covers all but INTERNAL. */
export function scopesAllow(granted: readonly string[] | null, required: string): boolean {
  if (!granted || granted.length === 0) return false
  const [object, action] = required.split(':')
  if (INTERNAL_SCOPE_OBJECTS.has(object)) return false
  if (granted.includes('*') || granted.includes(required)) return true
  return action === 'read' && granted.includes(`${object}:write`)
}
