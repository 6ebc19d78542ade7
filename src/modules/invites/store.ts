import type { Queryable } from '../../db/index.ts'
import type { UserBasic } from '../users/store.ts'

export const INVITE_DAYS_VALIDITY = 3

export interface ProjectAccessItem {
  id: number
  level: 'member' | 'admin'
}

export interface InviteRow {
  id: string
  organization_id: string
  target_email: string
  first_name: string
  level: number
  created_by_id: number | null
  message: string | null
  private_project_access: ProjectAccessItem[] | null
  emailing_attempt_made: boolean
  is_setup_delegation: boolean
  email_job_id: number | null
  created_at: Date
  updated_at: Date
  is_expired: boolean
}

export interface InviteListRow extends InviteRow {
  created_by: UserBasic | null
  job_status: string | null
  job_attempts: number | null
  job_last_error: string | null
  job_finished_at: Date | null
}

const COLUMNS = `i.id, i.organization_id, i.target_email, i.first_name, i.level, i.created_by_id, i.message,
  i.private_project_access, i.emailing_attempt_made, i.is_setup_delegation, i.email_job_id, i.created_at, i.updated_at,
  i.created_at < now() - interval '${INVITE_DAYS_VALIDITY} days' AS is_expired`

// The inviter as UserBasic and the email job's state, joined once for a whole page (no N+1).
const LIST_COLUMNS = `${COLUMNS},
  CASE WHEN u.id IS NULL THEN NULL ELSE json_build_object(
    'id', u.id, 'uuid', u.uuid, 'distinct_id', u.distinct_id, 'first_name', u.first_name, 'last_name', u.last_name,
    'email', u.email, 'is_email_verified', u.is_email_verified, 'hedgehog_config', u.hedgehog_config,
    'role_at_organization', u.role_at_organization) END AS created_by,
  j.status AS job_status, j.attempts AS job_attempts, j.last_error AS job_last_error, j.finished_at AS job_finished_at`

const LIST_FROM = `invites i LEFT JOIN users u ON u.id = i.created_by_id LEFT JOIN jobs j ON j.id = i.email_job_id`

export interface NewInvite {
  organizationId: string
  targetEmail: string
  firstName: string
  level: number
  createdById: number
  message: string | null
  privateProjectAccess: ProjectAccessItem[] | null
  isSetupDelegation?: boolean
}

export const inviteStore = {
  async page(q: Queryable, organizationId: string, limit: number, offset: number): Promise<InviteListRow[]> {
    return q.query<InviteListRow>(
      `SELECT ${LIST_COLUMNS} FROM ${LIST_FROM} WHERE i.organization_id = $1 ORDER BY i.created_at DESC, i.id DESC LIMIT $2 OFFSET $3`,
      [organizationId, limit, offset],
    )
  },

  async count(q: Queryable, organizationId: string): Promise<number> {
    const rows = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM invites WHERE organization_id = $1`, [organizationId])
    return rows[0].n
  },

  async byIds(q: Queryable, ids: string[]): Promise<InviteListRow[]> {
    if (ids.length === 0) return []
    return q.query<InviteListRow>(`SELECT ${LIST_COLUMNS} FROM ${LIST_FROM} WHERE i.id = ANY ($1::uuid[])`, [ids])
  },

  async get(q: Queryable, id: string, forUpdate = false): Promise<InviteRow | null> {
    const rows = await q.query<InviteRow>(`SELECT ${COLUMNS} FROM invites i WHERE i.id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id])
    return rows[0] ?? null
  },

  async getInOrganization(q: Queryable, organizationId: string, id: string, forUpdate = false): Promise<InviteRow | null> {
    const rows = await q.query<InviteRow>(`SELECT ${COLUMNS} FROM invites i WHERE i.organization_id = $1 AND i.id = $2${forUpdate ? ' FOR UPDATE' : ''}`, [organizationId, id])
    return rows[0] ?? null
  },

  /**
   * Serialises every invite write of one organization: whoever reads the pending invites for an
   * address (to merge or replace them) holds this until commit, so a concurrent request reads
   * after it, never before. NO KEY UPDATE leaves inserts that reference the organization
   * (memberships, jobs) unblocked.
   */
  async lockOrganization(q: Queryable, organizationId: string): Promise<void> {
    await q.query(`SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, [organizationId])
  },

  /** Live (not expired) invites for these addresses, locked for the rest of the transaction. */
  async liveForEmails(q: Queryable, organizationId: string, emails: string[]): Promise<InviteRow[]> {
    return q.query<InviteRow>(
      `SELECT ${COLUMNS} FROM invites i
        WHERE i.organization_id = $1 AND lower(i.target_email) = ANY ($2::text[])
          AND i.created_at >= now() - interval '${INVITE_DAYS_VALIDITY} days'
        FOR UPDATE`,
      [organizationId, emails],
    )
  },

  async idsForEmails(q: Queryable, organizationId: string, emails: string[]): Promise<string[]> {
    const rows = await q.query<{ id: string }>(`SELECT id FROM invites WHERE organization_id = $1 AND lower(target_email) = ANY ($2::text[])`, [organizationId, emails])
    return rows.map((r) => r.id)
  },

  async insert(q: Queryable, n: NewInvite): Promise<InviteRow> {
    const rows = await q.query<InviteRow>(
      `INSERT INTO invites AS i (organization_id, target_email, first_name, level, created_by_id, message, private_project_access, is_setup_delegation)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [n.organizationId, n.targetEmail, n.firstName, n.level, n.createdById, n.message, n.privateProjectAccess === null ? null : JSON.stringify(n.privateProjectAccess), n.isSetupDelegation ?? false],
    )
    return rows[0]
  },

  /**
   * Writes many invites (at most one per address), each with its email job when asked and its
   * activity entry, in one statement: a bulk request costs one round trip, not one per item.
   * Invite ids are drawn first so the job rows can name them and the invites their jobs.
   * Rows come back in input order.
   */
  async insertMany(
    q: Queryable,
    organizationId: string,
    createdById: number,
    jobKind: string,
    items: Array<Omit<NewInvite, 'organizationId' | 'createdById' | 'isSetupDelegation'> & { sendEmail: boolean }>,
  ): Promise<InviteRow[]> {
    if (items.length === 0) return []
    const input = items.map((n, ord) => ({
      ord,
      target_email: n.targetEmail,
      first_name: n.firstName,
      level: n.level,
      message: n.message,
      private_project_access: n.privateProjectAccess,
      send_email: n.sendEmail,
    }))
    const rows = await q.query<InviteRow & { ord: number }>(
      `WITH input AS (
         SELECT gen_random_uuid() AS id, x.* FROM jsonb_to_recordset($1::jsonb)
           AS x(ord int, target_email text, first_name text, level int, message text, private_project_access jsonb, send_email boolean)
       ), queued AS (
         INSERT INTO jobs (kind, payload, max_attempts)
         SELECT $4, jsonb_build_object('inviteId', input.id), 8 FROM input WHERE input.send_email ORDER BY input.ord
         RETURNING id, (payload->>'inviteId')::uuid AS invite_id
       ), inserted AS (
         INSERT INTO invites AS i (id, organization_id, target_email, first_name, level, created_by_id, message, private_project_access, email_job_id)
         SELECT input.id, $2, input.target_email, input.first_name, input.level, $3, input.message,
                CASE WHEN jsonb_typeof(input.private_project_access) = 'null' THEN NULL ELSE input.private_project_access END, queued.id
           FROM input LEFT JOIN queued ON queued.invite_id = input.id ORDER BY input.ord
         RETURNING ${COLUMNS}
       ), logged AS (
         INSERT INTO activity_log (organization_id, user_id, is_system, scope, item_id, activity, detail)
         SELECT $2, $3, false, 'OrganizationInvite', inserted.id::text, 'created', jsonb_build_object('target_email', inserted.target_email, 'level', inserted.level)
           FROM inserted
       )
       SELECT inserted.*, input.ord FROM inserted JOIN input ON input.id = inserted.id ORDER BY input.ord`,
      [JSON.stringify(input), organizationId, createdById, jobKind],
    )
    return rows.map(({ ord: _ord, ...row }) => row)
  },

  async attachJob(q: Queryable, inviteId: string, jobId: number): Promise<void> {
    await q.query(`UPDATE invites SET email_job_id = $2 WHERE id = $1`, [inviteId, jobId])
  },

  async markEmailed(q: Queryable, inviteId: string): Promise<void> {
    await q.query(`UPDATE invites SET emailing_attempt_made = true, updated_at = now() WHERE id = $1`, [inviteId])
  },

  async deleteIds(q: Queryable, ids: string[]): Promise<void> {
    if (ids.length === 0) return
    await q.query(`DELETE FROM invites WHERE id = ANY ($1::uuid[])`, [ids])
  },

  /**
   * PostHog's pre-delete rule for delegation invites: whoever delegated through them gets their
   * onboarding back (pointer and skip cleared). Runs before any deletion that is not acceptance.
   */
  async resetDelegators(q: Queryable, inviteIds: string[]): Promise<void> {
    if (inviteIds.length === 0) return
    await q.query(
      `UPDATE users SET onboarding_delegated_to_invite_id = NULL, onboarding_skipped_at = NULL, onboarding_skipped_reason = NULL,
              onboarding_delegated_to_organization_id = NULL
        WHERE onboarding_delegated_to_invite_id = ANY ($1::uuid[])`,
      [inviteIds],
    )
  },

  async markDelegatorsAccepted(q: Queryable, inviteIds: string[]): Promise<void> {
    if (inviteIds.length === 0) return
    await q.query(`UPDATE users SET onboarding_delegation_accepted_at = now() WHERE onboarding_delegated_to_invite_id = ANY ($1::uuid[])`, [inviteIds])
  },

  async forEmail(q: Queryable, organizationId: string, email: string): Promise<InviteRow[]> {
    return q.query<InviteRow>(`SELECT ${COLUMNS} FROM invites i WHERE i.organization_id = $1 AND lower(i.target_email) = lower($2)`, [organizationId, email])
  },
}
