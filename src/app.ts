import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import multipart from '@fastify/multipart'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { Config } from './config.ts'
import type { Db } from './db/index.ts'
import { registerAuth } from './http/auth.ts'
import { ApiError, errors } from './http/errors.ts'
import { ErrorBody } from './http/schemas.ts'
import { serializerFactory } from './http/serializer.ts'
import { validationToApiError } from './http/validation.ts'
import { apiKeyRoutes } from './modules/api-keys/routes.ts'
import { memberRoutes } from './modules/members/routes.ts'
import { notImplementedRoutes } from './modules/not-implemented/routes.ts'
import { organizationRoutes } from './modules/organizations/routes.ts'
import { userRoutes } from './modules/users/routes.ts'
import { createServices, type ServiceOptions, type Services } from './services.ts'
import { inviteRoutes } from './modules/invites/routes.ts'
import { signupRoutes } from './modules/invites/signup-routes.ts'
import { projectRoutes } from './modules/projects/routes.ts'
import { oauthRoutes } from './modules/oauth/routes.ts'
import { legalDocumentRoutes } from './modules/legal-documents/routes.ts'

export interface BuildOptions {
  config: Config
  db: Db
  logger?: boolean
  services?: ServiceOptions
}

/** Database errors that are the client's doing, in PostHog's words; anything else is a 500. */
function fromDatabase(err: { code?: string; constraint?: string }): ApiError | null {
  switch (err.code) {
    case 'OG001':
      return errors.validation('An organization must keep at least one owner.')
    case '23505':
      return errors.validation('An object with these values already exists.', null, 'unique')
    case '23503':
      return errors.validation('A related object does not exist.', null, 'does_not_exist')
    default:
      // Class 22 is "data exception": a value the database cannot take (a NUL byte, an
      // out-of-range number or date) is the client's input, never a server error.
      return err.code?.startsWith('22') ? errors.validation('Invalid input.') : null
  }
}

export async function buildApp(opts: BuildOptions): Promise<{ app: FastifyInstance; services: Services }> {
  const { config, db } = opts
  const app = Fastify({
    logger: opts.logger ? { level: config.logLevel } : false,
    bodyLimit: config.bodyLimit,
    trustProxy: true,
    // No length limit of the router's own: an over-long id reaches its route and gets that route's
    // answer (404, or "The provided invite ID is not valid."), as in PostHog. Node's HTTP parser
    // already bounds a real request line (16 KiB of headers).
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1 << 20 },
    // The router's own failures (an undecodable path segment) get PostHog's error body too.
    frameworkErrors: (error, _req, reply) => {
      const e = error.code === 'FST_ERR_BAD_URL' ? errors.notFound('Endpoint not found.') : errors.parseError(error.message)
      void (reply as unknown as FastifyReply).code(e.statusCode).type('application/json').send(e.body())
    },
    schemaController: { compilersFactory: { buildSerializer: serializerFactory() } },
    ajv: {
      // No coercion: a null must stay null so it can be reported as "may not be null"; query
      // strings are parsed by hand (DRF falls back instead of failing on a bad limit).
      customOptions: { coerceTypes: false, removeAdditional: true, useDefaults: true, verbose: true, allErrors: false },
    },
  })
  const services = createServices(db, config, {
    ...opts.services,
    log: opts.services?.log ?? ((msg, extra) => app.log.info(extra ?? {}, msg)),
  })
  // The worker belongs to the app's lifetime: stopped before the database closes.
  app.addHook('onClose', async () => {
    await services.worker.stop()
    services.mailer.close()
  })

  app.addSchema(ErrorBody)
  await app.register(cookie)
  await app.register(formbody)
  // PostHog's API accepts multipart/form-data bodies too; fields become a plain object.
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fileSize: config.bodyLimit, fields: 200, files: 0 } })
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'orgd', description: "PostHog's organization-management API", version: '0.1.0' },
      components: {
        securitySchemes: { PersonalAPIKeyAuth: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ PersonalAPIKeyAuth: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/api/schema/swagger-ui' })
  app.get('/api/schema', { schema: { hide: true } }, async () => app.swagger())

  app.setErrorHandler((err: FastifyError & { code?: string; validation?: unknown }, req, reply) => {
    let apiError: ApiError | null = null
    if (err instanceof ApiError) apiError = err
    else if (err.validation) apiError = validationToApiError(err.validation as Parameters<typeof validationToApiError>[0], req.body)
    else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || (err.statusCode === 400 && err instanceof SyntaxError)) {
      apiError = errors.parseError(`JSON parse error - ${err.message}`)
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') apiError = errors.tooLarge()
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') apiError = errors.unsupportedMediaType(String(req.headers['content-type'] ?? ''))
    else if (err.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') apiError = errors.parseError('Invalid Content-Length.')
    else if (req.isMultipart?.() && !err.code?.match(/^[0-9A-Z]{5}$/)) apiError = errors.parseError(`Multipart form parse error - ${err.message}`)
    else apiError = fromDatabase(err)
    if (!apiError && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      apiError = new ApiError(err.statusCode, 'invalid_request', 'invalid_request', err.message)
    }
    if (!apiError) {
      req.log.error({ err }, 'unhandled error')
      apiError = errors.serverError()
    }
    return reply.code(apiError.statusCode).type('application/json').send(apiError.body())
  })

  app.setNotFoundHandler(async (req, reply) => {
    const body = req.url.startsWith('/api') ? errors.notFound('Endpoint not found.') : errors.notFound()
    return reply.code(404).send(body.body())
  })

  registerAuth(app, services)

  app.get('/_health', { schema: { hide: true } }, async () => ({ status: 'ok' }))
  app.get('/_ready', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await db.query('SELECT 1')
      return { status: 'ok', database: db.kind }
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: db.kind })
    }
  })

  userRoutes(app, services)
  apiKeyRoutes(app, services)
  organizationRoutes(app, services)
  memberRoutes(app, services)
  inviteRoutes(app, services)
  signupRoutes(app, services)
  projectRoutes(app, services)
  oauthRoutes(app, services)
  legalDocumentRoutes(app, services)
  notImplementedRoutes(app)

  await app.ready()
  return { app, services }
}
