import { createServer, type AddressInfo } from 'node:net'

/**
 * A TCP port that was free a moment ago on 127.0.0.1. For servers whose own configuration must
 * name their address before they listen (SITE_URL); another process could take it in between,
 * which on a test machine is rare enough.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

/** Percent-encodes UTF-8 bytes (lone surrogates become U+FFFD, as a client would send them). */
export function pct(s: string): string {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b)
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}
