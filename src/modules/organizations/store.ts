import type { Queryable } from '../../db/index.ts'
import type { ProductFeature } from '../../config.ts'

export interface OrganizationRow {
  id: string
  name: string
  slug: string
  logo_media_id: string | null
  created_at: Date
  updated_at: Date
  available_product_features: ProductFeature[]
  members_can_invite: boolean
  members_can_create_projects: boolean
  members_can_use_personal_api_keys: boolean
  allow_publicly_shared_resources: boolean
  is_member_join_email_enabled: boolean
  enforce_2fa: boolean | null
  is_ai_data_processing_approved: boolean | null
  default_experiment_stats_method: string
  customer_id: string | null
  plugins_access_level: number
  member_count: number
}

export type OrganizationWithLevel = OrganizationRow & { level: number | null }

const COLUMNS = `o.id, o.name, o.slug, o.logo_media_id, o.created_at, o.updated_at, o.available_product_features,
  o.members_can_invite, o.members_can_create_projects, o.members_can_use_personal_api_keys,
  o.allow_publicly_shared_resources, o.is_member_join_email_enabled, o.enforce_2fa, o.is_ai_data_processing_approved,
  o.default_experiment_stats_method, o.customer_id, o.plugins_access_level, o.member_count`

export const WRITABLE_FIELDS = [
  'name', 'logo_media_id', 'is_member_join_email_enabled', 'enforce_2fa', 'members_can_invite',
  'members_can_use_personal_api_keys', 'allow_publicly_shared_resources', 'is_ai_data_processing_approved',
  'default_experiment_stats_method', 'members_can_create_projects',
] as const
export type OrganizationPatch = Partial<Pick<OrganizationRow, (typeof WRITABLE_FIELDS)[number]>>

export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^\w\s-]/g, '')
    .trim()
    .replace(/[-\s]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
}

const MAX_SLUG_LENGTH = 48

export const organizationStore = {
  /** The organization and the user's membership level (null when not a member) in one query. */
  async findWithLevel(q: Queryable, organizationId: string, userId: number): Promise<OrganizationWithLevel | null> {
    const rows = await q.query<OrganizationWithLevel>(
      `SELECT ${COLUMNS}, m.level FROM organizations o
         LEFT JOIN memberships m ON m.organization_id = o.id AND m.user_id = $2
        WHERE o.id = $1`,
      [organizationId, userId],
      { prepare: 'orgd_organization_with_level' },
    )
    return rows[0] ?? null
  },

  async firstOrganizationOf(q: Queryable, userId: number): Promise<string | null> {
    const rows = await q.query<{ organization_id: string }>(
      `SELECT organization_id FROM memberships WHERE user_id = $1 ORDER BY joined_at, id LIMIT 1`,
      [userId],
    )
    return rows[0]?.organization_id ?? null
  },

  async listForUser(q: Queryable, userId: number, onlyIds: string[] | null, limit: number, offset: number): Promise<{ count: number; rows: OrganizationWithLevel[] }> {
    const rows = await q.query<OrganizationWithLevel & { total: number }>(
      `SELECT ${COLUMNS}, m.level, count(*) OVER ()::int AS total FROM memberships m
         JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1 AND ($2::text[] IS NULL OR o.id::text = ANY ($2::text[]))
        ORDER BY o.created_at, o.id LIMIT $3 OFFSET $4`,
      [userId, onlyIds, limit, offset],
    )
    if (rows.length > 0 || offset === 0) return { count: rows[0]?.total ?? 0, rows }
    const [c] = await q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM memberships m WHERE m.user_id = $1 AND ($2::text[] IS NULL OR m.organization_id::text = ANY ($2::text[]))`,
      [userId, onlyIds],
    )
    return { count: c.n, rows }
  },

  async basicForUser(q: Queryable, userId: number): Promise<Array<Pick<OrganizationRow, 'id' | 'name' | 'slug' | 'logo_media_id' | 'members_can_use_personal_api_keys'> & { level: number }>> {
    return q.query(
      `SELECT o.id, o.name, o.slug, o.logo_media_id, o.members_can_use_personal_api_keys, m.level
         FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1 ORDER BY o.created_at, o.id`,
      [userId],
    )
  },

  /** Inserts with a slug from the name; a taken slug gets a random 4-letter suffix, as PostHog does. */
  async insert(q: Queryable, name: string, features: ProductFeature[]): Promise<OrganizationRow> {
    const base = slugify(name).slice(0, MAX_SLUG_LENGTH) || 'organization'
    for (let attempt = 0; attempt < 10; attempt++) {
      const slug = attempt === 0 ? base : `${base.slice(0, MAX_SLUG_LENGTH - 5)}-${randomLetters(4)}`
      const rows = await q.query<OrganizationRow>(
        `INSERT INTO organizations AS o (name, slug, available_product_features) VALUES ($1, $2, $3)
         ON CONFLICT (slug) DO NOTHING RETURNING ${COLUMNS}`,
        [name, slug, JSON.stringify(features)],
      )
      if (rows[0]) return rows[0]
    }
    throw new Error('Could not find a free organization slug in 10 tries')
  },

  async update(q: Queryable, organizationId: string, patch: OrganizationPatch): Promise<OrganizationRow | null> {
    const keys = WRITABLE_FIELDS.filter((k) => patch[k] !== undefined)
    const sets = keys.map((k, i) => `${k} = $${i + 2}`)
    const rows = await q.query<OrganizationRow>(
      `UPDATE organizations AS o SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE o.id = $1 RETURNING ${COLUMNS}`,
      [organizationId, ...keys.map((k) => patch[k])],
    )
    return rows[0] ?? null
  },

  async setEntitlements(q: Queryable, organizationId: string, features: ProductFeature[]): Promise<void> {
    await q.query(`UPDATE organizations SET available_product_features = $2, updated_at = now() WHERE id = $1`, [organizationId, JSON.stringify(features)])
  },

  async delete(q: Queryable, organizationId: string): Promise<boolean> {
    // Users whose current organization or project was here fall back to another of theirs.
    await q.query(
      `UPDATE users u SET current_organization_id = NULL, current_team_id = NULL
        WHERE u.current_organization_id = $1 OR u.current_team_id IN (SELECT id FROM teams WHERE organization_id = $1)`,
      [organizationId],
    )
    const rows = await q.query(`DELETE FROM organizations WHERE id = $1 RETURNING id`, [organizationId])
    return rows.length > 0
  },

  async lockForUpdate(q: Queryable, organizationId: string): Promise<boolean> {
    const rows = await q.query(`SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE`, [organizationId])
    return rows.length > 0
  },
}

function randomLetters(n: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
  let out = ''
  for (let i = 0; i < n; i++) out += letters[Math.floor(Math.random() * letters.length)]
  return out
}
