// SQL proposed for src/, measured here (in a third bare route beside the ceiling) so that the
// before/after evidence comes from the same run, the same data and the same process.
//
// memberStore.search, rewritten with the same results (same rows, order, `is_exact`, `total`):
//   1. Exact (substring) matches are looked up alone, through the trigram index's LIKE support.
//      Today's statement always builds the union of exact AND similar candidates (the `<%` side
//      rechecks word_similarity on every candidate of the whole users table), computes six
//      word_similarity calls per candidate, and only then throws the similar ones away whenever
//      an exact match exists, which for any real name is almost always.
//   2. The similarity pass runs only when there is no exact match (`NOT EXISTS (SELECT 1 FROM
//      exact)` becomes a one-time filter, so the planner skips it entirely otherwise).
//   3. The score and the sort run over narrow rows (membership id, user id, first name, score);
//      the wide member columns (and the has_social_auth sub-select) are read for the page only.
import type { Queryable } from '../src/db/index.ts'
import type { ListFilters, MemberRow } from '../src/modules/members/store.ts'
import { SIMILARITY_THRESHOLD } from '../src/modules/members/store.ts'

const MEMBER_COLUMNS = `m.id, m.level, m.joined_at, m.updated_at, u.id AS user_id, u.uuid AS user_uuid, u.distinct_id,
  u.first_name, u.last_name, u.email, u.is_email_verified, u.hedgehog_config, u.role_at_organization,
  u.is_2fa_enabled, u.last_login,
  EXISTS (SELECT 1 FROM social_identities s WHERE s.user_id = u.id) AS has_social_auth`
const LISTED = `u.is_active AND u.email NOT LIKE '%@posthogbot.user'`
const SEARCH_TEXT = `lower(u.first_name || ' ' || u.last_name || ' ' || u.email)`
const SCORE = `word_similarity($3, u.first_name) + word_similarity($3, u.last_name) + word_similarity($3, u.email)`
const FILTERS = `($4::text IS NULL OR lower(u.email) = lower($4)) AND ($5::timestamptz IS NULL OR m.updated_at > $5)`

export const SEARCH_TWO_PHASE_SQL = `
WITH exact AS (
  SELECT m.id, u.id AS user_id, u.first_name, ${SCORE} AS score
    FROM users u JOIN memberships m ON m.user_id = u.id AND m.organization_id = $1
   WHERE ${LISTED}
     AND ${SEARCH_TEXT} LIKE lower($2)
     AND (u.first_name ILIKE $2 OR u.last_name ILIKE $2 OR u.email ILIKE $2)
     AND ${FILTERS}
), fuzzy AS (
  SELECT s.id, s.user_id, s.first_name, s.score FROM (
    SELECT m.id, u.id AS user_id, u.first_name, ${SCORE} AS score,
           greatest(word_similarity($3, u.first_name), word_similarity($3, u.last_name), word_similarity($3, u.email)) AS best
      FROM users u JOIN memberships m ON m.user_id = u.id AND m.organization_id = $1
     WHERE NOT EXISTS (SELECT 1 FROM exact)
       AND ${LISTED}
       AND (${SEARCH_TEXT} LIKE lower($2) OR $3 <% ${SEARCH_TEXT})
       AND ${FILTERS}
  ) s WHERE s.best > ${SIMILARITY_THRESHOLD}
), page AS (
  SELECT h.*, count(*) OVER ()::int AS total FROM (
    SELECT id, user_id, first_name, score, true AS is_exact FROM exact
    UNION ALL
    SELECT id, user_id, first_name, score, false AS is_exact FROM fuzzy
  ) h
  ORDER BY h.score DESC, h.first_name, h.id
  LIMIT $6 OFFSET $7
)
SELECT ${MEMBER_COLUMNS}, p.is_exact, p.total
  FROM page p JOIN memberships m ON m.id = p.id JOIN users u ON u.id = p.user_id
 ORDER BY p.score DESC, p.first_name, p.id`

function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** Drop-in for memberStore.search (same signature, same rows). */
export async function searchTwoPhase(q: Queryable, organizationId: string, term: string, filters: ListFilters, limit: number, offset: number): Promise<MemberRow[]> {
  return q.query<MemberRow>(SEARCH_TWO_PHASE_SQL, [organizationId, likePattern(term), term, filters.email ?? null, filters.updatedAfter ?? null, limit, offset])
}
