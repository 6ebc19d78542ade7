import type { FastifySchemaValidationError } from 'fastify/types/schema.js'
import { ApiError, errors } from './errors.ts'

/**
 * Turns the first JSON-schema failure into the message Django REST framework would give for the
 * same field, so clients that match on `code`/`detail`/`attr` see PostHog's words.
 */
type AjvError = FastifySchemaValidationError & { data?: unknown; schema?: unknown; parentSchema?: Record<string, unknown> }

function pathParts(instancePath: string): string[] {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function attrOf(parts: string[], bodyIsArray: boolean): string | null {
  if (parts.length === 0) return null
  const joined = parts.join('__')
  // DRF wraps list-level errors under an empty key, so item 4's field becomes "__4__field".
  return bodyIsArray ? `__${joined}` : joined
}

function jsType(value: unknown): string {
  if (value === null) return 'NoneType'
  if (Array.isArray(value)) return 'list'
  if (typeof value === 'object') return 'dict'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  if (typeof value === 'boolean') return 'bool'
  return 'str'
}

function typeMessage(expected: string | string[], data: unknown, attr: string | null): ApiError {
  const type = Array.isArray(expected) ? expected.find((t) => t !== 'null') ?? 'string' : expected
  if (data === null) return errors.validation('This field may not be null.', attr, 'null')
  switch (type) {
    case 'integer':
      return errors.validation('A valid integer is required.', attr, 'invalid_input')
    case 'number':
      return errors.validation('A valid number is required.', attr, 'invalid_input')
    case 'boolean':
      return errors.validation('Must be a valid boolean.', attr, 'invalid_input')
    case 'array':
      return errors.validation(`Expected a list of items but got type "${jsType(data)}".`, attr, 'not_a_list')
    case 'object':
      return errors.validation(`Expected a dictionary of items but got type "${jsType(data)}".`, attr, 'not_a_dict')
    default:
      return errors.validation('Not a valid string.', attr, 'invalid_input')
  }
}

function single(e: AjvError, bodyIsArray: boolean): ApiError {
  const parts = pathParts(e.instancePath)
  const attr = attrOf(parts, bodyIsArray)
  const params = e.params as Record<string, unknown>
  if (parts.length === 0 && e.keyword === 'type') {
    const expected = (params.type as string) === 'array' ? 'list' : 'dictionary'
    return errors.validation(`Invalid data. Expected a ${expected}, but got ${jsType(e.data)}.`, null, 'invalid_input')
  }
  switch (e.keyword) {
    case 'required':
      return errors.required(attrOf([...parts, String(params.missingProperty)], bodyIsArray) ?? String(params.missingProperty))
    case 'type':
      return typeMessage(params.type as string, e.data, attr)
    case 'enum':
    case 'const':
      if (e.data === null) return errors.validation('This field may not be null.', attr, 'null')
      return errors.validation(`"${typeof e.data === 'object' ? JSON.stringify(e.data) : String(e.data)}" is not a valid choice.`, attr, 'invalid_choice')
    case 'maxLength':
      return errors.validation(`Ensure this field has no more than ${params.limit} characters.`, attr, 'max_length')
    case 'minLength':
      return params.limit === 1
        ? errors.validation('This field may not be blank.', attr, 'blank')
        : errors.validation(`Ensure this field has at least ${params.limit} characters.`, attr, 'min_length')
    case 'maxItems':
      return errors.validation(`Ensure this field has no more than ${params.limit} elements.`, attr, 'max_length')
    case 'minItems':
      return errors.validation(`Ensure this field has at least ${params.limit} elements.`, attr, 'min_length')
    case 'maximum':
      return errors.validation(`Ensure this value is less than or equal to ${params.limit}.`, attr, 'max_value')
    case 'minimum':
      return errors.validation(`Ensure this value is greater than or equal to ${params.limit}.`, attr, 'min_value')
    case 'format':
      switch (params.format) {
        case 'email':
          return errors.validation('Enter a valid email address.', attr, 'invalid_input')
        case 'uuid':
          return errors.validation(`"${String(e.data)}" is not a valid UUID.`, attr, 'invalid_input')
        case 'date-time':
          return errors.validation('Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].', attr, 'invalid_input')
        default:
          return errors.validation('Enter a valid value.', attr, 'invalid_input')
      }
    case 'pattern':
      return errors.validation('This value does not match the required pattern.', attr, 'invalid_input')
    default:
      return errors.validation(e.message ?? 'Invalid input.', attr, 'invalid_input')
  }
}

export function validationToApiError(validation: AjvError[], body: unknown): ApiError {
  const bodyIsArray = Array.isArray(body)
  // Nullable fields are `anyOf [X, null]`: ajv reports each branch, then the anyOf. Explain the
  // failure against the branch that is not `null`, as DRF (which has no union) would.
  const anyOf = validation.find((e) => e.keyword === 'anyOf')
  if (anyOf) {
    const branchErrors = validation.filter((e) => e !== anyOf && e.instancePath === anyOf.instancePath)
    const meaningful = branchErrors.find((e) => e.keyword !== 'type' && e.keyword !== 'const' && e.keyword !== 'enum')
    if (meaningful) return single(meaningful, bodyIsArray)
    const typed = branchErrors.find((e) => e.keyword === 'type' && (e.params as { type?: string }).type !== 'null')
    if (typed) return single(typed, bodyIsArray)
    const choice = branchErrors.find((e) => e.keyword === 'const' || e.keyword === 'enum')
    if (choice) return single(choice, bodyIsArray)
    const deeper = validation.find((e) => e.instancePath.startsWith(anyOf.instancePath + '/'))
    if (deeper) return single(deeper, bodyIsArray)
  }
  return single(validation[0], bodyIsArray)
}

import { Ajv } from 'ajv'
import formatsModule from 'ajv-formats'
import type { TSchema, Static } from '@sinclair/typebox'

// Same options as the route validator in app.ts, for bodies a handler validates itself (bulk
// invites check the array's shape before its items, as PostHog does).
// ajv-formats is CommonJS with a `default` export property under NodeNext resolution.
const addFormats = (formatsModule as unknown as { default: (a: Ajv) => Ajv }).default
const ajv = new Ajv({ coerceTypes: false, removeAdditional: true, useDefaults: true, verbose: true, allErrors: false, strict: false })
addFormats(ajv)

/** Compiles a schema into a function that returns the (cleaned) value or throws PostHog's 400. */
export function compileValidator<T extends TSchema>(schema: T): (data: unknown) => Static<T> {
  const validate = ajv.compile(schema)
  return (data) => {
    if (!validate(data)) throw validationToApiError((validate.errors ?? []) as AjvError[], data)
    return data as Static<T>
  }
}
