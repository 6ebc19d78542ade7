import { createHmac } from 'node:crypto'

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url')

/** An HS256 JSON Web Token (RFC 7519) over `claims`, signed with `secret`. */
export function signJwt(claims: Record<string, unknown>, secret: string): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const payload = b64url(JSON.stringify(claims))
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url')
  return `${header}.${payload}.${signature}`
}
