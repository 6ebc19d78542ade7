import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BrowserContext, Page } from 'playwright-core'
import { openBrowser, SHOTS, type TestBrowser } from '../../helpers/browser.ts'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { bearer, createUser, PASSWORD, seedWorld, uniqueEmail, type TestApp, type World } from '../../helpers/app.ts'
import { inviteContract, type InviteContract } from './contract.ts'
import { serveWithMail, type ServedApp } from '../../helpers/served.ts'
import { hrefs, type ReceivedMail, type TestSmtp } from '../../helpers/smtp.ts'

const EXPIRED = 'This invite has expired. Please ask your admin for a new one.'

let served: ServedApp
let smtp: TestSmtp
let t: TestApp
let w: World
let contract: InviteContract
let site: string
let browser: TestBrowser | undefined
let context: BrowserContext
let page: Page

interface Member {
  level: number
  user: { email: string; first_name: string }
}

/** The API as a script would call it: over HTTP, with the admin's personal API key. */
async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${site}${path}`, {
    method,
    headers: { ...bearer(w.keys.admin), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  expect(contract.problems(method, path, res.status, text), `${method} ${path} → ${res.status}`).toEqual([])
  return { status: res.status, json: JSON.parse(text) as T }
}

async function members(): Promise<Member[]> {
  const res = await api<{ results: Member[] }>('GET', `/api/organizations/${w.org.id}/members/?limit=100`)
  expect(res.status).toBe(200)
  return res.json.results
}

async function invite(email: string, level: 1 | 8 = 1): Promise<string> {
  const res = await api<{ id: string }>('POST', `/api/organizations/${w.org.id}/invites/`, { target_email: email, level })
  expect(res.status).toBe(201)
  return res.json.id
}

/** The running worker sends the email shortly after the invite commits. */
async function mailTo(email: string): Promise<ReceivedMail> {
  const deadline = Date.now() + 10_000
  while (smtp.to(email).length === 0) {
    if (Date.now() > deadline) throw new Error(`no email to ${email}`)
    await sleep(20)
  }
  expect(smtp.to(email)).toHaveLength(1)
  return smtp.to(email)[0]
}

/** The accept link as the recipient sees it: the same URL in the text part and as an html href. */
function acceptLink(mail: ReceivedMail): string {
  const fromText = mail.parsed.text?.match(/https?:\/\/\S+\/signup\/[0-9a-f-]{36}/)?.[0]
  expect(fromText).toBeDefined()
  expect(hrefs(mail.parsed.html)).toContain(fromText)
  return fromText!
}

beforeAll(async () => {
  served = await serveWithMail({ PRODUCT_NAME: 'Acme Analytics' })
  ;({ t, smtp, site } = served)
  contract = await inviteContract(t)
  w = await seedWorld(t.services)
  browser = await openBrowser({ width: 900, height: 760 })
  context = browser.context
  page = browser.page
})

afterAll(async () => {
  await browser?.close()
  await served?.close()
})

// Each scenario is a different person: start without anyone's session.
beforeEach(async () => {
  await context.clearCookies()
})

describe('joining through the emailed link in Chromium', () => {
  it('a new person creates an account from the form and joins at the invite level', async () => {
    const email = uniqueEmail('browser')
    const id = await invite(email, 8)
    const mail = await mailTo(email)
    const link = acceptLink(mail)
    expect(link).toBe(`${site}/signup/${id}`)

    const res = await page.goto(link)
    expect(res?.status()).toBe(200)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Join Org O')
    expect(await page.getByText('Adam invited').textContent()).toContain(email)
    expect(await page.getByLabel('Email').inputValue()).toBe(email)
    expect(await page.getByLabel('Email').getAttribute('readonly')).not.toBeNull()
    await page.screenshot({ path: join(SHOTS, 'signup-form.png'), fullPage: true })

    await page.getByLabel('First name').fill('Beatrice')
    await page.getByLabel('Password').fill('a-long-password')
    await Promise.all([page.waitForURL(/\/joined\?organization=/), page.getByRole('button', { name: 'Create account and join' }).click()])
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('You joined Org O')
    expect(await page.locator('main').textContent()).toContain(`signed in as ${email}`)
    await page.screenshot({ path: join(SHOTS, 'signup-joined.png'), fullPage: true })

    const joined = (await members()).find((m) => m.user.email === email)
    expect(joined).toBeDefined()
    expect(joined).toMatchObject({ level: 8, user: { first_name: 'Beatrice' } })

    // The same link again (still signed in as the new member): refused in words, no form.
    const again = await page.goto(link)
    expect(again?.status()).toBe(400)
    const alert = (await page.getByRole('alert').first().textContent())?.trim()
    expect(['This invite has already been used.', 'The provided invite ID is not valid.']).toContain(alert)
    expect(await page.locator('form').count()).toBe(0)
    await page.screenshot({ path: join(SHOTS, 'signup-used.png'), fullPage: true })

    // And for someone with no session at all.
    await context.clearCookies()
    await page.goto(link)
    expect(['This invite has already been used.', 'The provided invite ID is not valid.']).toContain((await page.getByRole('alert').first().textContent())?.trim())
  })

  it('a short password is refused on the page, keeping the first name, and no account is made', async () => {
    const email = uniqueEmail('shortpw')
    await invite(email)
    const link = acceptLink(await mailTo(email))
    await page.goto(link)
    await page.getByLabel('First name').fill('Carl')
    // The browser's own minlength check would stop the form: this checks the server's answer.
    await page.getByLabel('Password').evaluate((el) => el.removeAttribute('minlength'))
    await page.getByLabel('Password').fill('short')
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Create account and join' }).click()])
    expect(answer.status()).toBe(400)
    await page.waitForLoadState('load')
    expect(page.url()).toBe(link)
    expect(await page.getByRole('alert').textContent()).toBe('This password is too short. It must contain at least 8 characters.')
    expect(await page.getByLabel('First name').inputValue()).toBe('Carl')
    expect((await members()).some((m) => m.user.email === email)).toBe(false)
  })

  it('an expired invite shows why, in words', async () => {
    const email = uniqueEmail('late')
    const id = await invite(email)
    const link = acceptLink(await mailTo(email))
    await t.db.query(`UPDATE invites SET created_at = now() - interval '4 days' WHERE id = $1`, [id])
    const res = await page.goto(link)
    expect(res?.status()).toBe(400)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe("This invite can't be used")
    expect((await page.getByRole('alert').first().textContent())?.trim()).toBe(EXPIRED)
    expect(await page.getByLabel('Password').count()).toBe(0)
    await page.screenshot({ path: join(SHOTS, 'signup-expired.png'), fullPage: true })
  })

  it('someone who already has an account logs in on the page and joins', async () => {
    const email = uniqueEmail('existing')
    await createUser(t.services, { email, firstName: 'Erin', password: PASSWORD })
    await invite(email, 1)
    const link = acceptLink(await mailTo(email))

    const res = await page.goto(link)
    expect(res?.status()).toBe(200)
    expect(await page.getByText('You already have an account. Log in to join.').count()).toBe(1)
    expect(await page.getByLabel('First name').count()).toBe(0)
    expect(await page.getByLabel('Email').inputValue()).toBe(email)
    await page.screenshot({ path: join(SHOTS, 'signup-login.png'), fullPage: true })

    await page.getByLabel('Password').fill('not the password')
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Log in and join' }).click()])
    expect(answer.status()).toBe(400)
    await page.waitForLoadState('load')
    expect(page.url()).toBe(link)
    expect(await page.getByRole('alert').textContent()).toBe('Invalid email or password.')
    expect((await members()).some((m) => m.user.email === email)).toBe(false)

    await page.getByLabel('Password').fill(PASSWORD)
    await Promise.all([page.waitForURL(/\/joined\?organization=/), page.getByRole('button', { name: 'Log in and join' }).click()])
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('You joined Org O')
    expect((await members()).find((m) => m.user.email === email)).toMatchObject({ level: 1, user: { first_name: 'Erin' } })
  })

  it('someone already signed in joins with one button', async () => {
    const email = uniqueEmail('signedin')
    await createUser(t.services, { email, firstName: 'Sam', password: PASSWORD })
    await invite(email, 8)
    const link = acceptLink(await mailTo(email))
    const login = await context.request.post(`${site}/api/login/`, { data: { email, password: PASSWORD } })
    expect(login.status()).toBe(200)

    await page.goto(link)
    expect(await page.locator('main').textContent()).toContain(`You are signed in as ${email}.`)
    await Promise.all([page.waitForURL(/\/joined\?organization=/), page.getByRole('button', { name: 'Join Org O' }).click()])
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('You joined Org O')
    expect((await members()).find((m) => m.user.email === email)).toMatchObject({ level: 8 })
  })

  it('signed in as someone else, the page says the invite is for another address', async () => {
    const email = uniqueEmail('intended')
    await invite(email)
    const link = acceptLink(await mailTo(email))
    const login = await context.request.post(`${site}/api/login/`, { data: { email: w.outsider.email, password: PASSWORD } })
    expect(login.status()).toBe(200)
    const res = await page.goto(link)
    expect(res?.status()).toBe(400)
    expect((await page.getByRole('alert').first().textContent())?.trim()).toBe('This invite is intended for another email address.')
  })
})
