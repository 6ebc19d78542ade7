import { randomBytes } from 'node:crypto'
import type { Config } from '../../config.ts'
import type { Db, Queryable } from '../../db/index.ts'
import { ApiError, errors } from '../../http/errors.ts'
import { enqueue, type JobHandler } from '../../jobs/queue.ts'
import { randomToken } from '../../lib/crypto.ts'
import { isUuid } from '../../lib/ids.ts'
import { signJwt } from '../../lib/jwt.ts'
import { activityLog } from '../activity-log/service.ts'
import { LEVEL, type OrgContext } from '../organizations/service.ts'
import { organizationStore } from '../organizations/store.ts'
import { userStore, type UserRow } from '../users/store.ts'
import {
  accessRowStore,
  DEFAULT_PROJECT_NAME,
  fullProjectStore,
  MAX_PROJECT_ID,
  TEAM_SETTING_COLUMNS,
  type AccessLevel,
  type ProjectBasicRow,
  type ProjectRow,
} from './store.ts'
import { ADMIN_FIELDS, dashboardPk, isDrfTrue, parseProjectInput, WRITABLE, WRITABLE_NAMES } from './validate.ts'

export const MAX_ALLOWED_PROJECTS_PER_ORG = 2000
export const PROJECT_DELETE_JOB = 'project.delete'

const INSUFFICIENT = "You don't have sufficient permissions in the project."
const PLAN_LIMIT = 'You have reached the maximum limit of allowed projects for your current plan. Upgrade your plan to be able to create and manage more projects.'
const ACCESS_LEVELS: readonly AccessLevel[] = ['none', 'member', 'admin']

/** PostHog's setup tasks a new project offers (SetupTaskId). */
export const SETUP_TASK_IDS = [
  'ingest_first_event', 'set_up_reverse_proxy', 'create_first_insight', 'create_first_dashboard', 'track_custom_events',
  'define_actions', 'set_up_cohorts', 'explore_trends_insight', 'create_funnel', 'explore_retention_insight', 'explore_paths_insight',
  'explore_stickiness_insight', 'explore_lifecycle_insight', 'add_authorized_domain', 'setup_web_vitals', 'review_web_analytics_dashboard',
  'filter_web_analytics', 'setup_web_analytics_conversion_goals', 'visit_web_vitals_dashboard', 'setup_session_recordings',
  'watch_session_recording', 'configure_recording_settings', 'create_recording_playlist', 'enable_console_logs',
  'create_feature_flag', 'implement_flag_in_code', 'update_feature_flag_release_conditions', 'create_multivariate_flag',
  'set_up_flag_payloads', 'set_up_flag_evaluation_runtimes', 'create_experiment', 'implement_experiment_variants',
  'launch_experiment', 'review_experiment_results', 'create_survey', 'launch_survey', 'collect_survey_responses',
  'connect_source', 'run_first_query', 'join_external_data', 'create_saved_view', 'enable_error_tracking', 'upload_source_maps',
  'view_first_error', 'resolve_first_error', 'ingest_first_llm_event', 'view_first_trace', 'track_costs',
  'set_up_llm_evaluation', 'run_ai_playground', 'enable_revenue_analytics_viewset', 'connect_revenue_source',
  'set_up_revenue_goal', 'enable_log_capture', 'view_first_logs', 'create_first_workflow', 'set_up_first_workflow_channel',
  'configure_workflow_trigger', 'add_workflow_action', 'launch_workflow',
] as const

/** HogQL modifier defaults PostHog reports for a project (read-only). */
const DEFAULT_MODIFIERS = {
  personsOnEventsMode: 'person_id_override_properties_on_events',
  personsArgMaxVersion: 'auto',
  inCohortVia: 'auto',
  materializationMode: 'legacy_null_as_null',
  optimizeJoinedFilters: false,
  bounceRatePageViewMode: 'count_pageviews',
  bounceRateDurationSeconds: 10,
  sessionTableVersion: 'auto',
  sessionsV2JoinMode: 'string',
  propertyGroupsMode: 'optimized',
  useMaterializedViews: true,
  convertToProjectTimezone: true,
}

export interface Caller {
  user: UserRow
  /** A key restricted to these projects (null: no restriction, or a session). */
  scopedTeams: number[] | null
}

/** Effective project level (1 member, 8 admin, null no access) and the access-control string (spec C.9). */
export function effectiveAccess(org: OrgContext, row: Pick<ProjectRow, 'default_level' | 'member_level'>): { level: 1 | 8 | null; access: AccessLevel | null } {
  if (org.level === null) return { level: null, access: null }
  if (!hasFeature(org, 'access_control')) {
    return org.level >= LEVEL.ADMIN ? { level: 8, access: 'admin' } : { level: 1, access: 'member' }
  }
  if (org.level >= LEVEL.ADMIN) return { level: 8, access: 'admin' }
  const access = row.member_level ?? row.default_level ?? 'admin'
  return { level: access === 'admin' ? 8 : access === 'member' ? 1 : null, access }
}

function hasFeature(org: OrgContext, key: string): boolean {
  return org.available_product_features.some((f) => f.key === key)
}

/** A project resolved for a request: its row, organization and the caller's level in it. */
export interface ResolvedProject {
  row: ProjectRow
  org: OrgContext
  level: 1 | 8
  access: AccessLevel
}

type Json = Record<string, unknown>

const isDict = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x)

/** PostHog's partial updates of JSON settings (spec C.7). */
function merged(field: string, before: unknown, value: unknown): unknown {
  if (value === null || !isDict(value)) return value
  const prev = isDict(before) ? before : {}
  switch (field) {
    case 'survey_config':
    case 'modifiers':
    case 'conversations_settings':
    case 'revenue_analytics_config':
    case 'customer_analytics_config':
    case 'workflows_config':
    case 'feature_flag_policy_config':
      return { ...prev, ...value }
    case 'session_replay_config': {
      const out: Json = { ...prev }
      for (const [k, v] of Object.entries(value)) out[k] = isDict(v) && isDict(prev[k]) ? { ...(prev[k] as Json), ...v } : v
      return out
    }
    case 'marketing_analytics_config': {
      const out: Json = { ...prev, ...value }
      if (isDict(value.sources_map)) {
        const sources: Json = { ...(isDict(prev.sources_map) ? prev.sources_map : {}) }
        for (const [k, v] of Object.entries(value.sources_map)) {
          if (v === null) delete sources[k]
          else sources[k] = isDict(v) && isDict(sources[k]) ? { ...(sources[k] as Json), ...v } : v
        }
        out.sources_map = sources
      }
      return out
    }
    default:
      return value
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

function isNameConflict(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string; message?: string }
  return e.code === '23505' && (e.constraint === 'projects_org_name_key' || /projects_org_name_key/.test(String(e.message)))
}

const nameConflict = (name: string) =>
  new ApiError(409, 'server_error', 'conflict', `There is already a project called "${name}" in this organization. Choose a different name.`)

/** `secretKey` is the resolved key (see lib/secret-key.ts), never unset. */
export function createProjectService(db: Db, config: Config & { secretKey: string }, afterCommit: () => void) {
  function liveEventsToken(row: ProjectRow, user: UserRow): string {
    const now = Math.floor(Date.now() / 1000)
    return signJwt(
      { team_id: row.id, api_token: row.api_token, user_id: user.id, organization_id: row.organization, aud: 'livestream', iat: now, exp: now + 7 * 24 * 3600 },
      config.secretKey,
    )
  }

  function view(row: ProjectRow, org: OrgContext, user: UserRow) {
    const { level, access } = effectiveAccess(org, row)
    const out: Json = {
      id: row.id,
      organization: row.organization,
      name: row.name,
      product_description: row.product_description,
      tags: row.tags ?? [],
      created_at: row.created_at,
      effective_membership_level: level,
      has_group_types: false,
      group_types: [],
      live_events_token: liveEventsToken(row, user),
      updated_at: row.updated_at,
      uuid: row.uuid,
      api_token: row.api_token,
      person_on_events_querying_enabled: true,
      default_modifiers: DEFAULT_MODIFIERS,
      product_intents: [],
      available_setup_task_ids: SETUP_TASK_IDS,
      is_pending_deletion: row.is_pending_deletion,
      project_id: row.id,
      user_access_level: access,
      managed_viewsets: { revenue_analytics: false },
      event_retention_months: 84,
      events_retention_enforced: false,
    }
    for (const c of TEAM_SETTING_COLUMNS) out[c] = row[c]
    // Without the data color themes feature the global default theme applies (orgd has none).
    if (!hasFeature(org, 'data_color_themes')) out.default_data_theme = null
    return out
  }

  /** PostHog's PremiumMultiProjectPermission (create and PUT). */
  async function checkProjectLimit(q: Queryable, org: OrgContext, isDemo: boolean, creating: boolean): Promise<void> {
    const counts = await fullProjectStore.countsFor(q, org.id)
    if (isDemo) {
      if (counts.demo > 0) throw errors.permissionDenied(PLAN_LIMIT)
      return
    }
    const feature = org.available_product_features.find((f) => f.key === 'organizations_projects')
    if (feature) {
      const limit = feature.limit ?? null
      if (limit === null) {
        if (creating && counts.nonDemo >= MAX_ALLOWED_PROJECTS_PER_ORG) {
          throw errors.permissionDenied(
            `You have reached the maximum limit of ${MAX_ALLOWED_PROJECTS_PER_ORG} projects per organization. Contact support if you'd like access to more projects.`,
          )
        }
        return
      }
      if (counts.nonDemo >= Math.min(limit, MAX_ALLOWED_PROJECTS_PER_ORG)) throw errors.permissionDenied(PLAN_LIMIT)
      return
    }
    if (counts.nonDemo >= 1) throw errors.permissionDenied(PLAN_LIMIT)
  }

  function checkScopedTeam(caller: Caller, projectId: number): void {
    if (caller.scopedTeams && caller.scopedTeams.length > 0 && !caller.scopedTeams.includes(projectId)) {
      throw errors.permissionDenied(`API key does not have access to the requested project: ID ${projectId}.`)
    }
  }

  /** `:id` as PostHog parses it; anything but a project id in range names no project. */
  function parseId(param: string): number | null {
    if (!/^\d{1,10}$/.test(param)) return null
    const n = Number(param)
    return n >= 1 && n <= MAX_PROJECT_ID ? n : null
  }

  async function loadDefaultName(q: Queryable, organizationId: string): Promise<string> {
    const taken = await fullProjectStore.takenDefaultNames(q, organizationId)
    let name = DEFAULT_PROJECT_NAME
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${DEFAULT_PROJECT_NAME} ${n}`
    return name
  }

  return {
    effectiveAccess,

    /**
     * The project a detail request names (an id or `@current`), in the URL's organization when
     * there is one. Invisible or foreign projects are 404; `@current` without access is 403.
     * `resolveOrg` turns the project's organization into the caller's context (for
     * `/api/projects/:id`, which has no organization in its path).
     */
    async resolve(
      caller: Caller,
      param: string,
      urlOrg: OrgContext | null,
      resolveOrg: (organizationId: string) => Promise<OrgContext>,
    ): Promise<ResolvedProject> {
      const current = param === '@current'
      let id: number | null
      if (current) {
        id = caller.user.current_team_id
        if (id === null) throw errors.notFound()
      } else {
        id = parseId(param)
        if (id === null) throw errors.notFound()
      }
      checkScopedTeam(caller, id)
      const row = await fullProjectStore.find(db, id, caller.user.id)
      if (!row || (urlOrg && row.organization !== urlOrg.id)) throw errors.notFound()
      const org = urlOrg ?? (await resolveOrg(row.organization))
      if (org.level === null) throw errors.notFound()
      const { level, access } = effectiveAccess(org, row)
      if (level === null || access === null) {
        if (current) throw errors.permissionDenied(INSUFFICIENT)
        throw errors.notFound()
      }
      return { row, org, level, access }
    },

    async list(org: OrgContext, caller: Caller, opts: { search: string | null; limit: number; offset: number }): Promise<{ count: number; results: ProjectBasicRow[] }> {
      const seesAll = !hasFeature(org, 'access_control') || (org.level ?? 0) >= LEVEL.ADMIN
      const search = opts.search?.replace(/\0/g, '').trim() || null
      const { count, rows } = await fullProjectStore.list(db, org.id, {
        userId: caller.user.id,
        seesAll,
        onlyIds: caller.scopedTeams && caller.scopedTeams.length > 0 ? caller.scopedTeams : null,
        search: search && search.length <= 200 ? search : search ? search.slice(0, 200) : null,
        limit: opts.limit,
        offset: opts.offset,
      })
      // Filled in place: copies made with object spread outlived V8's young generation (see userBasic).
      for (const r of rows) r.tags ??= []
      return { count, results: rows as Array<(typeof rows)[number] & { tags: string[] }> }
    },

    /** Who may create (spec C.4), checked before the body: plan limit, then the creator's level. */
    async checkCanCreate(org: OrgContext, caller: Caller, body: unknown): Promise<void> {
      const isDemo = isDict(body) && isDrfTrue(body.is_demo)
      if (caller.scopedTeams && caller.scopedTeams.length > 0) {
        throw errors.permissionDenied('API keys with scoped projects are only supported on project-based endpoints.')
      }
      await checkProjectLimit(db, org, isDemo, true)
      if (isDemo) return
      if ((org.level ?? 0) >= LEVEL.ADMIN) return
      if (hasFeature(org, 'organization_invite_settings') && org.members_can_create_projects) return
      throw errors.permissionDenied('You need to be an organization admin or above to create new projects.')
    },

    /** PUT passes the plan-limit check too (PostHog's PremiumMultiProjectPermission covers `update`). */
    async checkCanPut(org: OrgContext, body: unknown): Promise<void> {
      const isDemo = isDict(body) && isDrfTrue(body.is_demo)
      await checkProjectLimit(db, org, isDemo, false)
    },

    async create(org: OrgContext, caller: Caller, body: Record<string, unknown>) {
      const input = parseProjectInput(
        { ...body, name: typeof body.name === 'string' && body.name.trim() === '' ? undefined : body.name },
        { creating: true, features: org.available_product_features, current: null },
      )
      if ((org.level ?? 0) < LEVEL.ADMIN) {
        const denied = Object.keys(input).filter((k) => ADMIN_FIELDS.has(k) && k !== 'is_demo' && k !== 'name').sort()
        if (denied.length > 0) throw errors.permissionDenied(`Only organization admins can set these settings on project creation: ${denied.join(', ')}`)
      }
      const isDemo = input.is_demo === true
      const settings: Json = {}
      for (const f of WRITABLE) if (f.target === 'team' && f.name in input) settings[f.name] = input[f.name]
      delete settings.test_account_filters
      if (!('anonymize_ips' in settings)) settings.anonymize_ips = false
      if (!isDemo) settings.extra_settings = { ...(isDict(settings.extra_settings) ? settings.extra_settings : {}), recorder_script: 'posthog-recorder', starter_dashboard_variant: 'control' }
      if (settings.conversations_enabled === true) {
        settings.conversations_settings = { ...(isDict(settings.conversations_settings) ? settings.conversations_settings : {}), widget_public_token: randomBytes(32).toString('base64url') }
      }

      const projectId = await db.tx(async (q) => {
        // Serializes creates in one organization, so the plan limit holds under concurrency.
        if (!(await organizationStore.lockForUpdate(q, org.id))) throw errors.organizationNotFound()
        await checkProjectLimit(q, org, isDemo, true)
        const explicit = typeof input.name === 'string' ? input.name : null
        // The organization lock makes the free default name stable until this commits; the
        // unique index still decides between concurrent creates of one explicit name.
        const name = explicit ?? (await loadDefaultName(q, org.id))
        const id = await fullProjectStore
          .insert(q, {
            organizationId: org.id,
            name,
            productDescription: (input.product_description as string | null | undefined) ?? null,
            tags: (input.tags as string[] | undefined) ?? [],
            apiToken: `phc_${randomToken(32)}`,
            settings,
          })
          .catch((err: unknown) => {
            if (isNameConflict(err)) throw nameConflict(name)
            throw err
          })
        const domain = caller.user.email.split('@')[1]?.toLowerCase() ?? null
        const generic = domain !== null && /^(gmail|googlemail|yahoo|hotmail|outlook|live|icloud|me|aol|proton|protonmail|gmx|mail|yandex)\./.test(domain)
        const cohortId = await fullProjectStore.insertInternalUsersCohort(q, id, caller.user.id, generic ? null : domain)
        const teamCols: Json = { test_account_filters: [{ key: 'id', type: 'cohort', value: cohortId, operator: 'not_in' }] }
        // A demo project gets no starter dashboard (PostHog returns before creating one).
        if (!isDemo) teamCols.primary_dashboard = await fullProjectStore.insertStarterDashboard(q, id)
        await fullProjectStore.update(q, id, {}, teamCols)
        await userStore.setCurrent(q, caller.user.id, org.id, id)
        for (const scope of ['Project', 'Team']) {
          await activityLog.record(q, {
            organizationId: org.id,
            teamId: id,
            userId: caller.user.id,
            scope,
            itemId: String(id),
            activity: 'created',
            detail: { name },
          })
        }
        return id
      })
      const row = await fullProjectStore.find(db, projectId, caller.user.id)
      return view(row!, org, { ...caller.user, current_team_id: projectId })
    },

    view: (p: ResolvedProject, user: UserRow) => view(p.row, p.org, user),

    /** PATCH and PUT (spec C.7): validate, gate, merge, write only the changed columns. */
    async update(p: ResolvedProject, caller: Caller, body: Record<string, unknown>) {
      const org = p.org
      const updated = await db.tx(async (q) => {
        const row = await fullProjectStore.find(q, p.row.id, caller.user.id, { lock: true })
        if (!row) throw errors.notFound()
        const { level } = effectiveAccess(org, row)
        if (level === null) throw errors.notFound()
        const wanted = dashboardPk(body.primary_dashboard)
        const dashboardTeams = new Map<number, number>()
        if (wanted !== null) {
          const teamId = await fullProjectStore.dashboardTeam(q, wanted)
          if (teamId !== null) dashboardTeams.set(wanted, teamId)
        }
        const input = parseProjectInput(body, { creating: false, features: org.available_product_features, current: row, dashboardTeams })
        if (typeof input.primary_dashboard === 'number' && dashboardTeams.get(input.primary_dashboard) !== row.id) {
          throw errors.validation('Dashboard does not belong to this team.', 'primary_dashboard', 'invalid_input')
        }
        const present = Object.keys(body).filter((k) => WRITABLE_NAMES.has(k) && body[k] !== undefined)
        const accessControlled = hasFeature(org, 'access_control')
        const gated = present.filter((k) => ADMIN_FIELDS.has(k) && !(accessControlled && k === 'app_urls')).sort()
        if (level < LEVEL.ADMIN && gated.length > 0) throw errors.permissionDenied(`Only project admins can modify these settings: ${gated.join(', ')}`)
        if (accessControlled && level < LEVEL.ADMIN && present.includes('app_urls')) {
          throw errors.validation('You need admin access to project to modify this field.', 'app_urls')
        }
        if (present.includes('receive_org_level_activity_logs') && (org.level ?? 0) < LEVEL.ADMIN) {
          throw errors.permissionDenied('Only organization owners and admins can modify the receive_org_level_activity_logs setting.')
        }

        const next: Json = {}
        for (const [k, v] of Object.entries(input)) next[k] = merged(k, row[k], v)
        if ('conversations_enabled' in next) {
          const was = row.conversations_enabled === true
          const now = next.conversations_enabled === true
          const settings: Json = isDict(next.conversations_settings) ? { ...next.conversations_settings } : isDict(row.conversations_settings) ? { ...row.conversations_settings } : {}
          if (!was && now && !settings.widget_public_token) next.conversations_settings = { ...settings, widget_public_token: randomBytes(32).toString('base64url') }
          if (was && !now) next.conversations_settings = { ...settings, widget_public_token: null }
        } else if (isDict(next.conversations_settings) && isDict(row.conversations_settings) && 'widget_public_token' in row.conversations_settings) {
          next.conversations_settings = { ...next.conversations_settings, widget_public_token: row.conversations_settings.widget_public_token }
        }

        const projectCols: Json = {}
        const teamCols: Json = {}
        const changes: Array<{ scope: string; field: string; before: unknown; after: unknown }> = []
        for (const f of WRITABLE) {
          if (!(f.name in next) || same(row[f.name], next[f.name])) continue
          const value = next[f.name]
          if (f.target !== 'team') projectCols[f.name] = value
          if (f.target !== 'project') teamCols[f.name] = value
          changes.push({ scope: f.name === 'survey_config' ? 'Survey' : f.target === 'team' ? 'Team' : 'Project', field: f.name, before: row[f.name] ?? null, after: value })
        }
        try {
          await fullProjectStore.update(q, row.id, projectCols, teamCols)
        } catch (err) {
          if (isNameConflict(err)) throw nameConflict(String(projectCols.name))
          throw err
        }
        for (const scope of ['Project', 'Team', 'Survey']) {
          const mine = changes.filter((c) => c.scope === scope).map(({ field, before, after }) => ({ type: scope, action: 'changed', field, before, after }))
          if (mine.length === 0) continue
          await activityLog.record(q, {
            organizationId: org.id,
            teamId: row.id,
            userId: caller.user.id,
            scope,
            itemId: String(row.id),
            activity: 'updated',
            detail: { name: scope === 'Survey' ? 'global survey appearance' : row.name, changes: mine },
          })
        }
        return fullProjectStore.find(q, row.id, caller.user.id)
      })
      return view(updated!, org, caller.user)
    },

    /** DELETE (spec C.10): admins only; marked at once, removed by a durable job. */
    async requestDeletion(p: ResolvedProject, caller: Caller): Promise<void> {
      if (p.level < LEVEL.ADMIN) throw errors.permissionDenied(INSUFFICIENT)
      await db.tx(async (q) => {
        const row = await fullProjectStore.find(q, p.row.id, caller.user.id, { lock: true })
        if (!row) throw errors.notFound()
        if (!(await fullProjectStore.markPendingDeletion(q, row.id))) throw errors.validation('This project is already being deleted.')
        // One attempt: a failure clears the flag and the user retries with a new DELETE.
        await enqueue(q, PROJECT_DELETE_JOB, { team_ids: [row.id], project_id: row.id, user_id: caller.user.id, project_name: row.name, organization_id: row.organization }, 1)
      })
      afterCommit()
    },

    async rotateSecretToken(p: ResolvedProject, caller: Caller) {
      if (p.level < LEVEL.ADMIN) throw errors.permissionDenied(INSUFFICIENT)
      await db.tx((q) => fullProjectStore.rotateSecretToken(q, p.row.id, `phs_${randomToken(35)}`))
      return view((await fullProjectStore.find(db, p.row.id, caller.user.id))!, p.org, caller.user)
    },

    async resetToken(p: ResolvedProject, caller: Caller) {
      if (p.level < LEVEL.ADMIN) throw errors.permissionDenied(INSUFFICIENT)
      await db.tx((q) => fullProjectStore.setApiToken(q, p.row.id, `phc_${randomToken(32)}`))
      return view((await fullProjectStore.find(db, p.row.id, caller.user.id))!, p.org, caller.user)
    },

    async deleteSecretTokenBackup(p: ResolvedProject, caller: Caller) {
      if (p.level < LEVEL.ADMIN) throw errors.permissionDenied(INSUFFICIENT)
      await db.tx((q) => fullProjectStore.deleteSecretTokenBackup(q, p.row.id))
      return view((await fullProjectStore.find(db, p.row.id, caller.user.id))!, p.org, caller.user)
    },

    /** The project's access rows in PostHog's access_controls shape. */
    async accessControls(p: ResolvedProject) {
      const rows = await accessRowStore.forProject(db, p.row.id)
      return {
        access_controls: rows.map((r) => ({
          id: r.id,
          access_level: r.access_level,
          organization_member: r.membership_id,
          user_uuid: r.user_uuid,
          role: null,
          resource: 'project' as const,
          resource_id: String(p.row.id),
          created_by: null,
          created_at: r.created_at,
          updated_at: r.updated_at,
        })),
        available_access_levels: [...ACCESS_LEVELS],
        default_access_level: 'admin',
        user_access_level: p.access,
        user_can_edit_access_levels: p.level >= LEVEL.ADMIN && hasFeature(p.org, 'access_control'),
      }
    },

    /** Sets (or with a null level removes) the project's default row or one member's row. */
    async setAccessControl(p: ResolvedProject, caller: Caller, body: Record<string, unknown>) {
      if (p.level < LEVEL.ADMIN) throw errors.permissionDenied(INSUFFICIENT)
      if (!hasFeature(p.org, 'access_control')) throw errors.permissionDenied('This organization does not have access control enabled.')
      const level = body.access_level
      if (level !== null && !ACCESS_LEVELS.includes(level as AccessLevel)) {
        if (level === undefined) throw errors.required('access_level')
        throw errors.validation(`"${typeof level === 'object' ? JSON.stringify(level) : String(level)}" is not a valid choice.`, 'access_level', 'invalid_choice')
      }
      const member = body.organization_member ?? null
      if (member !== null && !isUuid(member)) throw errors.validation('Must be a valid UUID.', 'organization_member')
      await db.tx(async (q) => {
        let membershipId: string | null = null
        if (member !== null) {
          const rows = await q.query<{ id: string }>(`SELECT id FROM memberships WHERE id = $1 AND organization_id = $2`, [String(member).toLowerCase(), p.org.id])
          if (rows.length === 0) throw errors.validation('Organization member does not exist.', 'organization_member', 'does_not_exist')
          membershipId = rows[0].id
        }
        if (level === null) await accessRowStore.remove(q, p.row.id, membershipId)
        else await accessRowStore.set(q, p.row.id, membershipId, level as AccessLevel)
        await activityLog.record(q, {
          organizationId: p.org.id,
          teamId: p.row.id,
          userId: caller.user.id,
          scope: 'AccessControl',
          itemId: String(p.row.id),
          activity: level === null ? 'deleted' : 'updated',
          detail: { resource: 'project', resource_id: String(p.row.id), organization_member: membershipId, access_level: level },
        })
      })
      return { access_level: level as string | null, organization_member: member === null ? null : String(member).toLowerCase(), resource: 'project' as const, resource_id: String(p.row.id) }
    },
  }
}

export type ProjectService = ReturnType<typeof createProjectService>

/**
 * The deletion job: removes the project with its environments, access rows and keys' references,
 * and records it. On failure the pending flag is cleared so the user can try again.
 */
export function projectJobHandlers(): Record<string, JobHandler> {
  return {
    [PROJECT_DELETE_JOB]: async (job, db) => {
      const payload = job.payload as { project_id: number; user_id: number | null; project_name: string; organization_id: string }
      try {
        await db.tx(async (q) => {
          const gone = await fullProjectStore.deleteWithData(q, payload.project_id)
          if (!gone) return
          for (const teamId of gone.teamIds) {
            await activityLog.record(q, { organizationId: gone.organizationId, teamId, userId: payload.user_id, scope: 'Team', itemId: String(teamId), activity: 'deleted', detail: { name: gone.name } })
          }
          await activityLog.record(q, {
            organizationId: gone.organizationId,
            teamId: payload.project_id,
            userId: payload.user_id,
            scope: 'Project',
            itemId: String(payload.project_id),
            activity: 'deleted',
            detail: { name: gone.name },
          })
        })
      } catch (err) {
        await db.query(`UPDATE projects SET is_pending_deletion = false, updated_at = now() WHERE id = $1`, [payload.project_id])
        throw err
      }
    },
  }
}
