import type { Queryable } from '../../db/index.ts'

export interface UserRow {
  id: number
  uuid: string
  email: string
  password_hash: string | null
  first_name: string
  last_name: string
  distinct_id: string | null
  is_staff: boolean
  is_active: boolean
  is_email_verified: boolean | null
  role_at_organization: string | null
  hedgehog_config: unknown
  last_login: Date | null
  date_joined: Date
  current_organization_id: string | null
  current_team_id: number | null
  is_2fa_enabled: boolean
  has_social_auth: boolean
}

/** Column list for a UserRow, qualified by `alias`. */
export function userColumns(alias = 'u'): string {
  return [
    'id', 'uuid', 'email', 'password_hash', 'first_name', 'last_name', 'distinct_id', 'is_staff', 'is_active',
    'is_email_verified', 'role_at_organization', 'hedgehog_config', 'last_login', 'date_joined',
    'current_organization_id', 'current_team_id', 'is_2fa_enabled', 'has_social_auth',
  ]
    .map((c) => `${alias}.${c}`)
    .join(', ')
}

export interface NewUser {
  email: string
  passwordHash: string | null
  firstName: string
  lastName?: string
  distinctId: string
  isStaff?: boolean
  isEmailVerified?: boolean | null
}

export const userStore = {
  async findByEmail(q: Queryable, email: string): Promise<UserRow | null> {
    const rows = await q.query<UserRow>(`SELECT ${userColumns()} FROM users u WHERE lower(u.email) = lower($1)`, [email])
    return rows[0] ?? null
  },

  async findById(q: Queryable, id: number): Promise<UserRow | null> {
    const rows = await q.query<UserRow>(`SELECT ${userColumns()} FROM users u WHERE u.id = $1`, [id])
    return rows[0] ?? null
  },

  async insert(q: Queryable, u: NewUser): Promise<UserRow> {
    const rows = await q.query<UserRow>(
      `INSERT INTO users AS u (email, password_hash, first_name, last_name, distinct_id, is_staff, is_email_verified)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${userColumns()}`,
      [u.email, u.passwordHash, u.firstName, u.lastName ?? '', u.distinctId, u.isStaff ?? false, u.isEmailVerified ?? null],
    )
    return rows[0]
  },

  async setPassword(q: Queryable, id: number, passwordHash: string): Promise<void> {
    await q.query(`UPDATE users SET password_hash = $2 WHERE id = $1`, [id, passwordHash])
  },

  async setCurrent(q: Queryable, id: number, organizationId: string | null, teamId: number | null): Promise<void> {
    await q.query(`UPDATE users SET current_organization_id = $2, current_team_id = $3 WHERE id = $1`, [id, organizationId, teamId])
  },

  async touchLastLogin(q: Queryable, id: number): Promise<void> {
    await q.query(`UPDATE users SET last_login = now() WHERE id = $1`, [id])
  },

  async countUsers(q: Queryable): Promise<number> {
    const rows = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM users`)
    return rows[0].n
  },
}

/** PostHog's UserBasic, the nested user object in members and invites. */
export interface UserBasic {
  id: number
  uuid: string
  distinct_id: string | null
  first_name: string
  last_name: string
  email: string
  is_email_verified: boolean | null
  hedgehog_config: unknown
  role_at_organization: string | null
}

export function toUserBasic(u: Pick<UserRow, keyof UserBasic>): UserBasic {
  return userBasic(u, u.id, u.uuid)
}

/**
 * The same from a row that carries the person's id and uuid under other names (a membership
 * joined to its user). Take the fields one by one: a hot path that first copied such a row with
 * object spread (`{ ...row, id, uuid }`) saw every copy survive V8's young generation, filling
 * the old one at ~50 KB per page of members and forcing a full collection every few seconds,
 * each a 50-150 ms stall under load.
 */
export function userBasic(u: Omit<Pick<UserRow, keyof UserBasic>, 'id' | 'uuid'>, id: number, uuid: string): UserBasic {
  return {
    id,
    uuid,
    distinct_id: u.distinct_id,
    first_name: u.first_name,
    last_name: u.last_name,
    email: u.email,
    is_email_verified: u.is_email_verified,
    hedgehog_config: u.hedgehog_config ?? null,
    role_at_organization: u.role_at_organization,
  }
}
