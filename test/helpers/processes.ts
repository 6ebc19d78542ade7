/**
 * Real `orgd` processes for multi-process tests: a free port, `orgd serve` started and awaited
 * until it answers, one-shot CLI commands with their exit code and output. Every child started
 * here is remembered, and `killAll()` (call it in afterAll) kills whatever is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const ORGD_BIN = fileURLToPath(new URL('../../bin/orgd.mjs', import.meta.url))

/** A port nothing listens on right now: bind port 0, read the port, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error('no port'))
        return
      }
      server.close(() => resolve(address.port))
    })
  })
}

// Settings a test run may carry that must not leak into a child unless the test sets them.
const ORGD_VARIABLES = [
  'DATABASE_URL', 'ORGD_DATA_DIR', 'PORT', 'HOST', 'SITE_URL', 'LOG_LEVEL', 'PG_POOL_SIZE', 'PG_POOL_IDLE_SECONDS', 'SMTP_URL', 'EMAIL_FROM',
  'ORGD_RUN_WORKER', 'ORGD_DEFAULT_ENTITLEMENTS', 'JOB_POLL_MS', 'JOB_RETRY_BASE_MS', 'JOB_MAX_ATTEMPTS', 'PRODUCT_NAME',
  'OAUTH_ACCESS_TOKEN_TTL_SECONDS', 'OAUTH_REFRESH_TOKEN_TTL_SECONDS', 'OAUTH_CODE_TTL_SECONDS', 'GITHUB_CLIENT_ID',
  'GITHUB_CLIENT_SECRET', 'GITHUB_AUTHORIZE_URL', 'GITHUB_TOKEN_URL', 'GITHUB_API_URL',
  'SECRET_KEY', 'ESIGN_PROVIDER', 'PANDADOC_API_KEY', 'PANDADOC_API_BASE_URL', 'PANDADOC_WEBHOOK_SECRET', 'PANDADOC_BAA_TEMPLATE_ID',
  'PANDADOC_DPA_TEMPLATE_ID', 'PANDADOC_MSA_TEMPLATE_ID', 'LEGAL_COUNTERSIGNER_EMAIL', 'S3_BUCKET', 'S3_ENDPOINT', 'S3_REGION',
  'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE', 'OBJECT_STORAGE_LEGAL_DOCUMENTS_FOLDER',
]

/** The parent's environment without orgd's settings, plus `extra`. */
export function orgdEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ORGD_VARIABLES) delete env[name]
  return { ...env, ...extra }
}

const children = new Set<ChildProcess>()

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

function track(child: ChildProcess): { output: () => string; stdout: () => string; stderr: () => string; exited: Promise<Exit> } {
  children.add(child)
  let out = ''
  let err = ''
  let all = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d
    all += d
  })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d
    all += d
  })
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    })
  })
  return { output: () => all, stdout: () => out, stderr: () => err, exited }
}

export interface CliResult extends Exit {
  stdout: string
  stderr: string
}

/** Runs `orgd <args>` to completion (killed after `timeoutMs`). */
export async function runOrgd(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 45_000): Promise<CliResult> {
  const child = spawn(process.execPath, [ORGD_BIN, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const t = track(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const exit = await t.exited
    if (exit.signal === 'SIGKILL') throw new Error(`orgd ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${t.output()}`)
    return { ...exit, stdout: t.stdout(), stderr: t.stderr() }
  } finally {
    clearTimeout(timer)
  }
}

export interface ServeProcess {
  port: number
  url: string
  child: ChildProcess
  /** Everything written to stdout and stderr so far. */
  output(): string
  exited: Promise<Exit>
  /** Sends `signal` and waits for the exit; SIGKILL and an error after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit & { ms: number }>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Starts `orgd serve` on a free port and waits until `GET /_health` answers 200. */
export async function startServe(env: Record<string, string>, timeoutMs = 300_000): Promise<ServeProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, [ORGD_BIN, 'serve'], {
    cwd: REPO_ROOT,
    env: orgdEnv({ HOST: '127.0.0.1', ...env, PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const t = track(child)
  const state: { exit: Exit | null } = { exit: null }
  void t.exited.then((e) => {
    state.exit = e
  })
  const url = `http://127.0.0.1:${port}`
  const proc: ServeProcess = {
    port,
    url,
    child,
    output: t.output,
    exited: t.exited,
    async stop(signal = 'SIGTERM', stopTimeoutMs = 10_000) {
      const started = Date.now()
      if (state.exit) return { ...state.exit, ms: 0 }
      child.kill(signal)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), stopTimeoutMs)
      })
      const result = await Promise.race([t.exited, timeout])
      clearTimeout(timer)
      if (result === 'timeout') {
        child.kill('SIGKILL')
        await t.exited
        throw new Error(`orgd serve did not exit within ${stopTimeoutMs} ms of ${signal}:\n${t.output()}`)
      }
      return { ...result, ms: Date.now() - started }
    },
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (state.exit) throw new Error(`orgd serve exited early (${JSON.stringify(state.exit)}):\n${t.output()}`)
    try {
      const res = await fetch(`${url}/_health`, { signal: AbortSignal.timeout(2000) })
      if (res.status === 200) return proc
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`orgd serve did not answer /_health within ${timeoutMs} ms:\n${t.output()}`)
    }
    await sleep(100)
  }
}

/** Waits until `predicate()` holds, polling; false if it never did within `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

/** Kills every child these helpers started that is still running, and waits for them. */
export async function killAll(): Promise<void> {
  const running = [...children]
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGKILL')
        }),
    ),
  )
}
