import type { Db, Queryable } from '../../db/index.ts'
import { errors } from '../../http/errors.ts'
import { isGrantableScope } from '../../http/scopes.ts'
import { randomToken, sha256Hex } from '../../lib/crypto.ts'
import { isUuid } from '../../lib/ids.ts'
import { projectStore } from '../projects/store.ts'
import type { UserRow } from '../users/store.ts'
import { apiKeyStore, type ApiKeyRow } from './store.ts'

export const MAX_API_KEYS_PER_USER = 10

export function secureValueOf(key: string): string {
  return `sha256$${sha256Hex(key)}`
}

function newKey(): { value: string; secureValue: string; maskValue: string } {
  const value = `phx_${randomToken(35)}`
  return { value, secureValue: secureValueOf(value), maskValue: `${value.slice(0, 4)}...${value.slice(-4)}` }
}

/** PostHog's PersonalAPIKeySerializer: `value` only in the create and roll answers. */
export interface ApiKeyView {
  id: string
  label: string
  value: string | null
  mask_value: string
  created_at: Date
  last_used_at: Date | null
  user_id: string
  scopes: string[]
  scoped_teams: number[] | null
  scoped_organizations: string[] | null
  last_rolled_at: Date | null
}

export interface ApiKeyInput {
  label?: string
  scopes?: string[]
  scoped_teams?: number[] | null
  scoped_organizations?: string[] | null
}

export function createApiKeyService(db: Db) {
  function view(row: ApiKeyRow, user: UserRow, value: string | null = null): ApiKeyView {
    return {
      id: row.id,
      label: row.label,
      value,
      mask_value: row.mask_value,
      created_at: row.created_at,
      last_used_at: row.last_used_at,
      user_id: user.uuid,
      scopes: row.scopes && row.scopes.length > 0 ? row.scopes : ['*'],
      scoped_teams: row.scoped_teams,
      scoped_organizations: row.scoped_organizations,
      last_rolled_at: row.last_rolled_at,
    }
  }

  async function validate(q: Queryable, user: UserRow, input: ApiKeyInput): Promise<void> {
    for (const scope of input.scopes ?? []) {
      if (!isGrantableScope(scope)) throw errors.validation(`Invalid scope: ${scope}`, 'scopes')
    }
    if (input.scoped_teams && input.scoped_teams.length > 0) {
      const visible = await projectStore.teamIdsVisibleTo(q, user.id, input.scoped_teams)
      if (new Set(visible).size !== new Set(input.scoped_teams).size) {
        throw errors.validation('You must be a member of all teams that you are scoping the key to.', 'scoped_teams')
      }
    }
    if (input.scoped_organizations && input.scoped_organizations.length > 0) {
      if (!input.scoped_organizations.every(isUuid)) throw errors.validation('Invalid organization UUID', 'scoped_organizations')
      const ids = [...new Set(input.scoped_organizations.map((s) => s.toLowerCase()))]
      const rows = await q.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM memberships WHERE user_id = $1 AND organization_id = ANY ($2::uuid[])`,
        [user.id, ids],
      )
      if (rows[0].n !== ids.length) {
        throw errors.validation('You must be a member of all organizations that you are scoping the key to.', 'scoped_organizations')
      }
    }
  }

  return {
    /** Finds the key's active user; `last_used_at` is written at most hourly. */
    async authenticate(token: string): Promise<{ user: UserRow; key: { id: string; scopes: string[] | null; scopedTeams: number[] | null; scopedOrganizations: string[] | null } } | null> {
      const found = await apiKeyStore.findForAuth(db, secureValueOf(token))
      if (!found) return null
      const { key, user } = found
      if (!key.last_used_at || Date.now() - key.last_used_at.getTime() > 3600_000) await apiKeyStore.touch(db, key.id)
      return { user, key: { id: key.id, scopes: key.scopes, scopedTeams: key.scoped_teams, scopedOrganizations: key.scoped_organizations } }
    },

    async list(user: UserRow): Promise<ApiKeyView[]> {
      return (await apiKeyStore.listForUser(db, user.id)).map((r) => view(r, user))
    },

    async get(user: UserRow, id: string): Promise<ApiKeyView> {
      const row = await apiKeyStore.get(db, user.id, id)
      if (!row) throw errors.notFound()
      return view(row, user)
    },

    async create(user: UserRow, input: Required<Pick<ApiKeyInput, 'label' | 'scopes'>> & ApiKeyInput, q?: Queryable): Promise<ApiKeyView> {
      const run = async (tx: Queryable) => {
        // Serializes key creation per user so two requests cannot both pass the limit.
        await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, [user.id])
        await validate(tx, user, input)
        if ((await apiKeyStore.countForUser(tx, user.id)) >= MAX_API_KEYS_PER_USER) {
          throw errors.validation(`You can only have ${MAX_API_KEYS_PER_USER} personal API keys. Remove an existing key before creating a new one.`)
        }
        const k = newKey()
        const row = await apiKeyStore.insert(tx, {
          id: randomToken(24),
          userId: user.id,
          label: input.label,
          secureValue: k.secureValue,
          maskValue: k.maskValue,
          scopes: input.scopes,
          scopedTeams: input.scoped_teams ?? null,
          scopedOrganizations: input.scoped_organizations?.map((s) => s.toLowerCase()) ?? null,
        })
        return view(row, user, k.value)
      }
      return q ? run(q) : db.tx(run)
    },

    async update(user: UserRow, id: string, input: ApiKeyInput): Promise<ApiKeyView> {
      return db.tx(async (tx) => {
        await validate(tx, user, input)
        const row = await apiKeyStore.update(tx, user.id, id, {
          label: input.label,
          scopes: input.scopes,
          scopedTeams: input.scoped_teams,
          scopedOrganizations: input.scoped_organizations === undefined ? undefined : input.scoped_organizations?.map((s) => s.toLowerCase()) ?? null,
        })
        if (!row) throw errors.notFound()
        return view(row, user)
      })
    },

    async roll(user: UserRow, id: string): Promise<ApiKeyView> {
      const k = newKey()
      const row = await apiKeyStore.roll(db, user.id, id, k.secureValue, k.maskValue)
      if (!row) throw errors.notFound()
      return view(row, user, k.value)
    },

    async delete(user: UserRow, id: string): Promise<void> {
      if (!(await apiKeyStore.delete(db, user.id, id))) throw errors.notFound()
    },

    /** For members' `scoped_api_keys`: the member's keys that can reach the organization. */
    async summaryForOrganization(userId: number, organizationId: string) {
      const keys = await apiKeyStore.reachingOrganization(db, userId, organizationId)
      const weekAgo = Date.now() - 7 * 24 * 3600_000
      return {
        has_keys: keys.length > 0,
        has_keys_active_last_week: keys.some((k) => k.last_used_at !== null && k.last_used_at.getTime() >= weekAgo),
        keys: keys.map((k) => ({ name: k.label, last_used_at: k.last_used_at })),
      }
    },
  }
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>
