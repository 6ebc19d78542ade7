import type { Db } from '../../db/index.ts'
import { errors } from '../../http/errors.ts'
import type { GitHubIdentity } from '../../adapters/github.ts'
import { userColumns, type UserRow } from '../users/store.ts'

/**
 * GitHub identities linked to users (PostHog's social-auth rows). They feed members'
 * `has_social_auth` and `github_login`, and let a linked user sign in with GitHub.
 */
export function createSocialIdentityService(db: Db) {
  return {
    /** Links the identity to `user`; refused when it already belongs to someone else. */
    async linkGitHub(user: UserRow, identity: GitHubIdentity): Promise<void> {
      await db.tx(async (tx) => {
        const rows = await tx.query<{ id: number; user_id: number }>(
          `SELECT id, user_id FROM social_identities WHERE provider = 'github' AND uid = $1 FOR UPDATE`,
          [identity.uid],
        )
        if (rows[0] && rows[0].user_id !== user.id) throw errors.validation('This GitHub account is already linked to another user.', null, 'github_already_linked')
        if (rows[0]) {
          await tx.query(`UPDATE social_identities SET login = $2 WHERE id = $1`, [rows[0].id, identity.login])
          return
        }
        // ON CONFLICT: two simultaneous first links of one identity; the loser re-checks below.
        const inserted = await tx.query(
          `INSERT INTO social_identities (user_id, provider, uid, login) VALUES ($1, 'github', $2, $3) ON CONFLICT (provider, uid) DO NOTHING RETURNING id`,
          [user.id, identity.uid, identity.login],
        )
        if (inserted.length === 0) throw errors.validation('This GitHub account is already linked to another user.', null, 'github_already_linked')
      })
    },

    /** The active user this identity is linked to (refreshing the stored login), or null. */
    async userForGitHub(identity: GitHubIdentity): Promise<UserRow | null> {
      const rows = await db.query<UserRow>(
        `UPDATE social_identities s SET login = $2 FROM users u
          WHERE s.provider = 'github' AND s.uid = $1 AND u.id = s.user_id AND u.is_active
          RETURNING ${userColumns()}`,
        [identity.uid, identity.login],
      )
      return rows[0] ?? null
    },
  }
}

export type SocialIdentityService = ReturnType<typeof createSocialIdentityService>
