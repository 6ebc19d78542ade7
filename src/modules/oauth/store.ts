import type { Queryable } from '../../db/index.ts'

export interface OAuthApplicationRow {
  id: string
  name: string
  client_id: string
  client_secret_hash: string | null
  client_type: 'confidential' | 'public'
  redirect_uris: string
  organization_id: string | null
  user_id: number | null
  is_verified: boolean
  is_first_party: boolean
  scopes: string[]
  optional_scopes: string[]
  created: Date
  updated: Date
}

const APP_COLUMNS = `id, name, client_id, client_secret_hash, client_type, redirect_uris, organization_id, user_id,
  is_verified, is_first_party, scopes, optional_scopes, created, updated`

export interface NewApplication {
  name: string
  clientId: string
  clientSecretHash: string | null
  clientType: 'confidential' | 'public'
  redirectUris: string[]
  organizationId: string
  userId: number | null
  isVerified: boolean
  isFirstParty: boolean
  scopes: string[]
  optionalScopes: string[]
}

export interface CodeRow {
  code_hash: string
  grant_id: string
  application_id: string
  user_id: number
  redirect_uri: string
  scopes: string[]
  code_challenge: string
  expires_at: Date
  used_at: Date | null
}

export interface RefreshRow {
  id: number
  grant_id: string
  application_id: string
  user_id: number
  access_token_id: number | null
  scopes: string[]
  expires_at: Date
  revoked_at: Date | null
}

export const oauthStore = {
  async insertApplication(q: Queryable, a: NewApplication): Promise<OAuthApplicationRow> {
    const rows = await q.query<OAuthApplicationRow>(
      `INSERT INTO oauth_applications (name, client_id, client_secret_hash, client_type, redirect_uris, organization_id, user_id,
         is_verified, is_first_party, scopes, optional_scopes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${APP_COLUMNS}`,
      [a.name, a.clientId, a.clientSecretHash, a.clientType, a.redirectUris.join(' '), a.organizationId, a.userId, a.isVerified, a.isFirstParty, a.scopes, a.optionalScopes],
    )
    return rows[0]
  },

  async listForOrganization(q: Queryable, organizationId: string, limit: number, offset: number): Promise<OAuthApplicationRow[]> {
    return q.query<OAuthApplicationRow>(
      `SELECT ${APP_COLUMNS} FROM oauth_applications WHERE organization_id = $1 ORDER BY created DESC, id DESC LIMIT $2 OFFSET $3`,
      [organizationId, limit, offset],
    )
  },

  async countForOrganization(q: Queryable, organizationId: string): Promise<number> {
    const rows = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM oauth_applications WHERE organization_id = $1`, [organizationId])
    return rows[0].n
  },

  /** Every application, or one organization's, for the operator's CLI. */
  async listAll(q: Queryable, organizationId: string | null): Promise<OAuthApplicationRow[]> {
    return organizationId
      ? q.query<OAuthApplicationRow>(`SELECT ${APP_COLUMNS} FROM oauth_applications WHERE organization_id = $1 ORDER BY created DESC, id DESC`, [organizationId])
      : q.query<OAuthApplicationRow>(`SELECT ${APP_COLUMNS} FROM oauth_applications ORDER BY created DESC, id DESC`)
  },

  async findByClientId(q: Queryable, clientId: string): Promise<OAuthApplicationRow | null> {
    const rows = await q.query<OAuthApplicationRow>(`SELECT ${APP_COLUMNS} FROM oauth_applications WHERE client_id = $1`, [clientId])
    return rows[0] ?? null
  },

  async findById(q: Queryable, id: string): Promise<OAuthApplicationRow | null> {
    const rows = await q.query<OAuthApplicationRow>(`SELECT ${APP_COLUMNS} FROM oauth_applications WHERE id = $1`, [id])
    return rows[0] ?? null
  },

  async setSecret(q: Queryable, id: string, secretHash: string): Promise<OAuthApplicationRow | null> {
    const rows = await q.query<OAuthApplicationRow>(
      `UPDATE oauth_applications SET client_secret_hash = $2, updated = now() WHERE id = $1 AND client_type = 'confidential' RETURNING ${APP_COLUMNS}`,
      [id, secretHash],
    )
    return rows[0] ?? null
  },

  async deleteApplication(q: Queryable, id: string): Promise<boolean> {
    const rows = await q.query(`DELETE FROM oauth_applications WHERE id = $1 RETURNING id`, [id])
    return rows.length > 0
  },

  async insertCode(q: Queryable, c: { codeHash: string; applicationId: string; userId: number; redirectUri: string; scopes: string[]; codeChallenge: string; expiresAt: Date }): Promise<void> {
    await q.query(
      `INSERT INTO oauth_authorization_codes (code_hash, application_id, user_id, redirect_uri, scopes, code_challenge, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [c.codeHash, c.applicationId, c.userId, c.redirectUri, c.scopes, c.codeChallenge, c.expiresAt],
    )
    // Codes live a minute; the long-expired ones of this user are swept here rather than by a timer.
    await q.query(`DELETE FROM oauth_authorization_codes WHERE user_id = $1 AND expires_at < now() - interval '1 day'`, [c.userId])
  },

  /** Locks the code row so two exchanges of one code cannot both succeed. */
  async lockCode(q: Queryable, codeHash: string): Promise<CodeRow | null> {
    const rows = await q.query<CodeRow>(`SELECT * FROM oauth_authorization_codes WHERE code_hash = $1 FOR UPDATE`, [codeHash])
    return rows[0] ?? null
  },

  async markCodeUsed(q: Queryable, codeHash: string): Promise<void> {
    await q.query(`UPDATE oauth_authorization_codes SET used_at = now() WHERE code_hash = $1`, [codeHash])
  },

  async insertAccessToken(q: Queryable, t: { tokenHash: string; grantId: string; applicationId: string; userId: number; scopes: string[]; expiresAt: Date }): Promise<number> {
    const rows = await q.query<{ id: number }>(
      `INSERT INTO oauth_access_tokens (token_hash, grant_id, application_id, user_id, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [t.tokenHash, t.grantId, t.applicationId, t.userId, t.scopes, t.expiresAt],
    )
    return rows[0].id
  },

  /** Expired tokens of one user are swept when that user gets new ones, rather than by a timer. */
  async sweepExpired(q: Queryable, userId: number): Promise<void> {
    await q.query(`DELETE FROM oauth_refresh_tokens WHERE user_id = $1 AND expires_at < now()`, [userId])
    await q.query(`DELETE FROM oauth_access_tokens WHERE user_id = $1 AND expires_at < now()`, [userId])
  },

  async insertRefreshToken(q: Queryable, t: { tokenHash: string; grantId: string; applicationId: string; userId: number; accessTokenId: number; scopes: string[]; expiresAt: Date }): Promise<void> {
    await q.query(
      `INSERT INTO oauth_refresh_tokens (token_hash, grant_id, application_id, user_id, access_token_id, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [t.tokenHash, t.grantId, t.applicationId, t.userId, t.accessTokenId, t.scopes, t.expiresAt],
    )
  },

  async lockRefreshToken(q: Queryable, tokenHash: string): Promise<RefreshRow | null> {
    const rows = await q.query<RefreshRow>(
      `SELECT id, grant_id, application_id, user_id, access_token_id, scopes, expires_at, revoked_at FROM oauth_refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
      [tokenHash],
    )
    return rows[0] ?? null
  },

  async revokeRefreshToken(q: Queryable, id: number): Promise<void> {
    await q.query(`UPDATE oauth_refresh_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id])
  },

  async deleteAccessTokenById(q: Queryable, id: number): Promise<void> {
    await q.query(`DELETE FROM oauth_access_tokens WHERE id = $1`, [id])
  },

  /** Ends a whole grant: its access tokens go, its refresh tokens are marked revoked. */
  async revokeGrant(q: Queryable, grantId: string): Promise<void> {
    await q.query(`DELETE FROM oauth_access_tokens WHERE grant_id = $1`, [grantId])
    await q.query(`UPDATE oauth_refresh_tokens SET revoked_at = now() WHERE grant_id = $1 AND revoked_at IS NULL`, [grantId])
  },

  async deleteAccessTokenByHash(q: Queryable, tokenHash: string, applicationId: string): Promise<boolean> {
    const rows = await q.query(`DELETE FROM oauth_access_tokens WHERE token_hash = $1 AND application_id = $2 RETURNING id`, [tokenHash, applicationId])
    return rows.length > 0
  },
}
