/**
 * Every invite and signup response a test receives is checked against the published contract:
 * `checkInviteResponse(t)` wraps `t.app.inject`, so each answer to an invite or signup route is
 * validated as it arrives, in every test file that calls it.
 *
 * - 2xx bodies against PostHog's OpenAPI (`/work/shared/openapi/posthog-organizations.openapi.json`):
 *   `bulk/` and `delegate/` by their operations, with the two documented deviations of
 *   test/contract/openapi-contract.test.ts (bulk answers 201 with the invites, delegate 201);
 *   the list and create answers, which that file does not describe as operations, invite by invite
 *   against its `OrganizationInvite` schema (the list also as DRF's page); signup answers against
 *   `UserBasic` plus `redirect_url`.
 * - Every answer (errors too) against orgd's own document (`GET /api/schema/`): the status must be
 *   one the route documents and the body must match it. Statuses produced before routing or body
 *   parsing (405, 413, 415) are outside any operation and only need PostHog's error shape.
 * - Every non-2xx body must be exactly PostHog's `{type, code, detail, attr}`.
 */
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { createContract, loadOpenApi, type Deviation, type HttpMethod, type JsonSchema, type OpenApiContract, type OpenApiDocument, POSTHOG_OPENAPI } from '../../helpers/contract.ts'
import { expectErrorShape, type TestApp } from '../../helpers/app.ts'

type AddFormats = (ajv: Ajv2020) => Ajv2020
const addFormats: AddFormats = (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats)

export const INVITES_BULK = '/api/organizations/{organization_id}/invites/bulk/'
export const INVITES_DELEGATE = '/api/organizations/{organization_id}/invites/delegate/'

const jsonResponse = (ref: string) => ({ content: { 'application/json': { schema: { $ref: ref } } }, description: '' })

/** Deviations 3 and 4 of test/contract/openapi-contract.test.ts, checked against the document the same way. */
export const INVITE_DEVIATIONS: Deviation[] = [
  {
    kind: 'response',
    method: 'POST',
    path: INVITES_BULK,
    documented: { status: 200, response: { description: 'No response body' } },
    actual: { status: 201, schema: { type: 'array', items: { $ref: '#/components/schemas/OrganizationInvite' } } },
    why: 'bulk invites answer 201 with the created invites in input order (spec README)',
  },
  {
    kind: 'response',
    method: 'POST',
    path: INVITES_DELEGATE,
    documented: { status: 200, response: jsonResponse('#/components/schemas/OrganizationInvite') },
    actual: { status: 201, schema: { $ref: '#/components/schemas/OrganizationInvite' } },
    why: 'delegate answers 201 (spec README)',
  },
]

interface Route {
  method: HttpMethod
  pattern: RegExp
  /** orgd's path template. */
  template: string
  /** What PostHog's document says about a 2xx body. */
  posthog: { operation: string } | { component: 'invite' | 'page' | 'signup' } | null
}

const ORG = '/api/organizations/([^/?]+)'
const ROUTES: Route[] = [
  { method: 'GET', pattern: new RegExp(`^${ORG}/invites/?$`), template: '/api/organizations/{organization_id}/invites/', posthog: { component: 'page' } },
  { method: 'POST', pattern: new RegExp(`^${ORG}/invites/bulk/?$`), template: INVITES_BULK, posthog: { operation: INVITES_BULK } },
  { method: 'POST', pattern: new RegExp(`^${ORG}/invites/delegate/?$`), template: INVITES_DELEGATE, posthog: { operation: INVITES_DELEGATE } },
  { method: 'POST', pattern: new RegExp(`^${ORG}/invites/?$`), template: '/api/organizations/{organization_id}/invites/', posthog: { component: 'invite' } },
  { method: 'DELETE', pattern: new RegExp(`^${ORG}/invites/[^/?]+/?$`), template: '/api/organizations/{organization_id}/invites/{id}/', posthog: null },
  { method: 'GET', pattern: /^\/api\/signup\/[^/?]+\/?$/, template: '/api/signup/{invite_id}/', posthog: null },
  { method: 'POST', pattern: /^\/api\/signup\/[^/?]+\/?$/, template: '/api/signup/{invite_id}/', posthog: { component: 'signup' } },
]

/** Answers made before any route's schema applies: no operation can document them. */
const FRAMEWORK_STATUSES = new Set([405, 413, 415])

export interface InviteContract {
  /** Problems with one response (empty: it matches). */
  problems(method: string, url: string, status: number, rawBody: string): string[]
  /** How many responses have been checked, by route template. */
  readonly checked: Map<string, number>
}

let posthogDoc: OpenApiDocument | null = null

function decodable(path: string): boolean {
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

export async function inviteContract(t: TestApp): Promise<InviteContract> {
  posthogDoc ??= loadOpenApi(POSTHOG_OPENAPI)
  const posthog: OpenApiContract = createContract(posthogDoc, { deviations: INVITE_DEVIATIONS })
  const schemaRes = await t.app.inject({ method: 'GET', url: '/api/schema/' })
  const orgd: OpenApiContract = createContract(schemaRes.json() as OpenApiDocument)

  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  addFormats(ajv)
  for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password']) ajv.addFormat(f, true)
  const id = 'https://contract.test/posthog-invites.json'
  ajv.addSchema({ ...posthog.document, $id: id })
  const ref = (name: string): JsonSchema => ({ $ref: `${id}#/components/schemas/${name}` })
  const validators: Record<'invite' | 'page' | 'signup', ValidateFunction> = {
    invite: ajv.compile(ref('OrganizationInvite')),
    page: ajv.compile({
      type: 'object',
      required: ['count', 'next', 'previous', 'results'],
      properties: {
        count: { type: 'integer' },
        next: { type: ['string', 'null'], format: 'uri' },
        previous: { type: ['string', 'null'], format: 'uri' },
        results: { type: 'array', items: ref('OrganizationInvite') },
      },
    }),
    signup: ajv.compile({ allOf: [ref('UserBasic'), { type: 'object', required: ['redirect_url'], properties: { redirect_url: { type: 'string' } } }] }),
  }
  const checked = new Map<string, number>()

  function problems(method: string, url: string, status: number, rawBody: string): string[] {
    const path = url.split('?')[0]
    // A dot segment addresses another resource (the router resolves it first).
    if (path.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) return []
    // An undecodable path is refused by the router (404 "Endpoint not found.") before any route.
    if (!decodable(path)) return []
    const route = ROUTES.find((r) => r.method === method && r.pattern.test(path))
    if (!route) return []
    checked.set(`${method} ${route.template}`, (checked.get(`${method} ${route.template}`) ?? 0) + 1)
    const out: string[] = []
    let body: unknown = ''
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody)
      } catch {
        return [`${method} ${path} ${status}: body is not JSON: ${rawBody.slice(0, 200)}`]
      }
    }
    if (status >= 400) {
      try {
        expectErrorShape(body)
      } catch (e) {
        out.push((e as Error).message)
      }
      if (FRAMEWORK_STATUSES.has(status)) return out
    }
    out.push(...orgd.check(method as HttpMethod, route.template, status, body).map((p) => `orgd: ${p}`))
    if (status >= 200 && status < 300 && route.posthog) {
      if ('operation' in route.posthog) out.push(...posthog.check(method as HttpMethod, route.posthog.operation, status, body).map((p) => `PostHog: ${p}`))
      else {
        const v = validators[route.posthog.component]
        if (!v(body)) out.push(...(v.errors ?? []).map((e) => `PostHog ${route.posthog && 'component' in route.posthog ? route.posthog.component : ''}: ${e.instancePath || '(root)'} ${e.message ?? e.keyword}`))
      }
    }
    return out
  }
  return { problems, checked }
}

/**
 * Validates every invite/signup answer `t.app.inject` returns from now on; a mismatch fails the
 * request's test with the reasons. Returns the contract (for its counters).
 */
export async function checkInviteResponses(t: TestApp): Promise<InviteContract> {
  const contract = await inviteContract(t)
  const original = t.app.inject.bind(t.app) as (opts: InjectOptions | string) => Promise<LightMyRequestResponse>
  const wrapped = async (opts: InjectOptions | string): Promise<LightMyRequestResponse> => {
    const res = await original(opts)
    const method = typeof opts === 'string' ? 'GET' : String(opts.method ?? 'GET').toUpperCase()
    const rawUrl = typeof opts === 'string' ? opts : opts.url ?? opts.path ?? '/'
    const url = typeof rawUrl === 'string' ? rawUrl : `${rawUrl.pathname ?? '/'}`
    const found = contract.problems(method, url, res.statusCode, res.body)
    if (found.length > 0) {
      throw new Error(`contract: ${method} ${url.slice(0, 200)} → ${res.statusCode}\n  ${found.join('\n  ')}\nbody: ${res.body.slice(0, 1000)}`)
    }
    return res
  }
  ;(t.app as unknown as { inject: typeof wrapped }).inject = wrapped
  return contract
}
