import type { Queryable } from '../../db/index.ts'
import type { UserBasic } from '../users/store.ts'

export interface MemberRow {
  id: string
  level: number
  joined_at: Date
  updated_at: Date
  user_id: number
  user_uuid: string
  distinct_id: string | null
  first_name: string
  last_name: string
  email: string
  is_email_verified: boolean | null
  hedgehog_config: unknown
  role_at_organization: string | null
  is_2fa_enabled: boolean
  last_login: Date | null
  has_social_auth: boolean
}

const MEMBER_COLUMNS = `m.id, m.level, m.joined_at, m.updated_at, u.id AS user_id, u.uuid AS user_uuid, u.distinct_id,
  u.first_name, u.last_name, u.email, u.is_email_verified, u.hedgehog_config, u.role_at_organization,
  u.is_2fa_enabled, u.last_login, u.has_social_auth`

// The listed set: active people, not internal bots. organizations.member_count counts exactly this.
const LISTED = `u.is_active AND u.email NOT LIKE '%@posthogbot.user'`

/** A page of search results: the full count and the page, a JSON array of OrganizationMember. */
export interface MemberPage {
  total: number
  results: string
}

// The text toISOString gives for the same instant (to_char's MS truncates like a JS Date does).
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

// Pages of members come back as the text of one JSON array rather than 100 rows of 16 columns,
// and go out as they came: no driver converts 1,600 fields one by one (PGlite copies every field
// into its own buffer; node-postgres parses every timestamp with a regular expression), and
// nothing parses the page or writes it again. That was most of the cost of a page on PGlite.
const memberJson = (matchType: string) => `json_build_object(
  'id', m.id,
  'user', json_build_object('id', u.id, 'uuid', u.uuid, 'distinct_id', u.distinct_id, 'first_name', u.first_name,
    'last_name', u.last_name, 'email', u.email, 'is_email_verified', u.is_email_verified,
    'hedgehog_config', u.hedgehog_config, 'role_at_organization', u.role_at_organization),
  'level', m.level, 'joined_at', ${iso('m.joined_at')}, 'updated_at', ${iso('m.updated_at')},
  'is_2fa_enabled', u.is_2fa_enabled,
  'has_social_auth', u.has_social_auth,
  'last_login', ${iso('u.last_login')}, 'search_match_type', ${matchType})`

// $1 organization, $2 limit, $3 offset, then the filters' own parameters.
const listSql = (dir: 'ASC' | 'DESC', filters: string) => `
SELECT coalesce(json_agg(p.j ORDER BY p.joined_at ${dir}, p.id ${dir}), '[]')::text AS results
  FROM (SELECT ${memberJson('NULL')} AS j, m.joined_at, m.id
          FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND ${LISTED} ${filters}
         ORDER BY m.joined_at ${dir}, m.id ${dir}
         LIMIT $2 OFFSET $3) p`

export interface ListFilters {
  email?: string
  updatedAfter?: Date
}

/** Threshold PostHog uses for a "similar" match (strictly greater than). */
export const SIMILARITY_THRESHOLD = 0.3

// $1 organization, $2 email filter, $3 updated_after filter, $4 limit, $5 offset, $6 term.
const SEARCH_FILTERS = `m.organization_id = $1 AND m.listed
     AND ($2::text IS NULL OR m.user_id = (SELECT id FROM users WHERE lower(email) = lower($2)))
     AND ($3::timestamptz IS NULL OR m.updated_at > $3)`

// The page's memberships come out of the index scan with the columns the answer needs, and only
// the page's people are looked up, one primary-key probe each. Joined plainly, both PostgreSQL 15
// and PGlite's 18 hash the page against a scan of every membership or every user (3-8 ms at
// 10,000, growing with the table); OFFSET 0 keeps the lateral lookup from being flattened into
// such a join.
const HIT_COLUMNS = 'm.id, m.sort_name, m.level, m.joined_at, m.updated_at, m.user_id'
const PAGE_PEOPLE = 'page m CROSS JOIN LATERAL (SELECT * FROM users WHERE users.id = m.user_id OFFSET 0) u'

const EXACT_SEARCH_SQL = `
WITH hits AS MATERIALIZED (
  SELECT ${HIT_COLUMNS} FROM memberships m WHERE ${SEARCH_FILTERS} AND m.search_text LIKE lower($6)
), page AS (
  SELECT * FROM hits ORDER BY sort_name, id LIMIT $4 OFFSET $5
)
SELECT (SELECT count(*) FROM hits)::int AS total,
       coalesce((SELECT json_agg(${memberJson("'exact'")} ORDER BY m.sort_name, m.id) FROM ${PAGE_PEOPLE}), '[]')::text AS results`

// Word similarity is taken against the joined text: chr(1) is a word boundary, so this is the best
// match over the words of the three fields, computed once per candidate (per-field calls tripled
// the cost of a typo search in a large organization).
const SIMILAR_SEARCH_SQL = `
WITH candidates AS MATERIALIZED (
  SELECT ${HIT_COLUMNS}, word_similarity($6, m.search_text) AS score
    FROM memberships m WHERE ${SEARCH_FILTERS} AND $6 <% m.search_text
), matches AS MATERIALIZED (
  SELECT * FROM candidates WHERE score > ${SIMILARITY_THRESHOLD}
), page AS (
  SELECT * FROM matches ORDER BY score DESC, sort_name, id LIMIT $4 OFFSET $5
)
SELECT (SELECT count(*) FROM matches)::int AS total,
       coalesce((SELECT json_agg(${memberJson("'similar'")} ORDER BY m.score DESC, m.sort_name, m.id) FROM ${PAGE_PEOPLE}), '[]')::text AS results`

function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export const memberStore = {
  async list(q: Queryable, organizationId: string, filters: ListFilters, ascending: boolean, limit: number, offset: number): Promise<string> {
    const dir = ascending ? 'ASC' : 'DESC'
    const page = [organizationId, limit, offset]
    // Unfiltered, the page is always read in index order, whatever its limit and offset, so its
    // plan is kept (QueryOptions.plan); with email or updated_after the best plan differs.
    if (filters.email === undefined && filters.updatedAfter === undefined) {
      const rows = await q.query<{ results: string }>(listSql(dir, ''), page, { prepare: `orgd_member_page_${dir.toLowerCase()}`, plan: 'generic' })
      return rows[0].results
    }
    const rows = await q.query<{ results: string }>(
      listSql(dir, 'AND ($4::text IS NULL OR lower(u.email) = lower($4)) AND ($5::timestamptz IS NULL OR m.updated_at > $5)'),
      [...page, filters.email ?? null, filters.updatedAfter ?? null],
    )
    return rows[0].results
  },

  async count(q: Queryable, organizationId: string, filters: ListFilters): Promise<number> {
    const rows = await q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1 AND ${LISTED}
          AND ($2::text IS NULL OR lower(u.email) = lower($2))
          AND ($3::timestamptz IS NULL OR m.updated_at > $3)`,
      [organizationId, filters.email ?? null, filters.updatedAfter ?? null],
    )
    return rows[0].n
  },

  /**
   * Substring ("exact") matches on first name, last name or email, in first-name order; only when
   * there are none, trigram word-similarity ("similar") matches, best first. Both read the copy of
   * the searchable text kept on memberships (migration 0007) and join the people of one page only.
   * `total` is the full count of the phase that answered (past the last page of exact matches the
   * page is empty, and similar ones must not show up).
   */
  async search(q: Queryable, organizationId: string, term: string, filters: ListFilters, limit: number, offset: number): Promise<MemberPage> {
    const args = [organizationId, filters.email ?? null, filters.updatedAfter ?? null, limit, offset]
    // Planned for each term (how many people match decides the plan), kept prepared for the
    // single round trip on PGlite (QueryOptions.prepare).
    const [exact] = await q.query<MemberPage>(EXACT_SEARCH_SQL, [...args, likePattern(term)], { prepare: 'orgd_member_search_exact', plan: 'custom' })
    if (exact.total > 0) return exact
    const [similar] = await q.query<MemberPage>(SIMILAR_SEARCH_SQL, [...args, term], { prepare: 'orgd_member_search_similar', plan: 'custom' })
    return similar
  },

  async findByUserUuid(q: Queryable, organizationId: string, userUuid: string): Promise<MemberRow | null> {
    const rows = await q.query<MemberRow>(
      `SELECT ${MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1 AND u.uuid = $2`,
      [organizationId, userUuid],
    )
    return rows[0] ?? null
  },

  async levelOf(q: Queryable, organizationId: string, userId: number): Promise<number | null> {
    const rows = await q.query<{ level: number }>(`SELECT level FROM memberships WHERE organization_id = $1 AND user_id = $2`, [organizationId, userId])
    return rows[0]?.level ?? null
  },

  async setLevel(q: Queryable, membershipId: string, level: number): Promise<void> {
    await q.query(`UPDATE memberships SET level = $2, updated_at = now() WHERE id = $1`, [membershipId, level])
  },

  async insert(q: Queryable, organizationId: string, userId: number, level: number, invitedById: number | null = null): Promise<{ id: string; created: boolean }> {
    const rows = await q.query<{ id: string; created: boolean }>(
      `INSERT INTO memberships (organization_id, user_id, level, invited_by_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (organization_id, user_id) DO UPDATE SET level = EXCLUDED.level, updated_at = now()
       RETURNING id, (xmax = 0) AS created`,
      [organizationId, userId, level, invitedById],
    )
    return rows[0]
  },

  /** Adds a membership; null when the person is already a member. */
  async insertNew(q: Queryable, organizationId: string, userId: number, level: number, invitedById: number | null): Promise<string | null> {
    const rows = await q.query<{ id: string }>(
      `INSERT INTO memberships (organization_id, user_id, level, invited_by_id) VALUES ($1, $2, $3, $4)
       ON CONFLICT (organization_id, user_id) DO NOTHING RETURNING id`,
      [organizationId, userId, level, invitedById],
    )
    return rows[0]?.id ?? null
  },

  async delete(q: Queryable, membershipId: string): Promise<void> {
    await q.query(`DELETE FROM memberships WHERE id = $1`, [membershipId])
  },

  /** GitHub login: a per-user GitHub integration first, then a GitHub social identity. */
  async githubLogin(q: Queryable, userId: number): Promise<string | null> {
    const rows = await q.query<{ login: string | null }>(
      `SELECT coalesce(
          (SELECT config -> 'github_user' ->> 'login' FROM user_integrations WHERE user_id = $1 AND kind = 'github'),
          (SELECT login FROM social_identities WHERE user_id = $1 AND provider = 'github' ORDER BY id LIMIT 1)
        ) AS login`,
      [userId],
    )
    return rows[0]?.login ?? null
  },
}
