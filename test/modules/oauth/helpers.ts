import { createHash, randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Services } from '../../../src/services.ts'
import type { Session } from '../../helpers/app.ts'

export interface RegisteredApp {
  id: string
  client_id: string
  client_secret: string | null
}

export async function registerApp(
  services: Services,
  organizationId: string,
  opts: { name?: string; redirectUris?: string[]; public?: boolean; scopes?: string[]; optionalScopes?: string[]; firstParty?: boolean; verified?: boolean } = {},
): Promise<RegisteredApp> {
  const created = await services.oauth.create({
    organizationId,
    name: opts.name ?? 'Test app',
    redirectUris: opts.redirectUris ?? ['https://client.example/callback'],
    clientType: opts.public ? 'public' : 'confidential',
    scopes: opts.scopes ?? ['organization:read', 'organization_member:read'],
    optionalScopes: opts.optionalScopes ?? [],
    isFirstParty: opts.firstParty ?? false,
    isVerified: opts.verified ?? false,
  })
  return { id: created.id, client_id: created.client_id, client_secret: created.client_secret }
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export function authorizeUrl(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v)
  return `/oauth/authorize?${q.toString()}`
}

/** Drives the consent step through HTTP as the browser would: GET the page, POST "Allow". */
export async function consent(
  app: FastifyInstance,
  session: Session,
  params: Record<string, string | undefined>,
  decision: 'allow' | 'deny' = 'allow',
): Promise<URL> {
  const page = await app.inject({ method: 'GET', url: authorizeUrl(params), headers: { cookie: session.headers.cookie } })
  if (page.statusCode !== 200) throw new Error(`consent page answered ${page.statusCode}: ${page.body}`)
  const fields: Record<string, string> = {}
  for (const m of page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields[m[1]] = m[2].replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')
  }
  const res = await app.inject({
    method: 'POST',
    url: '/oauth/authorize',
    headers: { cookie: session.headers.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ ...fields, decision }).toString(),
  })
  if (res.statusCode !== 302) throw new Error(`consent POST answered ${res.statusCode}: ${res.body}`)
  return new URL(res.headers.location as string)
}

export function form(body: Record<string, string | undefined>): { headers: Record<string, string>; payload: string } {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(body)) if (v !== undefined) q.set(k, v)
  return { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: q.toString() }
}

export const basic = (id: string, secret: string) => ({ authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` })
