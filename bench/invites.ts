// Invites benchmark: `node bin/tsx.mjs bench/invites.ts`
//
// 1. `POST /api/organizations/:id/invites/bulk/` with 20 new addresses per request, measured with
//    autocannon on PostgreSQL and on PGlite. The job worker is not running during this part, so
//    each request does exactly what the API does on its own: validate, write 20 invites and
//    20 email jobs in one transaction (the outbox), answer. Afterwards the run checks that every
//    created invite has a queued job and that no email was sent in a request.
// 2. End-to-end delivery of 1,000 invite emails: 1,000 invites are created (50 bulk requests),
//    then the worker is started and the clock runs until a local SMTP server (smtp-server, in
//    this process) has accepted all 1,000 messages. Reported in messages per second.
//
// Process layout: this process generates load and runs the SMTP server; orgd runs in a child
// process (this same file with INVITES_BENCH_ROLE=server), over a fresh database: a scratch
// PostgreSQL database `orgd_bench_invites` on 127.0.0.1:5432, or a PGlite data dir in /tmp.
//
// Settings (environment): BENCH_DBS (postgres,pglite), BENCH_CONNECTIONS (1,4: a list, one run
// each), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_EMAILS (1000).
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Instance, Result } from 'autocannon'
import autocannonModule from 'autocannon'
import pg from 'pg'
import { SMTPServer } from 'smtp-server'
import { waitAtMost } from './wait.ts'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, '..')
const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'
const PG_DB = 'orgd_bench_invites'
const TARGET_P50_MS = 30
const BULK_SIZE = 20

interface Ready {
  type: 'ready'
  port: number
  apiKey: string
  organizationId: string
}
interface JobCounts {
  invites: number
  queued: number
  done: number
  failed: number
  running: number
  attempted: number
}
type Command = { id: number; cmd: 'startWorker' } | { id: number; cmd: 'stopWorker' } | { id: number; cmd: 'counts' } | { id: number; cmd: 'close' }

// ---------------------------------------------------------------------------------------------
// The server role (child process)
// ---------------------------------------------------------------------------------------------

async function serve(): Promise<void> {
  const { buildApp } = await import('../src/app.ts')
  const { loadConfig } = await import('../src/config.ts')
  const { openDb, serveOpenOptions } = await import('../src/db/index.ts')
  const { migrate } = await import('../src/db/migrate.ts')
  process.on('disconnect', () => process.exit(1))
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    SITE_URL: 'http://127.0.0.1',
    DATABASE_URL: process.env.BENCH_DB === 'postgres' ? process.env.BENCH_DATABASE_URL : undefined,
    ORGD_DATA_DIR: process.env.BENCH_DATA_DIR,
    SMTP_URL: process.env.BENCH_SMTP_URL,
    JOB_POLL_MS: '50',
  })
  const db = await openDb(serveOpenOptions(config))
  await migrate(db)
  const { app, services } = await buildApp({ config, db })
  const { user: owner } = await services.users.ensure({ email: 'bench-owner@acme-corp.com', firstName: 'Olivia', lastName: 'Owner' })
  const { organization } = await services.organizations.create(owner, 'Bench invites')
  const key = await services.apiKeys.create(owner, { label: 'bench', scopes: ['*'] })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const send = (m: unknown) => process.send!(m)
  send({ type: 'ready', port: (app.server.address() as { port: number }).port, apiKey: key.value!, organizationId: organization.id } satisfies Ready)
  process.on('message', async (msg: Command) => {
    switch (msg.cmd) {
      case 'startWorker':
        services.worker.start()
        break
      case 'stopWorker':
        await services.worker.stop()
        break
      case 'counts': {
        // One statement, one snapshot: a request committing meanwhile is counted in both or neither.
        const [counts] = await db.query<JobCounts>(
          `SELECT count(*) FILTER (WHERE status = 'queued')::int AS queued, count(*) FILTER (WHERE status = 'done')::int AS done,
                  count(*) FILTER (WHERE status = 'failed')::int AS failed, count(*) FILTER (WHERE status = 'running')::int AS running,
                  count(*) FILTER (WHERE attempts > 0)::int AS attempted, (SELECT count(*)::int FROM invites) AS invites
             FROM jobs WHERE kind = 'email.invite'`,
        )
        send({ type: 'result', id: msg.id, data: counts })
        return
      }
      case 'close':
        await app.close()
        await db.close()
        send({ type: 'result', id: msg.id, data: null })
        process.exit(0)
    }
    send({ type: 'result', id: msg.id, data: null })
  })
}

// ---------------------------------------------------------------------------------------------
// The load role (this process)
// ---------------------------------------------------------------------------------------------

interface RequestSpec {
  method: 'POST'
  path: string
  headers: Record<string, string>
  setupRequest: (req: RequestSpec) => RequestSpec & { body: string }
}
interface BulkOptions {
  url: string
  connections: number
  duration: number
  timeout?: number
  requests: RequestSpec[]
}
const autocannon = autocannonModule as unknown as (opts: BulkOptions) => Instance

function num(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, got "${raw}"`)
  return n
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

let sequence = 0
function bulkBody(): string {
  const items = []
  for (let i = 0; i < BULK_SIZE; i++) {
    sequence += 1
    items.push({ target_email: `bench-${process.pid}-${sequence}@example.com`, first_name: 'Bench', level: 1 })
  }
  return JSON.stringify(items)
}

interface Child {
  ready: Ready
  call(cmd: Command['cmd']): Promise<unknown>
  stop(): Promise<void>
}

async function startChild(kind: 'postgres' | 'pglite', smtpUrl: string, dataDir: string): Promise<Child> {
  const child: ChildProcess = fork(join(ROOT, 'bin/tsx.mjs'), [fileURLToPath(import.meta.url)], {
    cwd: ROOT,
    env: { ...process.env, INVITES_BENCH_ROLE: 'server', BENCH_DB: kind, BENCH_DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${PG_DB}`, BENCH_DATA_DIR: dataDir, BENCH_SMTP_URL: smtpUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const ready = await new Promise<Ready>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`server exited (${code}) before it was ready`)))
    child.once('message', (m) => res(m as Ready))
  })
  let next = 0
  const pending = new Map<number, (v: unknown) => void>()
  child.on('message', (m: { type: string; id: number; data: unknown }) => {
    if (m.type === 'result') pending.get(m.id)?.(m.data)
  })
  const call = (cmd: Command['cmd']) =>
    new Promise<unknown>((res) => {
      const id = ++next
      pending.set(id, res)
      child.send({ id, cmd })
    })
  return {
    ready,
    call,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      await call('close').catch(() => undefined)
      await waitAtMost(exited, 5000)
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

async function bulkLoad(ready: Ready, connections: number, seconds: number): Promise<Result> {
  const path = `/api/organizations/${ready.organizationId}/invites/bulk/`
  const headers = { authorization: `Bearer ${ready.apiKey}`, 'content-type': 'application/json' }
  return autocannon({
    url: `http://127.0.0.1:${ready.port}`,
    connections,
    duration: seconds,
    timeout: 30,
    requests: [{ method: 'POST', path, headers, setupRequest: (req) => ({ ...req, body: bulkBody() }) }],
  })
}

async function post(ready: Ready, body: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${ready.port}/api/organizations/${ready.organizationId}/invites/bulk/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ready.apiKey}`, 'content-type': 'application/json' },
    body,
  })
  await res.arrayBuffer()
  return res.status
}

async function main(): Promise<void> {
  const dbs = (process.env.BENCH_DBS ?? 'postgres,pglite').split(',').map((s) => s.trim()) as Array<'postgres' | 'pglite'>
  const connectionList = (process.env.BENCH_CONNECTIONS ?? '1,4').split(',').map((s) => Number(s.trim()))
  const seconds = num('BENCH_SECONDS', 10)
  const warmup = num('BENCH_WARMUP_SECONDS', 2)
  const emails = num('BENCH_EMAILS', 1000)
  if (emails % BULK_SIZE !== 0) throw new Error(`BENCH_EMAILS must be a multiple of ${BULK_SIZE}`)

  // The SMTP server: counts accepted messages (the stream is read in full, then 250).
  let received = 0
  let onReceived: (() => void) | null = null
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => {})
      stream.on('end', () => {
        received += 1
        onReceived?.()
        callback()
      })
    },
  })
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()))
  const smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as { port: number }).port}?ignoreTLS=true`

  console.log(`# orgd invites benchmark`)
  console.log(`machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}; load average at start: ${loadavg()}`)
  console.log(`command: node bin/tsx.mjs bench/invites.ts (BENCH_DBS=${dbs.join(',')} BENCH_CONNECTIONS=${connectionList.join(',')} BENCH_SECONDS=${seconds} BENCH_EMAILS=${emails})`)

  const summary: string[] = []
  for (const kind of dbs) {
    const dataDir = mkdtempSync(join(tmpdir(), 'orgd-bench-invites-'))
    if (kind === 'postgres') {
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
      await admin.connect()
      await admin.query(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`)
      await admin.query(`CREATE DATABASE ${PG_DB}`)
      await admin.end()
    }
    received = 0
    const child = await startChild(kind, smtpUrl, dataDir)
    try {
      console.log(`\n## ${kind}`)
      // --- 2. delivery first, on a fresh database: 1,000 invites, then the worker sends them all.
      const createStart = performance.now()
      for (let i = 0; i < emails / BULK_SIZE; i++) {
        const status = await post(child.ready, bulkBody())
        if (status !== 201) throw new Error(`bulk invite answered ${status}`)
      }
      const createMs = performance.now() - createStart
      const before = (await child.call('counts')) as JobCounts
      if (before.queued !== emails || received !== 0) throw new Error(`expected ${emails} queued jobs and no mail yet, got ${JSON.stringify(before)} and ${received} received`)
      const all = new Promise<void>((r) => {
        onReceived = () => {
          if (received >= emails) r()
        }
      })
      const sendStart = performance.now()
      await child.call('startWorker')
      await waitAtMost(all, 600_000, () => new Error(`only ${received} of ${emails} emails after 10 minutes`))
      const sendMs = performance.now() - sendStart
      await child.call('stopWorker')
      onReceived = null
      const after = (await child.call('counts')) as JobCounts
      const rate = emails / (sendMs / 1000)
      console.log(`delivery: ${emails} invites created in ${(createMs / 1000).toFixed(2)} s (${emails / BULK_SIZE} bulk requests); worker delivered ${received} messages to the SMTP server in ${(sendMs / 1000).toFixed(2)} s = ${rate.toFixed(1)} messages/s (jobs: ${after.done} done, ${after.failed} failed, ${after.queued} queued)`)

      // --- 1. bulk invites under load, the worker stopped: the emails stay queued.
      const base = (await child.call('counts')) as JobCounts
      await bulkLoad(child.ready, Math.max(...connectionList), warmup)
      for (const c of connectionList) {
        const r = await bulkLoad(child.ready, c, seconds)
        const ok = r['2xx']
        // No answer at all is a failed run, not a latency of 0 ms that "meets" the target.
        if (ok === 0) throw new Error(`${kind} bulk/ with ${c} connection(s): no request was answered in ${seconds} s (non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts})`)
        const verdict = r.latency.p50 <= TARGET_P50_MS ? 'meets' : 'misses'
        const line = `${kind} bulk/ x${BULK_SIZE}, ${c} connection${c > 1 ? 's' : ''}: ${r.requests.average.toFixed(1)} req/s (${(r.requests.average * BULK_SIZE).toFixed(0)} invites/s), latency p50 ${r.latency.p50} ms, p90 ${r.latency.p90} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms; ${ok} × 201, non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts} → ${verdict} the p50 ≤ ${TARGET_P50_MS} ms target`
        console.log(line)
        summary.push(line)
      }
      // autocannon does not wait for the requests in flight when it stops; let them finish.
      await new Promise((r) => setTimeout(r, 1000))
      const end = (await child.call('counts')) as JobCounts
      const newInvites = end.invites - base.invites
      const newJobs = end.queued - base.queued
      console.log(`outbox check: ${newInvites} invites created under load, ${newJobs} email jobs queued with them, ${end.done - base.done} sent and ${end.attempted - base.attempted} attempted meanwhile (the worker was stopped)`)
      if (newInvites !== newJobs || end.attempted !== base.attempted) throw new Error(`an email was sent (or not queued) in a request: before ${JSON.stringify(base)}, after ${JSON.stringify(end)}`)
      summary.push(`${kind} delivery: ${rate.toFixed(1)} messages/s (${emails} emails, ${(sendMs / 1000).toFixed(2)} s)`)
    } finally {
      await child.stop()
      rmSync(dataDir, { recursive: true, force: true })
      if (kind === 'postgres') {
        const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
        await admin.connect()
        await admin.query(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`)
        await admin.end()
      }
    }
  }
  await new Promise<void>((r) => smtp.close(() => r()))
  console.log(`\n## summary (load average at end: ${loadavg()})`)
  for (const s of summary) console.log(`- ${s}`)
}

if (process.env.INVITES_BENCH_ROLE === 'server') await serve()
else await main()
