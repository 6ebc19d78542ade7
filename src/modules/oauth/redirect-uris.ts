/**
 * PostHog's redirect-URI rules for OAuth applications (posthog/models/oauth.py, `clean()`):
 * no script-capable or local-content schemes, plain http only for loopback hosts, no fragments.
 * Private-use native schemes (`com.example.app:/oauth`) are allowed, as RFC 8252 asks.
 */
const BLOCKED_SCHEMES = new Set(['javascript', 'data', 'file', 'blob', 'vbscript'])

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** Returns why `uri` may not be registered as a redirect URI, or null when it may. */
export function redirectUriProblem(uri: string): string | null {
  if (uri === '') return 'Redirect URI may not be empty.'
  // The list is stored whitespace-separated, so a URI can never contain whitespace.
  if (/\s/.test(uri)) return `Redirect URI "${uri}" may not contain whitespace.`
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)
  if (!m) return `Redirect URI "${uri}" is not an absolute URI with a scheme.`
  const scheme = m[1].toLowerCase()
  if (BLOCKED_SCHEMES.has(scheme)) return `Redirect URI scheme "${scheme}" is not allowed.`
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return `Redirect URI "${uri}" is not a valid URI.`
  }
  if (uri.includes('#')) return `Redirect URI "${uri}" may not contain a fragment.`
  if (scheme === 'http') {
    if (!isLoopback(url.hostname)) return `Redirect URI "${uri}" uses http, which is only allowed for loopback hosts (localhost, 127.0.0.1, ::1).`
  } else if (scheme === 'https') {
    if (url.hostname === '') return `Redirect URI "${uri}" has no host.`
  }
  return null
}

/** Validates a whole list; the first problem is thrown as a message. */
export function checkRedirectUris(uris: readonly string[]): string | null {
  if (uris.length === 0) return 'At least one redirect URI is required.'
  for (const uri of uris) {
    const problem = redirectUriProblem(uri)
    if (problem) return problem
  }
  return null
}
