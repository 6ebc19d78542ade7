import { createHash, randomBytes } from 'node:crypto'
import type { Config } from '../../config.ts'
import type { Db, Queryable } from '../../db/index.ts'
import { errors } from '../../http/errors.ts'
import { isGrantableScope } from '../../http/scopes.ts'
import { randomToken, safeEqual, sha256Hex } from '../../lib/crypto.ts'
import { isUuid } from '../../lib/ids.ts'
import { userColumns, type UserRow } from '../users/store.ts'
import { checkRedirectUris } from './redirect-uris.ts'
import { oauthStore, type OAuthApplicationRow } from './store.ts'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** `length` characters drawn uniformly from [A-Za-z0-9], as django-oauth-toolkit's generators do. */
export function randomAlnum(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      // 248 = 4 × 62: rejecting the top bytes keeps every character equally likely.
      if (b < 248 && out.length < length) out += ALNUM[b % 62]
    }
  }
  return out
}

export const secretHashOf = (secret: string) => `sha256$${sha256Hex(secret)}`

/** An OAuth scope an application may ask for: `<object>:<read|write>` for a grantable object. */
export function isOAuthScope(scope: string): boolean {
  return scope !== '*' && isGrantableScope(scope)
}

/** RFC 6749 §5.2 / RFC 7009 error, answered as `{error, error_description}` by the OAuth routes. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description)
  }
  body(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description }
  }
}

/** The item shape of PostHog's OrganizationOAuthApplicationSerializer: these seven keys only. */
export interface OAuthApplicationItem {
  id: string
  name: string
  client_id: string
  redirect_uris_list: string[]
  is_verified: boolean
  created: Date
  updated: Date
}

export const redirectUrisOf = (app: Pick<OAuthApplicationRow, 'redirect_uris'>) => app.redirect_uris.split(/\s+/).filter(Boolean)

function item(row: OAuthApplicationRow): OAuthApplicationItem {
  return {
    id: row.id,
    name: row.name,
    client_id: row.client_id,
    redirect_uris_list: redirectUrisOf(row),
    is_verified: row.is_verified,
    created: row.created,
    updated: row.updated,
  }
}

export interface NewApplicationInput {
  organizationId: string
  name: string
  redirectUris: string[]
  clientType?: 'confidential' | 'public'
  scopes?: string[]
  optionalScopes?: string[]
  isFirstParty?: boolean
  isVerified?: boolean
  createdByUserId?: number | null
}

/** A validated authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636). */
export interface AuthorizationRequest {
  app: OAuthApplicationRow
  redirectUri: string
  scopes: string[]
  state: string | null
  codeChallenge: string
}

/** Where an invalid authorization request is reported: to the user, or back to the client. */
export type AuthorizeProblem =
  | { to: 'user'; message: string }
  | { to: 'client'; redirectUri: string; state: string | null; error: string; description: string }

export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  scope: string
}

const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url')
}

function clientView(row: OAuthApplicationRow) {
  return {
    id: row.id,
    name: row.name,
    client_id: row.client_id,
    client_type: row.client_type,
    redirect_uris_list: redirectUrisOf(row),
    organization_id: row.organization_id,
    is_verified: row.is_verified,
    is_first_party: row.is_first_party,
    scopes: row.scopes,
    optional_scopes: row.optional_scopes,
    created: row.created,
    updated: row.updated,
  }
}

export function createOAuthService(db: Db, config: Config) {
  function validateScopes(scopes: string[], optional: string[]): void {
    for (const s of scopes) if (!isOAuthScope(s)) throw errors.validation(`Invalid scope: ${s}`, 'scopes')
    if (optional.length > 0 && scopes.length === 0) throw errors.validation('Optional scopes require a non-empty set of required scopes.', 'optional_scopes')
    for (const s of optional) if (!isOAuthScope(s)) throw errors.validation(`Invalid scope: ${s}`, 'optional_scopes')
  }

  async function findApp(q: Queryable, idOrClientId: string): Promise<OAuthApplicationRow | null> {
    return (isUuid(idOrClientId) ? await oauthStore.findById(q, idOrClientId) : null) ?? (await oauthStore.findByClientId(q, idOrClientId))
  }

  async function issueTokens(q: Queryable, grant: { grantId: string; applicationId: string; userId: number; scopes: string[] }): Promise<TokenResponse> {
    const access = `pha_${randomToken(35)}`
    const refresh = `phr_${randomToken(35)}`
    const now = Date.now()
    await oauthStore.sweepExpired(q, grant.userId)
    const accessId = await oauthStore.insertAccessToken(q, {
      tokenHash: sha256Hex(access),
      ...grant,
      expiresAt: new Date(now + config.oauthAccessTokenTtlSeconds * 1000),
    })
    await oauthStore.insertRefreshToken(q, {
      tokenHash: sha256Hex(refresh),
      ...grant,
      accessTokenId: accessId,
      expiresAt: new Date(now + config.oauthRefreshTokenTtlSeconds * 1000),
    })
    return { access_token: access, token_type: 'Bearer', expires_in: config.oauthAccessTokenTtlSeconds, refresh_token: refresh, scope: grant.scopes.join(' ') }
  }

  return {
    /** Registers an application (operator CLI); the secret is returned once and only its hash kept. */
    async create(input: NewApplicationInput, q?: Queryable) {
      const name = input.name.trim()
      if (name.length > 255) throw errors.validation('Ensure this field has no more than 255 characters.', 'name', 'max_length')
      const problem = checkRedirectUris(input.redirectUris)
      if (problem) throw errors.validation(problem, 'redirect_uris')
      const scopes = [...new Set(input.scopes ?? [])]
      const optionalScopes = [...new Set(input.optionalScopes ?? [])]
      validateScopes(scopes, optionalScopes)
      const clientType = input.clientType ?? 'confidential'
      const secret = clientType === 'confidential' ? randomAlnum(128) : null
      const run = async (tx: Queryable) => {
        const org = await tx.query(`SELECT 1 FROM organizations WHERE id = $1`, [input.organizationId])
        if (org.length === 0) throw errors.organizationNotFound()
        return oauthStore.insertApplication(tx, {
          name,
          clientId: randomAlnum(40),
          clientSecretHash: secret ? secretHashOf(secret) : null,
          clientType,
          redirectUris: [...new Set(input.redirectUris)],
          organizationId: input.organizationId,
          userId: input.createdByUserId ?? null,
          isVerified: input.isVerified ?? false,
          isFirstParty: input.isFirstParty ?? false,
          scopes,
          optionalScopes,
        })
      }
      if (!isUuid(input.organizationId)) throw errors.organizationNotFound()
      const row = await (q ? run(q) : db.tx(run))
      return { ...clientView(row), client_secret: secret }
    },

    async listForOrganization(organizationId: string, page: { limit: number; offset: number }): Promise<{ count: number; results: OAuthApplicationItem[] }> {
      const [count, rows] = await Promise.all([
        oauthStore.countForOrganization(db, organizationId),
        oauthStore.listForOrganization(db, organizationId, page.limit, page.offset),
      ])
      return { count, results: rows.map(item) }
    },

    async listAll(organizationId: string | null) {
      if (organizationId !== null && !isUuid(organizationId)) throw errors.organizationNotFound()
      return (await oauthStore.listAll(db, organizationId)).map(clientView)
    },

    async rotateSecret(idOrClientId: string) {
      return db.tx(async (tx) => {
        const app = await findApp(tx, idOrClientId)
        if (!app) throw errors.notFound()
        if (app.client_type !== 'confidential') throw errors.validation('A public client has no secret to rotate.', 'client_type')
        const secret = randomAlnum(128)
        const row = await oauthStore.setSecret(tx, app.id, secretHashOf(secret))
        return { ...clientView(row!), client_secret: secret }
      })
    },

    async delete(idOrClientId: string): Promise<{ id: string; client_id: string }> {
      return db.tx(async (tx) => {
        const app = await findApp(tx, idOrClientId)
        if (!app) throw errors.notFound()
        await oauthStore.deleteApplication(tx, app.id)
        return { id: app.id, client_id: app.client_id }
      })
    },

    /** Public `GET /api/oauth_application/metadata/:client_id/`. */
    async metadata(clientId: string): Promise<{ name: string; client_id: string; is_verified: boolean }> {
      const app = clientId.length <= 2048 && !clientId.includes('\u0000') ? await oauthStore.findByClientId(db, clientId) : null
      if (!app) throw errors.notFound()
      return { name: app.name, client_id: app.client_id, is_verified: app.is_verified }
    },

    /**
     * Checks an authorization request. Problems with the client or its redirect URI are shown to
     * the user (redirecting there would be an open redirect); everything else goes back to the
     * client's redirect URI, as RFC 6749 §4.1.2.1 says.
     */
    async checkAuthorizationRequest(params: Record<string, unknown>): Promise<{ ok: AuthorizationRequest } | { problem: AuthorizeProblem }> {
      const str = (k: string): string | null => (typeof params[k] === 'string' && !(params[k] as string).includes('\u0000') ? (params[k] as string) : null)
      const clientId = str('client_id')
      if (!clientId) return { problem: { to: 'user', message: 'The request has no client_id.' } }
      const app = clientId.length <= 2048 ? await oauthStore.findByClientId(db, clientId) : null
      if (!app) return { problem: { to: 'user', message: 'This application is not registered.' } }
      const registered = redirectUrisOf(app)
      const asked = str('redirect_uri')
      let redirectUri: string
      if (asked === null || asked === '') {
        if (registered.length !== 1) return { problem: { to: 'user', message: 'The request has no redirect_uri and the application registered several.' } }
        redirectUri = registered[0]
      } else if (registered.includes(asked)) {
        redirectUri = asked
      } else {
        return { problem: { to: 'user', message: 'The redirect_uri does not match any URI registered for this application.' } }
      }
      const state = str('state')
      const fail = (error: string, description: string) => ({ problem: { to: 'client' as const, redirectUri, state, error, description } })
      if (str('response_type') !== 'code') return fail('unsupported_response_type', 'Only response_type=code is supported.')
      const challenge = str('code_challenge')
      if (!challenge) return fail('invalid_request', 'code_challenge is required (PKCE).')
      if (str('code_challenge_method') !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256.')
      if (!PKCE_VALUE.test(challenge)) return fail('invalid_request', 'code_challenge is malformed.')
      const rawScope = str('scope')
      const scopes = rawScope === null || rawScope.trim() === '' ? [...app.scopes] : [...new Set(rawScope.trim().split(/\s+/))]
      const ceiling = new Set([...app.scopes, ...app.optional_scopes])
      for (const s of scopes) {
        if (!isOAuthScope(s) || (ceiling.size > 0 && !ceiling.has(s))) return fail('invalid_scope', `The scope "${s}" is not available to this application.`)
      }
      return { ok: { app, redirectUri, scopes, state, codeChallenge: challenge } }
    },

    /** Issues a one-time code for the approved request. */
    async issueCode(user: UserRow, request: AuthorizationRequest): Promise<string> {
      const code = randomToken(32)
      await db.tx((tx) =>
        oauthStore.insertCode(tx, {
          codeHash: sha256Hex(code),
          applicationId: request.app.id,
          userId: user.id,
          redirectUri: request.redirectUri,
          scopes: request.scopes,
          codeChallenge: request.codeChallenge,
          expiresAt: new Date(Date.now() + config.oauthCodeTtlSeconds * 1000),
        }),
      )
      return code
    },

    /** Client authentication at the token and revocation endpoints (RFC 6749 §2.3). */
    async authenticateClient(clientId: string | null, clientSecret: string | null): Promise<OAuthApplicationRow> {
      if (!clientId) throw new OAuthError('invalid_client', 'Client authentication failed.', 401)
      const app = clientId.length <= 2048 ? await oauthStore.findByClientId(db, clientId) : null
      if (!app) throw new OAuthError('invalid_client', 'Client authentication failed.', 401)
      if (app.client_type === 'confidential') {
        if (!clientSecret || !safeEqual(secretHashOf(clientSecret), app.client_secret_hash ?? '')) {
          throw new OAuthError('invalid_client', 'Client authentication failed.', 401)
        }
      }
      return app
    },

    async exchangeCode(app: OAuthApplicationRow, params: { code: string | null; codeVerifier: string | null; redirectUri: string | null }): Promise<TokenResponse> {
      if (!params.code) throw new OAuthError('invalid_request', 'code is required.')
      if (!params.codeVerifier) throw new OAuthError('invalid_request', 'code_verifier is required.')
      const codeHash = sha256Hex(params.code)
      // Refusals that must leave a trace (a replayed code revokes its tokens) are returned, not
      // thrown, so the transaction commits them.
      const out = await db.tx(async (tx): Promise<TokenResponse | OAuthError> => {
        const row = await oauthStore.lockCode(tx, codeHash)
        if (!row || row.application_id !== app.id) return new OAuthError('invalid_grant', 'The authorization code is invalid.')
        if (row.used_at) {
          await oauthStore.revokeGrant(tx, row.grant_id)
          return new OAuthError('invalid_grant', 'The authorization code has already been used.')
        }
        if (row.expires_at.getTime() <= Date.now()) return new OAuthError('invalid_grant', 'The authorization code has expired.')
        if (params.redirectUri !== null && params.redirectUri !== row.redirect_uri) return new OAuthError('invalid_grant', 'The redirect_uri does not match the one of the authorization request.')
        if (!PKCE_VALUE.test(params.codeVerifier!) || !safeEqual(s256(params.codeVerifier!), row.code_challenge)) {
          return new OAuthError('invalid_grant', 'PKCE verification failed: the code_verifier does not match the code_challenge.')
        }
        const user = await tx.query(`SELECT 1 FROM users WHERE id = $1 AND is_active`, [row.user_id])
        if (user.length === 0) return new OAuthError('invalid_grant', 'The user of this grant is inactive.')
        await oauthStore.markCodeUsed(tx, codeHash)
        return issueTokens(tx, { grantId: row.grant_id, applicationId: app.id, userId: row.user_id, scopes: row.scopes })
      })
      if (out instanceof OAuthError) throw out
      return out
    },

    /** Refresh-token rotation: the presented token is spent; presenting it again ends the grant. */
    async refresh(app: OAuthApplicationRow, params: { refreshToken: string | null; scope: string | null }): Promise<TokenResponse> {
      if (!params.refreshToken) throw new OAuthError('invalid_request', 'refresh_token is required.')
      const tokenHash = sha256Hex(params.refreshToken)
      const out = await db.tx(async (tx): Promise<TokenResponse | OAuthError> => {
        const row = await oauthStore.lockRefreshToken(tx, tokenHash)
        if (!row || row.application_id !== app.id) return new OAuthError('invalid_grant', 'The refresh token is invalid.')
        if (row.revoked_at) {
          await oauthStore.revokeGrant(tx, row.grant_id)
          return new OAuthError('invalid_grant', 'The refresh token has been revoked.')
        }
        if (row.expires_at.getTime() <= Date.now()) return new OAuthError('invalid_grant', 'The refresh token has expired.')
        let scopes = row.scopes
        if (params.scope !== null && params.scope.trim() !== '') {
          const asked = [...new Set(params.scope.trim().split(/\s+/))]
          const bad = asked.find((s) => !row.scopes.includes(s))
          if (bad) return new OAuthError('invalid_scope', `The scope "${bad}" was not granted.`)
          scopes = asked
        }
        const user = await tx.query(`SELECT 1 FROM users WHERE id = $1 AND is_active`, [row.user_id])
        if (user.length === 0) return new OAuthError('invalid_grant', 'The user of this grant is inactive.')
        await oauthStore.revokeRefreshToken(tx, row.id)
        if (row.access_token_id !== null) await oauthStore.deleteAccessTokenById(tx, row.access_token_id)
        return issueTokens(tx, { grantId: row.grant_id, applicationId: app.id, userId: row.user_id, scopes })
      })
      if (out instanceof OAuthError) throw out
      return out
    },

    /** RFC 7009: an unknown token, or one of another client, is not an error. */
    async revoke(app: OAuthApplicationRow, token: string | null): Promise<void> {
      if (!token) throw new OAuthError('invalid_request', 'token is required.')
      const tokenHash = sha256Hex(token)
      await db.tx(async (tx) => {
        if (await oauthStore.deleteAccessTokenByHash(tx, tokenHash, app.id)) return
        const refresh = await oauthStore.lockRefreshToken(tx, tokenHash)
        // Revoking a refresh token ends its grant, access tokens included (RFC 7009 §2.1).
        if (refresh && refresh.application_id === app.id) await oauthStore.revokeGrant(tx, refresh.grant_id)
      })
    },

    /** The user and granted scopes behind a `pha_` access token, or null if unknown or expired. */
    async authenticateAccessToken(token: string): Promise<{ user: UserRow; token: { id: number; scopes: string[]; applicationId: string } } | null> {
      const rows = await db.query<UserRow & { token_id: number; token_scopes: string[]; application_id: string }>(
        `SELECT ${userColumns()}, t.id AS token_id, t.scopes AS token_scopes, t.application_id
           FROM oauth_access_tokens t JOIN users u ON u.id = t.user_id AND u.is_active
          WHERE t.token_hash = $1 AND t.expires_at > now()`,
        [sha256Hex(token)],
        { prepare: 'orgd_oauth_token_for_auth' },
      )
      const row = rows[0]
      if (!row) return null
      const { token_id, token_scopes, application_id, ...user } = row
      return { user, token: { id: token_id, scopes: token_scopes, applicationId: application_id } }
    },
  }
}

export type OAuthService = ReturnType<typeof createOAuthService>
