import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../../src/app.ts'
import { createMailer } from '../../../src/adapters/mail.ts'
import { loadConfig } from '../../../src/config.ts'
import type { Db } from '../../../src/db/index.ts'
import { JobWorker } from '../../../src/jobs/queue.ts'
import { emailJobHandlers } from '../../../src/modules/invites/emails.ts'
import type { EmailDelivery, InviteView } from '../../../src/modules/invites/service.ts'
import type { Services } from '../../../src/services.ts'
import type { FastifyInstance } from 'fastify'
import { checkInviteResponses } from './contract.ts'
import { addMember, bearer, createKey, createOrg, createTestApp, createUser, seedWorld, uniqueEmail, type TestApp, type World } from '../../helpers/app.ts'
import { createRestartableDb } from '../../helpers/restartable-db.ts'
import { addresses, hrefs, startSmtp, type ReceivedMail, type TestSmtp } from '../../helpers/smtp.ts'

const PRODUCT = 'Acme Analytics'
const SITE = 'https://orgd.example'
const ENV = { PRODUCT_NAME: PRODUCT, SITE_URL: SITE }

/** An invite as GET invites/ shows it (dates as JSON strings). */
type ListedInvite = Omit<InviteView, 'created_at' | 'updated_at' | 'email_delivery'> & {
  created_at: string
  updated_at: string
  email_delivery: (Omit<EmailDelivery, 'sent_at'> & { sent_at: string | null }) | null
}

async function listInvites(app: FastifyInstance, orgId: string, key: string): Promise<ListedInvite[]> {
  const res = await app.inject({ method: 'GET', url: `/api/organizations/${orgId}/invites/?limit=100`, headers: bearer(key) })
  expect(res.statusCode).toBe(200)
  return (res.json() as { results: ListedInvite[] }).results
}

async function listedInvite(app: FastifyInstance, orgId: string, key: string, id: string): Promise<ListedInvite> {
  const found = (await listInvites(app, orgId, key)).find((i) => i.id === id)
  if (!found) throw new Error(`invite ${id} is not in GET invites/`)
  return found
}

/** Runs the worker until `done()` holds, sleeping briefly between runs (retries are due after ~20 ms). */
async function drainUntil(services: Services, done: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    await services.worker.drain()
    if (await done()) return
    if (Date.now() > deadline) throw new Error('the worker did not finish in time')
    await sleep(10)
  }
}

/** An organization "Org O" whose owner Adam has a key: enough to invite, without password hashing. */
interface SmallWorld {
  org: { id: string }
  admin: { email: string }
  keys: { admin: string }
}
async function smallWorld(services: Services): Promise<SmallWorld> {
  const adam = await createUser(services, { firstName: 'Adam' })
  const org = await createOrg(services, adam, 'Org O')
  return { org, admin: adam, keys: { admin: await createKey(services, adam) } }
}

function only(list: ReceivedMail[], what: string): ReceivedMail {
  expect(list, `exactly one email ${what}`).toHaveLength(1)
  return list[0]
}

function expectSent(invite: ListedInvite): void {
  expect(invite.emailing_attempt_made).toBe(true)
  expect(invite.email_delivery).toMatchObject({ status: 'sent', last_error: null })
  expect(invite.email_delivery!.attempts).toBeGreaterThanOrEqual(1)
  expect(Number.isNaN(Date.parse(invite.email_delivery!.sent_at ?? ''))).toBe(false)
}

let smtp: TestSmtp
let t: TestApp
let w: World
const base = () => `/api/organizations/${w.org.id}/invites`

beforeAll(async () => {
  smtp = await startSmtp()
  t = await createTestApp({ ...ENV, SMTP_URL: smtp.url })
  await checkInviteResponses(t)
  w = await seedWorld(t.services)
})
afterAll(async () => {
  await t?.close()
  await smtp?.close()
})

describe('emails over a real SMTP server', () => {
  it('uses the SMTP transport from SMTP_URL', () => {
    expect(t.services.mailer.kind).toBe('smtp')
  })

  it('an invite email: recipient, subject, Reply-To, accept link in text and html, then shown as sent', async () => {
    const email = uniqueEmail('invitee')
    const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.admin), payload: { target_email: email, message: 'Welcome aboard' } })
    expect(res.statusCode).toBe(201)
    const created = res.json() as ListedInvite
    // Nothing is sent inside the request: the email is a job committed with the invite.
    expect(created.email_delivery).toEqual({ status: 'queued', attempts: 0, last_error: null, sent_at: null })
    expect(smtp.to(email)).toHaveLength(0)

    expect(await t.services.worker.drain()).toBe(1)
    const got = only(smtp.to(email), `to ${email}`)
    const m = got.parsed
    expect(got.envelopeTo).toEqual([email])
    expect(addresses(m.to)).toEqual([email])
    expect(m.subject).toBe(`Adam invited you to join Org O on ${PRODUCT}`)
    expect(addresses(m.replyTo)).toEqual([w.admin.email.toLowerCase()])
    expect(m.from?.value[0]).toMatchObject({ address: 'no-reply@orgd.example', name: PRODUCT })
    const link = `${SITE}/signup/${created.id}`
    expect(m.text).toBeTypeOf('string')
    expect(m.text).toContain(link)
    expect(m.html).toBeTypeOf('string')
    expect(hrefs(m.html)).toContain(link)
    expect(m.text).toContain('Welcome aboard')
    const expires = new Date(Date.parse(created.created_at) + 3 * 86_400_000).toUTCString()
    expect(m.text).toContain(expires)

    const listed = await listedInvite(t.app, w.org.id, w.keys.admin, created.id)
    expectSent(listed)
    expect(listed.email_delivery!.attempts).toBe(1)
    // Sent once: another run finds nothing to do.
    expect(await t.services.worker.drain()).toBe(0)
    expect(smtp.to(email)).toHaveLength(1)
  })

  it('send_email false sends nothing', async () => {
    const email = uniqueEmail('quiet')
    const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.admin), payload: { target_email: email, send_email: false } })
    expect(res.statusCode).toBe(201)
    await t.services.worker.drain()
    expect(smtp.to(email)).toHaveLength(0)
    const listed = await listedInvite(t.app, w.org.id, w.keys.admin, (res.json() as ListedInvite).id)
    expect(listed.emailing_attempt_made).toBe(false)
    expect(listed.email_delivery).toBeNull()
  })

  it('inviting one address three times before the worker runs sends one email, with the last invite’s link', async () => {
    const email = uniqueEmail('thrice')
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.admin), payload: { target_email: i === 1 ? email.toUpperCase() : email } })
      expect(res.statusCode).toBe(201)
      ids.push((res.json() as ListedInvite).id)
    }
    await t.services.worker.drain()
    const m = only(smtp.to(email), `to ${email}`).parsed
    expect(m.text).toContain(`${SITE}/signup/${ids[2]}`)
    expect(m.text).not.toContain(ids[0])
    expect(m.text).not.toContain(ids[1])
    expectSent(await listedInvite(t.app, w.org.id, w.keys.admin, ids[2]))
  })

  it('an invite deleted before its email went out sends nothing', async () => {
    const email = uniqueEmail('cancelled')
    const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.admin), payload: { target_email: email } })
    const id = (res.json() as ListedInvite).id
    expect((await t.app.inject({ method: 'DELETE', url: `${base()}/${id}/`, headers: bearer(w.keys.admin) })).statusCode).toBe(204)
    await t.services.worker.drain()
    expect(smtp.to(email)).toHaveLength(0)
  })

  it('one drain() runs every due job, more than one claim batch (14 emails)', async () => {
    const emails = Array.from({ length: 14 }, (_, i) => uniqueEmail(`many${i}`))
    const before = smtp.messages.length
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: emails.map((target_email) => ({ target_email })) })
    expect(res.statusCode).toBe(201)
    // JobWorker.drain() is documented as "Runs due jobs until none is left; returns how many ran".
    const ran = await t.services.worker.drain()
    const sentByOneDrain = smtp.messages.length - before
    // Whatever one drain left behind still goes out, exactly once, so later tests start clean.
    await drainUntil(t.services, async () => smtp.messages.length - before >= emails.length)
    for (const e of emails) expect(smtp.to(e)).toHaveLength(1)
    expect({ ran, sentByOneDrain }).toEqual({ ran: 14, sentByOneDrain: 14 })
  })

  it('the delegation email has its own subject, Reply-To and link', async () => {
    const email = uniqueEmail('delegate')
    const res = await t.app.inject({ method: 'POST', url: `${base()}/delegate/`, headers: bearer(w.keys.admin), payload: { target_email: email, message: 'Please finish the setup' } })
    expect(res.statusCode).toBe(201)
    const created = res.json() as ListedInvite
    expect(created.level).toBe(8)
    expect(created.email_delivery).toMatchObject({ status: 'queued' })

    expect(await t.services.worker.drain()).toBe(1)
    const m = only(smtp.to(email), `to ${email}`).parsed
    expect(addresses(m.to)).toEqual([email])
    expect(m.subject).toBe(`Adam asked you to set up Org O on ${PRODUCT}`)
    expect(addresses(m.replyTo)).toEqual([w.admin.email.toLowerCase()])
    const link = `${SITE}/signup/${created.id}`
    expect(m.text).toContain(link)
    expect(hrefs(m.html)).toContain(link)
    expect(m.text).toContain('Please finish the setup')

    expectSent(await listedInvite(t.app, w.org.id, w.keys.admin, created.id))
  })

  it('a "member joined" email goes to each admin and owner, not to members or the newcomer', async () => {
    // Its own organization, with a name that needs encoding in a header and escaping in HTML.
    const orgName = 'R&D <Ops> Équipe'
    const org = await createOrg(t.services, w.owner, orgName)
    await addMember(t.services, org.id, w.admin, 8)
    await addMember(t.services, org.id, w.member, 1)
    const email = uniqueEmail('newcomer')
    const inv = await t.app.inject({ method: 'POST', url: `/api/organizations/${org.id}/invites/`, headers: bearer(w.keys.owner), payload: { target_email: email } })
    expect(inv.statusCode).toBe(201)
    const inviteId = (inv.json() as ListedInvite).id
    await t.services.worker.drain()
    const invite = only(smtp.to(email), `to ${email}`).parsed
    expect(invite.subject).toBe(`Olivia invited you to join ${orgName} on ${PRODUCT}`)
    expect(invite.html).toContain('R&amp;D &lt;Ops&gt; Équipe')
    expect(invite.html).not.toContain('<Ops>')

    const before = smtp.messages.length
    const join = await t.app.inject({ method: 'POST', url: `/api/signup/${inviteId}/`, payload: { first_name: 'Nina', password: 'a-long-password' } })
    expect(join.statusCode).toBe(201)
    await t.services.worker.drain()
    const joined = smtp.messages.slice(before)
    expect(joined.map((m) => m.envelopeTo).flat().sort()).toEqual([w.admin.email, w.owner.email].map((e) => e.toLowerCase()).sort())
    for (const m of joined) {
      expect(m.envelopeTo).toHaveLength(1)
      expect(addresses(m.parsed.to)).toEqual(m.envelopeTo)
      expect(m.parsed.subject).toBe(`Nina joined ${orgName} on ${PRODUCT}`)
      expect(m.parsed.text).toContain(email)
      expect(m.parsed.html).toContain(email)
    }
    expect(smtp.to(w.member.email)).toHaveLength(0)
    expect(smtp.to(email)).toHaveLength(1)

    // Turned off for the organization: no email on the next join.
    const off = await t.app.inject({ method: 'PATCH', url: `/api/organizations/${org.id}/`, headers: bearer(w.keys.owner), payload: { is_member_join_email_enabled: false } })
    expect(off.statusCode).toBe(200)
    const email2 = uniqueEmail('quiet-joiner')
    const inv2 = await t.app.inject({ method: 'POST', url: `/api/organizations/${org.id}/invites/`, headers: bearer(w.keys.owner), payload: { target_email: email2, send_email: false } })
    const before2 = smtp.messages.length
    const join2 = await t.app.inject({ method: 'POST', url: `/api/signup/${(inv2.json() as ListedInvite).id}/`, payload: { first_name: 'Quinn', password: 'a-long-password' } })
    expect(join2.statusCode).toBe(201)
    await t.services.worker.drain()
    expect(smtp.messages.length).toBe(before2)
  })

  it('bulk of 7: seven emails, one to each recipient, each with its own link', async () => {
    const emails = Array.from({ length: 7 }, (_, i) => uniqueEmail(`bulk${i}`))
    const before = smtp.messages.length
    const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: emails.map((target_email) => ({ target_email })) })
    expect(res.statusCode).toBe(201)
    const created = res.json() as ListedInvite[]
    expect(created).toHaveLength(7)
    expect(await t.services.worker.drain()).toBe(7)
    expect(smtp.messages.length - before).toBe(7)
    for (const inv of created) {
      const m = only(smtp.to(inv.target_email), `to ${inv.target_email}`).parsed
      expect(addresses(m.to)).toEqual([inv.target_email])
      expect(m.subject).toBe(`Adam invited you to join Org O on ${PRODUCT}`)
      expect(m.text).toContain(`${SITE}/signup/${inv.id}`)
      expect(hrefs(m.html)).toContain(`${SITE}/signup/${inv.id}`)
    }
    const listed = await listInvites(t.app, w.org.id, w.keys.admin)
    for (const inv of created) expectSent(listed.find((i) => i.id === inv.id)!)
  })
})

describe('delivery faults', () => {
  it('a refusing server is retried with backoff; the invite shows queued, attempts and the error, then sent once', async () => {
    let refused = 0
    smtp.refuse = () => (refused < 2 ? (refused++, 'Greylisted, try again later') : null)
    try {
      const email = uniqueEmail('greylisted')
      const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.admin), payload: { target_email: email } })
      const id = (res.json() as ListedInvite).id
      const [{ job }] = await t.db.query<{ job: number }>(`SELECT email_job_id AS job FROM invites WHERE id = $1`, [id])
      const seen: Array<{ delivery: ListedInvite['email_delivery']; emailed: boolean; delayMs: number }> = []
      const attemptsBefore = smtp.attempts
      await drainUntil(t.services, async () => {
        const inv = await listedInvite(t.app, w.org.id, w.keys.admin, id)
        const [j] = await t.db.query<{ delay_ms: number }>(`SELECT round(extract(epoch FROM run_at - updated_at) * 1000)::int AS delay_ms FROM jobs WHERE id = $1`, [job])
        if (seen.length === 0 || seen[seen.length - 1].delivery?.attempts !== inv.email_delivery?.attempts) {
          seen.push({ delivery: inv.email_delivery, emailed: inv.emailing_attempt_made, delayMs: j.delay_ms })
        }
        return inv.email_delivery?.status !== 'queued'
      })
      expect(seen.map((s) => [s.delivery?.status, s.delivery?.attempts])).toEqual([
        ['queued', 1],
        ['queued', 2],
        ['sent', 3],
      ])
      for (const s of seen.slice(0, 2)) {
        expect(s.delivery?.last_error).toContain('451')
        expect(s.delivery?.last_error).toContain('Greylisted')
        expect(s.delivery?.sent_at).toBeNull()
      }
      // JOB_RETRY_BASE_MS is 20 in tests, doubling each attempt.
      expect(seen[0].delayMs).toBe(20)
      expect(seen[1].delayMs).toBe(40)
      expect(seen[2].delivery?.last_error).toBeNull()
      expect(seen[2].emailed).toBe(true)
      expect(smtp.attempts - attemptsBefore).toBe(3)
      expect(smtp.to(email)).toHaveLength(1)
    } finally {
      smtp.refuse = null
    }
  })

  it('several emails through refusals: each arrives exactly once', async () => {
    let refused = 0
    smtp.refuse = () => (refused < 2 ? (refused++, 'Mailbox busy') : null)
    try {
      const emails = Array.from({ length: 4 }, (_, i) => uniqueEmail(`flaky${i}`))
      const before = smtp.messages.length
      const res = await t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: emails.map((target_email) => ({ target_email })) })
      expect(res.statusCode).toBe(201)
      const ids = (res.json() as ListedInvite[]).map((i) => i.id)
      await drainUntil(t.services, async () => {
        const listed = await listInvites(t.app, w.org.id, w.keys.admin)
        return ids.every((id) => listed.find((i) => i.id === id)?.email_delivery?.status === 'sent')
      })
      expect(refused).toBe(2)
      expect(smtp.messages.length - before).toBe(4)
      for (const e of emails) expect(smtp.to(e)).toHaveLength(1)
    } finally {
      smtp.refuse = null
    }
  })

  it('a job whose worker died (running, lock expired) is taken over; a live lock is respected', async () => {
    const email = uniqueEmail('orphan')
    const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.admin), payload: { target_email: email } })
    const id = (res.json() as ListedInvite).id
    const [{ job }] = await t.db.query<{ job: number }>(`SELECT email_job_id AS job FROM invites WHERE id = $1`, [id])
    await t.db.query(`UPDATE jobs SET status = 'running', attempts = 1, locked_until = now() + interval '1 minute' WHERE id = $1`, [job])
    expect(await t.services.worker.drain()).toBe(0)
    expect(smtp.to(email)).toHaveLength(0)
    expect((await listedInvite(t.app, w.org.id, w.keys.admin, id)).email_delivery).toMatchObject({ status: 'queued', attempts: 1 })

    await t.db.query(`UPDATE jobs SET locked_until = now() - interval '1 second' WHERE id = $1`, [job])
    expect(await t.services.worker.drain()).toBe(1)
    expect(smtp.to(email)).toHaveLength(1)
    const [j] = await t.db.query<{ status: string; attempts: number; locked_until: Date | null }>(`SELECT status, attempts, locked_until FROM jobs WHERE id = $1`, [job])
    expect(j).toEqual({ status: 'done', attempts: 2, locked_until: null })
    const listed = await listedInvite(t.app, w.org.id, w.keys.admin, id)
    expectSent(listed)
    expect(listed.email_delivery!.attempts).toBe(2)
    expect(await t.services.worker.drain()).toBe(0)
    expect(smtp.to(email)).toHaveLength(1)
  })
})

describe('a server that always refuses, with JOB_MAX_ATTEMPTS=2', () => {
  let dead: TestSmtp
  let t2: TestApp
  let w2: SmallWorld
  beforeAll(async () => {
    dead = await startSmtp({ refuse: () => 'Service not available' })
    t2 = await createTestApp({ ...ENV, SMTP_URL: dead.url, JOB_MAX_ATTEMPTS: '2' })
    await checkInviteResponses(t2)
    w2 = await smallWorld(t2.services)
  })
  afterAll(async () => {
    await t2?.close()
    await dead?.close()
  })

  it('marks the email failed after two attempts and stops retrying', async () => {
    const email = uniqueEmail('bounced')
    const res = await t2.app.inject({ method: 'POST', url: `/api/organizations/${w2.org.id}/invites/`, headers: bearer(w2.keys.admin), payload: { target_email: email } })
    const id = (res.json() as ListedInvite).id
    const attemptsBefore = dead.attempts
    await drainUntil(t2.services, async () => (await listedInvite(t2.app, w2.org.id, w2.keys.admin, id)).email_delivery?.status !== 'queued')
    const inv = await listedInvite(t2.app, w2.org.id, w2.keys.admin, id)
    expect(inv.email_delivery).toMatchObject({ status: 'failed', attempts: 2, sent_at: null })
    expect(inv.email_delivery!.last_error).toContain('Service not available')
    expect(dead.attempts - attemptsBefore).toBe(2)
    await sleep(100)
    expect(await t2.services.worker.drain()).toBe(0)
    expect(dead.attempts - attemptsBefore).toBe(2)
    expect(dead.messages).toHaveLength(0)
  })

  it('re-submitting a delegation whose email failed queues it again (spec 4.2), and it is sent once', async () => {
    const email = uniqueEmail('delegate-retry')
    const url = `/api/organizations/${w2.org.id}/invites/delegate/`
    const first = await t2.app.inject({ method: 'POST', url, headers: bearer(w2.keys.admin), payload: { target_email: email } })
    expect(first.statusCode).toBe(201)
    const id = (first.json() as ListedInvite).id
    await drainUntil(t2.services, async () => (await listedInvite(t2.app, w2.org.id, w2.keys.admin, id)).email_delivery?.status === 'failed')

    dead.refuse = null
    const again = await t2.app.inject({ method: 'POST', url, headers: bearer(w2.keys.admin), payload: { target_email: email } })
    expect(again.statusCode).toBe(201)
    expect((again.json() as ListedInvite).id).toBe(id)
    expect((again.json() as ListedInvite).email_delivery).toMatchObject({ status: 'queued', attempts: 0 })
    await drainUntil(t2.services, async () => (await listedInvite(t2.app, w2.org.id, w2.keys.admin, id)).email_delivery?.status === 'sent')
    const m = only(dead.to(email), `to ${email}`).parsed
    expect(m.subject).toBe(`Adam asked you to set up Org O on ${PRODUCT}`)
    expectSent(await listedInvite(t2.app, w2.org.id, w2.keys.admin, id))
    // Once sent, another re-submission sends nothing more.
    await t2.app.inject({ method: 'POST', url, headers: bearer(w2.keys.admin), payload: { target_email: email } })
    await t2.services.worker.drain()
    expect(dead.to(email)).toHaveLength(1)
  })
})

describe('restart: email jobs survive the process', () => {
  it('invites made while no worker runs are all delivered once by a new process over the same database', async () => {
    const rdb = await createRestartableDb()
    const scratch = rdb.dataDir ?? mkdtempSync(join(tmpdir(), 'orgd-restart-files-'))
    const opened: Db[] = []
    const open = async () => {
      const db = await rdb.open()
      opened.push(db)
      return db
    }
    let later: TestSmtp | null = null
    const apps: FastifyInstance[] = []
    try {
      // Process A's SMTP_URL points at a closed port: had any worker run there, attempts would show it.
      const config = loadConfig({ ...ENV, LOG_LEVEL: 'silent', ORGD_DATA_DIR: scratch, JOB_RETRY_BASE_MS: '20', JOB_POLL_MS: '20', SMTP_URL: 'smtp://127.0.0.1:9?ignoreTLS=true' })

      // Process A: invites are committed with their email jobs; no worker ever runs.
      const dbA = await open()
      const a = await buildApp({ config, db: dbA, services: { log: () => {} } })
      apps.push(a.app)
      const owner = await createUser(a.services, { firstName: 'Rita' })
      const org = await createOrg(a.services, owner, 'Restart Inc')
      const key = await createKey(a.services, owner)
      // More than one claim batch (10), so the two workers below can share the work.
      const emails = Array.from({ length: 14 }, (_, i) => uniqueEmail(`restart${i}`))
      const bulk = await a.app.inject({ method: 'POST', url: `/api/organizations/${org.id}/invites/bulk/`, headers: bearer(key), payload: emails.map((target_email) => ({ target_email })) })
      expect(bulk.statusCode).toBe(201)
      const delegateEmail = uniqueEmail('restart-delegate')
      expect((await a.app.inject({ method: 'POST', url: `/api/organizations/${org.id}/invites/delegate/`, headers: bearer(key), payload: { target_email: delegateEmail } })).statusCode).toBe(201)
      const all = [...emails, delegateEmail]
      await a.app.close()
      apps.pop()
      await dbA.close()
      opened.pop()

      // Process B (and a second worker with its own connection): the SMTP server is up now.
      later = await startSmtp()
      const configB = { ...config, smtpUrl: later.url }
      const dbB = await open()
      const b = await buildApp({ config: configB, db: dbB, services: { log: () => {} } })
      apps.push(b.app)
      const queued = await listInvites(b.app, org.id, key)
      expect(queued).toHaveLength(all.length)
      expect(queued.every((i) => i.email_delivery?.status === 'queued' && i.email_delivery.attempts === 0)).toBe(true)

      const dbC = rdb.kind === 'postgres' ? await open() : dbB
      const mailerC = createMailer({ smtpUrl: later.url, from: configB.emailFrom, dataDir: scratch })
      const workerC = new JobWorker(dbC, emailJobHandlers(configB, mailerC), { pollMs: 20, retryBaseMs: 20, maxAttempts: 8 })
      try {
        b.services.worker.start()
        await workerC.drain()
        const deadline = Date.now() + 15_000
        while (later.messages.length < all.length && Date.now() < deadline) await sleep(20)
        await b.services.worker.stop()
      } finally {
        await workerC.stop()
        mailerC.close()
      }
      // A moment more for any duplicate to show up.
      await sleep(100)
      expect(later.messages).toHaveLength(all.length)
      for (const e of all) expect(later.to(e), e).toHaveLength(1)
      const after = await listInvites(b.app, org.id, key)
      for (const inv of after) expectSent(inv)
      const [{ n }] = await dbB.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE kind LIKE 'email.%' AND status <> 'done'`)
      expect(n).toBe(0)
    } finally {
      for (const app of apps) await app.close()
      for (const db of opened.reverse()) await db.close()
      await later?.close()
      await rdb.drop()
      if (!rdb.dataDir) rmSync(scratch, { recursive: true, force: true })
    }
  })
})

describe('embedded default: no SMTP_URL', () => {
  let t3: TestApp
  let w3: SmallWorld
  beforeAll(async () => {
    t3 = await createTestApp(ENV)
    await checkInviteResponses(t3)
    w3 = await smallWorld(t3.services)
  })
  afterAll(async () => t3?.close())

  it('writes each message as an .eml file under <ORGD_DATA_DIR>/mail/', async () => {
    expect(t3.services.mailer.kind).toBe('file')
    const email = uniqueEmail('eml')
    const res = await t3.app.inject({ method: 'POST', url: `/api/organizations/${w3.org.id}/invites/`, headers: bearer(w3.keys.admin), payload: { target_email: email } })
    const id = (res.json() as ListedInvite).id
    expect(await t3.services.worker.drain()).toBe(1)
    const dir = join(t3.services.config.dataDir, 'mail')
    const files = readdirSync(dir)
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/\.eml$/)
    const m = await simpleParser(readFileSync(join(dir, files[0])))
    expect(addresses(m.to)).toEqual([email])
    expect(m.subject).toBe(`Adam invited you to join Org O on ${PRODUCT}`)
    expect(addresses(m.replyTo)).toEqual([w3.admin.email.toLowerCase()])
    expect(m.text).toContain(`${SITE}/signup/${id}`)
    expect(hrefs(m.html)).toContain(`${SITE}/signup/${id}`)
    expectSent(await listedInvite(t3.app, w3.org.id, w3.keys.admin, id))
  })
})
