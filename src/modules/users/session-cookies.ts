import type { FastifyReply } from 'fastify'
import { CSRF_COOKIE, SESSION_COOKIE } from '../../http/auth.ts'

/** Sets the session cookie (HttpOnly) and the CSRF cookie the page echoes in X-CSRFToken. */
export function setSessionCookies(reply: FastifyReply, session: { cookie: string; csrfToken: string; expiresAt: Date }, secure: boolean): void {
  const base = { path: '/', sameSite: 'lax' as const, secure, expires: session.expiresAt }
  reply.setCookie(SESSION_COOKIE, session.cookie, { ...base, httpOnly: true })
  reply.setCookie(CSRF_COOKIE, session.csrfToken, { ...base, httpOnly: false })
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/' })
  reply.clearCookie(CSRF_COOKIE, { path: '/' })
}
