import type { Queryable } from '../../db/index.ts'
import { userColumns, type UserRow } from '../users/store.ts'

export interface ApiKeyRow {
  id: string
  user_id: number
  label: string
  mask_value: string
  scopes: string[] | null
  scoped_teams: number[] | null
  scoped_organizations: string[] | null
  created_at: Date
  last_used_at: Date | null
  last_rolled_at: Date | null
}

const KEY_COLUMNS = 'k.id, k.user_id, k.label, k.mask_value, k.scopes, k.scoped_teams, k.scoped_organizations, k.created_at, k.last_used_at, k.last_rolled_at'

export interface NewApiKey {
  id: string
  userId: number
  label: string
  secureValue: string
  maskValue: string
  scopes: string[]
  scopedTeams: number[] | null
  scopedOrganizations: string[] | null
}

export const apiKeyStore = {
  /** The key and its (active) user in one round trip: this runs on every API-key request. */
  async findForAuth(q: Queryable, secureValue: string): Promise<{ key: ApiKeyRow; user: UserRow } | null> {
    const rows = await q.query<Record<string, unknown>>(
      `SELECT row_to_json(k.*) AS key, ${userColumns()} FROM personal_api_keys k
         JOIN users u ON u.id = k.user_id AND u.is_active
        WHERE k.secure_value = $1`,
      [secureValue],
      { prepare: 'orgd_api_key_for_auth' },
    )
    const row = rows[0]
    if (!row) return null
    const raw = row.key as Record<string, unknown>
    const { key: _k, ...user } = row
    const key: ApiKeyRow = {
      id: raw.id as string,
      user_id: raw.user_id as number,
      label: raw.label as string,
      mask_value: raw.mask_value as string,
      scopes: raw.scopes as string[] | null,
      scoped_teams: raw.scoped_teams as number[] | null,
      scoped_organizations: raw.scoped_organizations as string[] | null,
      created_at: new Date(raw.created_at as string),
      last_used_at: raw.last_used_at ? new Date(raw.last_used_at as string) : null,
      last_rolled_at: raw.last_rolled_at ? new Date(raw.last_rolled_at as string) : null,
    }
    return { key, user: user as unknown as UserRow }
  },

  /** Writes last_used_at at most once an hour per key, so reads stay reads. */
  async touch(q: Queryable, id: string): Promise<void> {
    await q.query(
      `UPDATE personal_api_keys SET last_used_at = now()
        WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 hour')`,
      [id],
    )
  },

  async insert(q: Queryable, k: NewApiKey): Promise<ApiKeyRow> {
    const rows = await q.query<ApiKeyRow>(
      `INSERT INTO personal_api_keys AS k (id, user_id, label, secure_value, mask_value, scopes, scoped_teams, scoped_organizations)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${KEY_COLUMNS}`,
      [k.id, k.userId, k.label, k.secureValue, k.maskValue, k.scopes, k.scopedTeams, k.scopedOrganizations],
    )
    return rows[0]
  },

  async listForUser(q: Queryable, userId: number): Promise<ApiKeyRow[]> {
    return q.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM personal_api_keys k WHERE k.user_id = $1 ORDER BY k.created_at DESC, k.id`, [userId])
  },

  async countForUser(q: Queryable, userId: number): Promise<number> {
    const rows = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM personal_api_keys WHERE user_id = $1`, [userId])
    return rows[0].n
  },

  async get(q: Queryable, userId: number, id: string): Promise<ApiKeyRow | null> {
    const rows = await q.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM personal_api_keys k WHERE k.user_id = $1 AND k.id = $2`, [userId, id])
    return rows[0] ?? null
  },

  async update(
    q: Queryable,
    userId: number,
    id: string,
    patch: { label?: string; scopes?: string[]; scopedTeams?: number[] | null; scopedOrganizations?: string[] | null },
  ): Promise<ApiKeyRow | null> {
    const rows = await q.query<ApiKeyRow>(
      `UPDATE personal_api_keys AS k SET
          label = CASE WHEN $3 THEN $4 ELSE k.label END,
          scopes = CASE WHEN $5 THEN $6::text[] ELSE k.scopes END,
          scoped_teams = CASE WHEN $7 THEN $8::integer[] ELSE k.scoped_teams END,
          scoped_organizations = CASE WHEN $9 THEN $10::text[] ELSE k.scoped_organizations END
        WHERE k.user_id = $1 AND k.id = $2 RETURNING ${KEY_COLUMNS}`,
      [
        userId, id,
        patch.label !== undefined, patch.label ?? null,
        patch.scopes !== undefined, patch.scopes ?? null,
        patch.scopedTeams !== undefined, patch.scopedTeams ?? null,
        patch.scopedOrganizations !== undefined, patch.scopedOrganizations ?? null,
      ],
    )
    return rows[0] ?? null
  },

  async roll(q: Queryable, userId: number, id: string, secureValue: string, maskValue: string): Promise<ApiKeyRow | null> {
    const rows = await q.query<ApiKeyRow>(
      `UPDATE personal_api_keys AS k SET secure_value = $3, mask_value = $4, last_rolled_at = now()
        WHERE k.user_id = $1 AND k.id = $2 RETURNING ${KEY_COLUMNS}`,
      [userId, id, secureValue, maskValue],
    )
    return rows[0] ?? null
  },

  async delete(q: Queryable, userId: number, id: string): Promise<boolean> {
    const rows = await q.query(`DELETE FROM personal_api_keys WHERE user_id = $1 AND id = $2 RETURNING id`, [userId, id])
    return rows.length > 0
  },

  /**
   * The member's keys that can reach this organization: scoped to it, scoped to one of its
   * projects, or not restricted at all.
   */
  async reachingOrganization(q: Queryable, userId: number, organizationId: string): Promise<Array<{ label: string; last_used_at: Date | null }>> {
    return q.query(
      `SELECT k.label, k.last_used_at FROM personal_api_keys k
        WHERE k.user_id = $1 AND (
          $2 = ANY (k.scoped_organizations)
          OR k.scoped_teams && ARRAY(SELECT id FROM teams WHERE organization_id = $2::uuid)
          OR (coalesce(cardinality(k.scoped_organizations), 0) = 0 AND coalesce(cardinality(k.scoped_teams), 0) = 0)
        )`,
      [userId, organizationId],
    )
  },
}
