import { Type } from '@sinclair/typebox'
import { DateTime, Nullable, Paginated } from '../../http/schemas.ts'

export const ProductFeature = Type.Object(
  {
    key: Type.String(),
    name: Type.String(),
    limit: Type.Optional(Nullable(Type.Number())),
    unit: Type.Optional(Nullable(Type.String())),
  },
  { additionalProperties: true },
)

export const TeamBasic = Type.Object({
  id: Type.Integer(),
  uuid: Type.String({ format: 'uuid' }),
  organization: Type.String({ format: 'uuid' }),
  project_id: Type.Integer(),
  api_token: Type.String(),
  name: Type.String(),
  completed_snippet_onboarding: Type.Boolean(),
  has_completed_onboarding_for: Nullable(Type.Object({}, { additionalProperties: true })),
  ingested_event: Type.Boolean(),
  is_demo: Type.Boolean(),
  timezone: Type.String(),
  access_control: Type.Boolean(),
})

export const Organization = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  slug: Type.String(),
  logo_media_id: Nullable(Type.String()),
  created_at: DateTime,
  updated_at: DateTime,
  membership_level: Nullable(Type.Integer()),
  plugins_access_level: Type.Integer(),
  teams: Type.Array(TeamBasic),
  projects: Type.Array(Type.Object({ id: Type.Integer(), organization_id: Type.String(), name: Type.String() })),
  available_product_features: Nullable(Type.Array(ProductFeature)),
  is_member_join_email_enabled: Type.Boolean(),
  metadata: Type.Object({ instance_tag: Type.String() }),
  customer_id: Nullable(Type.String()),
  enforce_2fa: Nullable(Type.Boolean()),
  members_can_invite: Nullable(Type.Boolean()),
  members_can_create_projects: Type.Boolean(),
  members_can_use_personal_api_keys: Type.Boolean(),
  allow_publicly_shared_resources: Type.Boolean(),
  member_count: Type.Integer(),
  is_ai_data_processing_approved: Nullable(Type.Boolean()),
  default_experiment_stats_method: Nullable(Type.String()),
  default_role_id: Nullable(Type.String()),
})

export const OrganizationList = Paginated(Organization)

export const OrganizationCreate = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 64 }),
})

export const OrganizationPatch = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  logo_media_id: Type.Optional(Nullable(Type.String({ format: 'uuid' }))),
  is_member_join_email_enabled: Type.Optional(Type.Boolean()),
  enforce_2fa: Type.Optional(Nullable(Type.Boolean())),
  members_can_invite: Type.Optional(Type.Boolean()),
  members_can_create_projects: Type.Optional(Type.Boolean()),
  members_can_use_personal_api_keys: Type.Optional(Type.Boolean()),
  allow_publicly_shared_resources: Type.Optional(Type.Boolean()),
  is_ai_data_processing_approved: Type.Optional(Nullable(Type.Boolean())),
  default_experiment_stats_method: Type.Optional(Type.Unsafe<'bayesian' | 'frequentist'>({ enum: ['bayesian', 'frequentist'] })),
})
