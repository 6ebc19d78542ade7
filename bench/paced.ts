// An open-loop load at a steady rate: request i leaves at start + i / rate, whatever happened to
// the earlier ones (each on its own keep-alive socket when needed). autocannon's `overallRate`
// does not do this: every connection sends its quota for the second back to back as soon as the
// second starts, then waits, so "half load" arrives as full-concurrency bursts for half of each
// second, and its latency is the full-load latency. This measures the steady half load as well.
import http from 'node:http'

export interface PacedResult {
  rate: number
  durationS: number
  sent: number
  ok: number
  failed: number
  /** Latency of each 2xx response, ms, from the moment it was sent. */
  samples: number[]
  /** How late, at worst, a request left compared with its schedule (timer jitter), ms. */
  maxSendLagMs: number
}

export async function paced(url: string, headers: Record<string, string>, rate: number, durationS: number): Promise<PacedResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  const target = new URL(url)
  const samples: number[] = []
  let ok = 0
  let failed = 0
  let sent = 0
  let maxSendLagMs = 0
  const total = Math.floor(rate * durationS)
  const interval = 1000 / rate
  const inflight = new Set<Promise<void>>()

  const one = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const t = performance.now()
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname + target.search, headers, agent, method: 'GET' },
        (res) => {
          res.on('data', () => {})
          res.on('end', () => {
            if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) {
              ok++
              samples.push(performance.now() - t)
            } else failed++
            resolve()
          })
        },
      )
      req.on('error', () => {
        failed++
        resolve()
      })
      req.end()
    })

  const start = performance.now()
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now()
      while (sent < total && start + sent * interval <= now) {
        maxSendLagMs = Math.max(maxSendLagMs, now - (start + sent * interval))
        const p = one()
        inflight.add(p)
        void p.then(() => inflight.delete(p))
        sent++
      }
      if (sent >= total) return done()
      setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
    }
    tick()
  })
  await Promise.all(inflight)
  agent.destroy()
  return { rate, durationS: (performance.now() - start) / 1000, sent, ok, failed, samples, maxSendLagMs }
}
