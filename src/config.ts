import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'

/** One product feature an organization is entitled to, in PostHog's `available_product_features` shape. */
export interface ProductFeature {
  key: string
  name: string
  limit?: number | null
  unit?: string | null
}

export interface Config {
  port: number
  host: string
  /** PostgreSQL connection string; when absent orgd runs on embedded PGlite in `dataDir`. */
  databaseUrl: string | null
  dataDir: string
  siteUrl: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  pgPoolSize: number
  /** How long an idle PostgreSQL connection is kept before the pool closes it. */
  pgPoolIdleSeconds: number
  /** Statements kept prepared on PGlite are named statements on PostgreSQL too (QueryOptions.prepare). */
  pgPreparedStatements: boolean
  bodyLimit: number
  sessionTtlSeconds: number
  productName: string
  defaultEntitlements: ProductFeature[]
  /** nodemailer SMTP URL; when absent each message is written as an .eml file under dataDir/mail. */
  smtpUrl: string | null
  emailFrom: string
  /** Run the background worker inside `orgd serve` (default) or only in `orgd worker` processes. */
  runWorker: boolean
  jobPollMs: number
  jobRetryBaseMs: number
  jobMaxAttempts: number
  oauthAccessTokenTtlSeconds: number
  oauthRefreshTokenTtlSeconds: number
  oauthCodeTtlSeconds: number
  /** "Sign in with GitHub" is on when both the client id and secret are set. */
  githubClientId: string | null
  githubClientSecret: string | null
  githubAuthorizeUrl: string
  githubTokenUrl: string
  githubApiUrl: string
  /** Signs local-storage download URLs and local signing links; unset: a random key kept in dataDir. */
  secretKey: string | null
  esignProvider: 'local' | 'pandadoc'
  pandadoc: {
    apiKey: string | null
    baseUrl: string
    webhookSecret: string | null
    templateIds: { BAA: string | null; DPA: string | null; MSA: string | null }
  }
  /** The operator's countersigner on legal documents (PostHog's sales@posthog.com). */
  legalCountersignerEmail: string
  /** S3-compatible object storage; when `bucket` is null files are kept under dataDir/objects. */
  s3: {
    bucket: string | null
    endpoint: string | null
    region: string
    accessKeyId: string | null
    secretAccessKey: string | null
    forcePathStyle: boolean
  }
  legalDocumentsFolder: string
}

export class ConfigError extends Error {}

/**
 * Generous by default: a self-hosted install should not meet paywalls. Operators restrict an
 * organization by setting ORGD_DEFAULT_ENTITLEMENTS or editing the organization's entitlements.
 */
export const GENEROUS_ENTITLEMENTS: ProductFeature[] = [
  { key: 'organizations_projects', name: 'Projects', limit: 2000, unit: 'projects' },
  { key: 'access_control', name: 'Access control' },
  { key: 'role_based_access', name: 'Role-based access' },
  { key: 'organization_invite_settings', name: 'Invite settings' },
  { key: 'organization_security_settings', name: 'Security settings' },
  { key: 'session_replay_data_retention', name: 'Session replay retention', limit: 5, unit: 'years' },
  { key: 'data_color_themes', name: 'Data color themes' },
  { key: 'legal_documents_baa', name: 'BAA' },
]

type Env = Record<string, string | undefined>

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`)
  return value
}

function entitlements(raw: string | undefined): ProductFeature[] {
  if (raw === undefined || raw.trim() === '') return GENEROUS_ENTITLEMENTS
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new ConfigError('ORGD_DEFAULT_ENTITLEMENTS must be a JSON array of {key, name, limit?, unit?}')
  }
  if (!Array.isArray(parsed) || !parsed.every((f) => typeof f === 'object' && f !== null && typeof f.key === 'string')) {
    throw new ConfigError('ORGD_DEFAULT_ENTITLEMENTS must be a JSON array of {key, name, limit?, unit?}')
  }
  return parsed.map((f: ProductFeature) => ({ key: f.key, name: typeof f.name === 'string' ? f.name : f.key, limit: f.limit ?? null, unit: f.unit ?? null }))
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (/^(1|true|yes|on)$/i.test(raw)) return true
  if (/^(0|false|no|off)$/i.test(raw)) return false
  throw new ConfigError(`${name} must be true or false, got "${raw}"`)
}

function smtpUrl(raw: string | undefined): string | null {
  if (raw === undefined || raw.trim() === '') return null
  if (!/^smtps?:\/\//.test(raw)) throw new ConfigError('SMTP_URL must start with smtp:// or smtps://')
  return raw
}

function httpUrl(env: Env, name: string, fallback: string): string {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  try {
    const url = new URL(raw.trim())
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme')
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${raw}"`)
  }
  return raw.trim()
}

function opt(env: Env, name: string): string | null {
  const raw = env[name]
  return raw === undefined || raw.trim() === '' ? null : raw.trim()
}

function absoluteUrl(env: Env, name: string, fallback: string | null): string | null {
  const raw = opt(env, name) ?? fallback
  if (raw === null) return null
  try {
    new URL(raw)
  } catch {
    throw new ConfigError(`${name} must be an absolute URL, got "${raw}"`)
  }
  return raw.replace(/\/+$/, '')
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** Reads every setting once and fails fast with a message naming the variable. */
export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 8000, 0, 65535)
  const logLevel = (env.LOG_LEVEL ?? 'info') as Config['logLevel']
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)
  const siteUrl = (env.SITE_URL ?? `http://localhost:${port}`).replace(/\/+$/, '')
  try {
    new URL(siteUrl)
  } catch {
    throw new ConfigError(`SITE_URL must be an absolute URL, got "${siteUrl}"`)
  }
  const databaseUrl = env.DATABASE_URL && env.DATABASE_URL.trim() !== '' ? env.DATABASE_URL : null
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://')
  }
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    databaseUrl,
    dataDir: resolve(env.ORGD_DATA_DIR ?? './.orgd'),
    siteUrl,
    logLevel,
    pgPoolSize: int(env, 'PG_POOL_SIZE', 10, 1, 500),
    pgPoolIdleSeconds: int(env, 'PG_POOL_IDLE_SECONDS', 300, 1, 86_400),
    pgPreparedStatements: bool(env, 'PG_PREPARED_STATEMENTS', true),
    bodyLimit: int(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
    sessionTtlSeconds: int(env, 'SESSION_TTL_SECONDS', 14 * 24 * 3600, 60, 365 * 24 * 3600),
    productName: env.PRODUCT_NAME ?? 'orgd',
    defaultEntitlements: entitlements(env.ORGD_DEFAULT_ENTITLEMENTS),
    smtpUrl: smtpUrl(env.SMTP_URL),
    emailFrom: env.EMAIL_FROM ?? `${env.PRODUCT_NAME ?? 'orgd'} <no-reply@${new URL(siteUrl).hostname}>`,
    runWorker: bool(env, 'ORGD_RUN_WORKER', true),
    jobPollMs: int(env, 'JOB_POLL_MS', 1000, 10, 60_000),
    jobRetryBaseMs: int(env, 'JOB_RETRY_BASE_MS', 5000, 1, 3_600_000),
    jobMaxAttempts: int(env, 'JOB_MAX_ATTEMPTS', 8, 1, 100),
    oauthAccessTokenTtlSeconds: int(env, 'OAUTH_ACCESS_TOKEN_TTL_SECONDS', 3600, 60, 30 * 24 * 3600),
    oauthRefreshTokenTtlSeconds: int(env, 'OAUTH_REFRESH_TOKEN_TTL_SECONDS', 30 * 24 * 3600, 60, 365 * 24 * 3600),
    oauthCodeTtlSeconds: int(env, 'OAUTH_CODE_TTL_SECONDS', 60, 1, 600),
    githubClientId: env.GITHUB_CLIENT_ID && env.GITHUB_CLIENT_ID.trim() !== '' ? env.GITHUB_CLIENT_ID.trim() : null,
    githubClientSecret: env.GITHUB_CLIENT_SECRET && env.GITHUB_CLIENT_SECRET.trim() !== '' ? env.GITHUB_CLIENT_SECRET.trim() : null,
    githubAuthorizeUrl: httpUrl(env, 'GITHUB_AUTHORIZE_URL', 'https://github.com/login/oauth/authorize'),
    githubTokenUrl: httpUrl(env, 'GITHUB_TOKEN_URL', 'https://github.com/login/oauth/access_token'),
    githubApiUrl: httpUrl(env, 'GITHUB_API_URL', 'https://api.github.com').replace(/\/+$/, ''),
    secretKey: opt(env, 'SECRET_KEY'),
    esignProvider: esignProvider(env.ESIGN_PROVIDER),
    pandadoc: {
      apiKey: opt(env, 'PANDADOC_API_KEY'),
      baseUrl: absoluteUrl(env, 'PANDADOC_API_BASE_URL', 'https://api.pandadoc.com')!,
      webhookSecret: opt(env, 'PANDADOC_WEBHOOK_SECRET'),
      templateIds: { BAA: opt(env, 'PANDADOC_BAA_TEMPLATE_ID'), DPA: opt(env, 'PANDADOC_DPA_TEMPLATE_ID'), MSA: opt(env, 'PANDADOC_MSA_TEMPLATE_ID') },
    },
    legalCountersignerEmail: opt(env, 'LEGAL_COUNTERSIGNER_EMAIL') ?? `legal@${new URL(siteUrl).hostname}`,
    s3: {
      bucket: opt(env, 'S3_BUCKET'),
      endpoint: absoluteUrl(env, 'S3_ENDPOINT', null),
      region: opt(env, 'S3_REGION') ?? 'us-east-1',
      accessKeyId: opt(env, 'S3_ACCESS_KEY_ID'),
      secretAccessKey: opt(env, 'S3_SECRET_ACCESS_KEY'),
      forcePathStyle: bool(env, 'S3_FORCE_PATH_STYLE', opt(env, 'S3_ENDPOINT') !== null),
    },
    legalDocumentsFolder: (opt(env, 'OBJECT_STORAGE_LEGAL_DOCUMENTS_FOLDER') ?? 'legal_documents').replace(/^\/+|\/+$/g, ''),
  }
}

function esignProvider(raw: string | undefined): Config['esignProvider'] {
  if (raw === undefined || raw.trim() === '') return 'local'
  if (raw === 'local' || raw === 'pandadoc') return raw
  throw new ConfigError(`ESIGN_PROVIDER must be "local" or "pandadoc", got "${raw}"`)
}

/** The README's configuration table is generated from this list, so the two cannot drift. */
export const CONFIG_DOC: Array<{ name: string; default: string; meaning: string }> = [
  { name: 'PORT', default: '8000', meaning: 'HTTP port for `orgd serve`' },
  { name: 'HOST', default: '0.0.0.0', meaning: 'interface to listen on' },
  { name: 'DATABASE_URL', default: '(unset)', meaning: 'PostgreSQL connection string; unset means embedded PGlite in `ORGD_DATA_DIR`' },
  { name: 'ORGD_DATA_DIR', default: './.orgd', meaning: 'embedded database and local files' },
  { name: 'SITE_URL', default: 'http://localhost:$PORT', meaning: 'absolute base URL used in links' },
  { name: 'LOG_LEVEL', default: 'info', meaning: 'pino log level (`silent` to turn logs off)' },
  { name: 'PG_POOL_SIZE', default: '10', meaning: 'PostgreSQL connections per process' },
  { name: 'PG_POOL_IDLE_SECONDS', default: '300', meaning: 'how long `orgd serve` keeps an idle PostgreSQL connection open (a new one costs the first requests after a quiet spell)' },
  { name: 'PG_PREPARED_STATEMENTS', default: 'true', meaning: 'send the statements every request runs as named (prepared) statements; `false` behind a pooler in transaction mode that does not support them (PgBouncer before 1.21, or `max_prepared_statements = 0`)' },
  { name: 'BODY_LIMIT_BYTES', default: '1048576', meaning: 'largest request body accepted (413 above it)' },
  { name: 'SESSION_TTL_SECONDS', default: '1209600', meaning: 'lifetime of a login session cookie' },
  { name: 'PRODUCT_NAME', default: 'orgd', meaning: "the operator's product name, used in emails and documents" },
  { name: 'ORGD_DEFAULT_ENTITLEMENTS', default: '(all features)', meaning: 'JSON array of `{key,name,limit?,unit?}` given to new organizations' },
  { name: 'SMTP_URL', default: '(unset)', meaning: 'SMTP server for email, e.g. `smtp://user:pass@mail:587`; unset writes `.eml` files under `ORGD_DATA_DIR/mail`' },
  { name: 'EMAIL_FROM', default: '$PRODUCT_NAME <no-reply@host>', meaning: 'sender address of every email' },
  { name: 'ORGD_RUN_WORKER', default: 'true', meaning: 'run the background job worker inside `orgd serve`' },
  { name: 'JOB_POLL_MS', default: '1000', meaning: 'how often the worker looks for due jobs' },
  { name: 'JOB_RETRY_BASE_MS', default: '5000', meaning: 'first retry delay of a failed job (doubles each attempt, at most 1 hour)' },
  { name: 'JOB_MAX_ATTEMPTS', default: '8', meaning: 'attempts before a job is marked failed' },
  { name: 'OAUTH_ACCESS_TOKEN_TTL_SECONDS', default: '3600', meaning: 'lifetime of an OAuth access token (`pha_…`)' },
  { name: 'OAUTH_REFRESH_TOKEN_TTL_SECONDS', default: '2592000', meaning: 'lifetime of an OAuth refresh token (`phr_…`)' },
  { name: 'OAUTH_CODE_TTL_SECONDS', default: '60', meaning: 'lifetime of an OAuth authorization code' },
  { name: 'GITHUB_CLIENT_ID', default: '(unset)', meaning: 'GitHub OAuth app client id; with the secret, turns on "Sign in with GitHub"' },
  { name: 'GITHUB_CLIENT_SECRET', default: '(unset)', meaning: 'GitHub OAuth app client secret' },
  { name: 'GITHUB_AUTHORIZE_URL', default: 'https://github.com/login/oauth/authorize', meaning: "GitHub's authorization page (a GitHub Enterprise or test server may replace it)" },
  { name: 'GITHUB_TOKEN_URL', default: 'https://github.com/login/oauth/access_token', meaning: "GitHub's token endpoint" },
  { name: 'GITHUB_API_URL', default: 'https://api.github.com', meaning: "GitHub's REST API base (for `GET /user`)" },
  { name: 'SECRET_KEY', default: '(random, kept in `ORGD_DATA_DIR/secret_key`)', meaning: 'HMAC key for signed file URLs, signing links and project `live_events_token` JWTs; set the same value on every process' },
  { name: 'ESIGN_PROVIDER', default: 'local', meaning: 'e-signature of legal documents: `local` (orgd\'s own signing page) or `pandadoc`' },
  { name: 'PANDADOC_API_KEY', default: '(unset)', meaning: 'PandaDoc API key (`Authorization: API-Key …`)' },
  { name: 'PANDADOC_API_BASE_URL', default: 'https://api.pandadoc.com', meaning: 'PandaDoc REST API base URL' },
  { name: 'PANDADOC_WEBHOOK_SECRET', default: '(unset)', meaning: 'shared key of the PandaDoc webhook (HMAC-SHA256); unset answers the webhook 404' },
  { name: 'PANDADOC_BAA_TEMPLATE_ID', default: '(unset)', meaning: 'PandaDoc template of the BAA' },
  { name: 'PANDADOC_DPA_TEMPLATE_ID', default: '(unset)', meaning: 'PandaDoc template of the DPA' },
  { name: 'PANDADOC_MSA_TEMPLATE_ID', default: '(unset)', meaning: 'PandaDoc template of the MSA (created by the operator CLI only)' },
  { name: 'LEGAL_COUNTERSIGNER_EMAIL', default: 'legal@<SITE_URL host>', meaning: "the operator's countersigner of legal documents" },
  { name: 'S3_BUCKET', default: '(unset)', meaning: 'bucket for signed PDFs; unset keeps files under `ORGD_DATA_DIR/objects`' },
  { name: 'S3_ENDPOINT', default: '(AWS)', meaning: 'S3-compatible endpoint URL (MinIO, R2, …)' },
  { name: 'S3_REGION', default: 'us-east-1', meaning: 'S3 region' },
  { name: 'S3_ACCESS_KEY_ID', default: '(SDK default chain)', meaning: 'S3 access key id' },
  { name: 'S3_SECRET_ACCESS_KEY', default: '(SDK default chain)', meaning: 'S3 secret access key' },
  { name: 'S3_FORCE_PATH_STYLE', default: 'true with S3_ENDPOINT', meaning: 'address the bucket in the path rather than the host name' },
  { name: 'OBJECT_STORAGE_LEGAL_DOCUMENTS_FOLDER', default: 'legal_documents', meaning: 'key prefix of signed PDFs' },
]
