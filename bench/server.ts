// The process under load, started by bench/run.ts (one per database kind). It migrates and
// seeds its database, then serves two apps on 127.0.0.1, each on its own port:
//   - orgd itself (buildApp from src/app.ts, exactly what `orgd serve` runs, logs off);
//   - the ceiling (bench/ceiling.ts): a bare Fastify route running the same SQL.
// Only one of the two is under load at any time. Both live in this process so that on PGlite
// the ceiling uses the very PGlite instance orgd uses (a PGlite data dir admits one process).
// Commands arrive over the IPC channel from run.ts; answers go back the same way.
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { openDb, openPgPool, postgresDb, serveOpenOptions, type Db, type Queryable } from '../src/db/index.ts'
import { migrate } from '../src/db/migrate.ts'
import { secureValueOf } from '../src/modules/api-keys/service.ts'
import { apiKeyStore } from '../src/modules/api-keys/store.ts'
import { memberStore } from '../src/modules/members/store.ts'
import { organizationStore } from '../src/modules/organizations/store.ts'
import { createServices } from '../src/services.ts'
import { buildCeiling } from './ceiling.ts'
import { checkMemberCount, seedLarge, seedSmall } from './seed.ts'

export type Command =
  | { id: number; cmd: 'seedLarge'; members: number }
  | { id: number; cmd: 'timings'; organizationId: string; search: string; budgetMs: number }
  | { id: number; cmd: 'explain'; organizationId: string; search: string }
  | { id: number; cmd: 'cpu' }
  | { id: number; cmd: 'close' }

export interface Ready {
  type: 'ready'
  orgdPort: number
  ceilingPort: number
  apiKey: string
  organizationId: string
  members: number
  seedMs: number
  poolSize: number
  dbVersion: string
}

export interface StatementTiming {
  statement: string
  runs: number
  p50Ms: number
  meanMs: number
  p99Ms: number
}

const kind = process.env.BENCH_DB === 'pglite' ? 'pglite' : 'postgres'
const members = Number(process.env.BENCH_MEMBERS ?? 10_000)

function send(msg: unknown): void {
  process.send!(msg)
}

// The parent going away (Ctrl-C, crash) takes this process with it.
process.on('disconnect', () => process.exit(1))

const config = loadConfig({
  LOG_LEVEL: 'silent',
  SITE_URL: 'http://127.0.0.1',
  DATABASE_URL: kind === 'postgres' ? process.env.BENCH_DATABASE_URL : undefined,
  ORGD_DATA_DIR: process.env.BENCH_DATA_DIR,
  PG_POOL_SIZE: process.env.PG_POOL_SIZE,
})
const openOptions = serveOpenOptions(config)
const db = await openDb(openOptions)
await migrate(db)
const services = createServices(db, config)

const seedStart = performance.now()
const small = await seedSmall(db, services, members)
await checkMemberCount(db, small.organizationId)
await db.exec('VACUUM ANALYZE')
const seedMs = performance.now() - seedStart

// The ceiling's connection: orgd's PostgreSQL Db over its own node-postgres pool of orgd's size,
// idle time and session setting (the trigram threshold, see src/db/index.ts), so the statements
// orgd names are named there too (QueryOptions.prepare); or orgd's PGlite Db itself (the one
// PGlite instance, the same statements kept prepared).
const ceilingDb: Db | null = kind === 'postgres' ? postgresDb(openPgPool(config.databaseUrl!, openOptions), openOptions) : null
const raw: Queryable = ceilingDb ?? db

const { app } = await buildApp({ config, db })
const ceiling: FastifyInstance = await buildCeiling(raw)
await app.listen({ port: 0, host: '127.0.0.1' })
await ceiling.listen({ port: 0, host: '127.0.0.1' })
const portOf = (a: FastifyInstance) => (a.server.address() as { port: number }).port

const ready: Ready = {
  type: 'ready',
  orgdPort: portOf(app),
  ceilingPort: portOf(ceiling),
  apiKey: small.apiKey,
  organizationId: small.organizationId,
  members,
  seedMs,
  poolSize: config.pgPoolSize,
  dbVersion: (await raw.query<{ v: string }>(`SELECT version() AS v`))[0].v,
}
send(ready)

/** The statements of one request, as [name, run] pairs over a Queryable. */
function statements(organizationId: string, search: string): Array<[string, (q: Queryable) => Promise<unknown>]> {
  const secure = secureValueOf(small.apiKey)
  return [
    ['apiKeyStore.findForAuth', (q) => apiKeyStore.findForAuth(q, secure)],
    ['organizationStore.findWithLevel', (q) => organizationStore.findWithLevel(q, organizationId, small.ownerId)],
    ['memberStore.list (limit 100)', (q) => memberStore.list(q, organizationId, {}, false, 100, 0)],
    [`memberStore.search '${search}' (limit 100)`, (q) => memberStore.search(q, organizationId, search, {}, 100, 0)],
  ]
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

/** Each statement alone, one at a time, for up to budgetMs each (at least 5 runs). */
async function timings(organizationId: string, search: string, budgetMs: number): Promise<StatementTiming[]> {
  const out: StatementTiming[] = []
  for (const [name, run] of statements(organizationId, search)) {
    for (let i = 0; i < 3; i++) await run(raw)
    const samples: number[] = []
    const start = performance.now()
    while (samples.length < 5 || (performance.now() - start < budgetMs && samples.length < 2000)) {
      const t = performance.now()
      await run(raw)
      samples.push(performance.now() - t)
    }
    samples.sort((a, b) => a - b)
    out.push({
      statement: name,
      runs: samples.length,
      p50Ms: percentile(samples, 50),
      meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
      p99Ms: percentile(samples, 99),
    })
  }
  return out
}

/** EXPLAIN (ANALYZE, BUFFERS) of each statement with the parameters orgd passes. */
async function explain(organizationId: string, search: string): Promise<Array<{ statement: string; sql: string; plan: string }>> {
  const out: Array<{ statement: string; sql: string; plan: string }> = []
  for (const [name, run] of statements(organizationId, search)) {
    const captured: Array<{ sql: string; params: readonly unknown[] }> = []
    await run({
      query: async <T,>(sql: string, params: readonly unknown[] = []) => {
        captured.push({ sql, params })
        // Member pages are one row; an empty one sends a search on to its "similar" statement too.
        return (/ AS results\b/.test(sql) ? [{ total: 0, results: '[]' }] : []) as T[]
      },
      exec: async () => {},
    })
    for (const c of captured) {
      // Run once first so the plan is measured warm, as under load.
      await raw.query(c.sql, c.params)
      const rows = await raw.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${c.sql}`, c.params)
      out.push({ statement: name, sql: c.sql, plan: rows.map((r) => r['QUERY PLAN']).join('\n') })
    }
  }
  return out
}

process.on('message', async (msg: Command) => {
  try {
    switch (msg.cmd) {
      case 'seedLarge': {
        const t = performance.now()
        const organizationId = await seedLarge(db, services, small.ownerId, msg.members, small.userIds)
        const count = await checkMemberCount(db, organizationId)
        await db.exec('VACUUM ANALYZE')
        send({ type: 'result', id: msg.id, data: { organizationId, members: count, seedMs: performance.now() - t } })
        break
      }
      case 'timings':
        send({ type: 'result', id: msg.id, data: await timings(msg.organizationId, msg.search, msg.budgetMs) })
        break
      case 'explain':
        send({ type: 'result', id: msg.id, data: await explain(msg.organizationId, msg.search) })
        break
      case 'cpu': {
        const { user, system } = process.cpuUsage()
        send({ type: 'result', id: msg.id, data: (user + system) / 1000 })
        break
      }
      case 'close':
        await app.close()
        await ceiling.close()
        await ceilingDb?.close()
        await db.close()
        process.send!({ type: 'result', id: msg.id, data: null }, undefined, {}, () => process.exit(0))
        break
    }
  } catch (err) {
    send({ type: 'error', id: msg.id, message: err instanceof Error ? err.stack ?? err.message : String(err) })
  }
})
