import type { Queryable } from '../../db/index.ts'
import { randomToken } from '../../lib/crypto.ts'

export const DEFAULT_PROJECT_NAME = 'Default project'

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
    await q.query(`INSERT INTO teams (id, project_id, organization_id, name, api_token) VALUES ($1, $1, $2, $3, $4)`, [project.id, organizationId, projectName, apiToken])
    return { projectId: project.id, apiToken }
  },

  async teamsBasic(q: Queryable, organizationIds: string[]): Promise<TeamBasic[]> {
    if (organizationIds.length === 0) return []
    return q.query<TeamBasic>(
      `SELECT t.id, t.uuid, t.organization_id AS organization, t.project_id, t.api_token, t.name,
              false AS completed_snippet_onboarding, '{}'::jsonb AS has_completed_onboarding_for,
              false AS ingested_event, false AS is_demo, 'UTC' AS timezone, false AS access_control
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
