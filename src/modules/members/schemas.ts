import { Type } from '@sinclair/typebox'
import { DateTime, Nullable, Paginated, UserBasic } from '../../http/schemas.ts'

export const Level = Type.Unsafe<1 | 8 | 15>({ enum: [1, 8, 15], description: '1 member, 8 admin, 15 owner' })

export const OrganizationMember = Type.Object({
  id: Type.String({ format: 'uuid' }),
  user: UserBasic,
  level: Level,
  joined_at: DateTime,
  updated_at: DateTime,
  is_2fa_enabled: Type.Boolean(),
  has_social_auth: Type.Boolean(),
  last_login: Nullable(DateTime),
  search_match_type: Nullable(Type.Union([Type.Literal('exact'), Type.Literal('similar')])),
})

export const MemberList = Paginated(OrganizationMember)

/**
 * A level as a client may send it: DRF's ChoiceField also takes "8" for 8 (and form bodies only
 * have strings). Normalized with Number() before use.
 */
export const LevelInput = Type.Unsafe<1 | 8 | 15 | '1' | '8' | '15'>({ enum: [1, 8, 15, '1', '8', '15'], description: '1 member, 8 admin, 15 owner' })

export const MemberPatch = Type.Object({ level: Type.Optional(LevelInput) })

export const MemberParams = Type.Object({ organization_id: Type.String(), user__uuid: Type.String() })

export const GithubLogin = Type.Object({ github_login: Nullable(Type.String()) })

export const ScopedApiKeys = Type.Object({
  has_keys: Type.Boolean(),
  has_keys_active_last_week: Type.Boolean(),
  keys: Type.Array(Type.Object({ name: Type.String(), last_used_at: Nullable(DateTime) })),
})
