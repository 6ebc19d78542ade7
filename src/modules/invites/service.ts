import type { Db, Queryable } from '../../db/index.ts'
import type { Config } from '../../config.ts'
import { errors } from '../../http/errors.ts'
import { enqueue } from '../../jobs/queue.ts'
import { isUuid } from '../../lib/ids.ts'
import { activityLog } from '../activity-log/service.ts'
import { LEVEL, type OrgContext } from '../organizations/service.ts'
import { projectAccessStore, projectStore, type AccessLevel } from '../projects/store.ts'
import { toUserBasic, userStore, type UserBasic, type UserRow } from '../users/store.ts'
import { memberStore } from '../members/store.ts'
import { EMAIL_JOBS } from './emails.ts'
import { inviteStore, type InviteListRow, type InviteRow, type ProjectAccessItem } from './store.ts'

export const MAX_BULK_INVITES = 20

/** One invite as a client sends it (create, or one item of bulk). */
export interface InviteInput {
  target_email: string
  first_name?: string
  level?: 1 | 8 | 15 | '1' | '8' | '15'
  message?: string | null
  private_project_access?: unknown
  send_email?: boolean
  combine_pending_invites?: boolean
}

export interface EmailDelivery {
  status: 'queued' | 'sent' | 'failed'
  attempts: number
  last_error: string | null
  sent_at: Date | null
}

export interface InviteView {
  id: string
  target_email: string
  first_name: string
  emailing_attempt_made: boolean
  level: number
  is_expired: boolean
  created_by: UserBasic | null
  created_at: Date
  updated_at: Date
  message: string | null
  private_project_access: ProjectAccessItem[] | null
  /** orgd's addition: where the invite email is, so a failed delivery is visible. */
  email_delivery: EmailDelivery | null
}

function delivery(status: string | null, attempts: number | null, lastError: string | null, finishedAt: Date | null): EmailDelivery | null {
  if (status === null) return null
  return {
    status: status === 'done' ? 'sent' : status === 'failed' ? 'failed' : 'queued',
    attempts: attempts ?? 0,
    last_error: lastError,
    sent_at: status === 'done' ? finishedAt : null,
  }
}

export function inviteView(r: InviteListRow): InviteView {
  return {
    id: r.id,
    target_email: r.target_email,
    first_name: r.first_name,
    emailing_attempt_made: r.emailing_attempt_made,
    level: r.level,
    is_expired: r.is_expired,
    created_by: r.created_by,
    created_at: r.created_at,
    updated_at: r.updated_at,
    message: r.message,
    private_project_access: r.private_project_access,
    email_delivery: delivery(r.job_status, r.job_attempts, r.job_last_error, r.job_finished_at),
  }
}

const ACCESS_RANK: Record<AccessLevel, number> = { none: 0, member: 1, admin: 2 }
const PPA_ATTR = 'private_project_access'

/** PostHog's invite-model validator for `private_project_access`, without the database part. */
function parseProjectAccess(raw: unknown, attr: string): ProjectAccessItem[] | null {
  if (raw === undefined) return []
  if (raw === null) return null
  if (!Array.isArray(raw)) throw errors.validation('The field must be a list of dictionaries.', attr)
  const items: ProjectAccessItem[] = []
  for (const item of raw) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw errors.validation('Each item in the list must be a dictionary.', attr)
    const o = item as Record<string, unknown>
    if (!('id' in o) || !('level' in o)) throw errors.validation('Each dictionary must contain "id" and "level" keys.', attr)
    if (typeof o.id !== 'number' || !Number.isSafeInteger(o.id)) throw errors.validation('The "id" field must be an integer.', attr)
    if (o.level !== 'member' && o.level !== 'admin') throw errors.validation('The "level" field must be a valid access level.', attr)
    items.push({ id: o.id, level: o.level })
  }
  return items
}

function mergeProjectAccess(base: ProjectAccessItem[] | null, extra: ProjectAccessItem[] | null): ProjectAccessItem[] | null {
  if (!extra || extra.length === 0) return base
  const byId = new Map((base ?? []).map((i) => [i.id, i.level]))
  for (const e of extra) {
    const current = byId.get(e.id)
    // Admin outranks member (PostHog compares the strings and gets this backwards).
    if (current === undefined || ACCESS_RANK[e.level] > ACCESS_RANK[current]) byId.set(e.id, e.level)
  }
  return [...byId].map(([id, level]) => ({ id, level }))
}

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

export function createInviteService(db: Db, config: Config, afterCommit: () => void) {
  /** PostHog's UserCanInvitePermission, using the organization in the URL. */
  function checkCanInvite(org: OrgContext): void {
    const gated = org.available_product_features.some((f) => f.key === 'organization_invite_settings')
    if (gated && !org.members_can_invite && (org.level ?? 0) < LEVEL.ADMIN) throw errors.permissionDenied()
  }

  async function membershipId(q: Queryable, org: OrgContext, userId: number): Promise<string | null> {
    const rows = await q.query<{ id: string }>(`SELECT id FROM memberships WHERE organization_id = $1 AND user_id = $2`, [org.id, userId])
    return rows[0]?.id ?? null
  }

  /** The database half of the project-access rules (spec 2.2): existence, restriction, level. */
  async function checkProjectAccess(q: Queryable, org: OrgContext, requester: UserRow, items: ProjectAccessItem[] | null, attr: string): Promise<void> {
    if (!items || items.length === 0) return
    const mine = await membershipId(q, org, requester.id)
    const found = new Map((await projectAccessStore.inOrganization(q, org.id, items.map((i) => i.id), mine)).map((p) => [p.id, p]))
    for (const item of items) {
      const p = found.get(item.id)
      const notThere = 'Project does not exist on this organization, or it is private and you do not have access to it.'
      if (!p) throw errors.validation(notThere, attr)
      if ((org.level ?? 0) >= LEVEL.ADMIN || p.default_level === null) continue
      const own = p.member_level ?? p.default_level
      if (own === 'none') throw errors.validation(notThere, attr)
      if (ACCESS_RANK[item.level] > ACCESS_RANK[own]) throw errors.validation('You cannot invite to a restricted project with a higher level than your own.', attr)
    }
  }

  async function existingMemberEmails(q: Queryable, organizationId: string, emails: string[]): Promise<string[]> {
    const rows = await q.query<{ email: string }>(
      `SELECT lower(u.email) AS email FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1 AND lower(u.email) = ANY ($2::text[])`,
      [organizationId, emails],
    )
    return rows.map((r) => r.email)
  }

  /** Deletes every invite for these addresses (expired ones too), giving delegators their onboarding back. */
  async function replaceInvitesFor(q: Queryable, organizationId: string, emails: string[]): Promise<void> {
    const ids = await inviteStore.idsForEmails(q, organizationId, emails)
    await inviteStore.resetDelegators(q, ids)
    await inviteStore.deleteIds(q, ids)
  }

  /**
   * Two requests inviting the same address at the same moment: the second insert meets the
   * unique index once the first commits. Running the transaction again sees that invite and
   * replaces it, as a later request would.
   */
  async function txRetryingDuplicates<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.tx(fn)
      } catch (err) {
        const e = err as { code?: string; constraint?: string }
        if (e.code === '23505' && (e.constraint === 'invites_org_email_key' || e.constraint === undefined) && attempt < 5) continue
        throw err
      }
    }
  }

  function newView(row: InviteRow, requester: UserRow, jobQueued: boolean): InviteView {
    return inviteView({
      ...row,
      created_by: toUserBasic(requester),
      job_status: jobQueued ? 'queued' : null,
      job_attempts: jobQueued ? 0 : null,
      job_last_error: null,
      job_finished_at: null,
    })
  }

  return {
    checkCanInvite,

    async list(org: OrgContext, limit: number, offset: number): Promise<{ count: number; results: InviteView[] }> {
      const [rows, count] = await Promise.all([inviteStore.page(db, org.id, limit, offset), inviteStore.count(db, org.id)])
      return { count, results: rows.map(inviteView) }
    },

    /**
     * Creates invites all-or-nothing: every check (fields, levels, projects, existing members)
     * runs before the first write, and the writes share one transaction with their email jobs.
     * `indexed` names item fields as DRF does for a list ("__3__target_email").
     */
    async create(org: OrgContext, requester: UserRow, inputs: InviteInput[], indexed: boolean): Promise<InviteView[]> {
      checkCanInvite(org)
      const requesterLevel = org.level ?? 0
      const items = inputs.map((raw, i) => {
        const input = { ...raw, level: raw.level === undefined ? undefined : Number(raw.level) }
        const attr = indexed ? `__${i}__${PPA_ATTR}` : PPA_ATTR
        if (input.level !== undefined && input.level > requesterLevel) {
          throw errors.permissionDenied('You cannot invite a user with a higher permission level than your own.')
        }
        return {
          email: normalizeEmail(input.target_email),
          firstName: input.first_name ?? '',
          level: input.level ?? LEVEL.MEMBER,
          message: input.message ?? null,
          access: parseProjectAccess(input.private_project_access, attr),
          accessAttr: attr,
          sendEmail: input.send_email ?? true,
          combine: input.combine_pending_invites ?? false,
        }
      })
      // Writes go in email order (the answer keeps input order): with the organization locked
      // first this is belt and braces, but it keeps any two bulk requests' row locks in one order.
      const writeOrder = items.map((_, i) => i).sort((a, b) => (items[a].email < items[b].email ? -1 : items[a].email > items[b].email ? 1 : a - b))
      const created = await txRetryingDuplicates(async (q) => {
        await inviteStore.lockOrganization(q, org.id)
        for (const item of items) await checkProjectAccess(q, org, requester, item.access, item.accessAttr)
        if ((await existingMemberEmails(q, org.id, [...new Set(items.map((i) => i.email))])).length > 0) {
          throw errors.validation('A user with this email address already belongs to the organization.')
        }
        // Each item's level and project access as it will be written, in write order: a merging
        // item takes in the pending invite it replaces (a live one, or an earlier item of this
        // request for the same address).
        const pending = new Map<string, Array<{ level: number; private_project_access: ProjectAccessItem[] | null }>>()
        if (items.some((i) => i.combine)) {
          for (const live of await inviteStore.liveForEmails(q, org.id, [...new Set(items.map((i) => i.email))])) {
            pending.set(live.target_email.toLowerCase(), [...(pending.get(live.target_email.toLowerCase()) ?? []), live])
          }
        }
        // An address given twice is written in rounds, so the later item replaces the earlier
        // one exactly as two requests would; a batch with distinct addresses is one round.
        const rounds: Array<Array<{ index: number; level: number; access: ProjectAccessItem[] | null }>> = []
        const seen = new Map<string, number>()
        for (const index of writeOrder) {
          const item = items[index]
          let level: number = item.level
          let access = item.access
          if (item.combine) {
            for (const live of pending.get(item.email) ?? []) {
              level = Math.max(level, live.level)
              access = mergeProjectAccess(access, live.private_project_access)
            }
            if (level > requesterLevel) throw errors.permissionDenied('You cannot invite a user with a higher permission level than your own.')
          }
          pending.set(item.email, [{ level, private_project_access: access }])
          const round = seen.get(item.email) ?? 0
          seen.set(item.email, round + 1)
          ;(rounds[round] ??= []).push({ index, level, access })
        }
        const out: InviteView[] = new Array<InviteView>(items.length)
        for (const round of rounds) {
          await replaceInvitesFor(q, org.id, round.map((r) => items[r.index].email))
          const rows = await inviteStore.insertMany(
            q,
            org.id,
            requester.id,
            EMAIL_JOBS.invite,
            round.map((r) => {
              const item = items[r.index]
              return { targetEmail: item.email, firstName: item.firstName, level: r.level, message: item.message, privateProjectAccess: r.access, sendEmail: item.sendEmail }
            }),
          )
          rows.forEach((row, k) => {
            out[round[k].index] = newView(row, requester, items[round[k].index].sendEmail)
          })
        }
        return out
      })
      afterCommit()
      return created
    },

    /** An admin hands onboarding to a teammate: an admin-level invite flagged as a setup delegation. */
    async delegate(org: OrgContext, requester: UserRow, input: { target_email: string; message?: string; step_at_delegation?: string }): Promise<InviteView> {
      checkCanInvite(org)
      if ((org.level ?? 0) < LEVEL.ADMIN) throw errors.permissionDenied('Only organization admins can delegate setup, as delegation grants admin access.')
      const email = normalizeEmail(input.target_email)
      const result = await txRetryingDuplicates(async (q) => {
        await inviteStore.lockOrganization(q, org.id)
        const [me] = await q.query<{ onboarding_delegated_to_invite_id: string | null }>(`SELECT onboarding_delegated_to_invite_id FROM users WHERE id = $1 FOR UPDATE`, [requester.id])
        if ((await existingMemberEmails(q, org.id, [email])).length > 0) {
          throw errors.validation('A user with this email address already belongs to the organization.', null, 'existing_member')
        }
        const pointer = me?.onboarding_delegated_to_invite_id ? await inviteStore.get(q, me.onboarding_delegated_to_invite_id) : null
        // Re-submitting the same delegation is idempotent: the pending invite is reused, and its
        // email queued again only if it never went out.
        if (pointer && pointer.organization_id === org.id && !pointer.is_expired && pointer.target_email === email) {
          let queued = false
          if (!pointer.emailing_attempt_made) {
            const [job] = pointer.email_job_id ? await q.query<{ status: string }>(`SELECT status FROM jobs WHERE id = $1`, [pointer.email_job_id]) : []
            if (!job || job.status === 'failed') {
              await inviteStore.attachJob(q, pointer.id, await enqueue(q, EMAIL_JOBS.delegation, { inviteId: pointer.id }))
              queued = true
            }
          }
          return { id: pointer.id, queued }
        }
        if (pointer && pointer.organization_id === org.id && !pointer.is_expired) {
          await inviteStore.resetDelegators(q, [pointer.id])
          await inviteStore.deleteIds(q, [pointer.id])
        }
        await replaceInvitesFor(q, org.id, [email])
        const row = await inviteStore.insert(q, {
          organizationId: org.id,
          targetEmail: email,
          firstName: '',
          level: LEVEL.ADMIN,
          createdById: requester.id,
          message: input.message ?? '',
          privateProjectAccess: [],
          isSetupDelegation: true,
        })
        await inviteStore.attachJob(q, row.id, await enqueue(q, EMAIL_JOBS.delegation, { inviteId: row.id }))
        await q.query(
          `UPDATE users SET onboarding_delegated_to_invite_id = $2, onboarding_delegated_to_organization_id = $3,
                  onboarding_skipped_at = now(), onboarding_skipped_reason = 'delegated', onboarding_delegation_accepted_at = NULL
            WHERE id = $1`,
          [requester.id, row.id, org.id],
        )
        await activityLog.record(q, {
          organizationId: org.id,
          userId: requester.id,
          scope: 'OrganizationInvite',
          itemId: row.id,
          activity: 'created',
          detail: { target_email: email, level: LEVEL.ADMIN, is_setup_delegation: true, step_at_delegation: input.step_at_delegation ?? null },
        })
        return { id: row.id, queued: true }
      })
      if (result.queued) afterCommit()
      const [row] = await inviteStore.byIds(db, [result.id])
      return inviteView(row)
    },

    async delete(org: OrgContext, requester: UserRow, id: string): Promise<void> {
      if ((org.level ?? 0) < LEVEL.ADMIN) throw errors.permissionDenied('Your organization access level is insufficient.')
      if (!isUuid(id)) throw errors.notFound()
      await db.tx(async (q) => {
        // Locked: of two deletes at once, the second waits, then finds the row gone (404).
        const invite = await inviteStore.getInOrganization(q, org.id, id.toLowerCase(), true)
        if (!invite) throw errors.notFound()
        await inviteStore.resetDelegators(q, [invite.id])
        await inviteStore.deleteIds(q, [invite.id])
        await activityLog.record(q, { organizationId: org.id, userId: requester.id, scope: 'OrganizationInvite', itemId: invite.id, activity: 'deleted', detail: { target_email: invite.target_email } })
      })
    },

    /** GET /api/signup/:id: who the invite is for, or why it cannot be used (spec 5). */
    async preview(inviteId: string, user: UserRow | null): Promise<{ id: string; target_email: string; first_name: string; organization_name: string; inviter_name: string }> {
      const invite = isUuid(inviteId) ? await inviteStore.get(db, inviteId.toLowerCase()) : null
      if (!invite) throw errors.validation('The provided invite ID is not valid.')
      await validateForUse(db, invite, user, user ? null : invite.target_email, true)
      const [org] = await db.query<{ name: string; inviter: string | null }>(
        `SELECT o.name, coalesce(nullif(u.first_name, ''), u.email) AS inviter FROM organizations o LEFT JOIN users u ON u.id = $2 WHERE o.id = $1`,
        [invite.organization_id, invite.created_by_id],
      )
      return { id: invite.id, target_email: invite.target_email, first_name: invite.first_name, organization_name: org.name, inviter_name: org.inviter ?? 'Someone' }
    },

    /** The invite's names for the signup page, without the acceptance checks. */
    async previewUnchecked(inviteId: string): Promise<{ target_email: string; organization_name: string; inviter_name: string }> {
      const rows = isUuid(inviteId)
        ? await db.query<{ target_email: string; organization_name: string; inviter_name: string | null }>(
            `SELECT i.target_email, o.name AS organization_name, coalesce(nullif(u.first_name, ''), u.email) AS inviter_name
               FROM invites i JOIN organizations o ON o.id = i.organization_id LEFT JOIN users u ON u.id = i.created_by_id WHERE i.id = $1`,
            [inviteId.toLowerCase()],
          )
        : []
      if (!rows[0]) throw errors.validation('The provided invite ID is not valid.')
      return { ...rows[0], inviter_name: rows[0].inviter_name ?? 'Someone' }
    },

    /**
     * Accepts an invite for a signed-in user, or for a new account made in the same transaction.
     * The invite row is locked first, so the same invite accepted twice at once succeeds once.
     */
    async accept(
      inviteId: string,
      user: UserRow | null,
      newAccount: { firstName: string; passwordHash: string; roleAtOrganization?: string | null; distinctId: string } | null,
    ): Promise<{ user: UserRow; organizationId: string }> {
      if (!isUuid(inviteId)) throw errors.validation('The provided invite ID is not valid.')
      const result = await db.tx(async (q) => {
        const invite = await inviteStore.get(q, inviteId.toLowerCase(), true)
        if (!invite) {
          const used = await q.query(`SELECT 1 FROM activity_log WHERE scope = 'OrganizationInvite' AND item_id = $1 AND activity = 'used'`, [inviteId.toLowerCase()])
          if (used.length > 0) throw errors.validation('This invite has already been used.', null, 'expired')
          throw errors.validation('The provided invite ID is not valid.')
        }
        let member = user
        if (!member) {
          if (!newAccount) throw errors.notAuthenticated()
          if (await userStore.findByEmail(q, invite.target_email)) {
            throw errors.validation(`There already exists an account with email address ${invite.target_email}. Please log in instead.`, 'email', 'account_exists')
          }
          await validateForUse(q, invite, null, invite.target_email, false)
          member = await userStore.insert(q, {
            email: invite.target_email,
            passwordHash: newAccount.passwordHash,
            firstName: newAccount.firstName,
            distinctId: newAccount.distinctId,
            isEmailVerified: false,
          })
          if (newAccount.roleAtOrganization != null) await q.query(`UPDATE users SET role_at_organization = $2 WHERE id = $1`, [member.id, newAccount.roleAtOrganization])
        } else {
          await validateForUse(q, invite, member, null, false)
        }
        const membership = await memberStore.insertNew(q, invite.organization_id, member.id, invite.level, invite.created_by_id)
        if (!membership) throw errors.validation('You already are a member of this organization.', null, 'user_already_member')
        const siblings = (await inviteStore.forEmail(q, invite.organization_id, invite.target_email)).map((i) => i.id)
        await inviteStore.markDelegatorsAccepted(q, siblings)
        for (const item of invite.private_project_access ?? []) {
          const exists = await projectAccessStore.inOrganization(q, invite.organization_id, [item.id], null)
          if (exists.length > 0) await projectAccessStore.grant(q, item.id, membership, item.level)
        }
        await inviteStore.deleteIds(q, siblings)
        await userStore.setCurrent(q, member.id, invite.organization_id, await projectStore.firstTeamOf(q, invite.organization_id))
        await activityLog.record(q, { organizationId: invite.organization_id, userId: member.id, scope: 'OrganizationInvite', itemId: invite.id, activity: 'used', detail: { target_email: invite.target_email } })
        await activityLog.record(q, { organizationId: invite.organization_id, userId: member.id, scope: 'OrganizationMembership', itemId: membership, activity: 'created', detail: { user_uuid: member.uuid, level: invite.level, invited_by: invite.created_by_id } })
        const [org] = await q.query<{ is_member_join_email_enabled: boolean }>(`SELECT is_member_join_email_enabled FROM organizations WHERE id = $1`, [invite.organization_id])
        if (org.is_member_join_email_enabled) {
          // Admins and owners hear about new members (not every member, which in a large
          // organization would be thousands of emails per join).
          const admins = await q.query<{ email: string }>(
            `SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
              WHERE m.organization_id = $1 AND m.level >= $2 AND u.is_active AND u.id <> $3`,
            [invite.organization_id, LEVEL.ADMIN, member.id],
          )
          for (const a of admins) await enqueue(q, EMAIL_JOBS.memberJoined, { organizationId: invite.organization_id, userId: member.id, to: a.email })
        }
        const fresh = await userStore.findById(q, member.id)
        return { user: fresh!, organizationId: invite.organization_id }
      })
      afterCommit()
      return result
    },
  }

  /** Spec 5's checks, in order; `email` is the address a new account would have. */
  async function validateForUse(q: Queryable, invite: InviteRow, user: UserRow | null, email: string | null, preview: boolean): Promise<void> {
    if (user && normalizeEmail(user.email) !== normalizeEmail(invite.target_email)) {
      throw errors.validation('This invite is intended for another email address.', null, 'invalid_recipient')
    }
    if (invite.is_expired) throw errors.validation('This invite has expired. Please ask your admin for a new one.', null, 'expired')
    if (preview && !user && email && (await userStore.findByEmail(q, email))) {
      throw errors.validation(`/login?next=/signup/${invite.id}`, null, 'account_exists')
    }
    if (user && (await memberStore.levelOf(q, invite.organization_id, user.id)) !== null) {
      throw errors.validation('You already are a member of this organization.', null, 'user_already_member')
    }
    const taken = await q.query(
      `SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND lower(u.email) = lower($2) AND ($3::int IS NULL OR u.id <> $3)`,
      [invite.organization_id, invite.target_email, user?.id ?? null],
    )
    if (taken.length > 0) throw errors.validation('Another user with this email address already belongs to this organization.', null, 'existing_email_address')
  }
}

export type InviteService = ReturnType<typeof createInviteService>
