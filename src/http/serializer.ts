import SerializerSelector from '@fastify/fast-json-stringify-compiler'

// Route schemas spell a nullable field `anyOf [X, {type: null}]` (TypeBox's Union with Null):
// request validation reads that shape to say "This field may not be null." and the OpenAPI
// document shows it. fast-json-stringify, though, answers every anyOf by running an Ajv
// validation of the value against each branch, so a page of 100 members paid about 600 Ajv
// calls (with their error objects) to write six nullable fields per row. Responses are therefore
// compiled from a copy in which such a field is X with `nullable: true`, which the serializer
// handles with one `=== null` test; a union of literals becomes an enum of their type. The
// JSON written is the same; the validation and documentation schemas are untouched.

type Schema = Record<string | symbol, unknown>

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)
const isNull = (s: unknown) => isObject(s) && s.type === 'null' && Object.keys(s).length === 1
const COMBINATORS = ['anyOf', 'oneOf', 'allOf', '$ref', 'not', 'if']

/** The literals of `s` (a const, or a union of consts) when they share one primitive type. */
function literals(s: Schema): { type: string; values: unknown[] } | null {
  const branches = s.const !== undefined ? [s] : Array.isArray(s.anyOf) ? (s.anyOf as unknown[]) : null
  if (!branches || branches.length === 0) return null
  const values: unknown[] = []
  let type: string | null = null
  for (const b of branches) {
    if (!isObject(b) || b.const === undefined) return null
    const t = typeof b.const === 'number' ? 'number' : typeof b.const
    if (t !== 'string' && t !== 'number' && t !== 'boolean') return null
    if (type !== null && type !== t) return null
    type = t
    values.push(b.const)
  }
  return { type: type!, values }
}

/** One nullable branch as a single schema with `nullable: true`, or null when it has no simple form. */
function asNullable(rest: Schema, other: Schema): Schema | null {
  if (typeof other.type === 'string' && other.type !== 'null' && !COMBINATORS.some((k) => k in other)) {
    return { ...rest, ...forSerialization(other), nullable: true }
  }
  const lit = literals(other)
  if (lit) return { ...rest, type: lit.type, enum: lit.values, nullable: true }
  return null
}

/** A copy of a JSON schema in which every `anyOf [X, null]` with a simple X is X, nullable. */
export function forSerialization<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((s) => forSerialization(s)) as T
  if (!isObject(schema)) return schema
  const { anyOf, ...rest } = schema
  if (Array.isArray(anyOf) && anyOf.length === 2 && anyOf.some(isNull)) {
    const other = anyOf.find((s) => !isNull(s))
    const simple = isObject(other) ? asNullable(forSerialization(rest), other) : null
    if (simple) return simple as T
  }
  const out: Schema = {}
  for (const key of Reflect.ownKeys(schema)) {
    const value = schema[key]
    out[key] = typeof key === 'string' && typeof value === 'object' && value !== null ? forSerialization(value) : value
  }
  return out as T
}

/** Fastify's own serializer factory, fed the serialization copies of route and shared schemas. */
export function serializerFactory(): SerializerSelector.SerializerFactory {
  const build = SerializerSelector()
  return (externalSchemas, options) => {
    const compile = build(forSerialization(externalSchemas), options)
    return (route) => compile({ ...route, schema: forSerialization(route.schema) })
  }
}
