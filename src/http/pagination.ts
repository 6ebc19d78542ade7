import type { FastifyRequest } from 'fastify'

export const DEFAULT_PAGE_SIZE = 100

export interface Page {
  limit: number
  offset: number
}

export interface Paginated<T> {
  count: number
  next: string | null
  previous: string | null
  results: T[]
}

function positiveInt(raw: unknown): number | null {
  if (typeof raw !== 'string' || !/^\s*\+?\d+\s*$/.test(raw)) return null
  const n = Number(raw)
  return Number.isSafeInteger(n) ? n : null
}

/** DRF LimitOffsetPagination: a bad or non-positive limit means 100; a bad offset means 0. */
export function readPage(query: Record<string, unknown>): Page {
  const limit = positiveInt(query.limit)
  const offset = positiveInt(query.offset)
  return { limit: limit && limit > 0 ? limit : DEFAULT_PAGE_SIZE, offset: offset ?? 0 }
}

function absoluteUrl(req: FastifyRequest): URL {
  return new URL(req.url, `${req.protocol}://${req.host}`)
}

/** Builds `{count, next, previous, results}` with absolute links, exactly as DRF does. */
export function paginate<T>(req: FastifyRequest, page: Page, count: number, results: T[]): Paginated<T> {
  let next: string | null = null
  let previous: string | null = null
  if (page.offset + page.limit < count) {
    const url = absoluteUrl(req)
    url.searchParams.set('limit', String(page.limit))
    url.searchParams.set('offset', String(page.offset + page.limit))
    next = url.toString()
  }
  if (page.offset > 0) {
    const url = absoluteUrl(req)
    url.searchParams.set('limit', String(page.limit))
    if (page.offset - page.limit <= 0) url.searchParams.delete('offset')
    else url.searchParams.set('offset', String(page.offset - page.limit))
    previous = url.toString()
  }
  return { count, next, previous, results }
}

/**
 * The same page as JSON text, for results the database already wrote as a JSON array: they go
 * out as they came, neither parsed nor written again.
 */
export function paginatedJson(req: FastifyRequest, page: Page, count: number, resultsJson: string): string {
  const { next, previous } = paginate(req, page, count, [])
  return `{"count":${count},"next":${JSON.stringify(next)},"previous":${JSON.stringify(previous)},"results":${resultsJson}}`
}
