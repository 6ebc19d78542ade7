import type { Db, Queryable } from '../../db/index.ts'
import type { Config, ProductFeature } from '../../config.ts'
import { errors } from '../../http/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { activityLog } from '../activity-log/service.ts'
import { projectStore, type ProjectBasic, type TeamBasic } from '../projects/store.ts'
import { userStore, type UserRow } from '../users/store.ts'
import { organizationStore, type OrganizationPatch, type OrganizationRow, type OrganizationWithLevel } from './store.ts'

/** The organization a request acts on, with the caller's membership level. */
export interface OrgContext {
  id: string
  name: string
  slug: string
  available_product_features: ProductFeature[]
  members_can_invite: boolean
  members_can_create_projects: boolean
  members_can_use_personal_api_keys: boolean
  member_count: number
  level: number | null
}

export const LEVEL = { MEMBER: 1, ADMIN: 8, OWNER: 15 } as const

export interface OrganizationView extends OrganizationRow {
  membership_level: number | null
  teams: TeamBasic[]
  projects: ProjectBasic[]
}

export function createOrganizationService(db: Db, config: Config) {
  async function withNested(rows: OrganizationWithLevel[], q: Queryable = db): Promise<OrganizationView[]> {
    const ids = rows.map((r) => r.id)
    const teams = await projectStore.teamsBasic(q, ids)
    const projects = await projectStore.projectsBasic(q, ids)
    return rows.map((r) => ({
      ...r,
      membership_level: r.level,
      teams: teams.filter((t) => t.organization === r.id),
      projects: projects.filter((p) => p.organization_id === r.id),
    }))
  }

  return {
    /**
     * `@current` (the user's current organization, else their first, remembered) or a UUID.
     * Unknown, malformed or missing → 404 "Organization not found."; `level` is null for non-members.
     */
    async resolveForUser(user: UserRow, param: string | undefined): Promise<OrgContext> {
      let id: string | null = null
      if (param === '@current') {
        id = user.current_organization_id
        if (!id) {
          id = await organizationStore.firstOrganizationOf(db, user.id)
          if (!id) throw errors.organizationNotFound()
          await userStore.setCurrent(db, user.id, id, await projectStore.firstTeamOf(db, id))
        }
      } else if (param && isUuid(param)) {
        id = param.toLowerCase()
      }
      if (!id) throw errors.organizationNotFound()
      const org = await organizationStore.findWithLevel(db, id, user.id)
      if (!org) throw errors.organizationNotFound()
      return {
        id: org.id,
        name: org.name,
        slug: org.slug,
        available_product_features: org.available_product_features ?? [],
        members_can_invite: org.members_can_invite,
        members_can_create_projects: org.members_can_create_projects,
        members_can_use_personal_api_keys: org.members_can_use_personal_api_keys,
        member_count: org.member_count,
        level: org.level,
      }
    },

    async list(user: UserRow, onlyIds: string[] | null, limit: number, offset: number): Promise<{ count: number; results: OrganizationView[] }> {
      const { count, rows } = await organizationStore.listForUser(db, user.id, onlyIds, limit, offset)
      return { count, results: await withNested(rows) }
    },

    async get(org: OrgContext, user: UserRow): Promise<OrganizationView> {
      const row = await organizationStore.findWithLevel(db, org.id, user.id)
      if (!row) throw errors.notFound()
      return (await withNested([row]))[0]
    },

    /** Creates the organization, its default project, and the creator as owner, in one transaction. */
    async create(user: UserRow, name: string, features: ProductFeature[] = config.defaultEntitlements, q?: Queryable): Promise<{ organization: OrganizationRow; projectId: number; apiToken: string }> {
      const run = async (tx: Queryable) => {
        const organization = await organizationStore.insert(tx, name, features)
        const { projectId, apiToken } = await projectStore.createWithTeam(tx, organization.id)
        await tx.query(`INSERT INTO memberships (organization_id, user_id, level) VALUES ($1, $2, $3)`, [organization.id, user.id, LEVEL.OWNER])
        await userStore.setCurrent(tx, user.id, organization.id, projectId)
        await activityLog.record(tx, { organizationId: organization.id, userId: user.id, scope: 'Organization', itemId: organization.id, activity: 'created', detail: { name } })
        return { organization: { ...organization, member_count: organization.member_count + 1 }, projectId, apiToken }
      }
      return q ? run(q) : db.tx(run)
    },

    async createForRequest(user: UserRow, name: string): Promise<OrganizationView> {
      const { organization } = await this.create(user, name)
      return (await withNested([{ ...organization, level: LEVEL.OWNER }]))[0]
    },

    async update(org: OrgContext, user: UserRow, patch: OrganizationPatch): Promise<OrganizationView> {
      if (org.level === null || org.level < LEVEL.ADMIN) throw errors.permissionDenied('Your organization access level is insufficient.')
      return db.tx(async (tx) => {
        const before = await organizationStore.findWithLevel(tx, org.id, user.id)
        const row = await organizationStore.update(tx, org.id, patch)
        if (!row || !before) throw errors.notFound()
        const changes = Object.keys(patch)
          .filter((k) => JSON.stringify(before[k as keyof OrganizationRow]) !== JSON.stringify(row[k as keyof OrganizationRow]))
          .map((k) => ({ field: k, before: before[k as keyof OrganizationRow], after: row[k as keyof OrganizationRow] }))
        if (changes.length > 0) {
          await activityLog.record(tx, { organizationId: org.id, userId: user.id, scope: 'Organization', itemId: org.id, activity: 'updated', detail: { changes } })
        }
        const [view] = await withNested([{ ...row, level: before.level }], tx)
        return view
      })
    },

    async delete(org: OrgContext, user: UserRow): Promise<void> {
      if (org.level === null || org.level < LEVEL.OWNER) throw errors.permissionDenied('Your organization access level is insufficient.')
      await db.tx(async (tx) => {
        const members = await tx.query<{ user_id: number }>(`SELECT user_id FROM memberships WHERE organization_id = $1`, [org.id])
        const deleted = await organizationStore.delete(tx, org.id)
        if (!deleted) throw errors.notFound()
        await activityLog.record(tx, { organizationId: org.id, userId: user.id, scope: 'Organization', itemId: org.id, activity: 'deleted', detail: { name: org.name } })
        // Give people whose current organization this was another one of theirs.
        await tx.query(
          `UPDATE users u SET current_organization_id = f.organization_id,
                  current_team_id = (SELECT t.id FROM teams t WHERE t.organization_id = f.organization_id ORDER BY t.id LIMIT 1)
             FROM (SELECT DISTINCT ON (m.user_id) m.user_id, m.organization_id FROM memberships m
             WHERE m.user_id = ANY ($1::int[])
             ORDER BY m.user_id, m.joined_at) f
            WHERE u.current_organization_id IS NULL AND f.user_id = u.id`,
          [members.map((m) => m.user_id)],
        )
      })
    },

    setEntitlements: (organizationId: string, features: ProductFeature[]) => organizationStore.setEntitlements(db, organizationId, features),
  }
}

export type OrganizationService = ReturnType<typeof createOrganizationService>
