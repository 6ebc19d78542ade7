import { PGlite, type Transaction } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import pg from 'pg'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Config } from '../config.ts'
import { acquireDirLock, type DirLock } from './lock.ts'
import { PgliteWire } from './pglite-wire.ts'

// Marks code running inside db.tx(). On PGlite (one connection) a query on the database itself
// from inside a transaction would wait for that transaction forever; on PostgreSQL it would read
// outside the transaction. Both are bugs, so they fail loudly instead.
const inTransaction = new AsyncLocalStorage<true>()

function assertNotInTransaction(): void {
  if (inTransaction.getStore()) {
    throw new Error('Query on the database inside a transaction: use the transaction passed to tx()')
  }
}

/** Options of one query. */
export interface QueryOptions {
  /**
   * Keep this statement prepared under this name (a fixed SQL text per name) and reuse its plan.
   * On PGlite planning runs in WebAssembly and costs more than executing the primary-key lookups
   * that run on every request (findForAuth: 1.9 ms planned each time against 0.8 ms prepared), and
   * outside a transaction a prepared statement runs in one wire-protocol round trip without a file
   * system sync (src/db/pglite-wire.ts), so it must only read (SELECT, or WITH and SELECT). On
   * PostgreSQL it becomes a named statement of each connection (findForAuth alone: 0.26 -> 0.09
   * ms), unless `PG_PREPARED_STATEMENTS=false` (a pooler in transaction mode that does not keep
   * protocol-level prepared statements) or `plan: 'custom'`.
   */
  prepare?: string
  /**
   * With `prepare`, which plan runs (otherwise PostgreSQL's choice: custom plans for the first
   * five runs, then the generic one if it does not look dearer).
   * - `generic`: always the generic plan. PostgreSQL keeps planning a statement whose generic
   *   plan looks dearer than its custom ones (a LIMIT given as a parameter is costed at a tenth of
   *   the rows), although for a page in index order the plan is the same: on PGlite the member
   *   list costs 7.2 ms planned each time and 5.5 ms on its generic plan. Only for statements
   *   whose best plan does not depend on their parameters.
   * - `custom`: planned for its values every time, as an unprepared statement is (a search whose
   *   best plan depends on the term), kept prepared only for the single round trip.
   */
  plan?: 'generic' | 'custom'
}

/** Anything that runs SQL: the database itself or an open transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<T[]>
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres'
  /**
   * Runs `fn` in one transaction. On PostgreSQL a serialization failure or deadlock is retried
   * a few times, so callers never see those as errors.
   */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>
  close(): Promise<void>
}

const RETRYABLE = new Set(['40001', '40P01'])

// Member search uses the indexable `<%` operator, whose cut-off is this setting. PostHog's
// "similar" threshold is 0.3; it is set for every connection so the index can answer it.
const SESSION_SETTINGS = 'pg_trgm.word_similarity_threshold=0.3'

// int8 comes back as a string from node-postgres; every bigint orgd reads is a count or an id
// well inside 2^53, so parse it as a number once here instead of at every call site.
pg.types.setTypeParser(20, (v) => Number(v))

/**
 * The statement as node-postgres sends it: named (parsed once per connection, its plan kept by
 * PostgreSQL) when it has a `prepare` name, unless it is to be planned for its values each time.
 */
function pgStatement(sql: string, params: readonly unknown[], opts: QueryOptions | undefined, named: boolean): pg.QueryConfig {
  if (named && opts?.prepare && opts.plan !== 'custom') return { name: opts.prepare, text: sql, values: params as unknown[] }
  return { text: sql, values: params as unknown[] }
}

class PostgresDb implements Db {
  readonly kind = 'postgres' as const
  constructor(
    private readonly pool: pg.Pool,
    private readonly named: boolean,
  ) {}

  async query<T>(sql: string, params: readonly unknown[] = [], opts?: QueryOptions): Promise<T[]> {
    assertNotInTransaction()
    const res = await this.pool.query(pgStatement(sql, params, opts, this.named))
    return res.rows as T[]
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql)
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    assertNotInTransaction()
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect()
      let released = false
      try {
        await client.query('BEGIN')
        const q: Queryable = {
          query: async <R>(sql: string, params: readonly unknown[] = [], opts?: QueryOptions) =>
            (await client.query(pgStatement(sql, params, opts, this.named))).rows as R[],
          exec: async (sql: string) => {
            await client.query(sql)
          },
        }
        const result = await inTransaction.run(true, () => fn(q))
        await client.query('COMMIT')
        return result
      } catch (err) {
        try {
          await client.query('ROLLBACK')
        } catch {
          client.release(true)
          released = true
        }
        const code = (err as { code?: string }).code
        if (code && RETRYABLE.has(code) && attempt < 5) continue
        throw err
      } finally {
        if (!released) client.release()
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

// What runs SQL on PGlite: the instance itself, or the transaction open on it.
type PgliteSession = Pick<Transaction, 'query' | 'exec'>

/**
 * A parameter of a prepared statement written as an SQL literal. Strings are quoted with quotes
 * doubled, which is exact under standard_conforming_strings (always on in orgd's databases);
 * other kinds of value are refused rather than guessed at.
 */
export function sqlLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new Error('a prepared statement parameter is an invalid date')
    return `'${v.toISOString()}'`
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  if (typeof v === 'string') {
    if (v.includes('\0')) throw new Error('a prepared statement parameter contains a NUL character')
    return `'${v.replace(/'/g, "''")}'`
  }
  throw new Error(`a prepared statement parameter of type ${typeof v} cannot be written as a literal`)
}

// What a statement kept prepared may be: a read (see QueryOptions.prepare).
const READ_ONLY = /^\s*(SELECT|WITH)\b/i
const WRITES = /\b(INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b/i

// SQLSTATE of EXECUTE naming a statement the session does not have.
const UNKNOWN_STATEMENT = '26000'

class PgliteDb implements Db {
  readonly kind = 'pglite' as const
  // PGlite is one session: a statement prepared once serves every later query, in or out of a
  // transaction. Statements are prepared outside transactions only: a transaction waiting for a
  // PREPARE that waits for the transaction's lock would never end. `prepared` holds the names
  // whose PREPARE has completed (what a transaction may use), `preparing` every PREPARE started.
  private readonly prepared = new Set<string>()
  private readonly preparing = new Map<string, Promise<void>>()
  private readonly wire: PgliteWire

  constructor(
    readonly pglite: PGlite,
    private readonly lock: DirLock | null,
  ) {
    this.wire = new PgliteWire(pglite)
  }

  async query<T>(sql: string, params: readonly unknown[] = [], opts?: QueryOptions): Promise<T[]> {
    assertNotInTransaction()
    if (opts?.prepare) await this.prepare(opts.prepare, sql)
    return this.run<T>(this.pglite, sql, params, opts)
  }

  private prepare(name: string, sql: string): Promise<void> {
    let pending = this.preparing.get(name)
    if (!pending) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`prepared statement name "${name}" is not a plain identifier`)
      if (!READ_ONLY.test(sql) || WRITES.test(sql)) throw new Error(`prepared statement "${name}" is not a SELECT: only reads are kept prepared`)
      pending = this.pglite.exec(`PREPARE ${name} AS ${sql}`).then(
        () => void this.prepared.add(name),
        (err: unknown) => {
          this.preparing.delete(name)
          throw err
        },
      )
      this.preparing.set(name, pending)
    }
    return pending
  }

  /** EXECUTE of the prepared statement when the session has it, else the SQL itself. */
  private async run<T>(session: PgliteSession, sql: string, params: readonly unknown[], opts?: QueryOptions): Promise<T[]> {
    const name = opts?.prepare
    if (!name || !this.prepared.has(name)) return (await session.query<T>(sql, params as unknown[])).rows
    // EXECUTE is a utility statement: its arguments cannot be bind parameters, so they go in as
    // literals (sqlLiteral), coerced by PostgreSQL to the statement's parameter types.
    const execute = params.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${params.map(sqlLiteral).join(', ')})`
    // One simple query is one transaction (or part of the caller's): when the EXECUTE fails,
    // the SET is rolled back with it, so the session never keeps the forced mode.
    const text = opts.plan ? `SET plan_cache_mode = force_${opts.plan}_plan; ${execute}; RESET plan_cache_mode` : execute
    try {
      if (session === this.pglite) return await this.wire.read<T>(text)
      const results = await session.exec(text)
      return results[opts.plan ? 1 : 0].rows as T[]
    } catch (err) {
      // Gone from the session (DEALLOCATE): the SQL itself this time (outside a transaction; inside
      // one the error has already aborted it), prepared again on the next query.
      if ((err as { code?: string }).code !== UNKNOWN_STATEMENT) throw err
      this.prepared.delete(name)
      this.preparing.delete(name)
      return (await session.query<T>(sql, params as unknown[])).rows
    }
  }

  async exec(sql: string): Promise<void> {
    await this.pglite.exec(sql)
  }

  // PGlite is a single connection: its transaction() holds an exclusive mutex, so transactions
  // never interleave and there is nothing to retry.
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    assertNotInTransaction()
    return this.pglite.transaction(async (t) =>
      inTransaction.run(true, () => fn({
        query: <R>(sql: string, params: readonly unknown[] = [], opts?: QueryOptions) => this.run<R>(t, sql, params, opts),
        exec: async (sql: string) => {
          await t.exec(sql)
        },
      })),
    )
  }

  async close(): Promise<void> {
    await this.pglite.close()
    this.lock?.release()
  }
}

export interface OpenOptions {
  databaseUrl: string | null
  dataDir: string
  poolSize?: number
  /**
   * Seconds an idle connection stays open (default 10, node-postgres's own). `orgd serve` keeps
   * them longer: a burst after a quiet spell otherwise waits for new backends to start, which
   * showed as 40-170 ms answers for the first half second.
   */
  poolIdleSeconds?: number
  /** PostgreSQL: send statements with a `prepare` name as named statements (default true). */
  namedStatements?: boolean
}

/** What `orgd serve` opens: the configured database with the configured pool. */
export function serveOpenOptions(config: Config): OpenOptions {
  return {
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.pgPoolSize,
    poolIdleSeconds: config.pgPoolIdleSeconds,
    namedStatements: config.pgPreparedStatements,
  }
}

/** A node-postgres pool as orgd opens it: size, idle time and orgd's session setting. */
export function openPgPool(databaseUrl: string, opts: Pick<OpenOptions, 'poolSize' | 'poolIdleSeconds'>): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.poolSize ?? 10,
    idleTimeoutMillis: (opts.poolIdleSeconds ?? 10) * 1000,
    // Idle connections must not keep a finished process alive for that long.
    allowExitOnIdle: true,
    options: `-c ${SESSION_SETTINGS}`,
  })
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return pool
}

/** orgd's Db over a node-postgres pool (the bench's ceiling runs its statements through one too). */
export function postgresDb(pool: pg.Pool, opts: Pick<OpenOptions, 'namedStatements'> = {}): Db {
  return new PostgresDb(pool, opts.namedStatements ?? true)
}

/** Opens PostgreSQL when a URL is given, otherwise the embedded PGlite database in the data dir. */
export async function openDb(opts: OpenOptions): Promise<Db> {
  if (opts.databaseUrl) return postgresDb(openPgPool(opts.databaseUrl, opts), opts)
  mkdirSync(opts.dataDir, { recursive: true })
  const lock = acquireDirLock(opts.dataDir)
  try {
    const pglite = await PGlite.create({ dataDir: join(opts.dataDir, 'pgdata'), extensions: { pg_trgm } })
    await pglite.exec(`SET ${SESSION_SETTINGS.replace('=', ' = ')}`)
    return new PgliteDb(pglite, lock)
  } catch (err) {
    lock.release()
    throw err
  }
}

/** An in-memory PGlite database, optionally started from a dumped data directory (tests). */
export async function openMemoryPglite(loadDataDir?: Blob): Promise<Db & { pglite: PGlite }> {
  const pglite = await PGlite.create({ extensions: { pg_trgm }, ...(loadDataDir ? { loadDataDir } : {}) })
  await pglite.exec(`SET ${SESSION_SETTINGS.replace('=', ' = ')}`)
  return new PgliteDb(pglite, null)
}
