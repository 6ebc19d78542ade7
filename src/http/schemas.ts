import { Type, type TSchema } from '@sinclair/typebox'

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const ErrorBody = Type.Object(
  {
    type: Type.String(),
    code: Type.String(),
    detail: Type.String(),
    attr: Nullable(Type.String()),
  },
  { $id: 'ErrorBody' },
)

export const DateTime = Type.String({ format: 'date-time' })

export const UserBasic = Type.Object({
  id: Type.Integer(),
  uuid: Type.String({ format: 'uuid' }),
  distinct_id: Nullable(Type.String()),
  first_name: Type.String(),
  last_name: Type.String(),
  email: Type.String(),
  is_email_verified: Nullable(Type.Boolean()),
  hedgehog_config: Nullable(Type.Object({}, { additionalProperties: true })),
  role_at_organization: Nullable(Type.String()),
})

export const Paginated = <T extends TSchema>(item: T) =>
  Type.Object({
    count: Type.Integer(),
    next: Nullable(Type.String()),
    previous: Nullable(Type.String()),
    results: Type.Array(item),
  })

export const OrganizationIdParam = Type.Object({ organization_id: Type.String() })

/** Standard error responses a route can give, for the OpenAPI document. */
export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, { $ref: 'ErrorBody#' }]))
