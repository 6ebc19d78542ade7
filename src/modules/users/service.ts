import type { Db, Queryable } from '../../db/index.ts'
import type { Config } from '../../config.ts'
import { errors } from '../../http/errors.ts'
import { hashPassword, randomToken, sha256Hex, verifyPassword } from '../../lib/crypto.ts'
import { organizationStore } from '../organizations/store.ts'
import { projectStore } from '../projects/store.ts'
import { userColumns, userStore, type UserRow } from './store.ts'

export interface SessionInfo {
  id: string
  csrfToken: string
  authenticatedAt: Date
}

// A fixed hash to verify against when the email is unknown, so both paths take the same time.
let decoyHash: Promise<string> | null = null

export function createUserService(db: Db, config: Config) {
  return {
    async findByEmail(email: string, q: Queryable = db): Promise<UserRow | null> {
      return userStore.findByEmail(q, email)
    },

    /** Returns the user with this email, creating them when absent (operator commands). */
    async ensure(input: { email: string; password?: string; firstName?: string; lastName?: string; isStaff?: boolean }, q: Queryable = db): Promise<{ user: UserRow; created: boolean }> {
      const existing = await userStore.findByEmail(q, input.email)
      if (existing) {
        if (input.password) await userStore.setPassword(q, existing.id, await hashPassword(input.password))
        return { user: existing, created: false }
      }
      const user = await userStore.insert(q, {
        email: input.email.trim(),
        passwordHash: input.password ? await hashPassword(input.password) : null,
        firstName: input.firstName ?? '',
        lastName: input.lastName ?? '',
        distinctId: randomToken(32),
        isStaff: input.isStaff ?? false,
      })
      return { user, created: true }
    },

    async hasAnyUser(): Promise<boolean> {
      return (await userStore.countUsers(db)) > 0
    },

    /** Checks the password and opens a session; the raw cookie value is returned once. */
    async login(email: string, password: string): Promise<{ cookie: string; csrfToken: string; expiresAt: Date }> {
      const user = await userStore.findByEmail(db, email)
      decoyHash ??= hashPassword(randomToken(16))
      const ok = await verifyPassword(password, user?.password_hash ?? (await decoyHash))
      if (!user || !ok || !user.is_active) {
        throw errors.validation('Invalid email or password.', null, 'invalid_credentials')
      }
      return this.startSession(user.id)
    },

    /** Opens a session for a user whose identity is already established (login, signup). */
    async startSession(userId: number): Promise<{ cookie: string; csrfToken: string; expiresAt: Date }> {
      const cookie = randomToken(32)
      const csrfToken = randomToken(24)
      const expiresAt = new Date(Date.now() + config.sessionTtlSeconds * 1000)
      await db.tx(async (tx) => {
        await tx.query(`INSERT INTO sessions (id, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`, [sha256Hex(cookie), userId, csrfToken, expiresAt])
        await userStore.touchLastLogin(tx, userId)
        // Expired sessions of this user are swept here rather than by a timer.
        await tx.query(`DELETE FROM sessions WHERE user_id = $1 AND expires_at < now()`, [userId])
      })
      return { cookie, csrfToken, expiresAt }
    },

    /** Django's default password rule that PostHog's signup applies: at least 8 characters. */
    checkNewPassword(password: string): void {
      if (password.length < 8) throw errors.validation('This password is too short. It must contain at least 8 characters.', 'password', 'password_too_short')
    },

    hashPassword,
    newDistinctId: () => randomToken(32),

    async logout(sessionId: string): Promise<void> {
      await db.query(`DELETE FROM sessions WHERE id = $1`, [sessionId])
    },

    async authenticateSession(cookie: string): Promise<{ user: UserRow; session: SessionInfo } | null> {
      const rows = await db.query<UserRow & { session_id: string; csrf_token: string; authenticated_at: Date }>(
        `SELECT ${userColumns()}, s.id AS session_id, s.csrf_token, s.authenticated_at
           FROM sessions s JOIN users u ON u.id = s.user_id AND u.is_active
          WHERE s.id = $1 AND s.expires_at > now()`,
        [sha256Hex(cookie)],
        { prepare: 'orgd_session_for_auth' },
      )
      const row = rows[0]
      if (!row) return null
      const { session_id, csrf_token, authenticated_at, ...user } = row
      return { user, session: { id: session_id, csrfToken: csrf_token, authenticatedAt: authenticated_at } }
    },

    /** GET /api/users/@me/ in PostHog's UserSerializer shape. */
    async me(user: UserRow, principal: { kind: string; session?: SessionInfo }, organizationView: (orgId: string) => Promise<unknown>) {
      const orgs = await organizationStore.basicForUser(db, user.id)
      let currentOrgId = user.current_organization_id
      if (!currentOrgId && orgs.length > 0) currentOrgId = orgs[0].id
      const teamId = user.current_team_id ?? (currentOrgId ? await projectStore.firstTeamOf(db, currentOrgId) : null)
      const team = teamId ? (await projectStore.teamsBasic(db, currentOrgId ? [currentOrgId] : [])).find((t) => t.id === teamId) ?? null : null
      return {
        date_joined: user.date_joined,
        uuid: user.uuid,
        distinct_id: user.distinct_id,
        first_name: user.first_name,
        last_name: user.last_name,
        email: user.email,
        pending_email: null,
        is_email_verified: user.is_email_verified,
        notification_settings: {},
        anonymize_data: false,
        toolbar_mode: 'toolbar',
        has_password: user.password_hash !== null,
        id: user.id,
        is_staff: user.is_staff,
        is_impersonated: false,
        is_impersonated_until: null,
        sensitive_session_expires_at: principal.session ? new Date(principal.session.authenticatedAt.getTime() + 7200_000) : null,
        team,
        organization: currentOrgId ? await organizationView(currentOrgId) : null,
        organizations: orgs.map((o) => ({
          id: o.id,
          name: o.name,
          slug: o.slug,
          logo_media_id: o.logo_media_id,
          membership_level: o.level,
          members_can_use_personal_api_keys: o.members_can_use_personal_api_keys,
          is_active: true,
          is_not_active_reason: null,
          is_pending_deletion: false,
        })),
        events_column_config: { active: 'DEFAULT' },
        is_2fa_enabled: user.is_2fa_enabled,
        has_social_auth: user.has_social_auth,
        has_sso_enforcement: false,
        has_seen_product_intro_for: null,
        scene_personalisation: [],
        theme_mode: null,
        hedgehog_config: user.hedgehog_config ?? null,
        role_at_organization: user.role_at_organization,
      }
    },
  }
}

export type UserService = ReturnType<typeof createUserService>
