import { Type } from '@sinclair/typebox'
import { DateTime, Paginated } from '../../http/schemas.ts'

/** PostHog's OrganizationOAuthApplicationSerializer: exactly these seven fields. */
export const OrganizationOAuthApplication = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  client_id: Type.String(),
  redirect_uris_list: Type.Array(Type.String()),
  is_verified: Type.Boolean(),
  created: DateTime,
  updated: DateTime,
})

export const OAuthApplicationList = Paginated(OrganizationOAuthApplication)

export const OAuthApplicationMetadata = Type.Object({
  name: Type.String(),
  client_id: Type.String(),
  is_verified: Type.Boolean(),
})

export const ClientIdParam = Type.Object({ client_id: Type.String() })
