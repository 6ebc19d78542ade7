import type { Config } from './config.ts'
import type { Db } from './db/index.ts'
import { createApiKeyService } from './modules/api-keys/service.ts'
import { createMemberService } from './modules/members/service.ts'
import { createOrganizationService } from './modules/organizations/service.ts'
import { createUserService } from './modules/users/service.ts'

/** Every domain service, built once per process over one database. */
export function createServices(db: Db, config: Config) {
  const apiKeys = createApiKeyService(db)
  return {
    db,
    config,
    users: createUserService(db, config),
    apiKeys,
    organizations: createOrganizationService(db, config),
    members: createMemberService(db, apiKeys),
  }
}

export type Services = ReturnType<typeof createServices>
