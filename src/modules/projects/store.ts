import type { Queryable } from '../../db/index.ts'
import { randomToken } from '../../lib/crypto.ts'

export const DEFAULT_PROJECT_NAME = 'Default project'
/** Project ids are PostgreSQL integers. */
export const MAX_PROJECT_ID = 2147483647

export interface TeamBasic {
  id: number
  uuid: string
  organization: string
  project_id: number
  api_token: string
  name: string
  completed_snippet_onboarding: boolean
  has_completed_onboarding_for: Record<string, boolean> | null
  ingested_event: boolean
  is_demo: boolean
  timezone: string
  access_control: boolean
}

export interface ProjectBasic {
  id: number
  organization_id: string
  name: string
}

/**
 * Projects and their main environment ("team", same id). The full settings arrive with the
 * projects module; the foundation needs the rows, the api_token and the basic serializers.
 */
export const projectStore = {
  /** Creates a project and its environment, naming it "Default project", "Default project 2", … when no name is given. */
  async createWithTeam(q: Queryable, organizationId: string, name?: string): Promise<{ projectId: number; apiToken: string }> {
    let projectName = name
    if (!projectName) {
      const taken = await q.query<{ name: string }>(
        `SELECT name FROM projects WHERE organization_id = $1 AND lower(name) LIKE lower($2) || '%'`,
        [organizationId, DEFAULT_PROJECT_NAME],
      )
      const names = new Set(taken.map((t) => t.name.toLowerCase()))
      projectName = DEFAULT_PROJECT_NAME
      for (let n = 2; names.has(projectName.toLowerCase()); n++) projectName = `${DEFAULT_PROJECT_NAME} ${n}`
    }
    const [project] = await q.query<{ id: number }>(`INSERT INTO projects (organization_id, name) VALUES ($1, $2) RETURNING id`, [organizationId, projectName])
    const apiToken = `phc_${randomToken(32)}`
    await q.query(
      `INSERT INTO teams (id, project_id, organization_id, name, api_token, extra_settings) VALUES ($1, $1, $2, $3, $4, $5)`,
      [project.id, organizationId, projectName, apiToken, JSON.stringify({ recorder_script: 'posthog-recorder', starter_dashboard_variant: 'control' })],
    )
    // Like every new project, it starts with its "Internal / Test users" cohort filtered out.
    // …and its pinned starter dashboard as primary dashboard.
    const cohortId = await fullProjectStore.insertInternalUsersCohort(q, project.id, null, null)
    const dashboardId = await fullProjectStore.insertStarterDashboard(q, project.id)
    await q.query(`UPDATE teams SET test_account_filters = $2, primary_dashboard = $3 WHERE id = $1`, [
      project.id,
      JSON.stringify([{ key: 'id', type: 'cohort', value: cohortId, operator: 'not_in' }]),
      dashboardId,
    ])
    return { projectId: project.id, apiToken }
  },

  async teamsBasic(q: Queryable, organizationIds: string[]): Promise<TeamBasic[]> {
    if (organizationIds.length === 0) return []
    return q.query<TeamBasic>(
      `SELECT t.id, t.uuid, t.organization_id AS organization, t.project_id, t.api_token, t.name,
              t.completed_snippet_onboarding, t.has_completed_onboarding_for,
              t.ingested_event, t.is_demo, t.timezone, t.access_control
         FROM teams t WHERE t.organization_id = ANY ($1::uuid[]) ORDER BY t.id`,
      [organizationIds],
    )
  },

  async projectsBasic(q: Queryable, organizationIds: string[]): Promise<ProjectBasic[]> {
    if (organizationIds.length === 0) return []
    return q.query<ProjectBasic>(`SELECT id, organization_id, name FROM projects WHERE organization_id = ANY ($1::uuid[]) ORDER BY id`, [organizationIds])
  },

  async firstTeamOf(q: Queryable, organizationId: string): Promise<number | null> {
    const rows = await q.query<{ id: number }>(`SELECT id FROM teams WHERE organization_id = $1 ORDER BY id LIMIT 1`, [organizationId])
    return rows[0]?.id ?? null
  },

  async teamIdsOf(q: Queryable, organizationId: string): Promise<number[]> {
    const rows = await q.query<{ id: number }>(`SELECT id FROM teams WHERE organization_id = $1`, [organizationId])
    return rows.map((r) => r.id)
  },

  /** Which of these team ids the user can reach through an organization membership. */
  async teamIdsVisibleTo(q: Queryable, userId: number, teamIds: number[]): Promise<number[]> {
    const rows = await q.query<{ id: number }>(
      `SELECT t.id FROM teams t JOIN memberships m ON m.organization_id = t.organization_id AND m.user_id = $1 WHERE t.id = ANY ($2::int[])`,
      [userId, teamIds],
    )
    return rows.map((r) => r.id)
  },
}

export type AccessLevel = 'none' | 'member' | 'admin'

export interface ProjectAccessInfo {
  id: number
  /** The project-wide default row; null means the project is open to every member. */
  default_level: AccessLevel | null
  /** The given membership's own row, if any. */
  member_level: AccessLevel | null
}

export const projectAccessStore = {
  /** For each of these project ids that belongs to the organization: its default and the member's row. */
  async inOrganization(q: Queryable, organizationId: string, projectIds: number[], membershipId: string | null): Promise<ProjectAccessInfo[]> {
    // Ids outside the column's range name no project; asking the database would be a type error.
    projectIds = projectIds.filter((id) => Number.isInteger(id) && id >= 1 && id <= MAX_PROJECT_ID)
    if (projectIds.length === 0) return []
    return q.query<ProjectAccessInfo>(
      `SELECT p.id,
              (SELECT access_level FROM project_access a WHERE a.project_id = p.id AND a.membership_id IS NULL) AS default_level,
              (SELECT access_level FROM project_access a WHERE a.project_id = p.id AND a.membership_id = $3) AS member_level
         FROM projects p WHERE p.organization_id = $1 AND p.id = ANY ($2::int[])`,
      [organizationId, projectIds, membershipId],
    )
  },

  async grant(q: Queryable, projectId: number, membershipId: string, level: AccessLevel): Promise<void> {
    await q.query(
      `INSERT INTO project_access (project_id, membership_id, access_level) VALUES ($1, $2, $3)
       ON CONFLICT (project_id, membership_id) DO UPDATE SET access_level = EXCLUDED.access_level, updated_at = now()`,
      [projectId, membershipId, level],
    )
  },
}

/** Environment (team) columns of the full project serializer, besides name. */
export const TEAM_SETTING_COLUMNS = [
  'app_urls', 'anonymize_ips', 'completed_snippet_onboarding', 'ingested_event', 'test_account_filters', 'test_account_filters_default_checked',
  'path_cleaning_filters', 'is_demo', 'timezone', 'data_attributes', 'person_display_name_properties', 'correlation_config',
  'autocapture_opt_out', 'autocapture_exceptions_opt_in', 'autocapture_web_vitals_opt_in', 'autocapture_web_vitals_allowed_metrics',
  'autocapture_exceptions_errors_to_ignore', 'capture_console_log_opt_in', 'capture_performance_opt_in', 'session_recording_opt_in',
  'session_recording_sample_rate', 'session_recording_minimum_duration_milliseconds', 'session_recording_linked_flag',
  'session_recording_network_payload_capture_config', 'session_recording_masking_config', 'session_recording_url_trigger_config',
  'session_recording_url_blocklist_config', 'session_recording_event_trigger_config', 'session_recording_trigger_match_type_config',
  'session_recording_trigger_groups', 'session_recording_retention_period', 'session_replay_config', 'survey_config', 'access_control',
  'week_start_day', 'primary_dashboard', 'live_events_columns', 'recording_domains', 'inject_web_apps', 'extra_settings', 'modifiers',
  'has_completed_onboarding_for', 'surveys_opt_in', 'heatmaps_opt_in', 'flags_persistence_default', 'secret_api_token',
  'secret_api_token_backup', 'receive_org_level_activity_logs', 'business_model', 'conversations_enabled', 'conversations_settings',
  'logs_settings', 'proactive_tasks_enabled', 'revenue_analytics_config', 'marketing_analytics_config', 'customer_analytics_config',
  'workflows_config', 'feature_flag_policy_config', 'base_currency', 'capture_dead_clicks', 'cookieless_server_hash_mode',
  'human_friendly_comparison_periods', 'feature_flag_confirmation_enabled', 'feature_flag_confirmation_message',
  'default_evaluation_contexts_enabled', 'require_evaluation_contexts', 'default_data_theme', 'onboarding_tasks',
  'web_analytics_pre_aggregated_tables_enabled',
] as const

const JSON_COLUMNS: ReadonlySet<string> = new Set([
  'app_urls', 'test_account_filters', 'path_cleaning_filters', 'data_attributes', 'person_display_name_properties', 'correlation_config',
  'autocapture_web_vitals_allowed_metrics', 'autocapture_exceptions_errors_to_ignore', 'session_recording_linked_flag',
  'session_recording_network_payload_capture_config', 'session_recording_masking_config', 'session_recording_url_trigger_config',
  'session_recording_url_blocklist_config', 'session_recording_event_trigger_config', 'session_recording_trigger_groups',
  'session_replay_config', 'survey_config', 'live_events_columns', 'recording_domains', 'extra_settings', 'modifiers',
  'has_completed_onboarding_for', 'conversations_settings', 'logs_settings', 'revenue_analytics_config', 'marketing_analytics_config',
  'customer_analytics_config', 'workflows_config', 'feature_flag_policy_config', 'onboarding_tasks', 'tags',
])

/** A project with its main environment's settings and the caller's access rows. */
export interface ProjectRow {
  id: number
  organization: string
  name: string
  product_description: string | null
  tags: string[]
  created_at: Date
  is_pending_deletion: boolean
  uuid: string
  api_token: string
  updated_at: Date
  /** The project-wide access row, and the caller's own (through their membership). */
  default_level: AccessLevel | null
  member_level: AccessLevel | null
  [setting: string]: unknown
}

export interface ProjectBasicRow {
  id: number
  uuid: string
  organization: string
  project_id: number
  api_token: string
  name: string
  completed_snippet_onboarding: boolean
  has_completed_onboarding_for: unknown
  ingested_event: boolean
  is_demo: boolean
  timezone: string
  access_control: boolean
  tags: string[]
}

const teamColumnList = TEAM_SETTING_COLUMNS.map((c) => (c === 'session_recording_sample_rate' ? `t.${c}::text AS ${c}` : `t.${c}`)).join(', ')

const ACCESS_SUBQUERIES = (userParam: string) => `
  (SELECT a.access_level FROM project_access a WHERE a.project_id = p.id AND a.membership_id IS NULL) AS default_level,
  (SELECT a.access_level FROM project_access a JOIN memberships m ON m.id = a.membership_id
    WHERE a.project_id = p.id AND m.user_id = ${userParam} AND m.organization_id = p.organization_id) AS member_level`

export interface ListOptions {
  userId: number
  /** The caller sees every project (no access control, or an organization admin). */
  seesAll: boolean
  /** A key restricted to these projects. */
  onlyIds: number[] | null
  search: string | null
  limit: number
  offset: number
}

/**
 * Joins and filters after `p.organization_id = $1`; parameters are numbered from $2. Access rows
 * are joined (not looked up per row), so a page and its count are one pass over the organization.
 */
function listWhere(o: ListOptions): { joins: string; sql: string; params: unknown[] } {
  const params: unknown[] = []
  const clauses: string[] = []
  let joins = ''
  const next = (value: unknown) => {
    params.push(value)
    return `$${params.length + 1}`
  }
  if (!o.seesAll) {
    const user = next(o.userId)
    joins = `
      LEFT JOIN project_access d ON d.project_id = p.id AND d.membership_id IS NULL
      LEFT JOIN project_access m ON m.project_id = p.id
           AND m.membership_id = (SELECT id FROM memberships WHERE organization_id = $1 AND user_id = ${user})`
    clauses.push(`coalesce(m.access_level, d.access_level, 'admin') <> 'none'`)
  }
  if (o.onlyIds) clauses.push(`p.id = ANY (${next(o.onlyIds.filter((id) => Number.isInteger(id) && id >= 1 && id <= MAX_PROJECT_ID))}::int[])`)
  if (o.search) clauses.push(`lower(p.name) LIKE '%' || ${next(o.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`))} || '%'`)
  return { joins, sql: clauses.map((c) => ` AND ${c}`).join(''), params }
}

export interface NewProject {
  organizationId: string
  name: string
  productDescription: string | null
  tags: string[]
  apiToken: string
  /** Environment settings to store instead of the column defaults. */
  settings: Record<string, unknown>
}

const asParam = (column: string, value: unknown) => (JSON_COLUMNS.has(column) ? (value === null ? null : JSON.stringify(value)) : value)

export const fullProjectStore = {
  async find(q: Queryable, projectId: number, userId: number, opts: { lock?: boolean } = {}): Promise<ProjectRow | null> {
    if (!Number.isInteger(projectId) || projectId < 1 || projectId > MAX_PROJECT_ID) return null
    const rows = await q.query<ProjectRow>(
      `SELECT p.id, p.organization_id AS organization, p.name, p.product_description, p.tags, p.created_at, p.is_pending_deletion,
              t.uuid, t.api_token, t.updated_at, ${teamColumnList}, ${ACCESS_SUBQUERIES('$2')}
         FROM projects p JOIN teams t ON t.id = p.id
        WHERE p.id = $1 ${opts.lock ? 'FOR UPDATE OF p, t' : ''}`,
      [projectId, userId],
    )
    return rows[0] ?? null
  },

  async list(q: Queryable, organizationId: string, o: ListOptions): Promise<{ count: number; rows: ProjectBasicRow[] }> {
    const where = listWhere(o)
    const base = [organizationId, ...where.params]
    const rows = await q.query<ProjectBasicRow>(
      `SELECT p.id, t.uuid, p.organization_id AS organization, p.id AS project_id, t.api_token, p.name, t.completed_snippet_onboarding,
              t.has_completed_onboarding_for, t.ingested_event, t.is_demo, t.timezone, t.access_control, p.tags
         FROM projects p JOIN teams t ON t.id = p.id ${where.joins}
        WHERE p.organization_id = $1 ${where.sql}
        ORDER BY p.id LIMIT $${base.length + 1} OFFSET $${base.length + 2}`,
      [...base, o.limit, o.offset],
    )
    // A short first page is its own count; otherwise count with the same filters.
    if (o.offset === 0 && rows.length < o.limit) return { count: rows.length, rows }
    const [{ count }] = await q.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM projects p ${where.joins} WHERE p.organization_id = $1 ${where.sql}`,
      base,
    )
    return { count, rows }
  },

  /** Non-demo projects (PostHog counts distinct projects of non-demo environments) and whether a demo one exists. */
  async countsFor(q: Queryable, organizationId: string): Promise<{ nonDemo: number; demo: number }> {
    const [row] = await q.query<{ non_demo: number; demo: number }>(
      `SELECT count(*) FILTER (WHERE NOT t.is_demo)::int AS non_demo, count(*) FILTER (WHERE t.is_demo)::int AS demo
         FROM teams t WHERE t.organization_id = $1 AND t.id = t.project_id`,
      [organizationId],
    )
    return { nonDemo: row.non_demo, demo: row.demo }
  },

  async takenDefaultNames(q: Queryable, organizationId: string): Promise<Set<string>> {
    const rows = await q.query<{ name: string }>(
      `SELECT lower(name) AS name FROM projects WHERE organization_id = $1 AND NOT is_pending_deletion AND lower(name) LIKE lower($2) || '%'`,
      [organizationId, DEFAULT_PROJECT_NAME],
    )
    return new Set(rows.map((r) => r.name))
  },

  /** Inserts the project and its environment; a duplicate live name raises 23505 on projects_org_name_key. */
  async insert(q: Queryable, p: NewProject): Promise<number> {
    const [project] = await q.query<{ id: number }>(
      `INSERT INTO projects (organization_id, name, product_description, tags) VALUES ($1, $2, $3, $4) RETURNING id`,
      [p.organizationId, p.name, p.productDescription, JSON.stringify(p.tags)],
    )
    const cols = Object.keys(p.settings).filter((c) => (TEAM_SETTING_COLUMNS as readonly string[]).includes(c))
    const values = cols.map((c) => asParam(c, p.settings[c]))
    await q.query(
      `INSERT INTO teams (id, project_id, organization_id, name, api_token${cols.map((c) => `, ${c}`).join('')})
       VALUES ($1, $1, $2, $3, $4${cols.map((_, i) => `, $${i + 5}`).join('')})`,
      [project.id, p.organizationId, p.name, p.apiToken, ...values],
    )
    return project.id
  },

  /** Writes only the given columns (plus updated_at), so concurrent changes to other fields survive. */
  async update(q: Queryable, projectId: number, projectCols: Record<string, unknown>, teamCols: Record<string, unknown>): Promise<void> {
    const pk = Object.keys(projectCols)
    if (pk.length > 0) {
      await q.query(
        `UPDATE projects SET ${pk.map((c, i) => `${c} = $${i + 2}`).join(', ')}, updated_at = now() WHERE id = $1`,
        [projectId, ...pk.map((c) => asParam(c, projectCols[c]))],
      )
    }
    const tk = Object.keys(teamCols)
    if (tk.length > 0) {
      await q.query(
        `UPDATE teams SET ${tk.map((c, i) => `${c} = $${i + 2}`).join(', ')}, updated_at = now() WHERE id = $1`,
        [projectId, ...tk.map((c) => asParam(c, teamCols[c]))],
      )
    }
  },

  async insertInternalUsersCohort(q: Queryable, teamId: number, creatorId: number | null, emailDomain: string | null): Promise<number> {
    const values: Array<Record<string, unknown>> = [{ key: '$internal_or_test_user', type: 'person', value: ['true'], operator: 'exact' }]
    if (emailDomain) values.push({ key: 'email', type: 'person', value: `@${emailDomain}`, operator: 'icontains' })
    const filters = { properties: { type: 'OR', values: values.map((v) => ({ type: 'AND', values: [v] })) } }
    const [row] = await q.query<{ id: number }>(
      `INSERT INTO cohorts (team_id, name, kind, filters, created_by_id) VALUES ($1, 'Internal / Test users', 'internal_test_users', $2, $3) RETURNING id`,
      [teamId, JSON.stringify(filters), creatorId],
    )
    return row.id
  },

  /** The pinned starter dashboard of a new project (PostHog's "control" variant, no creator). */
  async insertStarterDashboard(q: Queryable, teamId: number): Promise<number> {
    const [row] = await q.query<{ id: number }>(`INSERT INTO dashboards (team_id, name, pinned) VALUES ($1, 'My App Dashboard', true) RETURNING id`, [teamId])
    return row.id
  },

  /** The team a dashboard belongs to, or null when there is no such dashboard. */
  async dashboardTeam(q: Queryable, dashboardId: number): Promise<number | null> {
    if (dashboardId < 1 || dashboardId > 2147483647) return null
    const [row] = await q.query<{ team_id: number }>(`SELECT team_id FROM dashboards WHERE id = $1 FOR KEY SHARE`, [dashboardId])
    return row?.team_id ?? null
  },

  /** Marks the project for deletion; false when it already was (or is gone). */
  async markPendingDeletion(q: Queryable, projectId: number): Promise<boolean> {
    const rows = await q.query(`UPDATE projects SET is_pending_deletion = true, updated_at = now() WHERE id = $1 AND NOT is_pending_deletion RETURNING id`, [projectId])
    return rows.length > 0
  },

  async clearPendingDeletion(q: Queryable, projectId: number): Promise<void> {
    await q.query(`UPDATE projects SET is_pending_deletion = false, updated_at = now() WHERE id = $1`, [projectId])
  },

  /**
   * Removes a project and everything hanging off it: environments, access rows, cohorts and dashboards go by
   * cascade; keys restricted to it lose it (or go, when it was all they could reach); people whose
   * current project it was move to another.
   */
  async deleteWithData(q: Queryable, projectId: number): Promise<{ organizationId: string; name: string; teamIds: number[] } | null> {
    const [project] = await q.query<{ organization_id: string; name: string }>(`SELECT organization_id, name FROM projects WHERE id = $1 FOR UPDATE`, [projectId])
    if (!project) return null
    const teams = await q.query<{ id: number }>(`SELECT id FROM teams WHERE project_id = $1`, [projectId])
    const teamIds = teams.map((t) => t.id)
    // A key restricted to nothing but these projects is deleted: an emptied list would mean
    // "no restriction" and widen it to every project.
    await q.query(`DELETE FROM personal_api_keys WHERE cardinality(scoped_teams) > 0 AND scoped_teams <@ $1::int[]`, [teamIds])
    await q.query(
      `UPDATE personal_api_keys SET scoped_teams = (SELECT coalesce(array_agg(x), '{}') FROM unnest(scoped_teams) x WHERE x <> ALL ($1::int[]))
        WHERE scoped_teams && $1::int[]`,
      [teamIds],
    )
    await q.query(
      `UPDATE users SET current_team_id = (SELECT t.id FROM teams t WHERE t.organization_id = $2 AND t.id <> ALL ($1::int[]) ORDER BY t.id LIMIT 1)
        WHERE current_team_id = ANY ($1::int[])`,
      [teamIds, project.organization_id],
    )
    await q.query(`DELETE FROM projects WHERE id = $1`, [projectId])
    return { organizationId: project.organization_id, name: project.name, teamIds }
  },

  async setApiToken(q: Queryable, projectId: number, token: string): Promise<void> {
    await q.query(`UPDATE teams SET api_token = $2, updated_at = now() WHERE id = $1`, [projectId, token])
  },

  async rotateSecretToken(q: Queryable, projectId: number, token: string): Promise<void> {
    await q.query(`UPDATE teams SET secret_api_token_backup = secret_api_token, secret_api_token = $2, updated_at = now() WHERE id = $1`, [projectId, token])
  },

  async deleteSecretTokenBackup(q: Queryable, projectId: number): Promise<void> {
    await q.query(`UPDATE teams SET secret_api_token_backup = NULL, updated_at = now() WHERE id = $1`, [projectId])
  },
}

export interface AccessRow {
  id: number
  membership_id: string | null
  access_level: AccessLevel
  created_at: Date
  updated_at: Date
  user_uuid: string | null
}

export const accessRowStore = {
  async forProject(q: Queryable, projectId: number): Promise<AccessRow[]> {
    return q.query<AccessRow>(
      `SELECT a.id, a.membership_id, a.access_level, a.created_at, a.updated_at, u.uuid AS user_uuid
         FROM project_access a LEFT JOIN memberships m ON m.id = a.membership_id LEFT JOIN users u ON u.id = m.user_id
        WHERE a.project_id = $1 ORDER BY a.membership_id NULLS FIRST, a.id`,
      [projectId],
    )
  },

  async set(q: Queryable, projectId: number, membershipId: string | null, level: AccessLevel): Promise<void> {
    await q.query(
      `INSERT INTO project_access (project_id, membership_id, access_level) VALUES ($1, $2, $3)
       ON CONFLICT (project_id, membership_id) DO UPDATE SET access_level = EXCLUDED.access_level, updated_at = now()`,
      [projectId, membershipId, level],
    )
  },

  async remove(q: Queryable, projectId: number, membershipId: string | null): Promise<void> {
    await q.query(`DELETE FROM project_access WHERE project_id = $1 AND membership_id IS NOT DISTINCT FROM $2`, [projectId, membershipId])
  },
}
