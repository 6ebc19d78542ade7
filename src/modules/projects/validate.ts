import type { ProductFeature } from '../../config.ts'
import { ApiError, errors } from '../../http/errors.ts'
import { CURRENCY_CODES, TIMEZONES } from './choices.ts'

/**
 * PostHog's project serializer field by field (spec C.2 and C.8): each writable field's parser
 * returns the cleaned value or throws the 400 DRF would give, naming the field. Fields are checked
 * in the serializer's order and the first failure is reported, as PostHog does.
 */

const TZ = new Set(TIMEZONES)
const CURRENCIES = new Set(CURRENCY_CODES)

type Json = unknown

export interface ValidationContext {
  creating: boolean
  features: ProductFeature[]
  /** The stored row (update), for rules that depend on the current value. */
  current: Record<string, unknown> | null
  /** The team of each dashboard the body names, looked up beforehand; a missing id is no dashboard. */
  dashboardTeams?: ReadonlyMap<number, number>
}

const v = (detail: string, attr: string | null, code = 'invalid_input') => errors.validation(detail, attr, code)

const DRF_TRUE = new Set<unknown>([true, 1, '1', 'true', 'True', 'TRUE', 't', 'T', 'y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON'])
const DRF_FALSE = new Set<unknown>([false, 0, '0', 'false', 'False', 'FALSE', 'f', 'F', 'n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF'])

/** DRF's BooleanField reading of a raw value: true only for its true values. */
export const isDrfTrue = (value: unknown): boolean => DRF_TRUE.has(value)

function notNull(value: unknown, attr: string): void {
  if (value === null) throw v('This field may not be null.', attr, 'null')
}

function bool(value: unknown, attr: string): boolean {
  notNull(value, attr)
  if (DRF_TRUE.has(value)) return true
  if (DRF_FALSE.has(value)) return false
  throw v('Must be a valid boolean.', attr)
}

const nullableBool = (value: unknown, attr: string): boolean | null => (value === null ? null : bool(value, attr))

function str(value: unknown, attr: string, max: number | null, opts: { allowBlank?: boolean; trim?: boolean } = {}): string {
  notNull(value, attr)
  if (typeof value !== 'string' && typeof value !== 'number') throw v('Not a valid string.', attr)
  let s = String(value)
  if (s.includes('\u0000')) throw v('Null characters are not allowed.', attr)
  if (/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) throw v('Surrogate characters are not allowed.', attr)
  if (opts.trim !== false) s = s.trim()
  if (!opts.allowBlank && s === '') throw v('This field may not be blank.', attr, 'blank')
  if (max !== null && s.length > max) throw v(`Ensure this field has no more than ${max} characters.`, attr, 'max_length')
  return s
}

function choice<T>(value: unknown, attr: string, choices: readonly T[], nullable = false): T | null {
  if (value === null) {
    if (nullable) return null
    throw v('This field may not be null.', attr, 'null')
  }
  // DRF compares the string forms, so "1" selects 1.
  const hit = choices.find((c) => String(c) === String(value) && (typeof value === 'string' || typeof value === 'number'))
  if (hit === undefined) throw v(`"${typeof value === 'object' ? JSON.stringify(value) : String(value)}" is not a valid choice.`, attr, 'invalid_choice')
  return hit
}

function int(value: unknown, attr: string, min: number | null, max: number | null, nullable: boolean): number | null {
  if (value === null) {
    if (nullable) return null
    throw v('This field may not be null.', attr, 'null')
  }
  let n: number
  if (typeof value === 'number' && Number.isFinite(value) && Number.isInteger(value)) n = value
  else if (typeof value === 'string' && /^\s*[-+]?\d+(\.0*)?\s*$/.test(value) && value.length <= 1000) n = Number(value.replace(/\.0*\s*$/, ''))
  else throw v('A valid integer is required.', attr)
  if (!Number.isSafeInteger(n)) throw v('A valid integer is required.', attr)
  if (min !== null && n < min) throw v(`Ensure this value is greater than or equal to ${min}.`, attr, 'min_value')
  if (max !== null && n > max) throw v(`Ensure this value is less than or equal to ${max}.`, attr, 'max_value')
  return n
}

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function json(value: unknown, attr: string, nullable: boolean): Json {
  if (value === null && !nullable) throw v('This field may not be null.', attr, 'null')
  return value
}

function list(value: unknown, attr: string): unknown[] {
  if (!Array.isArray(value)) throw v(`Expected a list of items but got type "${pyType(value)}".`, attr, 'not_a_list')
  return value
}

/** The dashboard id a `primary_dashboard` value names, or null when it is no integer. */
export function dashboardPk(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value
  if (typeof value === 'string' && /^\s*[-+]?\d{1,15}\s*$/.test(value)) return Number(value.trim())
  return null
}

function pyType(value: unknown): string {
  if (value === null) return 'NoneType'
  if (Array.isArray(value)) return 'list'
  if (typeof value === 'object') return 'dict'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float'
  if (typeof value === 'boolean') return 'bool'
  return 'str'
}

function stringList(value: unknown, attr: string, max: number | null, nullItems: boolean): Array<string | null> {
  return list(value, attr).map((item, i) => {
    if (item === null) {
      if (nullItems) return null
      throw v('This field may not be null.', `${attr}__${i}`, 'null')
    }
    return str(item, `${attr}__${i}`, max, { allowBlank: true, trim: false })
  })
}

// ---------------------------------------------------------------------------------------------
// Field-specific rules
// ---------------------------------------------------------------------------------------------

const MAX_WILDCARDS = 5

/** PostHog's app_urls / widget_domains rule: at most five `*` in the host; the URL must parse. */
function checkUrlWildcards(url: string, attr: string): void {
  const hostPart = url.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '').split(/[/?#]/)[0]
  if ((hostPart.match(/\*/g) ?? []).length > MAX_WILDCARDS) throw v('Each URL can include up to 5 wildcards. Remove the extra ones from this entry.', attr)
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url)) {
    try {
      new URL(url.replace(/\*/g, 'x'))
    } catch {
      throw v(`Invalid URL: ${url}`, attr)
    }
  }
}

function appUrls(value: unknown, attr: string): string[] {
  if (value === null) return []
  const items = stringList(value, attr, 200, true).filter((u): u is string => typeof u === 'string' && u !== '')
  for (const u of items) checkUrlWildcards(u, attr)
  return items
}

function decimalRate(value: unknown, attr: string): string | null {
  if (value === null) return null
  let text: string
  if (typeof value === 'number' && Number.isFinite(value)) text = String(value)
  else if (typeof value === 'string' && value.length <= 100) text = value.trim()
  else throw v('A valid number is required.', attr)
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) throw v('A valid number is required.', attr)
  const n = Number(text)
  if (!Number.isFinite(n)) throw v('A valid number is required.', attr)
  if (n < 0) throw v('Ensure this value is greater than or equal to 0.', attr, 'min_value')
  if (n > 1) throw v('Ensure this value is less than or equal to 1.', attr, 'max_value')
  const places = /e/i.test(text) ? Math.max(0, (n.toString().split('.')[1] ?? '').length) : (text.split('.')[1] ?? '').replace(/0+$/, '').length
  if (places > 2) throw v('Ensure that there are no more than 2 decimal places.', attr, 'max_decimal_places')
  return n.toFixed(2)
}

function linkedFlag(value: unknown, attr: string): Json {
  if (value === null) return null
  if (!isDict(value)) throw v('Must provide a dictionary or None.', attr)
  const keys = Object.keys(value).sort().join(',')
  if (keys !== 'id,key' && keys !== 'id,key,variant') {
    throw v("Must provide a dictionary with only 'id' and 'key' keys. _or_ only 'id', 'key', and 'variant' keys.", attr)
  }
  let id: number
  if (typeof value.id === 'number' && Number.isSafeInteger(value.id)) id = value.id
  else if (typeof value.id === 'string' && /^-?\d{1,15}$/.test(value.id)) id = Number(value.id)
  else throw v("Must provide an integer 'id'.", attr)
  return { ...value, id }
}

function allowedKeys(value: unknown, attr: string, keys: readonly string[]): Record<string, unknown> | null {
  if (value === null) return null
  if (!isDict(value)) throw v('Must provide a dictionary or None.', attr)
  const extra = Object.keys(value).filter((k) => !keys.includes(k))
  if (extra.length > 0) throw v(`Must provide a dictionary with only allowed keys: ${keys.map((k) => `'${k}'`).join(', ')}.`, attr)
  return value
}

function maskingConfig(value: unknown, attr: string): Json {
  const d = allowedKeys(value, attr, ['maskAllInputs', 'maskTextSelector', 'blockSelector'])
  if (!d) return null
  if ('maskAllInputs' in d && typeof d.maskAllInputs !== 'boolean') throw v('maskAllInputs must be a boolean.', attr)
  if ('maskTextSelector' in d && typeof d.maskTextSelector !== 'string') throw v('maskTextSelector must be a string.', attr)
  if ('blockSelector' in d && typeof d.blockSelector !== 'string') throw v('blockSelector must be a string.', attr)
  return d
}

const AI_CONFIG_KEYS = ['included_event_properties', 'opt_in', 'preferred_events', 'excluded_events', 'important_user_properties']

function sessionReplayConfig(value: unknown, attr: string): Json {
  const d = allowedKeys(value, attr, ['record_canvas', 'ai_config'])
  if (d && 'ai_config' in d && d.ai_config !== null) allowedKeys(d.ai_config, attr, AI_CONFIG_KEYS)
  return d
}

const FILTER_OPERATORS = ['exact', 'is_not', 'icontains', 'not_icontains', 'regex', 'not_regex', 'gt', 'lt']

function validRegex(pattern: string): string | null {
  try {
    new RegExp(pattern)
  } catch (e) {
    return (e as Error).message
  }
  // RE2 has no look-around and no back-references.
  if (/\(\?<?[=!]/.test(pattern)) return 'invalid perl operator: (?' + (pattern.match(/\(\?<?[=!]/)![0].slice(2)) + ''
  if (/\\[1-9]/.test(pattern)) return 'invalid escape sequence: ' + pattern.match(/\\[1-9]/)![0]
  return null
}

function triggerGroups(value: unknown, attr: string): Json {
  if (value === null) return null
  if (!isDict(value)) throw v('Must provide a dictionary or None.', attr)
  if (value.version !== 2) throw v("Trigger groups must have version 2.", attr)
  if ('fallbackSampleRate' in value && value.fallbackSampleRate !== null) {
    const r = value.fallbackSampleRate
    if (typeof r !== 'number' || r < 0 || r > 1) throw v(`Invalid fallbackSampleRate '${String(r)}'. Must be a number between 0 and 1.`, attr)
  }
  if (!Array.isArray(value.groups)) throw v('Trigger groups must include a list of groups.', attr)
  value.groups.forEach((g, i) => {
    const p = `Group ${i}:`
    if (!isDict(g)) throw v(`${p} must be a dictionary.`, attr)
    if (!('id' in g) || (typeof g.id !== 'string' && typeof g.id !== 'number')) throw v(`${p} missing 'id'.`, attr)
    if (typeof g.sampleRate !== 'number' || g.sampleRate < 0 || g.sampleRate > 1) {
      throw v(`${p} invalid sampleRate '${typeof g.sampleRate === 'object' ? JSON.stringify(g.sampleRate) : String(g.sampleRate)}'. Must be a number between 0 and 1.`, attr)
    }
    if ('minDurationMs' in g && g.minDurationMs !== null) {
      const m = g.minDurationMs
      if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 30000) throw v(`${p} invalid minDurationMs '${String(m)}'. Must be an integer between 0 and 30000.`, attr)
    }
    if (!('conditions' in g)) return
    const c = g.conditions
    if (!isDict(c)) throw v(`${p} conditions must be a dictionary.`, attr)
    if ('matchType' in c && c.matchType !== 'any' && c.matchType !== 'all') throw v(`${p} invalid matchType '${String(c.matchType)}'. Must be 'any' or 'all'.`, attr)
    if ('events' in c && c.events !== null) {
      if (!Array.isArray(c.events)) throw v(`${p} events must be a list.`, attr)
      for (const e of c.events) {
        if (typeof e === 'string') continue
        if (!isDict(e) || typeof e.name !== 'string') throw v(`${p} each event must be a string or an object with a 'name'.`, attr)
        if ('properties' in e && e.properties !== undefined) propertyFilters(e.properties, attr, p)
      }
    }
    if ('urls' in c && c.urls !== null) {
      if (!Array.isArray(c.urls)) throw v(`${p} urls must be a list.`, attr)
      for (const u of c.urls) {
        if (!isDict(u) || typeof u.url !== 'string') throw v(`${p} each url must be an object with a 'url'.`, attr)
        if (u.matching !== 'regex') throw v(`${p} url matching must be 'regex'.`, attr)
        const err = validRegex(u.url)
        if (err) throw v(`${p} invalid url regex '${u.url}'.`, attr)
      }
    }
    if ('flag' in c && c.flag !== null && typeof c.flag !== 'string' && !(isDict(c.flag) && typeof c.flag.key === 'string')) {
      throw v(`${p} flag must be a string, an object with a 'key', or null.`, attr)
    }
    if ('properties' in c && c.properties !== null) propertyFilters(c.properties, attr, p)
  })
  return value
}

function propertyFilters(value: unknown, attr: string, prefix: string): void {
  if (!Array.isArray(value)) throw v(`${prefix} properties must be a list.`, attr)
  for (const f of value) {
    if (!isDict(f) || typeof f.key !== 'string') throw v(`${prefix} each property filter needs a string 'key'.`, attr)
    if (f.type !== 'event' && f.type !== 'person') throw v(`${prefix} property filter type must be 'event' or 'person'.`, attr)
    if ('operator' in f && !FILTER_OPERATORS.includes(f.operator as string)) throw v(`${prefix} invalid property filter operator '${String(f.operator)}'.`, attr)
    if (!('value' in f)) throw v(`${prefix} property filter is missing 'value'.`, attr)
  }
}

const ANY_FILTER_TYPES = [
  'event', 'event_metadata', 'person', 'element', 'session', 'cohort', 'recording', 'log_entry', 'group', 'hogql',
  'data_warehouse', 'data_warehouse_person_property', 'error_tracking_issue', 'log', 'revenue_analytics', 'flag', 'workflow_variable',
]
const ANY_FILTER_OPERATORS = [
  'exact', 'is_not', 'icontains', 'not_icontains', 'regex', 'not_regex', 'gt', 'gte', 'lt', 'lte', 'is_set', 'is_not_set',
  'is_date_exact', 'is_date_before', 'is_date_after', 'between', 'not_between', 'min', 'max', 'in', 'not_in',
  'is_cleaned_path_exact', 'flag_evaluates_to', 'semver_eq', 'semver_neq', 'semver_gt', 'semver_gte', 'semver_lt', 'semver_lte',
  'semver_tilde', 'semver_caret', 'semver_wildcard', 'icontains_multi', 'not_icontains_multi',
]

/** PostHog validates these as `list[AnyPropertyFilter]` (pydantic). */
function testAccountFilters(value: unknown, attr: string): Json {
  const fail = (why: string) => v(`Must provide an array of valid property filters. ${why}`, attr)
  if (!Array.isArray(value)) throw fail('Input should be a valid list.')
  value.forEach((f, i) => {
    if (!isDict(f)) throw fail(`${i}: Input should be a valid dictionary.`)
    if (f.type === 'hogql') {
      if (typeof f.key !== 'string') throw fail(`${i}.key: Field required.`)
      return
    }
    if (typeof f.key !== 'string') throw fail(`${i}.key: Field required.`)
    if (!ANY_FILTER_TYPES.includes(f.type as string)) throw fail(`${i}.type: Input should be a valid property filter type.`)
    if ('operator' in f && f.operator !== null && !ANY_FILTER_OPERATORS.includes(f.operator as string)) throw fail(`${i}.operator: Input should be a valid operator.`)
    if (f.type === 'cohort') {
      if (typeof f.value !== 'number' || !Number.isInteger(f.value)) throw fail(`${i}.value: Input should be a valid integer.`)
      return
    }
    const op = f.operator as string | undefined
    if (op !== 'is_set' && op !== 'is_not_set' && !('value' in f)) throw fail(`${i}.value: Field required.`)
  })
  return value
}

function pathCleaningFilters(value: unknown, attr: string): Json {
  if (!value) return value === undefined ? [] : value
  if (!Array.isArray(value)) throw v('Must provide a list of path cleaning rules.', attr)
  for (const rule of value) {
    if (!isDict(rule)) continue
    if (typeof rule.regex !== 'string' || rule.regex === '') throw v('A path cleaning rule needs a regex. Remove the rule or give it one.', attr)
    const err = validRegex(rule.regex)
    if (err) throw v(`Invalid path cleaning regex '${rule.regex}': ${err}`, attr)
    if (typeof rule.alias === 'string') {
      const groups = new RegExp(`${rule.regex}|`).exec('')!.length - 1
      for (const m of rule.alias.matchAll(/\\(\d+)/g)) {
        const n = Number(m[1])
        if (n > groups) {
          throw v(
            `The alias '${rule.alias}' references capture group \\${n}, but its regex has ${groups} capture group(s). Add the group to the regex or remove the reference from the alias.`,
            attr,
          )
        }
      }
    }
  }
  return value
}

function errorsToIgnore(value: unknown): Json {
  if (value === null) return null
  // PostHog raises these without an attr.
  if (!Array.isArray(value)) throw v('Must provide a list for field: autocapture_exceptions_errors_to_ignore.', null)
  if (!value.every((x) => typeof x === 'string')) throw v('Must provide a list of strings to field: autocapture_exceptions_errors_to_ignore.', null)
  if (JSON.stringify(value).length > 300) {
    throw v('Field autocapture_exceptions_errors_to_ignore must be less than 300 characters. Complex config should be provided in posthog-js initialization.', null)
  }
  return value
}

const MODIFIER_KEYS = new Set([
  'bounceRateDurationSeconds', 'bounceRatePageViewMode', 'convertToProjectTimezone', 'customChannelTypeRules', 'dataWarehouseEventsModifiers',
  'debug', 'formatCsvAllowDoubleQuotes', 'inCohortVia', 'materializationMode', 'optimizeJoinedFilters', 'optimizeProjections',
  'personsArgMaxVersion', 'personsJoinMode', 'personsOnEventsMode', 'propertyGroupsMode', 's3TableUseInvalidColumns',
  'sessionTableVersion', 'sessionsV2JoinMode', 'timings', 'useMaterializedViews', 'usePresortedEventsTable',
  'useWebAnalyticsPreAggregatedTables', 'usePreaggregatedTableTransforms', 'useMaterializedColumns',
])

function modifiers(value: unknown, attr: string): Json {
  if (value === null) return null
  if (!isDict(value)) throw v('Must provide a dictionary or None.', attr)
  for (const k of Object.keys(value)) if (!MODIFIER_KEYS.has(k)) throw v('Invalid modifier key.', attr)
  const b = value.bounceRateDurationSeconds
  if (b !== undefined && b !== null && (typeof b !== 'number' || !Number.isFinite(b) || b < 1 || b > 120)) {
    throw v('Must be between 1 and 120 seconds.', 'bounceRateDurationSeconds')
  }
  return value
}

function logsSettings(value: unknown, attr: string, ctx: ValidationContext): Json {
  if (value === null) return null
  if (!isDict(value)) throw v('Must provide a dictionary or None.', attr)
  const out = { ...value }
  if ('retention_days' in value) {
    const days = value.retention_days
    if (days !== 14 && days !== 30) throw v('retention_days must be one of [14, 30]', attr)
    const current = ctx.current?.logs_settings as Record<string, unknown> | null | undefined
    if (current?.retention_days !== days) {
      if (!ctx.features.some((f) => f.key === `logs_retention_${days}_days`)) {
        throw errors.permissionDenied(`This organization does not have permission to set Logs retention to ${days} days.`)
      }
      const last = typeof current?.retention_last_updated === 'string' ? Date.parse(current.retention_last_updated) : NaN
      const waitMs = last + 24 * 3600_000 - Date.now()
      if (Number.isFinite(waitMs) && waitMs > 0) {
        throw v(`You can only update retention settings once per 24 hours. Please wait ${Math.ceil(waitMs / 3600_000)} more hour(s).`, attr)
      }
      out.retention_last_updated = new Date().toISOString()
    } else if (current && 'retention_last_updated' in current) {
      out.retention_last_updated = current.retention_last_updated
    }
  }
  return out
}

/** `widget_domains` as app_urls; the keys the integration manages are never taken from a client. */
function conversationsSettings(value: unknown, attr: string): Json {
  if (value === null) return null
  if (!isDict(value)) throw v('Must provide a dictionary or None.', attr)
  const out: Record<string, unknown> = { ...value }
  delete out.widget_public_token
  for (const k of Object.keys(out)) if (k.startsWith('slack_') && k !== 'slack_enabled') delete out[k]
  if ('widget_domains' in out && out.widget_domains !== null) {
    const domains = stringList(out.widget_domains, attr, null, true).filter((d): d is string => typeof d === 'string' && d !== '')
    for (const d of domains) checkUrlWildcards(d, attr)
    out.widget_domains = domains
  }
  return out
}

const RETENTION_DAYS: Record<string, number> = { '30d': 30, '90d': 90, '1y': 365, '5y': 1825 }

/** PostHog's session replay retention entitlement: `limit` of `unit` (day/month/year). */
function retentionPeriod(value: unknown, attr: string, ctx: ValidationContext): string {
  const period = choice(value, attr, ['30d', '90d', '1y', '5y']) as string
  const feature = ctx.features.find((f) => f.key === 'session_replay_data_retention')
  // Without the entitlement the free period (30 days) is all an organization has.
  let allowedDays = 30
  if (feature) {
    const unitDays: Record<string, number> = { day: 1, days: 1, month: 30, months: 30, year: 365, years: 365 }
    const per = unitDays[String(feature.unit ?? '').toLowerCase()]
    if (typeof feature.limit !== 'number' || !per) throw v('Invalid retention entitlement.', attr)
    allowedDays = feature.limit * per
  }
  const longest = Object.entries(RETENTION_DAYS).filter(([, d]) => d <= allowedDays).pop()?.[0] ?? '30d'
  if (RETENTION_DAYS[period] > RETENTION_DAYS[longest]) {
    throw errors.permissionDenied(
      `This organization does not have permission to set retention period of length '${period}' - longest allowable retention period is '${longest}'.`,
    )
  }
  return period
}

function nested(value: unknown, attr: string, check: (d: Record<string, unknown>) => string | null): Json {
  if (!isDict(value)) throw v(`${attr}: Invalid data. Expected a dictionary, but got ${pyType(value)}.`, attr)
  const problem = check(value)
  if (problem) throw v(`${problem}.`, attr)
  return value
}

const ATTRIBUTION_MODES = ['first_touch', 'last_touch', 'linear', 'time_decay', 'position_based']

function marketingConfig(value: unknown, attr: string): Json {
  return nested(value, attr, (d) => {
    if ('attribution_window_days' in d) {
      const n = d.attribution_window_days
      if (typeof n !== 'number' || !Number.isInteger(n)) return 'attribution_window_days: A valid integer is required'
      if (n < 1) return 'attribution_window_days: Ensure this value is greater than or equal to 1'
      if (n > 90) return 'attribution_window_days: Ensure this value is less than or equal to 90'
    }
    if ('attribution_mode' in d && !ATTRIBUTION_MODES.includes(d.attribution_mode as string)) return `attribution_mode: "${String(d.attribution_mode)}" is not a valid choice`
    if ('sources_map' in d && !isDict(d.sources_map)) return 'sources_map: Expected a dictionary of items'
    if ('conversion_goals' in d && !Array.isArray(d.conversion_goals)) return 'conversion_goals: Expected a list of items'
    return null
  })
}

function revenueConfig(value: unknown, attr: string): Json {
  return nested(value, attr, (d) => {
    if ('base_currency' in d && !CURRENCIES.has(d.base_currency as string)) return `base_currency: "${String(d.base_currency)}" is not a valid choice`
    if ('events' in d && !Array.isArray(d.events)) return 'events: Expected a list of items'
    if ('goals' in d && !Array.isArray(d.goals)) return 'goals: Expected a list of items'
    if ('filter_test_accounts' in d && typeof d.filter_test_accounts !== 'boolean') return 'filter_test_accounts: Must be a valid boolean'
    return null
  })
}

function customerConfig(value: unknown, attr: string): Json {
  return nested(value, attr, (d) => {
    // orgd has no group types, so only null names a valid group type index.
    if ('account_group_type_index' in d && d.account_group_type_index !== null) return 'account_group_type_index: Invalid group type index'
    return null
  })
}

function workflowsConfig(value: unknown, attr: string): Json {
  return nested(value, attr, (d) => {
    if ('capture_workflows_engagement_events' in d && typeof d.capture_workflows_engagement_events !== 'boolean') return 'capture_workflows_engagement_events: Must be a valid boolean'
    if ('email_tracking_consent_mode' in d && !['off', 'opt_out', 'opt_in'].includes(d.email_tracking_consent_mode as string)) {
      return `email_tracking_consent_mode: "${String(d.email_tracking_consent_mode)}" is not a valid choice`
    }
    return null
  })
}

function tags(value: unknown, attr: string): string[] {
  const out: string[] = []
  for (const [i, t] of list(value, attr).entries()) {
    const s = str(t, `${attr}__${i}`, 255).toLowerCase()
    if (!out.includes(s)) out.push(s)
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// The field table
// ---------------------------------------------------------------------------------------------

type Parser = (value: unknown, attr: string, ctx: ValidationContext) => unknown

/** Where a writable field is stored: the project row or the environment (team) row. */
export type FieldTarget = 'project' | 'team' | 'both'

export const WRITABLE: Array<{ name: string; target: FieldTarget; parse: Parser }> = [
  { name: 'name', target: 'both', parse: (x, a) => str(x, a, 200) },
  { name: 'product_description', target: 'project', parse: (x, a) => (x === null ? null : str(x, a, 1000, { allowBlank: true, trim: false })) },
  { name: 'tags', target: 'project', parse: tags },
  { name: 'app_urls', target: 'team', parse: appUrls },
  { name: 'anonymize_ips', target: 'team', parse: bool },
  { name: 'completed_snippet_onboarding', target: 'team', parse: bool },
  { name: 'test_account_filters', target: 'team', parse: (x, a) => testAccountFilters(x, a) },
  { name: 'test_account_filters_default_checked', target: 'team', parse: nullableBool },
  { name: 'path_cleaning_filters', target: 'team', parse: pathCleaningFilters },
  { name: 'is_demo', target: 'team', parse: bool },
  { name: 'timezone', target: 'team', parse: (x, a) => {
    if (typeof x === 'string' && TZ.has(x)) return x
    return choice(x, a, [] as string[])
  } },
  { name: 'data_attributes', target: 'team', parse: (x, a) => json(x, a, false) },
  { name: 'person_display_name_properties', target: 'team', parse: (x, a) => (x === null ? null : stringList(x, a, 400, false)) },
  { name: 'correlation_config', target: 'team', parse: (x, a) => json(x, a, true) },
  { name: 'autocapture_opt_out', target: 'team', parse: nullableBool },
  { name: 'autocapture_exceptions_opt_in', target: 'team', parse: nullableBool },
  { name: 'autocapture_web_vitals_opt_in', target: 'team', parse: nullableBool },
  { name: 'autocapture_web_vitals_allowed_metrics', target: 'team', parse: (x, a) => json(x, a, true) },
  { name: 'autocapture_exceptions_errors_to_ignore', target: 'team', parse: (x) => errorsToIgnore(x) },
  { name: 'capture_console_log_opt_in', target: 'team', parse: nullableBool },
  { name: 'capture_performance_opt_in', target: 'team', parse: nullableBool },
  { name: 'session_recording_opt_in', target: 'team', parse: bool },
  { name: 'session_recording_sample_rate', target: 'team', parse: decimalRate },
  { name: 'session_recording_minimum_duration_milliseconds', target: 'team', parse: (x, a) => int(x, a, 0, 30000, true) },
  { name: 'session_recording_linked_flag', target: 'team', parse: linkedFlag },
  { name: 'session_recording_network_payload_capture_config', target: 'team', parse: (x, a) => allowedKeys(x, a, ['recordHeaders', 'recordBody']) },
  { name: 'session_recording_masking_config', target: 'team', parse: maskingConfig },
  { name: 'session_recording_url_trigger_config', target: 'team', parse: (x, a) => (x === null ? null : list(x, a)) },
  { name: 'session_recording_url_blocklist_config', target: 'team', parse: (x, a) => (x === null ? null : list(x, a)) },
  { name: 'session_recording_event_trigger_config', target: 'team', parse: (x, a) => (x === null ? null : stringList(x, a, null, true)) },
  { name: 'session_recording_trigger_match_type_config', target: 'team', parse: (x, a) => choice(x, a, ['all', 'any'], true) },
  { name: 'session_recording_trigger_groups', target: 'team', parse: triggerGroups },
  { name: 'session_recording_retention_period', target: 'team', parse: retentionPeriod },
  { name: 'session_replay_config', target: 'team', parse: sessionReplayConfig },
  { name: 'survey_config', target: 'team', parse: (x, a) => {
    if (x !== null && !isDict(x)) throw v('Must provide a dictionary or None.', a)
    return x
  } },
  { name: 'access_control', target: 'team', parse: (x) => {
    if (x === null) return false
    throw v(
      "The 'access_control' field has been deprecated and is no longer supported. Please use the new access control system instead. For more information, visit: https://posthog.com/docs/settings/access-control",
      'access_control',
    )
  } },
  { name: 'week_start_day', target: 'team', parse: (x, a) => choice(x, a, [0, 1], true) },
  { name: 'primary_dashboard', target: 'team', parse: (x, a, ctx) => {
    if (ctx.creating) throw v('Primary dashboard cannot be set on project creation.', a)
    if (x === null) return null
    // DRF's PrimaryKeyRelatedField: an existing dashboard's id (or its string form). Whether it is
    // this team's dashboard is checked after every field, as PostHog's validate() does.
    const id = dashboardPk(x)
    if (id === null) throw v(`Incorrect type. Expected pk value, received ${pyType(x)}.`, a, 'incorrect_type')
    if (!ctx.dashboardTeams?.has(id)) throw v(`Invalid pk "${typeof x === 'string' ? x : id}" - object does not exist.`, a, 'does_not_exist')
    return id
  } },
  { name: 'live_events_columns', target: 'team', parse: (x, a) => (x === null ? null : stringList(x, a, null, false)) },
  { name: 'recording_domains', target: 'team', parse: (x, a) => (x === null ? null : stringList(x, a, 200, true).filter((d) => d !== null && d !== '')) },
  { name: 'inject_web_apps', target: 'team', parse: nullableBool },
  { name: 'extra_settings', target: 'team', parse: (x, a) => json(x, a, true) },
  { name: 'modifiers', target: 'team', parse: modifiers },
  { name: 'has_completed_onboarding_for', target: 'team', parse: (x, a) => json(x, a, true) },
  { name: 'surveys_opt_in', target: 'team', parse: nullableBool },
  { name: 'heatmaps_opt_in', target: 'team', parse: nullableBool },
  { name: 'flags_persistence_default', target: 'team', parse: nullableBool },
  { name: 'receive_org_level_activity_logs', target: 'team', parse: nullableBool },
  { name: 'business_model', target: 'team', parse: (x, a) => choice(x, a, ['b2b', 'b2c', 'other', ''], true) },
  { name: 'conversations_enabled', target: 'team', parse: nullableBool },
  { name: 'conversations_settings', target: 'team', parse: conversationsSettings },
  { name: 'logs_settings', target: 'team', parse: logsSettings },
  { name: 'proactive_tasks_enabled', target: 'team', parse: (x, a) => {
    const b = nullableBool(x, a)
    // PostHog allows this only in development or for one of its own teams.
    if (b === true) throw errors.permissionDenied('Proactive tasks can only be enabled for authorized teams.')
    return b
  } },
  { name: 'revenue_analytics_config', target: 'team', parse: revenueConfig },
  { name: 'marketing_analytics_config', target: 'team', parse: marketingConfig },
  { name: 'customer_analytics_config', target: 'team', parse: customerConfig },
  { name: 'workflows_config', target: 'team', parse: workflowsConfig },
  { name: 'feature_flag_policy_config', target: 'team', parse: (x, a) => nested(x, a, () => null) },
  { name: 'base_currency', target: 'team', parse: (x, a) => {
    if (typeof x === 'string' && CURRENCIES.has(x)) return x
    return choice(x, a, [] as string[])
  } },
  { name: 'capture_dead_clicks', target: 'team', parse: nullableBool },
  { name: 'cookieless_server_hash_mode', target: 'team', parse: (x, a) => choice(x, a, [0, 1, 2], true) },
  { name: 'human_friendly_comparison_periods', target: 'team', parse: nullableBool },
  { name: 'feature_flag_confirmation_enabled', target: 'team', parse: nullableBool },
  { name: 'feature_flag_confirmation_message', target: 'team', parse: (x, a) => (x === null ? null : str(x, a, null, { allowBlank: true, trim: false })) },
  { name: 'default_evaluation_contexts_enabled', target: 'team', parse: nullableBool },
  { name: 'require_evaluation_contexts', target: 'team', parse: nullableBool },
  { name: 'default_data_theme', target: 'team', parse: (x, a) => int(x, a, -2147483648, 2147483647, true) },
  { name: 'onboarding_tasks', target: 'team', parse: (x, a) => json(x, a, true) },
  { name: 'web_analytics_pre_aggregated_tables_enabled', target: 'team', parse: nullableBool },
]

export const WRITABLE_NAMES: ReadonlySet<string> = new Set(WRITABLE.map((f) => f.name))

/** Settings a project member (below project admin) may change (PostHog's TEAM_CONFIG_MEMBER_FIELDS). */
export const MEMBER_FIELDS: ReadonlySet<string> = new Set([
  'completed_snippet_onboarding', 'has_completed_onboarding_for', 'onboarding_tasks', 'session_recording_opt_in',
  'autocapture_exceptions_opt_in', 'autocapture_web_vitals_opt_in', 'autocapture_web_vitals_allowed_metrics', 'surveys_opt_in',
  'primary_dashboard',
])

/** TEAM_CONFIG_ADMIN_FIELDS_SET: every environment setting but the member-safe ones, plus is_demo, app_urls, access_control and name. */
export const ADMIN_FIELDS: ReadonlySet<string> = new Set([
  ...WRITABLE.filter((f) => f.target === 'team' && !MEMBER_FIELDS.has(f.name)).map((f) => f.name),
  'is_demo', 'app_urls', 'access_control', 'name',
])

/** Sub-configs PostHog ignores on create (the defaults are used). */
const DROPPED_ON_CREATE = new Set(['revenue_analytics_config', 'marketing_analytics_config', 'customer_analytics_config', 'workflows_config'])

/**
 * Parses the writable fields present in `body` (unknown and read-only keys are ignored) and
 * returns them cleaned, in the serializer's order.
 */
export function parseProjectInput(body: Record<string, unknown>, ctx: ValidationContext): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of WRITABLE) {
    if (!Object.prototype.hasOwnProperty.call(body, f.name)) continue
    if (ctx.creating && DROPPED_ON_CREATE.has(f.name)) continue
    const raw = body[f.name]
    if (raw === undefined) continue
    try {
      out[f.name] = f.parse(raw, f.name, ctx)
    } catch (e) {
      if (e instanceof ApiError) throw e
      throw v('Invalid input.', f.name)
    }
  }
  return out
}
