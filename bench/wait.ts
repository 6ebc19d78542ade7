/**
 * Waits for `p`, but no longer than `ms`; resolves undefined on timeout (or rejects with
 * `onTimeout()` when given). The timer is cleared either way: a timer left pending keeps the
 * process alive until it fires.
 */
export async function waitAtMost<T>(p: Promise<T>, ms: number, onTimeout?: () => Error): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve, reject) => {
    timer = setTimeout(() => (onTimeout ? reject(onTimeout()) : resolve(undefined)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}
