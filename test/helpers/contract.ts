/**
 * Contract testing against an OpenAPI 3.x document: find the operation a response belongs to and
 * validate the body against the schema the document gives for that status.
 *
 * - JSON Schema 2020-12 (OpenAPI 3.1) through `ajv/dist/2020`; OpenAPI 3.0's `nullable: true` is
 *   understood by ajv as well, so orgd's own 3.0 document works with the same code.
 * - The whole document is registered once under an `$id`, so every `#/components/schemas/...`
 *   `$ref` resolves; validators are compiled lazily by JSON pointer into it.
 * - `strict: false`: OpenAPI keywords (`example`, `discriminator`, `x-*`) are ignored, and
 *   `readOnly`/`writeOnly` are annotations only.
 * - Deviations (where the implementation deliberately follows PostHog's code instead of its
 *   published document) are applied as narrow, checked patches: each one states what the document
 *   says today, and the patch refuses to apply if the document no longer says that, so a stale
 *   deviation fails loudly instead of hiding a difference.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is typed as the
// module object, while some loaders hand over the function itself. Accept both shapes.
type AddFormats = (ajv: Ajv2020) => Ajv2020
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats)

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** A JSON Schema (or OpenAPI schema) object: open-ended by nature. */
export type JsonSchema = { [keyword: string]: unknown }

export interface OpenApiResponse {
  description?: string
  content?: { [mediaType: string]: { schema?: JsonSchema } }
}

export interface OpenApiOperation {
  operationId?: string
  responses?: { [status: string]: OpenApiResponse }
  [key: string]: unknown
}

export interface OpenApiDocument {
  openapi: string
  info?: { title?: string; version?: string }
  paths: { [path: string]: { [methodOrKey: string]: unknown } }
  components?: { schemas?: { [name: string]: JsonSchema }; [key: string]: unknown }
  [key: string]: unknown
}

/**
 * One documented difference between the document and the implementation.
 * - `property`: a property of a component schema is replaced (e.g. a nullable the document types
 *   as non-null). `documented` must equal what the document says now.
 * - `response`: the response of one operation is replaced (another status and/or body schema).
 *   `documented` must equal the document's current response entry for `documented.status`.
 */
export type Deviation =
  | {
      kind: 'property'
      schema: string
      property: string
      documented: JsonSchema
      actual: JsonSchema
      why: string
    }
  | {
      kind: 'response'
      method: HttpMethod
      path: string
      documented: { status: number; response: OpenApiResponse }
      actual: { status: number; schema: JsonSchema }
      why: string
    }

export interface OpenApiContract {
  readonly document: OpenApiDocument
  /** Problems with `body` as the `status` response of the operation (empty: it matches). */
  check(method: HttpMethod, pathTemplate: string, status: number, body: unknown): string[]
  /** Throws a readable error unless `body` matches the documented `status` response. */
  expectMatchesOperation(method: HttpMethod, pathTemplate: string, status: number, body: unknown): void
  /** The documented (deviation-patched) response entry, or null when the status is not documented. */
  responseFor(method: HttpMethod, pathTemplate: string, status: number): OpenApiResponse | null
  /** Property names of a component schema (after deviations). */
  componentProperties(name: string): string[]
}

/**
 * PostHog's OpenAPI description of these operations, kept beside the project in
 * `../shared/openapi/`. A clone placed elsewhere finds it at the workplace's fixed location, or
 * through ORGD_POSTHOG_OPENAPI.
 */
export const POSTHOG_OPENAPI: string = (() => {
  const candidates = [
    process.env.ORGD_POSTHOG_OPENAPI,
    resolvePath(process.cwd(), '..', 'shared', 'openapi', 'posthog-organizations.openapi.json'),
    '/work/shared/openapi/posthog-organizations.openapi.json',
  ].filter((c): c is string => !!c)
  return candidates.find((c) => existsSync(c)) ?? candidates[candidates.length - 1]
})()

export function loadOpenApi(file: string): OpenApiDocument {
  return JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument
}

const normalizePath = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p)
const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1')

function findPathKey(doc: OpenApiDocument, pathTemplate: string): string | null {
  const wanted = normalizePath(pathTemplate)
  return Object.keys(doc.paths).find((k) => normalizePath(k) === wanted) ?? null
}

function findOperation(doc: OpenApiDocument, method: HttpMethod, pathTemplate: string): { pathKey: string; op: OpenApiOperation } {
  const pathKey = findPathKey(doc, pathTemplate)
  if (!pathKey) {
    throw new Error(`${title(doc)}: no path ${pathTemplate} (documented: ${Object.keys(doc.paths).join(', ')})`)
  }
  const op = doc.paths[pathKey][method.toLowerCase()] as OpenApiOperation | undefined
  if (!op || typeof op !== 'object') {
    throw new Error(`${title(doc)}: ${pathKey} has no ${method} operation`)
  }
  return { pathKey, op }
}

/** Exact status, then a range such as `2XX`, then `default`, as OpenAPI defines the lookup. */
function statusKey(op: OpenApiOperation, status: number): string | null {
  const responses = op.responses ?? {}
  for (const key of [String(status), `${String(status)[0]}XX`, `${String(status)[0]}xx`, 'default']) {
    if (key in responses) return key
  }
  return null
}

function title(doc: OpenApiDocument): string {
  return doc.info?.title ? `OpenAPI "${doc.info.title}"` : 'OpenAPI document'
}

function applyDeviations(doc: OpenApiDocument, deviations: readonly Deviation[]): void {
  for (const d of deviations) {
    if (d.kind === 'property') {
      const schema = doc.components?.schemas?.[d.schema]
      const props = schema?.properties as { [name: string]: JsonSchema } | undefined
      if (!props || !(d.property in props)) throw new Error(`deviation: ${d.schema}.${d.property} is not in the document`)
      if (!isDeepStrictEqual(props[d.property], d.documented)) {
        throw new Error(
          `deviation ${d.schema}.${d.property} is stale: the document now says ${JSON.stringify(props[d.property])}, ` +
            `the deviation table says ${JSON.stringify(d.documented)}`,
        )
      }
      props[d.property] = d.actual
    } else {
      const { op } = findOperation(doc, d.method, d.path)
      const responses = (op.responses ??= {})
      const current = responses[String(d.documented.status)]
      if (!isDeepStrictEqual(current, d.documented.response)) {
        throw new Error(
          `deviation ${d.method} ${d.path} is stale: the document's ${d.documented.status} response is ` +
            `${JSON.stringify(current)}, the deviation table says ${JSON.stringify(d.documented.response)}`,
        )
      }
      delete responses[String(d.documented.status)]
      responses[String(d.actual.status)] = {
        description: `orgd deviation: ${d.why}`,
        content: { 'application/json': { schema: d.actual.schema } },
      }
    }
  }
}

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword} [${e.schemaPath}]${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`)
}

let documentCounter = 0

/** A validator over one OpenAPI document (a deep copy; `deviations` are applied to the copy). */
export function createContract(source: OpenApiDocument, opts: { deviations?: readonly Deviation[] } = {}): OpenApiContract {
  const doc = structuredClone(source)
  applyDeviations(doc, opts.deviations ?? [])
  documentCounter += 1
  const id = `https://contract.test/openapi-${documentCounter}.json`
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  addFormats(ajv)
  // OpenAPI's own numeric and binary formats: annotations for JSON bodies, not checks.
  for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password']) ajv.addFormat(f, true)
  ajv.addSchema({ ...doc, $id: id })
  const validators = new Map<string, ValidateFunction>()

  function validatorAt(pointer: string): ValidateFunction {
    let v = validators.get(pointer)
    if (!v) {
      const found = ajv.getSchema(`${id}#${pointer}`)
      if (!found) throw new Error(`${title(doc)}: cannot compile the schema at ${pointer}`)
      v = found
      validators.set(pointer, v)
    }
    return v
  }

  function responseFor(method: HttpMethod, pathTemplate: string, status: number): OpenApiResponse | null {
    const { op } = findOperation(doc, method, pathTemplate)
    const key = statusKey(op, status)
    return key ? op.responses![key] : null
  }

  function check(method: HttpMethod, pathTemplate: string, status: number, body: unknown): string[] {
    const { pathKey, op } = findOperation(doc, method, pathTemplate)
    const where = `${method} ${pathKey}${op.operationId ? ` (${op.operationId})` : ''}`
    const key = statusKey(op, status)
    if (!key) return [`${where}: status ${status} is not documented (documented: ${Object.keys(op.responses ?? {}).join(', ') || 'none'})`]
    const response = op.responses![key]
    const content = response.content ?? {}
    const mediaType = Object.keys(content).find((m) => /^application\/(.+\+)?json/.test(m))
    if (!mediaType || !content[mediaType].schema) {
      // "No response body": anything but an empty body breaks the contract.
      const empty = body === undefined || body === null || body === ''
      return empty ? [] : [`${where}: status ${status} documents no body, got ${JSON.stringify(body).slice(0, 200)}`]
    }
    const pointer = ['', 'paths', escapePointer(pathKey), method.toLowerCase(), 'responses', escapePointer(key), 'content', escapePointer(mediaType), 'schema'].join('/')
    const validate = validatorAt(pointer)
    if (validate(body)) return []
    return formatErrors(validate.errors).map((e) => `${where} ${status}: ${e}`)
  }

  return {
    document: doc,
    check,
    responseFor,
    expectMatchesOperation(method, pathTemplate, status, body) {
      const problems = check(method, pathTemplate, status, body)
      if (problems.length > 0) {
        throw new Error(`response does not match ${title(doc)}:\n  ${problems.join('\n  ')}\nbody: ${JSON.stringify(body).slice(0, 2000)}`)
      }
    },
    componentProperties(name) {
      const schema = doc.components?.schemas?.[name]
      if (!schema) throw new Error(`${title(doc)}: no component schema ${name}`)
      return Object.keys((schema.properties as object | undefined) ?? {})
    },
  }
}

/** Every `$ref` in the document, with whether it resolves inside the document. */
export function unresolvedRefs(doc: OpenApiDocument): string[] {
  const missing: string[] = []
  const resolve = (ref: string): boolean => {
    if (!ref.startsWith('#/')) return false
    let node: unknown = doc
    for (const raw of ref.slice(2).split('/')) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~')
      if (node === null || typeof node !== 'object' || !(part in node)) return false
      node = (node as { [k: string]: unknown })[part]
    }
    return true
  }
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk)
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string' && !resolve(v)) missing.push(v)
        else walk(v)
      }
    }
  }
  walk(doc)
  return missing
}
