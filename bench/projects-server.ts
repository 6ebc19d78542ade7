// The process under load for bench/projects.ts: migrates its database, seeds an organization of
// 1,000 projects (50 of them private: a project default of "none"), and serves orgd (buildApp, as
// `orgd serve` runs it, logs off) on 127.0.0.1. It reports the port and ids over IPC.
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { openDb, serveOpenOptions } from '../src/db/index.ts'
import { migrate } from '../src/db/migrate.ts'
import { createServices } from '../src/services.ts'

process.on('disconnect', () => process.exit(1))
const kind = process.env.BENCH_DB === 'pglite' ? 'pglite' : 'postgres'
const PROJECTS = Number(process.env.BENCH_PROJECTS ?? 1000)
const PRIVATE = Number(process.env.BENCH_PRIVATE_PROJECTS ?? 50)

const config = loadConfig({
  LOG_LEVEL: 'silent',
  SITE_URL: 'http://127.0.0.1',
  DATABASE_URL: kind === 'postgres' ? process.env.BENCH_DATABASE_URL : undefined,
  ORGD_DATA_DIR: process.env.BENCH_DATA_DIR,
  ORGD_RUN_WORKER: 'false',
})
const db = await openDb(serveOpenOptions(config))
await migrate(db)
const services = createServices(db, config)

const { user: owner } = await services.users.ensure({ email: 'owner@bench.example', firstName: 'Owner', lastName: '' })
const { user: member } = await services.users.ensure({ email: 'member@bench.example', firstName: 'Member', lastName: '' })
const { organization, projectId } = await services.organizations.create(owner, 'Bench projects')
await services.members.addDirect(organization.id, member.id, 1)
await db.query(
  `WITH p AS (INSERT INTO projects (organization_id, name) SELECT $1, 'Project ' || g FROM generate_series(2, $2::int) g RETURNING id, name)
   INSERT INTO teams (id, project_id, organization_id, name, api_token) SELECT id, id, $1, name, 'phc_bench_' || id FROM p`,
  [organization.id, PROJECTS],
)
await db.query(
  `INSERT INTO project_access (project_id, membership_id, access_level)
   SELECT id, NULL, 'none' FROM projects WHERE organization_id = $1 AND id <> $2 ORDER BY id DESC LIMIT $3`,
  [organization.id, projectId, PRIVATE],
)
const memberKey = (await services.apiKeys.create(member, { label: 'bench', scopes: ['project:write'] })).value!
await db.exec('VACUUM ANALYZE')

const { app } = await buildApp({ config, db })
await app.listen({ port: 0, host: '127.0.0.1' })
process.send!({ type: 'ready', port: (app.server.address() as { port: number }).port, organizationId: organization.id, projectId, memberKey })
process.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'close') {
    await app.close()
    await db.close()
    process.exit(0)
  }
})
