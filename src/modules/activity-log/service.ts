import type { Queryable } from '../../db/index.ts'

export interface ActivityEntry {
  organizationId: string | null
  teamId?: number | null
  userId: number | null
  scope: string
  itemId: string
  activity: string
  detail: Record<string, unknown>
}

/**
 * The activity log is written in the caller's transaction, so a change and its record commit or
 * roll back together.
 */
export const activityLog = {
  async record(q: Queryable, e: ActivityEntry): Promise<void> {
    await q.query(
      `INSERT INTO activity_log (organization_id, team_id, user_id, is_system, scope, item_id, activity, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [e.organizationId, e.teamId ?? null, e.userId, e.userId === null, e.scope, e.itemId, e.activity, JSON.stringify(e.detail)],
    )
  },

  async forItem(q: Queryable, scope: string, itemId: string): Promise<Array<{ activity: string; user_id: number | null; detail: Record<string, unknown>; created_at: Date }>> {
    return q.query(`SELECT activity, user_id, detail, created_at FROM activity_log WHERE scope = $1 AND item_id = $2 ORDER BY id`, [scope, itemId])
  },
}
