import type { Config } from './config.ts'
import type { Db } from './db/index.ts'
import { createMailer, type Mailer } from './adapters/mail.ts'
import { JobWorker } from './jobs/queue.ts'
import { createApiKeyService } from './modules/api-keys/service.ts'
import { emailJobHandlers } from './modules/invites/emails.ts'
import { createInviteService } from './modules/invites/service.ts'
import { createMemberService } from './modules/members/service.ts'
import { createOrganizationService } from './modules/organizations/service.ts'
import { createUserService } from './modules/users/service.ts'
import { createProjectService, projectJobHandlers } from './modules/projects/service.ts'
import { createOAuthService } from './modules/oauth/service.ts'
import { createSocialIdentityService } from './modules/oauth/social.ts'
import { createGitHubAdapter } from './adapters/github.ts'
import { createStorage, type ObjectStorage } from './adapters/storage/index.ts'
import { PandaDocClient } from './adapters/esign/pandadoc.ts'
import { resolveSecretKey } from './lib/secret-key.ts'
import { createLegalDocumentService, type LegalDocumentService } from './modules/legal-documents/service.ts'
import { legalJobHandlers } from './modules/legal-documents/jobs.ts'

export interface ServiceOptions {
  /** Replaces the mailer built from config (tests pass one pointing at their SMTP server). */
  mailer?: Mailer
  log?: (msg: string, extra?: Record<string, unknown>) => void
  /** Replaces the object storage built from config. */
  storage?: ObjectStorage
}

/** Every domain service, built once per process over one database, plus the job worker. */
export function createServices(db: Db, config: Config, opts: ServiceOptions = {}) {
  const log = opts.log ?? (() => {})
  const mailer = opts.mailer ?? createMailer({ smtpUrl: config.smtpUrl, from: config.emailFrom, dataDir: config.dataDir, log })
  const secretKey = resolveSecretKey(config)
  const storage = opts.storage ?? createStorage(config, secretKey)
  const pandadoc = new PandaDocClient({ apiKey: config.pandadoc.apiKey, baseUrl: config.pandadoc.baseUrl })
  const worker = new JobWorker(db, {
    ...emailJobHandlers(config, mailer),
    ...projectJobHandlers(),
    ...legalJobHandlers({ config, mailer, storage, pandadoc, secretKey, log, service: (): LegalDocumentService => legalDocuments }),
  }, {
    pollMs: config.jobPollMs,
    retryBaseMs: config.jobRetryBaseMs,
    maxAttempts: config.jobMaxAttempts,
    onError: (job, err) => log(`job ${job.kind} #${job.id} attempt ${job.attempts} failed`, { err: String(err) }),
  })
  const apiKeys = createApiKeyService(db)
  const legalDocuments = createLegalDocumentService({ db, config, storage, pandadoc, secretKey, afterCommit: () => worker.nudge(), log })
  return {
    db,
    config,
    mailer,
    worker,
    users: createUserService(db, config),
    apiKeys,
    organizations: createOrganizationService(db, config),
    members: createMemberService(db, apiKeys),
    invites: createInviteService(db, config, () => worker.nudge()),
    projects: createProjectService(db, { ...config, secretKey }, () => worker.nudge()),
    oauth: createOAuthService(db, config),
    socialIdentities: createSocialIdentityService(db),
    github: createGitHubAdapter(config),
    secretKey,
    storage,
    pandadoc,
    legalDocuments,
  }
}

export type Services = ReturnType<typeof createServices>
