import { Type } from '@sinclair/typebox'
import { DateTime, Nullable, Paginated, UserBasic } from '../../http/schemas.ts'
import { Level, LevelInput } from '../members/schemas.ts'

export const InviteInput = Type.Object({
  target_email: Type.String({ format: 'email', maxLength: 254 }),
  first_name: Type.Optional(Type.String({ maxLength: 30 })),
  level: Type.Optional(LevelInput),
  message: Type.Optional(Nullable(Type.String())),
  // Checked by hand to give PostHog's own messages for each malformed shape.
  private_project_access: Type.Optional(Type.Unknown({ description: 'List of {id: project id, level: "member" | "admin"}' })),
  send_email: Type.Optional(Type.Boolean({ default: true })),
  combine_pending_invites: Type.Optional(Type.Boolean({ default: false })),
})

export const BulkInviteInput = Type.Array(InviteInput)

export const DelegateInput = Type.Object({
  target_email: Type.String({ format: 'email', maxLength: 254 }),
  message: Type.Optional(Type.String({ maxLength: 1000 })),
  step_at_delegation: Type.Optional(Type.String({ maxLength: 64 })),
})

export const EmailDelivery = Nullable(
  Type.Object({
    status: Type.Union([Type.Literal('queued'), Type.Literal('sent'), Type.Literal('failed')]),
    attempts: Type.Integer(),
    last_error: Nullable(Type.String()),
    sent_at: Nullable(DateTime),
  }),
)

export const OrganizationInvite = Type.Object({
  id: Type.String({ format: 'uuid' }),
  target_email: Type.String(),
  first_name: Type.String(),
  emailing_attempt_made: Type.Boolean(),
  level: Level,
  is_expired: Type.Boolean(),
  created_by: Nullable(UserBasic),
  created_at: DateTime,
  updated_at: DateTime,
  message: Nullable(Type.String()),
  private_project_access: Nullable(Type.Array(Type.Object({ id: Type.Integer(), level: Type.String() }))),
  email_delivery: EmailDelivery,
})

export const InviteList = Paginated(OrganizationInvite)

export const SignupPreview = Type.Object({
  id: Type.String({ format: 'uuid' }),
  target_email: Type.String(),
  first_name: Type.String(),
  organization_name: Type.String(),
})

export const SignupInput = Type.Object({
  first_name: Type.Optional(Type.String({ maxLength: 150 })),
  password: Type.Optional(Type.String()),
  role_at_organization: Type.Optional(
    Nullable(Type.Unsafe<string>({ enum: ['engineering', 'data', 'product', 'founder', 'leadership', 'marketing', 'sales', 'other', ''] })),
  ),
})

export const SignupResult = Type.Object({
  ...UserBasic.properties,
  redirect_url: Type.String(),
})
