// Project endpoints under load, as a member of an organization of 1,000 projects of which 50 are
// private (so every request pays for the access-control filter):
//   GET /api/organizations/:id/projects/:id/        (retrieve)
//   PATCH /api/organizations/:id/projects/:id/      (one field: product_description)
//   GET /api/organizations/:id/projects/?limit=100  (list, with count)
// Run: `node bin/tsx.mjs bench/projects.ts` (BENCH_DBS=postgres,pglite, BENCH_SECONDS,
// BENCH_CONNECTIONS). The server runs in a child process (bench/projects-server.ts); this process
// only generates load. Figures go to bench/README.md by hand.
import autocannon, { type Result } from 'autocannon'
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'

const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(BENCH_DIR, '..')
const DBS = (process.env.BENCH_DBS ?? 'postgres,pglite').split(',').map((s) => s.trim()).filter(Boolean)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4)
const PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'
const PG_DB = 'orgd_bench_projects'

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL })
  await c.connect()
  try {
    await c.query(sql)
  } finally {
    await c.end()
  }
}

interface Ready {
  type: 'ready'
  port: number
  organizationId: string
  projectId: number
  memberKey: string
}

async function load(name: string, opts: { url: string; method?: 'GET' | 'PATCH'; body?: string; headers: Record<string, string> }): Promise<Result> {
  // A short warm-up, then the measured run.
  const common = { url: opts.url, method: opts.method ?? 'GET', headers: opts.headers, connections: CONNECTIONS, ...(opts.body ? { body: opts.body } : {}) }
  await autocannon({ ...common, duration: 2 } as never)
  const r = await autocannon({ ...common, duration: SECONDS } as never)
  console.log(`${name.padEnd(28)} ${String(Math.round(r.requests.average)).padStart(6)} req/s  p50 ${String(r.latency.p50).padStart(4)} ms  p99 ${String(r.latency.p99).padStart(4)} ms  non-2xx ${r.non2xx}  errors ${r.errors}`)
  return r
}

for (const kind of DBS) {
  const dataDir = mkdtempSync(join(tmpdir(), 'orgd-bench-projects-'))
  if (kind === 'postgres') {
    await admin(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`)
    await admin(`CREATE DATABASE ${PG_DB}`)
  }
  const child = fork(join(ROOT, 'bin/tsx.mjs'), [join(BENCH_DIR, 'projects-server.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_DB: kind, BENCH_DATA_DIR: dataDir, BENCH_DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${PG_DB}` },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  try {
    const ready = await new Promise<Ready>((res, rej) => {
      child.once('message', (m) => res(m as Ready))
      child.once('exit', (code) => rej(new Error(`server exited (${code})`)))
    })
    const base = `http://127.0.0.1:${ready.port}/api/organizations/${ready.organizationId}/projects`
    const headers = { authorization: `Bearer ${ready.memberKey}`, 'content-type': 'application/json' }
    console.log(`\n=== ${kind}: 1,000 projects (50 private), member key, ${CONNECTIONS} connections, ${SECONDS} s each ===`)
    await load('GET projects/:id/', { url: `${base}/${ready.projectId}/`, headers })
    await load('PATCH projects/:id/ (1 field)', { url: `${base}/${ready.projectId}/`, method: 'PATCH', body: JSON.stringify({ product_description: 'bench' }), headers })
    await load('GET projects/?limit=100', { url: `${base}/?limit=100`, headers })
  } finally {
    child.send({ cmd: 'close' })
    await new Promise((r) => setTimeout(r, 500))
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
    if (kind === 'postgres') await admin(`DROP DATABASE IF EXISTS ${PG_DB} WITH (FORCE)`)
  }
}
