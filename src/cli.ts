import { Command, InvalidArgumentError } from 'commander'
import closeWithGrace from 'close-with-grace'
import { loadConfig, ConfigError, type Config } from './config.ts'
import { openDb, serveOpenOptions, type Db } from './db/index.ts'
import { DataDirLockedError } from './db/lock.ts'
import { migrate } from './db/migrate.ts'
import { buildApp } from './app.ts'
import { createServices, type Services } from './services.ts'
import { isUuid } from './lib/ids.ts'
import { LEVEL } from './modules/organizations/service.ts'
import { ApiError } from './http/errors.ts'

/** A failure the operator can act on: printed as one line, exit code 1. */
class CliError extends Error {}

async function withDb<T>(fn: (db: Db, services: Services, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig()
  const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 })
  try {
    await migrate(db)
    return await fn(db, createServices(db, config), config)
  } finally {
    await db.close()
  }
}

function print(json: boolean, data: unknown, text: string): void {
  process.stdout.write(json ? JSON.stringify(data) + '\n' : text + '\n')
}

function level(value: string): number {
  const n = Number(value)
  if (n !== LEVEL.MEMBER && n !== LEVEL.ADMIN && n !== LEVEL.OWNER) throw new InvalidArgumentError('level must be 1 (member), 8 (admin) or 15 (owner)')
  return n
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}

const program = new Command()
program.name('orgd').description("A self-hostable implementation of PostHog's organization-management API").showHelpAfterError()

program
  .command('serve')
  .description('run the HTTP API (migrations run first)')
  .action(async () => {
    const config = loadConfig()
    const db = await openDb(serveOpenOptions(config))
    await migrate(db)
    const { app, services } = await buildApp({ config, db, logger: true })
    closeWithGrace({ delay: 10_000 }, async ({ err }) => {
      if (err) app.log.error({ err }, 'shutting down after an error')
      await app.close()
      await db.close()
    })
    await app.listen({ port: config.port, host: config.host })
    if (config.runWorker) services.worker.start()
    if (!(await services.users.hasAnyUser())) {
      app.log.info(`No users yet. Create the first owner with: orgd bootstrap --email you@example.com --password '…' --first-name You --organization-name "Your org"`)
    }
  })

program
  .command('worker')
  .description('run only the background job worker (email delivery and other jobs)')
  .action(async () => {
    const config = loadConfig()
    const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 4 })
    await migrate(db)
    const services = createServices(db, config, { log: (msg, extra) => console.log(msg, extra ? JSON.stringify(extra) : '') })
    services.worker.start()
    console.log('orgd worker running')
    closeWithGrace({ delay: 10_000 }, async () => {
      await services.worker.stop()
      services.mailer.close()
      await db.close()
    })
  })

program
  .command('migrate')
  .description('apply pending database migrations')
  .action(async () => {
    const config = loadConfig()
    const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 })
    try {
      const applied = await migrate(db)
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date.')
    } finally {
      await db.close()
    }
  })

program
  .command('bootstrap')
  .description('create (or reuse) a user, an organization they own, a default project and a personal API key')
  .requiredOption('--email <email>')
  .requiredOption('--password <password>')
  .option('--first-name <name>', 'first name', '')
  .requiredOption('--organization-name <name>')
  .option('--json', 'print JSON')
  .action(async (o: { email: string; password: string; firstName: string; organizationName: string; json?: boolean }) => {
    await withDb(async (db, services) => {
      const result = await db.tx(async (q) => {
        const { user } = await services.users.ensure({ email: o.email, password: o.password, firstName: o.firstName }, q)
        const { organization, projectId, apiToken } = await services.organizations.create(user, o.organizationName, undefined, q)
        const key = await services.apiKeys.create(user, { label: 'bootstrap', scopes: ['*'] }, q)
        return { user, organization, projectId, apiToken, key }
      })
      print(
        !!o.json,
        {
          user: { uuid: result.user.uuid, email: result.user.email },
          organization: { id: result.organization.id, name: result.organization.name },
          project: { id: result.projectId, api_token: result.apiToken },
          personal_api_key: result.key.value,
        },
        [
          `User:             ${result.user.email} (${result.user.uuid})`,
          `Organization:     ${result.organization.name} (${result.organization.id})`,
          `Project:          ${result.projectId} (token ${result.apiToken})`,
          `Personal API key: ${result.key.value}   (shown once; keep it safe)`,
        ].join('\n'),
      )
    })
  })

const members = program.command('members').description('manage organization members')
members
  .command('add')
  .description('add a person to an organization at a level (creating the user when needed)')
  .requiredOption('--organization <id>')
  .requiredOption('--email <email>')
  .option('--password <password>')
  .option('--first-name <name>', 'first name', '')
  .requiredOption('--level <level>', '1 member, 8 admin, 15 owner', level)
  .option('--json', 'print JSON')
  .action(async (o: { organization: string; email: string; password?: string; firstName: string; level: number; json?: boolean }) => {
    if (!isUuid(o.organization)) throw new CliError(`--organization must be an organization id (UUID), got "${o.organization}"`)
    await withDb(async (db, services) => {
      const out = await db.tx(async (q) => {
        const exists = await q.query(`SELECT 1 FROM organizations WHERE id = $1`, [o.organization])
        if (exists.length === 0) throw new CliError(`No organization with id ${o.organization}`)
        const { user, created } = await services.users.ensure({ email: o.email, password: o.password, firstName: o.firstName }, q)
        const membership = await services.members.addDirect(o.organization, user.id, o.level, q)
        return { user, created, membership }
      })
      print(
        !!o.json,
        { user: { uuid: out.user.uuid, email: out.user.email, created: out.created }, membership: { id: out.membership.id, level: o.level, created: out.membership.created } },
        `${out.user.email} is now ${o.level === 15 ? 'an owner' : o.level === 8 ? 'an admin' : 'a member'} of ${o.organization}`,
      )
    })
  })

const apiKey = program.command('api-key').description('manage personal API keys')
apiKey
  .command('create')
  .description("create a personal API key for a user (printed once)")
  .requiredOption('--email <email>')
  .requiredOption('--label <label>')
  .requiredOption('--scopes <scopes>', 'comma-separated, e.g. "organization_member:read,project:write" or "*"', list)
  .option('--scoped-organizations <ids>', 'comma-separated organization ids', list)
  .option('--scoped-teams <ids>', 'comma-separated project ids', (v) => list(v).map((x) => {
    const n = Number(x)
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`not a project id: ${x}`)
    return n
  }))
  .option('--json', 'print JSON')
  .action(async (o: { email: string; label: string; scopes: string[]; scopedOrganizations?: string[]; scopedTeams?: number[]; json?: boolean }) => {
    await withDb(async (_db, services) => {
      const user = await services.users.findByEmail(o.email)
      if (!user) throw new CliError(`No user with email ${o.email}`)
      const key = await services.apiKeys.create(user, {
        label: o.label,
        scopes: o.scopes,
        scoped_organizations: o.scopedOrganizations ?? null,
        scoped_teams: o.scopedTeams ?? null,
      })
      print(!!o.json, { id: key.id, label: key.label, scopes: key.scopes, personal_api_key: key.value }, `${key.value}\n(shown once; id ${key.id})`)
    })
  })

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

interface OAuthAppView {
  id: string
  name: string
  client_id: string
  client_type: string
  redirect_uris_list: string[]
  organization_id: string | null
  is_verified: boolean
  is_first_party: boolean
  scopes: string[]
  optional_scopes: string[]
  created: Date
}

function describeOAuthApp(a: OAuthAppView): string {
  const flags = [a.client_type, a.is_verified ? 'verified' : null, a.is_first_party ? 'first-party' : null].filter(Boolean).join(', ')
  return [
    `${a.name || '(no name)'}  (${flags})`,
    `  id:            ${a.id}`,
    `  client id:     ${a.client_id}`,
    `  organization:  ${a.organization_id ?? '(none)'}`,
    `  redirect URIs: ${a.redirect_uris_list.join(' ')}`,
    `  scopes:        ${a.scopes.join(' ') || '(none)'}${a.optional_scopes.length ? `  optional: ${a.optional_scopes.join(' ')}` : ''}`,
  ].join('\n')
}

const oauthApp = program.command('oauth-app').description('manage OAuth applications (PostHog has no public endpoint that creates them)')
oauthApp
  .command('create')
  .description('register an OAuth application for an organization; a confidential client secret is printed once')
  .requiredOption('--organization <id>')
  .requiredOption('--name <name>')
  .requiredOption('--redirect-uri <uri>', 'a redirect URI (repeat for several)', collect, [] as string[])
  .option('--public', 'a public client (no secret; PKCE only), e.g. a native or single-page app')
  .option('--scopes <scopes>', 'comma-separated required scopes, e.g. "organization:read,project:read"', list)
  .option('--optional-scopes <scopes>', 'comma-separated optional scopes', list)
  .option('--first-party', 'skip the consent screen (the operator\'s own application)')
  .option('--verified', 'show the verified badge on the consent screen')
  .option('--created-by <email>', 'the user recorded as the creator')
  .option('--json', 'print JSON')
  .action(async (o: { organization: string; name: string; redirectUri: string[]; public?: boolean; scopes?: string[]; optionalScopes?: string[]; firstParty?: boolean; verified?: boolean; createdBy?: string; json?: boolean }) => {
    if (!isUuid(o.organization)) throw new CliError(`--organization must be an organization id (UUID), got "${o.organization}"`)
    await withDb(async (_db, services) => {
      let createdBy: number | null = null
      if (o.createdBy) {
        const user = await services.users.findByEmail(o.createdBy)
        if (!user) throw new CliError(`No user with email ${o.createdBy}`)
        createdBy = user.id
      }
      let created
      try {
        created = await services.oauth.create({
          organizationId: o.organization,
          name: o.name,
          redirectUris: o.redirectUri,
          clientType: o.public ? 'public' : 'confidential',
          scopes: o.scopes ?? [],
          optionalScopes: o.optionalScopes ?? [],
          isFirstParty: !!o.firstParty,
          isVerified: !!o.verified,
          createdByUserId: createdBy,
        })
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 404) throw new CliError(`No organization with id ${o.organization}`)
        throw err
      }
      print(
        !!o.json,
        created,
        `${describeOAuthApp(created)}\n` + (created.client_secret ? `  client secret: ${created.client_secret}\n  (the secret is shown once; keep it safe)` : '  (public client: no secret)'),
      )
    })
  })
oauthApp
  .command('list')
  .description('list OAuth applications, newest first')
  .option('--organization <id>', 'only this organization\'s')
  .option('--json', 'print JSON')
  .action(async (o: { organization?: string; json?: boolean }) => {
    if (o.organization !== undefined && !isUuid(o.organization)) throw new CliError(`--organization must be an organization id (UUID), got "${o.organization}"`)
    await withDb(async (_db, services) => {
      const apps = await services.oauth.listAll(o.organization ?? null)
      print(!!o.json, apps, apps.length ? apps.map(describeOAuthApp).join('\n') : 'No OAuth applications.')
    })
  })
oauthApp
  .command('rotate-secret')
  .description('replace a confidential application\'s client secret (the new one is printed once)')
  .argument('<app>', 'application id or client id')
  .option('--json', 'print JSON')
  .action(async (ref: string, o: { json?: boolean }) => {
    await withDb(async (_db, services) => {
      let rotated
      try {
        rotated = await services.oauth.rotateSecret(ref)
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 404) throw new CliError(`No OAuth application ${ref}`)
        throw err
      }
      print(!!o.json, { id: rotated.id, client_id: rotated.client_id, client_secret: rotated.client_secret }, `${rotated.client_secret}\n(new client secret for ${rotated.client_id}, shown once; the old one no longer works)`)
    })
  })
oauthApp
  .command('delete')
  .description('delete an OAuth application and every token issued to it')
  .argument('<app>', 'application id or client id')
  .option('--json', 'print JSON')
  .action(async (ref: string, o: { json?: boolean }) => {
    await withDb(async (_db, services) => {
      let deleted
      try {
        deleted = await services.oauth.delete(ref)
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 404) throw new CliError(`No OAuth application ${ref}`)
        throw err
      }
      print(!!o.json, { deleted: true, ...deleted }, `Deleted OAuth application ${deleted.client_id} (${deleted.id})`)
    })
  })

const legalDocuments = program.command('legal-documents').description('legal documents (BAA, DPA, MSA) sent for e-signature')
legalDocuments
  .command('create')
  .description('create a legal document for an organization as the operator (the only way to create an MSA)')
  .requiredOption('--organization <id>')
  .requiredOption('--type <type>', 'BAA, DPA or MSA', (v: string) => {
    const t = v.toUpperCase()
    if (t !== 'BAA' && t !== 'DPA' && t !== 'MSA') throw new InvalidArgumentError('type must be BAA, DPA or MSA')
    return t as 'BAA' | 'DPA' | 'MSA'
  })
  .requiredOption('--company-name <name>')
  .requiredOption('--company-address <address>')
  .requiredOption('--representative-email <email>')
  .option('--json', 'print JSON')
  .action(async (o: { organization: string; type: 'BAA' | 'DPA' | 'MSA'; companyName: string; companyAddress: string; representativeEmail: string; json?: boolean }) => {
    if (!isUuid(o.organization)) throw new CliError(`--organization must be an organization id (UUID), got "${o.organization}"`)
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(o.representativeEmail)) throw new CliError('--representative-email must be an email address')
    await withDb(async (_db, services) => {
      const doc = await services.legalDocuments.createByOperator(o.organization.toLowerCase(), {
        document_type: o.type,
        company_name: o.companyName.trim().slice(0, 255),
        company_address: o.companyAddress.trim().slice(0, 512),
        representative_email: o.representativeEmail.trim(),
      })
      // The envelope or signing email goes out from the job this created, run here so a one-off
      // command does not depend on a worker being up.
      await services.worker.drain()
      print(!!o.json, doc, `${doc.document_type} ${doc.id} created for ${o.organization} (${doc.status})`)
    })
  })
legalDocuments
  .command('reconcile')
  .description('check pending PandaDoc envelopes now and queue archives of signed PDFs not yet stored')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    await withDb(async (_db, services) => {
      const r = await services.legalDocuments.reconcile()
      await services.worker.drain()
      print(!!o.json, r, `checked ${r.checked} pending, ${r.signed} newly signed, ${r.archivesQueued} archives queued`)
    })
  })

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof ConfigError || err instanceof DataDirLockedError || err instanceof CliError) {
    console.error(`orgd: ${err.message}`)
  } else if (err instanceof ApiError) {
    console.error(`orgd: ${err.detail}${err.attr ? ` (${err.attr})` : ''}`)
  } else {
    console.error('orgd:', err)
  }
  process.exitCode = 1
}
