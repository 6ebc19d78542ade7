import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'

export interface DirLock {
  release(): void
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `The data directory ${dataDir} is in use by another orgd process (pid ${pid}). ` +
        'The embedded database allows one process at a time: stop that process first, ' +
        'or point every process at PostgreSQL with DATABASE_URL.',
    )
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM means the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * PGlite does not lock its directory and two writers lose committed rows, so orgd keeps a pid
 * file created with O_EXCL. A file left by a dead process is taken over.
 */
export function acquireDirLock(dataDir: string): DirLock {
  const path = join(dataDir, 'orgd.pid')
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      let released = false
      return {
        release() {
          if (released) return
          released = true
          try {
            if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path)
          } catch {
            // already gone
          }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let pid = NaN
      try {
        pid = Number(readFileSync(path, 'utf8').trim())
      } catch {
        continue
      }
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new DataDirLockedError(dataDir, pid)
      try {
        unlinkSync(path)
      } catch {
        // another process removed it first; try again
      }
    }
  }
  throw new Error(`Could not lock the data directory ${dataDir}`)
}
