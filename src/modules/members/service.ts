import type { Db, Queryable } from '../../db/index.ts'
import { errors } from '../../http/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { activityLog } from '../activity-log/service.ts'
import type { ApiKeyService } from '../api-keys/service.ts'
import { LEVEL, type OrgContext } from '../organizations/service.ts'
import { organizationStore } from '../organizations/store.ts'
import { projectStore } from '../projects/store.ts'
import { userBasic, userStore, type UserBasic, type UserRow } from '../users/store.ts'
import { memberStore, type ListFilters, type MemberRow } from './store.ts'

export const MAX_SEARCH_LENGTH = 200

export interface MemberView {
  id: string
  user: UserBasic
  level: number
  joined_at: Date
  updated_at: Date
  is_2fa_enabled: boolean
  has_social_auth: boolean
  last_login: Date | null
  search_match_type: 'exact' | 'similar' | null
}

function view(r: MemberRow): MemberView {
  return {
    id: r.id,
    user: userBasic(r, r.user_id, r.user_uuid),
    level: r.level,
    joined_at: r.joined_at,
    updated_at: r.updated_at,
    is_2fa_enabled: r.is_2fa_enabled,
    has_social_auth: r.has_social_auth,
    last_login: r.last_login,
    search_match_type: null,
  }
}

export interface ListQuery extends ListFilters {
  search?: string
  order?: string
  limit: number
  offset: number
}

export function createMemberService(db: Db, apiKeys: ApiKeyService) {
  /** `@me` or a user's UUID → the target membership in this organization, else 404. */
  async function target(q: Queryable, org: OrgContext, requester: UserRow, param: string): Promise<MemberRow> {
    const uuid = param === '@me' ? requester.uuid : param
    if (!isUuid(uuid)) throw errors.notFound()
    const row = await memberStore.findByUserUuid(q, org.id, uuid.toLowerCase())
    if (!row) throw errors.notFound()
    return row
  }

  /** PostHog's OrganizationMembership.validate_update without a new level (the object check). */
  function checkCanEdit(requesterLevel: number, requesterId: number, t: MemberRow): void {
    if (t.user_id === requesterId) return
    if (requesterLevel < LEVEL.ADMIN) throw errors.permissionDenied('You can only edit others if you are an admin.')
    if (t.level > requesterLevel) throw errors.permissionDenied('You can only edit others with level lower or equal to you.')
  }

  /**
   * Locks the organization row, then re-reads the requester's level: every change to levels and
   * memberships in one organization is serialized, so decisions never rest on a stale level.
   */
  async function lockedRequesterLevel(q: Queryable, org: OrgContext, requester: UserRow): Promise<number> {
    if (!(await organizationStore.lockForUpdate(q, org.id))) throw errors.organizationNotFound()
    const level = await memberStore.levelOf(q, org.id, requester.id)
    if (level === null) throw errors.permissionDenied()
    return level
  }

  return {
    /** The count and the page as JSON text (see memberStore.list). */
    async list(org: OrgContext, query: ListQuery): Promise<{ count: number; results: string }> {
      const raw = query.search ?? ''
      if (raw.length > MAX_SEARCH_LENGTH) throw errors.validation(`Search query must be ${MAX_SEARCH_LENGTH} characters or fewer.`, 'search')
      const term = raw.replace(/\0/g, '').trim()
      const filters: ListFilters = { email: query.email, updatedAfter: query.updatedAfter }
      if (term) {
        const page = await memberStore.search(db, org.id, term, filters, query.limit, query.offset)
        return { count: page.total, results: page.results }
      }
      const ascending = query.order === 'joined_at'
      const filtered = filters.email !== undefined || filters.updatedAfter !== undefined
      const [results, count] = await Promise.all([
        memberStore.list(db, org.id, filters, ascending, query.limit, query.offset),
        // The unfiltered count is kept on the organization row and came with the permission check.
        filtered ? memberStore.count(db, org.id, filters) : Promise.resolve(org.member_count),
      ])
      return { count, results }
    },

    /** The object check alone, before the body is looked at (see Access.precheck). */
    async checkCanEditTarget(org: OrgContext, requester: UserRow, param: string): Promise<void> {
      const t = await target(db, org, requester, param)
      checkCanEdit(org.level ?? 0, requester.id, t)
    },

    async updateLevel(org: OrgContext, requester: UserRow, param: string, newLevel: number | undefined): Promise<MemberView> {
      return db.tx(async (q) => {
        const requesterLevel = await lockedRequesterLevel(q, org, requester)
        const t = await target(q, org, requester, param)
        checkCanEdit(requesterLevel, requester.id, t)
        if (newLevel !== undefined) {
          if (t.user_id === requester.id) throw errors.permissionDenied("You can't change your own access level.")
          if (newLevel === LEVEL.OWNER && requesterLevel !== LEVEL.OWNER) {
            throw errors.permissionDenied("You can only make another member owner if you're this organization's owner.")
          }
          if (newLevel > requesterLevel) throw errors.permissionDenied('You can only change access level of others to lower or equal to your current one.')
          if (newLevel !== t.level) {
            await memberStore.setLevel(q, t.id, newLevel)
            await activityLog.record(q, {
              organizationId: org.id,
              userId: requester.id,
              scope: 'OrganizationMembership',
              itemId: t.id,
              activity: 'updated',
              detail: { user_uuid: t.user_uuid, changes: [{ field: 'level', before: t.level, after: newLevel }] },
            })
          }
        }
        const updated = await memberStore.findByUserUuid(q, org.id, t.user_uuid)
        return view(updated!)
      })
    },

    /** Removal by an admin, or leaving (own uuid or `@me`). Owners can never be removed. */
    async remove(org: OrgContext, requester: UserRow, param: string): Promise<void> {
      await db.tx(async (q) => {
        const requesterLevel = await lockedRequesterLevel(q, org, requester)
        const t = await target(q, org, requester, param)
        checkCanEdit(requesterLevel, requester.id, t)
        if (t.level === LEVEL.OWNER) throw errors.validation('Cannot leave the organization as its owner!')
        await memberStore.delete(q, t.id)
        await activityLog.record(q, {
          organizationId: org.id,
          userId: requester.id,
          scope: 'OrganizationMembership',
          itemId: t.id,
          activity: 'deleted',
          detail: { user_uuid: t.user_uuid, level: t.level, removal_type: t.user_id === requester.id ? 'self_removal' : 'removed_by_other' },
        })
        // The removed person's current organization/project falls back to another of theirs.
        const removed = await userStore.findById(q, t.user_id)
        if (removed && removed.current_organization_id === org.id) {
          const next = await organizationStore.firstOrganizationOf(q, t.user_id)
          await userStore.setCurrent(q, t.user_id, next, next ? await projectStore.firstTeamOf(q, next) : null)
        }
      })
    },

    async githubLogin(org: OrgContext, requester: UserRow, param: string): Promise<{ github_login: string | null }> {
      const t = await target(db, org, requester, param)
      return { github_login: await memberStore.githubLogin(db, t.user_id) }
    },

    async scopedApiKeys(org: OrgContext, requester: UserRow, param: string) {
      const t = await target(db, org, requester, param)
      return apiKeys.summaryForOrganization(t.user_id, org.id)
    },

    /** Operator command: add (or re-level) a member without the web UI. */
    async addDirect(organizationId: string, userId: number, level: number, q: Queryable = db): Promise<{ id: string; created: boolean }> {
      return memberStore.insert(q, organizationId, userId, level)
    },
  }
}

export type MemberService = ReturnType<typeof createMemberService>
