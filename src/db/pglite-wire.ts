// One round trip to PGlite on the PostgreSQL wire protocol, for the statements every request runs.
//
// PGlite's own `query()` sends Parse, Describe, Bind, Describe, Execute and Sync as six separate
// calls into WebAssembly, decodes every backend message into objects, and then waits for a file
// system sync; `exec()` sends a simple Query and a Sync. A key lookup kept prepared cost 0.28 ms
// that way, and 0.07-0.10 ms as one simple Query (`EXECUTE name(…)`) whose answer is read here
// straight from the bytes, with a fifth of the garbage.
//
// The answer is copied into one receive buffer kept for the instance and decoded into strings and
// values while PGlite's lock is still held: no per-query Buffer. A Buffer that large lives outside
// the JavaScript heap, and V8 answers a steady stream of them with full collections (an earlier
// version that kept the page as a Buffer per request ran 46 full collections in 20 s at 150 req/s,
// this one 2, PGlite's own path 5).
import { messages, types, type PGlite } from '@electric-sql/pglite'

const QUERY = 0x51 // 'Q'
const ROW_DESCRIPTION = 0x54 // 'T'
const DATA_ROW = 0x44 // 'D'
const ERROR_RESPONSE = 0x45 // 'E'

/** A simple Query message: 'Q', its length, the SQL as a C string. */
function simpleQuery(sql: string): Uint8Array {
  const length = 4 + Buffer.byteLength(sql) + 1
  const msg = Buffer.allocUnsafe(1 + length)
  msg[0] = QUERY
  msg.writeInt32BE(length, 1)
  msg.write(sql, 5)
  msg[length] = 0
  return msg
}

// ErrorResponse field codes and the DatabaseError properties they fill (PGlite's own names).
const ERROR_FIELDS: Record<string, string> = {
  S: 'severity',
  C: 'code',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
}

function databaseError(buf: Buffer, start: number, end: number): Error {
  const fields: Record<string, string> = {}
  let p = start
  while (p < end && buf[p] !== 0) {
    const code = String.fromCharCode(buf[p])
    const zero = buf.indexOf(0, p + 1)
    fields[code] = buf.toString('utf8', p + 1, zero)
    p = zero + 1
  }
  const err = new messages.DatabaseError(fields.M ?? 'unknown database error', end - start, 'error')
  for (const [code, value] of Object.entries(fields)) {
    const prop = ERROR_FIELDS[code]
    if (prop) (err as unknown as Record<string, string>)[prop] = value
  }
  return err
}

/**
 * The rows of the last statement of a simple Query that returned rows, from the first `length`
 * bytes of `buf`, decoded with PGlite's own parsers (so values are what `query()` gives). An
 * ErrorResponse is thrown as PGlite's DatabaseError.
 */
function readRows<T>(buf: Buffer, length: number, parsers: PGlite['parsers']): T[] {
  let names: string[] = []
  let oids: number[] = []
  let rows: Array<Record<string, unknown>> = []
  let pos = 0
  while (pos + 5 <= length) {
    const type = buf[pos]
    const end = pos + 1 + buf.readInt32BE(pos + 1)
    const body = pos + 5
    if (type === ROW_DESCRIPTION) {
      const n = buf.readInt16BE(body)
      names = new Array<string>(n)
      oids = new Array<number>(n)
      rows = []
      let p = body + 2
      for (let i = 0; i < n; i++) {
        const zero = buf.indexOf(0, p)
        names[i] = buf.toString('utf8', p, zero)
        // After the name: table OID (4), column number (2), then the type OID.
        oids[i] = buf.readInt32BE(zero + 7)
        p = zero + 19
      }
    } else if (type === DATA_ROW) {
      const n = buf.readInt16BE(body)
      const row: Record<string, unknown> = {}
      let p = body + 2
      for (let i = 0; i < n; i++) {
        const size = buf.readInt32BE(p)
        p += 4
        if (size < 0) {
          row[names[i]] = null
          continue
        }
        row[names[i]] = types.parseType(buf.toString('utf8', p, p + size), oids[i], parsers)
        p += size
      }
      rows.push(row)
    } else if (type === ERROR_RESPONSE) {
      throw databaseError(buf, body, end)
    }
    pos = end
  }
  return rows as T[]
}

// Above this the receive buffer is let go after the query, so one huge answer does not stay.
const KEEP_BYTES = 1024 * 1024

/** Reads run as one simple Query on one PGlite instance (see the top of this file). */
export class PgliteWire {
  private buf = Buffer.allocUnsafe(256 * 1024)
  private length = 0
  // The chunk is a view of WebAssembly memory, valid during the call only: copied at once.
  private readonly onRawData = (chunk: Uint8Array): void => {
    const need = this.length + chunk.length
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
      this.buf.copy(bigger, 0, 0, this.length)
      this.buf = bigger
    }
    this.buf.set(chunk, this.length)
    this.length = need
  }

  constructor(private readonly pglite: PGlite) {}

  /**
   * Runs `sql` (reads only: no file system sync follows) and returns the rows of its last
   * statement. Outside a transaction only: it waits for PGlite's transaction lock, then its query
   * lock, as `query()` does, so it never runs inside someone else's open transaction; the answer
   * is decoded before the lock is let go, since the next query reuses the buffer.
   */
  read<T>(sql: string): Promise<T[]> {
    const msg = simpleQuery(sql)
    return this.pglite._runExclusiveTransaction(() =>
      this.pglite._runExclusiveQuery(async () => {
        this.length = 0
        try {
          await this.pglite.execProtocolRawStream(msg, { syncToFs: false, onRawData: this.onRawData })
          return readRows<T>(this.buf, this.length, this.pglite.parsers)
        } finally {
          if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(256 * 1024)
        }
      }),
    )
  }
}
