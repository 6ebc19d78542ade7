// `npm run bench`: GET /api/organizations/:id/members/?limit=100 (plain and with search=) in an
// organization of 10,000 members, on PostgreSQL and on PGlite, each beside the stack's ceiling
// (bench/ceiling.ts); p99 at half the measured load (orgd, then the ceiling at the same rate); a
// search in a 100,000-member organization at low concurrency. bench/README.md says what is
// measured and how, and holds the latest figures.
//
// Process layout (2 cores here): this process only generates load (autocannon, and the paced
// generator in bench/paced.ts) and records it; bench/server.ts runs in a child process and serves
// orgd and the ceiling on two ports (one under load
// at a time); PostgreSQL runs in its own processes. All of them share the machine's cores.
import autocannon, { type Result } from 'autocannon'
import { fork, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, tmpdir, availableParallelism } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { paced } from './paced.ts'
import type { Command, Ready, StatementTiming } from './server.ts'
import { waitAtMost } from './wait.ts'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, '..')

// ---------------------------------------------------------------------------------------------
// Settings (environment variables; the defaults are what bench/README.md reports)
// ---------------------------------------------------------------------------------------------
function num(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number, got "${raw}"`)
  return n
}

const DEFAULTS = {
  dbs: 'postgres,pglite',
  connections: 10,
  rounds: 2,
  slice: 3,
  warmup: 2,
  halfDuration: 15,
  largeConnections: 1,
  largeRounds: 2,
  largeSlice: 2,
  small: 10_000,
  large: 100_000,
  search: 'alex',
}
const settings = {
  dbs: (process.env.BENCH_DBS ?? DEFAULTS.dbs).split(',').map((s) => s.trim()).filter(Boolean) as Array<'postgres' | 'pglite'>,
  /** Load connections for the full-load and half-load runs. */
  connections: num('BENCH_CONNECTIONS', DEFAULTS.connections),
  /** orgd and the ceiling are measured in alternating slices (A B B A …), so drift hits both alike. */
  rounds: num('BENCH_ROUNDS', DEFAULTS.rounds),
  slice: num('BENCH_SLICE_SECONDS', DEFAULTS.slice),
  warmup: num('BENCH_WARMUP_SECONDS', DEFAULTS.warmup),
  halfDuration: num('BENCH_HALF_SECONDS', DEFAULTS.halfDuration),
  largeConnections: num('BENCH_LARGE_CONNECTIONS', DEFAULTS.largeConnections),
  largeRounds: num('BENCH_LARGE_ROUNDS', DEFAULTS.largeRounds),
  largeSlice: num('BENCH_LARGE_SLICE_SECONDS', DEFAULTS.largeSlice),
  small: num('BENCH_MEMBERS', DEFAULTS.small),
  large: num('BENCH_LARGE_MEMBERS', DEFAULTS.large),
  search: process.env.BENCH_SEARCH ?? DEFAULTS.search,
}
const isDefaultRun = Object.entries(DEFAULTS).every(([k, v]) => {
  const s = settings[k as keyof typeof settings]
  return Array.isArray(s) ? s.join(',') === v : s === v
})
for (const d of settings.dbs) if (d !== 'postgres' && d !== 'pglite') throw new Error(`BENCH_DBS: unknown database kind "${d}"`)

// Load goes to 127.0.0.1 only, and so does the database connection.
const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'
const PG_BENCH_DB = 'orgd_bench'
const PG_BENCH_URL = `postgres://postgres@127.0.0.1:5432/${PG_BENCH_DB}`
const HARD_TIMEOUT_MS = num('BENCH_TIMEOUT_SECONDS', 900) * 1000

const TARGETS = { ratio: 0.7, halfLoadP99Ms: 25, largeSearchP50Ms: 15 }
/** Paced load at the half-load rate before the measured paced run, not recorded. */
const PACED_SETTLE_SECONDS = 3

// ---------------------------------------------------------------------------------------------
// Cleanup: whatever happens, the child, the database and the temp dir go away.
// ---------------------------------------------------------------------------------------------
const cleanups: Array<() => Promise<void> | void> = []
async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!
    try {
      await fn()
    } catch (err) {
      console.error('cleanup:', err instanceof Error ? err.message : err)
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up`)
    void cleanup().then(() => process.exit(130))
  })
}
const hardTimeout = setTimeout(() => {
  console.error(`bench: still running after ${HARD_TIMEOUT_MS / 1000} s, giving up`)
  void cleanup().then(() => process.exit(1))
}, HARD_TIMEOUT_MS)
hardTimeout.unref()

async function adminQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL })
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end()
  }
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------
interface Machine {
  nproc: number
  cpuModel: string
  memoryGiB: number
  node: string
  postgres: string | null
  pglite: string
  commit: string
  date: string
  /** ms for one fixed busy loop, repeated: how steady the CPU is while the bench runs. */
  cpuProbeMs: { min: number; median: number; max: number }
  /** Share of all cores used by processes other than the bench's own during the measurements. */
  otherProcessesShare?: number
}

/** A fixed amount of work, timed 15 times: on a shared VM its spread is the noise floor. */
function cpuProbe(): { min: number; median: number; max: number } {
  const times: number[] = []
  for (let k = 0; k < 15; k++) {
    const t = performance.now()
    let x = 0
    for (let i = 0; i < 10_000_000; i++) x += i % 7
    if (x < 0) console.log(x)
    times.push(performance.now() - t)
  }
  times.sort((a, b) => a - b)
  return { min: times[0], median: times[7], max: times[14] }
}

async function machine(): Promise<Machine> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown'
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0)
  let postgres: string | null = null
  if (settings.dbs.includes('postgres')) postgres = String((await adminQuery('SELECT version() AS v'))[0].v)
  const pgliteVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')).version
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim()
    if (dirty) commit += ' + uncommitted changes in src/'
  } catch {
    // not a git checkout
  }
  return {
    nproc: availableParallelism(),
    cpuModel: model,
    memoryGiB: Math.round((memKb / 1024 / 1024) * 10) / 10,
    node: process.version,
    postgres,
    pglite: `@electric-sql/pglite ${pgliteVersion}`,
    commit,
    date: new Date().toISOString(),
    cpuProbeMs: cpuProbe(),
  }
}

/**
 * CPU time of each PostgreSQL backend serving the bench database, ms by pid (from /proc; 10 ms
 * resolution). Pools close idle connections, so deltas are taken per backend (see pgCpuDelta).
 */
function postgresCpuMs(): Map<string, number> {
  const out = new Map<string, number>()
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const close = stat.lastIndexOf(')')
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue
      // "postgres: 15/main: postgres orgd_bench 127.0.0.1(…) idle": only this database's backends.
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${PG_BENCH_DB} `)) continue
      const fields = stat.slice(close + 2).split(' ')
      out.set(pid, (Number(fields[11]) + Number(fields[12])) * 10) // utime, stime
    } catch {
      // the process ended meanwhile
    }
  }
  return out
}

/** CPU the backends alive at the end used since `before` (a backend born meanwhile counts whole). */
function pgCpuDelta(before: Map<string, number>, after: Map<string, number>): number {
  let ms = 0
  for (const [pid, v] of after) ms += v - (before.get(pid) ?? 0)
  return ms
}

/** CPU time the whole machine has spent busy, ms (all cores; from /proc/stat). */
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) * 10
}

/** Share of the machine (0..1) that processes other than the bench used while it measured. */
const otherLoad = { busyMs: 0, wallMs: 0 }

/** Waits (a little) for other work on the machine to calm down: it would skew every figure. */
async function waitForQuiet(): Promise<number> {
  const cores = availableParallelism()
  const sample = async () => {
    const b = machineBusyMs()
    const t = performance.now()
    await new Promise((r) => setTimeout(r, 3000))
    return (machineBusyMs() - b) / ((performance.now() - t) * cores)
  }
  let share = await sample()
  const deadline = performance.now() + num('BENCH_QUIET_WAIT_SECONDS', 20) * 1000
  while (share > 0.2 && performance.now() < deadline) {
    log(`other processes are using ${fmt(share * 100, 0)}% of the machine; waiting for them to finish`)
    share = await sample()
  }
  if (share > 0.2) log(`WARNING: other processes are using ${fmt(share * 100, 0)}% of the machine; figures will be low`)
  return share
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------
type TargetName = 'orgd' | 'ceiling'
interface Target {
  name: TargetName
  url: string
}

export interface Measured {
  target: TargetName
  url: string
  connections: number
  durationS: number
  requests: number
  reqPerSec: number
  /** req/s of each slice, to show the spread. */
  sliceReqPerSec: number[]
  /** From every 2xx response's own time (autocannon's histogram keeps whole milliseconds only). */
  p50Ms: number
  p99Ms: number
  maxMs: number
  bytesPerResponse: number
  /** CPU per request: the server process (orgd/ceiling, and PGlite itself), PostgreSQL, the load generator. */
  cpuMsPerRequest: { server: number; postgres: number | null; loadGenerator: number }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

interface Slice {
  result: Result
  samples: number[]
  cpu: { server: number; postgres: number | null; loadGenerator: number }
}

async function slice(server: Server, url: string, headers: Record<string, string>, connections: number, durationS: number, overallRate?: number): Promise<Slice> {
  const samples: number[] = []
  const pgBefore = server.db === 'postgres' ? postgresCpuMs() : new Map<string, number>()
  const srvBefore = await server.call<number>({ cmd: 'cpu' })
  const selfBefore = process.cpuUsage()
  const busyBefore = machineBusyMs()
  const wallBefore = performance.now()
  const instance = autocannon({
    url,
    headers,
    connections,
    duration: durationS,
    // With a rate, autocannon "corrects" latencies with an expected interval of ceil(1/rate) ms,
    // i.e. 1 ms whatever the rate, which adds made-up samples: record the real ones only.
    ...(overallRate ? { overallRate, ignoreCoordinatedOmission: true } : {}),
  })
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) samples.push(ms)
  })
  const result: Result = await instance
  const self = process.cpuUsage(selfBefore)
  const busy = machineBusyMs() - busyBefore
  const wall = performance.now() - wallBefore
  const srvAfter = await server.call<number>({ cmd: 'cpu' })
  const pgCpu = server.db === 'postgres' ? pgCpuDelta(pgBefore, postgresCpuMs()) : null
  otherLoad.busyMs += Math.max(0, busy - (srvAfter - srvBefore) - (pgCpu ?? 0) - (self.user + self.system) / 1000)
  otherLoad.wallMs += wall * availableParallelism()
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts`)
  }
  return {
    result,
    samples,
    cpu: {
      server: srvAfter - srvBefore,
      postgres: pgCpu,
      loadGenerator: (self.user + self.system) / 1000,
    },
  }
}

function combine(target: Target, connections: number, slices: Slice[]): Measured {
  const samples = slices.flatMap((s) => s.samples).sort((a, b) => a - b)
  const requests = slices.reduce((a, s) => a + s.result['2xx'], 0)
  const durationS = slices.reduce((a, s) => a + s.result.duration, 0)
  const bytes = slices.reduce((a, s) => a + s.result.throughput.total, 0)
  const sum = (f: (s: Slice) => number) => slices.reduce((a, s) => a + f(s), 0)
  return {
    target: target.name,
    url: target.url,
    connections,
    durationS,
    requests,
    reqPerSec: requests / durationS,
    sliceReqPerSec: slices.map((s) => Math.round((10 * s.result['2xx']) / s.result.duration) / 10),
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    maxMs: samples[samples.length - 1] ?? NaN,
    bytesPerResponse: requests > 0 ? Math.round(bytes / requests) : 0,
    cpuMsPerRequest: {
      server: sum((s) => s.cpu.server) / requests,
      postgres: slices.some((s) => s.cpu.postgres !== null) ? sum((s) => s.cpu.postgres ?? 0) / requests : null,
      loadGenerator: sum((s) => s.cpu.loadGenerator) / requests,
    },
  }
}

/** Warm every target up, then measure them in alternating slices: A B C, C B A, A B C … */
async function measure(server: Server, targets: Target[], headers: Record<string, string>, connections: number, rounds: number, sliceS: number, warmupS: number): Promise<Record<TargetName, Measured>> {
  for (const t of targets) await slice(server, t.url, headers, connections, warmupS)
  const slices = new Map<TargetName, Slice[]>(targets.map((t) => [t.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) slices.get(t.name)!.push(await slice(server, t.url, headers, connections, sliceS))
  }
  return Object.fromEntries(targets.map((t) => [t.name, combine(t, connections, slices.get(t.name)!)])) as Record<TargetName, Measured>
}

export interface HalfLoad {
  rate: number
  /** autocannon `overallRate` (bursty: see bench/paced.ts). */
  autocannon: { reqPerSec: number; p50Ms: number; p99Ms: number; maxMs: number }
  /** Evenly spaced requests at the same average rate. */
  paced: Paced
  /**
   * The ceiling at the same rate, paced the same way, right after orgd: what the stack and the
   * machine give at that moment without orgd's own work, so a tail they share is told apart
   * from one orgd adds.
   */
  ceilingPaced: Paced
}

interface Paced {
  reqPerSec: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  maxSendLagMs: number
}

/** A paced run at `rate` preceded by PACED_SETTLE_SECONDS at that rate, not recorded. */
async function pacedSettled(url: string, headers: Record<string, string>, rate: number): Promise<Paced> {
  // The measured run starts in the steady state of its own rate: the load before it leaves the
  // server a heap to collect, and paying for that is not the half-load latency.
  const settle = await paced(url, headers, rate, PACED_SETTLE_SECONDS)
  const p = await paced(url, headers, rate, settings.halfDuration)
  if (settle.failed + p.failed > 0) throw new Error(`${url}: ${settle.failed + p.failed} failed requests at ${rate} req/s`)
  const ps = p.samples.sort((x, y) => x - y)
  return { reqPerSec: p.ok / p.durationS, p50Ms: percentile(ps, 50), p99Ms: percentile(ps, 99), maxMs: ps[ps.length - 1], maxSendLagMs: p.maxSendLagMs }
}

async function halfLoad(server: Server, url: string, ceilingUrl: string, headers: Record<string, string>, peak: number): Promise<HalfLoad> {
  const rate = Math.max(1, Math.floor(peak / 2))
  const a = await slice(server, url, headers, settings.connections, settings.halfDuration, rate)
  const as = a.samples.sort((x, y) => x - y)
  const p = await pacedSettled(url, headers, rate)
  return {
    rate,
    autocannon: { reqPerSec: a.result['2xx'] / a.result.duration, p50Ms: percentile(as, 50), p99Ms: percentile(as, 99), maxMs: as[as.length - 1] },
    paced: p,
    ceilingPaced: await pacedSettled(ceilingUrl, headers, rate),
  }
}

function serverSideCpu(m: Measured): number {
  return m.cpuMsPerRequest.server + (m.cpuMsPerRequest.postgres ?? 0)
}

function fmt(n: number | null | undefined, digits = 1): string {
  return n !== null && n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : '–'
}

function log(msg: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

function brief(r: Measured): string {
  const cpu = r.cpuMsPerRequest
  return (
    `${fmt(r.reqPerSec, 0)} req/s (slices ${r.sliceReqPerSec.join('/')}), p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms; ` +
    `CPU/request: server ${fmt(cpu.server, 2)} ms${cpu.postgres !== null ? `, postgres ${fmt(cpu.postgres, 2)} ms` : ''}, load ${fmt(cpu.loadGenerator, 2)} ms`
  )
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------
class Server {
  private nextId = 1
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private exited = false

  private constructor(
    readonly db: 'postgres' | 'pglite',
    readonly child: ChildProcess,
    readonly ready: Ready,
  ) {
    child.on('message', (msg: { type: string; id: number; data?: unknown; message?: string }) => {
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if (msg.type === 'error') p.reject(new Error(msg.message))
      else p.resolve(msg.data)
    })
    child.on('exit', (code) => {
      this.exited = true
      for (const p of this.pending.values()) p.reject(new Error(`bench server exited (code ${code})`))
      this.pending.clear()
    })
  }

  static async start(db: 'postgres' | 'pglite', env: Record<string, string>): Promise<Server> {
    const child = fork(join(ROOT, 'bin/tsx.mjs'), [join(BENCH_DIR, 'server.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const stopEarly = () => {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    cleanups.push(stopEarly)
    const ready = await new Promise<Ready>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error('bench server did not start within 180 s')), 180_000)
      child.once('message', (msg: Ready) => {
        clearTimeout(timer)
        if (msg.type === 'ready') resolveReady(msg)
        else reject(new Error(`unexpected first message ${JSON.stringify(msg)}`))
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`bench server exited during start (code ${code})`))
      })
    })
    return new Server(db, child, ready)
  }

  call<T>(cmd: Record<string, unknown> & { cmd: Command['cmd'] }): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((res, rej) => {
      this.pending.set(id, { resolve: res as (v: unknown) => void, reject: rej })
      this.child.send({ ...cmd, id })
    })
  }

  async stop(): Promise<void> {
    if (this.exited) return
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()))
    try {
      await waitAtMost(this.call({ cmd: 'close' }), 30_000)
    } catch {
      // already gone
    }
    await waitAtMost(gone, 5_000)
    if (!this.exited) this.child.kill('SIGKILL')
  }
}

// ---------------------------------------------------------------------------------------------
// One database kind
// ---------------------------------------------------------------------------------------------
interface Scenario {
  scenario: 'list' | 'search'
  path: string
  /** How many members the request matches (the response's count). */
  count: number
  orgd: Measured
  ceiling: Measured
  ratio: number
  /**
   * The same ratio from the CPU a request costs the server side (server process + PostgreSQL
   * backends), ceiling ÷ orgd: what the req/s ratio would be on a machine with nothing else to do.
   */
  cpuRatio: number
  half: HalfLoad
}

interface BackendResult {
  db: 'postgres' | 'pglite'
  dbVersion: string
  poolSize: number | null
  seed: { members: number; seconds: number; largeMembers: number; largeSeconds: number }
  scenarios: Scenario[]
  large: { path: string; count: number; orgd: Measured; ceiling: Measured }
  statementTimings: { small: StatementTiming[]; large: StatementTiming[] }
}

/** orgd and the ceiling must answer the same page, or the comparison is void. */
async function sameAnswer(server: Server, path: string, headers: Record<string, string>, ports: number[]): Promise<number> {
  const get = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
    if (res.status !== 200) throw new Error(`GET ${path} on port ${port}: ${res.status} ${await res.text()}`)
    return (await res.json()) as { count: number; results: Array<{ id: string }> }
  }
  const [first, ...rest] = await Promise.all(ports.map(get))
  const ids = (x: typeof first) => x.results.map((r) => r.id).join(',')
  for (const other of rest) {
    if (first.count !== other.count || ids(first) !== ids(other)) {
      throw new Error(`orgd and the ceiling disagree on ${path}: count ${first.count} vs ${other.count}, ${first.results.length} vs ${other.results.length} results`)
    }
  }
  if (first.results.length === 0) throw new Error(`${path} returned no members: pick another BENCH_SEARCH`)
  log(`  ${path.replace(/^.*members\//, 'members/')}: count ${first.count}, ${first.results.length} results, the same from all ${ports.length} routes`)
  return first.count
}

async function runBackend(db: 'postgres' | 'pglite'): Promise<BackendResult> {
  const env: Record<string, string> = { BENCH_DB: db, BENCH_MEMBERS: String(settings.small), LOG_LEVEL: 'silent' }
  if (db === 'postgres') {
    await adminQuery(`DROP DATABASE IF EXISTS ${PG_BENCH_DB} WITH (FORCE)`)
    await adminQuery(`CREATE DATABASE ${PG_BENCH_DB}`)
    cleanups.push(async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${PG_BENCH_DB} WITH (FORCE)`)
    })
    env.BENCH_DATABASE_URL = PG_BENCH_URL
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), 'orgd-bench-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    env.BENCH_DATA_DIR = dataDir
  }

  log(`${db}: migrating and seeding ${settings.small.toLocaleString('en')} members`)
  const server = await Server.start(db, env)
  cleanups.push(() => server.stop())
  const { ready } = server
  log(`${db}: seeded in ${fmt(ready.seedMs / 1000)} s; orgd on 127.0.0.1:${ready.orgdPort}, ceiling on :${ready.ceilingPort}`)

  const headers = { authorization: `Bearer ${ready.apiKey}` }
  const pathFor = (org: string, search: string | null) =>
    `/api/organizations/${org}/members/?limit=100${search ? `&search=${encodeURIComponent(search)}` : ''}`
  const at = (port: number, path: string) => `http://127.0.0.1:${port}${path}`
  const targetsFor = (path: string): Target[] => [
    { name: 'orgd', url: at(ready.orgdPort, path) },
    { name: 'ceiling', url: at(ready.ceilingPort, path) },
  ]
  const allPorts = [ready.orgdPort, ready.ceilingPort]

  const scenarios: Scenario[] = []
  for (const s of [
    { scenario: 'list' as const, path: pathFor(ready.organizationId, null) },
    { scenario: 'search' as const, path: pathFor(ready.organizationId, settings.search) },
  ]) {
    const count = await sameAnswer(server, s.path, headers, allPorts)
    const m = await measure(server, targetsFor(s.path), headers, settings.connections, settings.rounds, settings.slice, settings.warmup)
    log(`${db} ${s.scenario} orgd:     ${brief(m.orgd)}`)
    log(`${db} ${s.scenario} ceiling:  ${brief(m.ceiling)}`)
    const half = await halfLoad(server, m.orgd.url, m.ceiling.url, headers, m.orgd.reqPerSec)
    log(`${db} ${s.scenario} orgd at ${half.rate} req/s: autocannon overallRate p50 ${fmt(half.autocannon.p50Ms, 2)} / p99 ${fmt(half.autocannon.p99Ms, 2)} ms; paced p50 ${fmt(half.paced.p50Ms, 2)} / p99 ${fmt(half.paced.p99Ms, 2)} ms; ceiling paced p50 ${fmt(half.ceilingPaced.p50Ms, 2)} / p99 ${fmt(half.ceilingPaced.p99Ms, 2)} ms`)
    scenarios.push({ ...s, count, orgd: m.orgd, ceiling: m.ceiling, ratio: m.orgd.reqPerSec / m.ceiling.reqPerSec, cpuRatio: serverSideCpu(m.ceiling) / serverSideCpu(m.orgd), half })
  }

  const small = await server.call<StatementTiming[]>({ cmd: 'timings', organizationId: ready.organizationId, search: settings.search, budgetMs: 1000 })

  log(`${db}: seeding a ${settings.large.toLocaleString('en')}-member organization`)
  const largeOrg = await server.call<{ organizationId: string; members: number; seedMs: number }>({ cmd: 'seedLarge', members: settings.large })
  log(`${db}: seeded in ${fmt(largeOrg.seedMs / 1000)} s`)
  const largePath = pathFor(largeOrg.organizationId, settings.search)
  const largeCount = await sameAnswer(server, largePath, headers, allPorts)
  const lm = await measure(server, targetsFor(largePath), headers, settings.largeConnections, settings.largeRounds, settings.largeSlice, 1)
  log(`${db} search in ${settings.large.toLocaleString('en')} orgd:     ${brief(lm.orgd)}`)
  log(`${db} search in ${settings.large.toLocaleString('en')} ceiling:  ${brief(lm.ceiling)}`)
  const largeTimings = await server.call<StatementTiming[]>({ cmd: 'timings', organizationId: largeOrg.organizationId, search: settings.search, budgetMs: 1000 })

  // Plans of every statement, on both organizations, for the investigation (bench/results/).
  type Plan = { statement: string; sql: string; plan: string }
  const plans = [
    ...(await server.call<Plan[]>({ cmd: 'explain', organizationId: ready.organizationId, search: settings.search })).map((p) => ({ ...p, org: settings.small })),
    ...(await server.call<Plan[]>({ cmd: 'explain', organizationId: largeOrg.organizationId, search: settings.search })).map((p) => ({ ...p, org: settings.large })),
  ]
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true })
  writeFileSync(
    join(BENCH_DIR, 'results', `explain-${db}.txt`),
    `EXPLAIN (ANALYZE, BUFFERS) on ${db}, after one warm-up run of each statement. The timings inside a plan are inflated by\n` +
      `EXPLAIN ANALYZE's own clock reads on this VM; the statement timings in latest.json are the plain ones.\n\n` +
      plans.map((p) => `### ${p.statement} — organization of ${p.org.toLocaleString('en')} members\n${p.sql.replace(/\s+/g, ' ').trim()}\n\n${p.plan}\n`).join('\n'),
  )

  await server.stop()
  return {
    db,
    dbVersion: ready.dbVersion,
    poolSize: db === 'postgres' ? ready.poolSize : null,
    seed: { members: ready.members, seconds: ready.seedMs / 1000, largeMembers: largeOrg.members, largeSeconds: largeOrg.seedMs / 1000 },
    scenarios,
    large: { path: largePath, count: largeCount, orgd: lm.orgd, ceiling: lm.ceiling },
    statementTimings: { small, large: largeTimings },
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------
interface Verdict {
  target: string
  db: string
  value: string
  met: boolean
}

function verdicts(results: BackendResult[]): Verdict[] {
  const out: Verdict[] = []
  for (const r of results) {
    for (const s of r.scenarios) {
      out.push({ target: `${s.scenario}: orgd ≥ ${TARGETS.ratio * 100}% of the ceiling's req/s`, db: r.db, value: `${fmt(s.ratio * 100, 0)}% (by CPU/request ${fmt(s.cpuRatio * 100, 0)}%)`, met: s.ratio >= TARGETS.ratio })
      out.push({
        target: `${s.scenario}: p99 ≤ ${TARGETS.halfLoadP99Ms} ms at half load (autocannon overallRate ${s.half.rate} req/s)`,
        db: r.db,
        value: `${fmt(s.half.autocannon.p99Ms, 1)} ms`,
        met: s.half.autocannon.p99Ms <= TARGETS.halfLoadP99Ms,
      })
      out.push({
        target: `${s.scenario}: p99 ≤ ${TARGETS.halfLoadP99Ms} ms at half load (paced, ${s.half.rate} req/s)`,
        db: r.db,
        value: `${fmt(s.half.paced.p99Ms, 1)} ms`,
        met: s.half.paced.p99Ms <= TARGETS.halfLoadP99Ms,
      })
    }
    out.push({
      target: `search in ${r.seed.largeMembers.toLocaleString('en')} members: p50 ≤ ${TARGETS.largeSearchP50Ms} ms (${settings.largeConnections} connection)`,
      db: r.db,
      value: `${fmt(r.large.orgd.p50Ms, 1)} ms`,
      met: r.large.orgd.p50Ms <= TARGETS.largeSearchP50Ms,
    })
  }
  return out
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `| ${header.map((_h, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

const lat = (m: Measured) => `${fmt(m.p50Ms, 1)} / ${fmt(m.p99Ms, 1)} ms`

function report(m: Machine, results: BackendResult[], command: string): string {
  const n = (x: number) => x.toLocaleString('en')
  const main = table(
    ['database', 'request (matches)', 'orgd req/s', 'orgd p50 / p99', 'ceiling req/s', 'ceiling p50 / p99', 'orgd ÷ ceiling', 'same, by CPU/request', 'half load', 'p99 at half: autocannon', 'p99 at half: paced', 'ceiling p99 at half: paced'],
    results.flatMap((r) =>
      r.scenarios.map((s) => [
        r.db,
        s.scenario === 'list' ? `list (${n(s.count)})` : `search=${settings.search} (${n(s.count)})`,
        fmt(s.orgd.reqPerSec, 0),
        lat(s.orgd),
        fmt(s.ceiling.reqPerSec, 0),
        lat(s.ceiling),
        `**${fmt(s.ratio * 100, 0)}%**`,
        `${fmt(s.cpuRatio * 100, 0)}%`,
        `${s.half.rate} req/s`,
        `${fmt(s.half.autocannon.p99Ms, 1)} ms`,
        `${fmt(s.half.paced.p99Ms, 1)} ms`,
        `${fmt(s.half.ceilingPaced.p99Ms, 1)} ms`,
      ]),
    ),
  )
  const large = table(
    ['database', 'request (matches)', 'orgd req/s', 'orgd p50 / p99', 'ceiling req/s', 'ceiling p50 / p99'],
    results.map((r) => [
      r.db,
      `search=${settings.search} in ${n(r.seed.largeMembers)} (${n(r.large.count)})`,
      fmt(r.large.orgd.reqPerSec, 1),
      `**${lat(r.large.orgd)}**`,
      fmt(r.large.ceiling.reqPerSec, 1),
      lat(r.large.ceiling),
    ]),
  )
  const cpu = table(
    ['database', 'request', 'route', 'server process', 'PostgreSQL', 'load generator', 'bytes/response'],
    results.flatMap((r) =>
      [...r.scenarios.flatMap((s) => [s.orgd, s.ceiling].map((x) => ({ s: s.scenario === 'list' ? 'list' : `search=${settings.search}`, x })))].map(({ s, x }) => [
        r.db,
        s,
        x.target,
        `${fmt(x.cpuMsPerRequest.server, 2)} ms`,
        x.cpuMsPerRequest.postgres === null ? '(in the server)' : `${fmt(x.cpuMsPerRequest.postgres, 2)} ms`,
        `${fmt(x.cpuMsPerRequest.loadGenerator, 2)} ms`,
        n(x.bytesPerResponse),
      ]),
    ),
  )
  const stmts = table(
    ['database', 'statement', `p50 in ${n(settings.small)}`, 'mean', `p50 in ${n(settings.large)}`, 'mean'],
    results.flatMap((r) =>
      r.statementTimings.small.map((s, i) => {
        const l = r.statementTimings.large[i]
        return [r.db, `\`${s.statement}\``, `${fmt(s.p50Ms, 2)} ms`, `${fmt(s.meanMs, 2)} ms`, `${fmt(l.p50Ms, 2)} ms`, `${fmt(l.meanMs, 2)} ms`]
      }),
    ),
  )
  const v = table(['target', 'database', 'measured', 'met'], verdicts(results).map((x) => [x.target, x.db, x.value, x.met ? 'yes' : '**no**']))
  const probe = m.cpuProbeMs
  return [
    `Measured ${m.date.slice(0, 16).replace('T', ' ')} UTC on ${m.nproc} × ${m.cpuModel} (nproc ${m.nproc}), ${m.memoryGiB} GiB RAM, Node ${m.node}, ` +
      `${m.postgres ? m.postgres.split(' on ')[0] : 'no PostgreSQL'}, ${m.pglite}; orgd at ${m.commit}. ` +
      `CPU steadiness probe (one fixed loop, 15 times): ${fmt(probe.min, 0)}–${fmt(probe.max, 0)} ms, median ${fmt(probe.median, 0)} ms. ` +
      `Other processes used ${fmt((m.otherProcessesShare ?? 0) * 100, 0)}% of the machine while the bench measured.`,
    '',
    `Command: \`${command}\`. ${settings.connections} connections; each route warmed up ${settings.warmup} s, then measured ` +
      `${settings.rounds} × ${settings.slice} s in alternating slices (orgd, ceiling, then the reverse order). ` +
      `Half load: ${settings.halfDuration} s at half of orgd's measured req/s, once with autocannon \`overallRate\` and once paced evenly (after ${PACED_SETTLE_SECONDS} s at that rate, not recorded), then the ceiling paced the same way at the same rate. ` +
      `${n(settings.large)}-member search: ${settings.largeConnections} connection, ${settings.largeRounds} × ${settings.largeSlice} s per route. ` +
      `Latencies are computed from every response's own time.`,
    '',
    main,
    '',
    `Search in the ${n(settings.large)}-member organization (low concurrency):`,
    '',
    large,
    '',
    'CPU time per request (server process = orgd or the ceiling, plus PGlite itself on PGlite):',
    '',
    cpu,
    '',
    "Each statement alone, one after another, through the ceiling's connection (driver round trip included):",
    '',
    stmts,
    '',
    v,
  ].join('\n')
}

function rewriteReadme(section: string): void {
  const path = join(BENCH_DIR, 'README.md')
  const begin = '<!-- bench:results:begin (written by npm run bench) -->'
  const end = '<!-- bench:results:end -->'
  const text = existsSync(path) ? readFileSync(path, 'utf8') : `# Benchmarks\n\n${begin}\n${end}\n`
  const i = text.indexOf(begin)
  const j = text.indexOf(end)
  if (i < 0 || j < i) {
    console.error('bench/README.md has no results markers; not rewritten')
    return
  }
  writeFileSync(path, `${text.slice(0, i + begin.length)}\n${section}\n${text.slice(j)}`)
}

// ---------------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const started = performance.now()
  const m = await machine()
  log(`${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.postgres?.split(' on ')[0] ?? 'no PostgreSQL'}, ${m.pglite}`)
  const results: BackendResult[] = []
  const quietBefore: number[] = []
  for (const db of settings.dbs) {
    if (quietBefore.length === 0) quietBefore.push(await waitForQuiet())
    results.push(await runBackend(db))
    await cleanup()
  }
  m.otherProcessesShare = otherLoad.wallMs > 0 ? otherLoad.busyMs / otherLoad.wallMs : 0
  const command = 'npm run bench'
  const text = report(m, results, command)
  console.log(`\n${text}\n`)
  const vs = verdicts(results)
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true })
  writeFileSync(
    join(BENCH_DIR, 'results', 'latest.json'),
    JSON.stringify({ machine: m, command, settings, targets: TARGETS, results, verdicts: vs, totalSeconds: (performance.now() - started) / 1000 }, null, 2) + '\n',
  )
  if (isDefaultRun) rewriteReadme(text)
  else console.log('(non-default settings: bench/README.md left as it is)')
  log(`done in ${fmt((performance.now() - started) / 1000, 0)} s; bench/results/latest.json written; ${vs.filter((x) => !x.met).length} of ${vs.length} targets missed`)
}

try {
  await main()
} catch (err) {
  console.error('bench failed:', err instanceof Error ? (err.stack ?? err.message) : err)
  process.exitCode = 1
} finally {
  await cleanup()
}
