import type { Db, Queryable } from '../db/index.ts'

export interface JobRow {
  id: number
  kind: string
  payload: Record<string, unknown>
  status: 'queued' | 'running' | 'done' | 'failed'
  attempts: number
  max_attempts: number
  run_at: Date
  last_error: string | null
  finished_at: Date | null
}

/** A job handler runs outside any transaction; throwing schedules a retry. */
export type JobHandler = (job: JobRow, db: Db) => Promise<void>

export interface QueueOptions {
  pollMs: number
  retryBaseMs: number
  maxAttempts: number
  /** How long a claimed job stays reserved before another worker may take it over. */
  lockMs?: number
  onError?: (job: JobRow, err: unknown) => void
}

/**
 * Writes a job in the caller's transaction (outbox): it exists exactly when the change it belongs
 * to committed, and survives a crash between commit and delivery.
 */
export async function enqueue(q: Queryable, kind: string, payload: Record<string, unknown>, maxAttempts?: number): Promise<number> {
  const rows = await q.query<{ id: number }>(
    `INSERT INTO jobs (kind, payload, max_attempts) VALUES ($1, $2, coalesce($3, 8)) RETURNING id`,
    [kind, JSON.stringify(payload), maxAttempts ?? null],
  )
  return rows[0].id
}

/**
 * A worker over the jobs table. Any number of processes may run one: claiming uses
 * FOR UPDATE SKIP LOCKED, and a job whose worker died is taken over when its lock expires.
 * Delivery is at least once; handlers make their effects idempotent where it matters.
 */
export class JobWorker {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private stopped = true
  /** Set by stop(): a drain in progress finishes its batch and returns. */
  private stopping = false
  private wakeRequested = false

  constructor(
    private readonly db: Db,
    private readonly handlers: Record<string, JobHandler>,
    private readonly opts: QueueOptions,
  ) {}

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.stopping = false
    this.schedule(0)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.stopping = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  /** Ask for a run soon (after a commit that enqueued work), instead of waiting for the poll. */
  nudge(): void {
    if (this.stopped) return
    if (this.running) {
      this.wakeRequested = true
      return
    }
    this.schedule(0)
  }

  private schedule(ms: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      this.running = this.drain().then(() => undefined, () => undefined).finally(() => {
        this.running = null
        const again = this.wakeRequested
        this.wakeRequested = false
        this.schedule(again ? 0 : this.opts.pollMs)
      })
    }, ms)
    this.timer.unref?.()
  }

  /**
   * Runs the jobs that are due when it starts, until none of them is left; returns how many ran.
   * A retry that falls due meanwhile waits for the next drain. Tests call it directly.
   */
  async drain(limit = 1000): Promise<number> {
    const [{ t }] = await this.db.query<{ t: Date }>(`SELECT now() AS t`)
    let ran = 0
    while (ran < limit && !this.stopping) {
      const batch = await this.claim(10, t)
      if (batch.length === 0) break
      await Promise.all(batch.map((job) => this.run(job)))
      ran += batch.length
    }
    return ran
  }

  private async claim(n: number, dueBy: Date): Promise<JobRow[]> {
    const lockMs = this.opts.lockMs ?? 5 * 60_000
    return this.db.query<JobRow>(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = now() + ($2::int * interval '1 millisecond'), updated_at = now()
        WHERE id IN (
          SELECT id FROM jobs
           WHERE (status = 'queued' AND run_at <= $3) OR (status = 'running' AND locked_until < now())
           ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, kind, payload, status, attempts, max_attempts, run_at, last_error, finished_at`,
      [n, lockMs, dueBy],
    )
  }

  private async run(job: JobRow): Promise<void> {
    const handler = this.handlers[job.kind]
    try {
      if (!handler) throw new Error(`no handler for job kind "${job.kind}"`)
      await handler(job, this.db)
      await this.db.query(`UPDATE jobs SET status = 'done', finished_at = now(), locked_until = NULL, last_error = NULL, updated_at = now() WHERE id = $1`, [job.id])
    } catch (err) {
      this.opts.onError?.(job, err)
      const message = err instanceof Error ? err.message : String(err)
      const final = job.attempts >= Math.min(job.max_attempts, this.opts.maxAttempts)
      const delay = Math.min(this.opts.retryBaseMs * 2 ** (job.attempts - 1), 3_600_000)
      await this.db.query(
        `UPDATE jobs SET status = $2, last_error = $3, locked_until = NULL, updated_at = now(),
                run_at = CASE WHEN $2 = 'queued' THEN now() + ($4::int * interval '1 millisecond') ELSE run_at END,
                finished_at = CASE WHEN $2 = 'failed' THEN now() ELSE NULL END
          WHERE id = $1`,
        [job.id, final ? 'failed' : 'queued', message.slice(0, 2000), delay],
      )
    }
  }
}
