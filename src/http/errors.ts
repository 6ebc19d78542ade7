/**
 * PostHog's error body (drf-exceptions-hog): `{type, code, detail, attr}`. Every failure orgd
 * answers goes through ApiError and the one error handler in app.ts.
 */
export type ErrorType = 'validation_error' | 'authentication_error' | 'invalid_request' | 'throttled_error' | 'server_error'

export interface ErrorBody {
  type: ErrorType
  code: string
  detail: string
  attr: string | null
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: ErrorType,
    readonly code: string,
    readonly detail: string,
    readonly attr: string | null = null,
  ) {
    super(detail)
  }

  body(): ErrorBody {
    return { type: this.type, code: this.code, detail: this.detail, attr: this.attr }
  }
}

export const GENERIC_PERMISSION_DENIED = 'You do not have permission to perform this action.'

export const errors = {
  validation: (detail: string, attr: string | null = null, code = 'invalid_input') =>
    new ApiError(400, 'validation_error', code, detail, attr),
  required: (attr: string) => new ApiError(400, 'validation_error', 'required', 'This field is required.', attr),
  notAuthenticated: () =>
    new ApiError(401, 'authentication_error', 'not_authenticated', 'Authentication credentials were not provided.'),
  authenticationFailed: (detail: string) => new ApiError(401, 'authentication_error', 'authentication_failed', detail),
  permissionDenied: (detail: string = GENERIC_PERMISSION_DENIED) =>
    new ApiError(403, 'authentication_error', 'permission_denied', detail),
  notFound: (detail = 'Not found.') => new ApiError(404, 'invalid_request', 'not_found', detail),
  organizationNotFound: () => new ApiError(404, 'invalid_request', 'not_found', 'Organization not found.'),
  methodNotAllowed: (method: string) =>
    new ApiError(405, 'invalid_request', 'method_not_allowed', `Method "${method}" not allowed.`),
  parseError: (detail: string) => new ApiError(400, 'invalid_request', 'parse_error', detail),
  unsupportedMediaType: (mediaType: string) =>
    new ApiError(415, 'invalid_request', 'unsupported_media_type', `Unsupported media type "${mediaType}" in request.`),
  tooLarge: () => new ApiError(413, 'invalid_request', 'request_too_large', 'Request body is too large.'),
  throttled: () => new ApiError(429, 'throttled_error', 'throttled', 'Request was throttled.'),
  conflict: (detail: string, code = 'conflict', attr: string | null = null) =>
    new ApiError(409, 'invalid_request', code, detail, attr),
  serverError: () => new ApiError(500, 'server_error', 'error', 'A server error occurred.'),
  notImplemented: (detail: string) => new ApiError(501, 'server_error', 'not_implemented', detail),
}
