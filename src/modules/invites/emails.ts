import type { Db } from '../../db/index.ts'
import type { Config } from '../../config.ts'
import type { Mailer, MailMessage } from '../../adapters/mail.ts'
import type { JobHandler } from '../../jobs/queue.ts'
import { INVITE_DAYS_VALIDITY, inviteStore } from './store.ts'
import { esc } from '../../lib/html.ts'

export const EMAIL_JOBS = {
  invite: 'email.invite',
  delegation: 'email.delegation',
  memberJoined: 'email.member_joined',
} as const

function layout(productName: string, bodyHtml: string): string {
  return `<!doctype html><html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d1f27;max-width:560px;margin:0 auto;padding:24px">
${bodyHtml}
<p style="color:#6b6f7b;font-size:12px;margin-top:32px">Sent by ${esc(productName)}.</p></body></html>`
}

function button(href: string, label: string): string {
  return `<p><a href="${esc(href)}" style="display:inline-block;background:#1d4aff;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">${esc(label)}</a></p>`
}

interface InviteContext {
  inviteId: string
  targetEmail: string
  inviterName: string
  inviterEmail: string | null
  organizationName: string
  message: string | null
  expiresAt: Date
}

export function renderInvite(config: Config, c: InviteContext): MailMessage {
  const link = `${config.siteUrl}/signup/${c.inviteId}`
  const subject = `${c.inviterName} invited you to join ${c.organizationName} on ${config.productName}`
  const expires = c.expiresAt.toUTCString()
  const note = c.message ? `\n\n${c.inviterName} wrote: "${c.message}"` : ''
  return {
    to: c.targetEmail,
    subject,
    replyTo: c.inviterEmail ?? undefined,
    text: `${c.inviterName} invited you to join ${c.organizationName} on ${config.productName}.${note}\n\nAccept the invite: ${link}\n\nThe invite expires on ${expires}.\n`,
    html: layout(
      config.productName,
      `<h2>You're invited to ${esc(c.organizationName)}</h2>
<p>${esc(c.inviterName)} invited you to join <strong>${esc(c.organizationName)}</strong> on ${esc(config.productName)}.</p>
${c.message ? `<blockquote style="border-left:3px solid #ddd;margin:0;padding-left:12px">${esc(c.message)}</blockquote>` : ''}
${button(link, 'Accept the invite')}
<p>Or open this link: <a href="${esc(link)}">${esc(link)}</a></p>
<p style="color:#6b6f7b">The invite expires on ${esc(expires)}.</p>`,
    ),
  }
}

export function renderDelegation(config: Config, c: InviteContext): MailMessage {
  const link = `${config.siteUrl}/signup/${c.inviteId}`
  const subject = `${c.inviterName} asked you to set up ${c.organizationName} on ${config.productName}`
  const note = c.message ? `\n\n${c.inviterName} wrote: "${c.message}"` : ''
  return {
    to: c.targetEmail,
    subject,
    replyTo: c.inviterEmail ?? undefined,
    text: `${c.inviterName} is handing the setup of ${c.organizationName} on ${config.productName} over to you, as an admin.${note}\n\nAccept and continue the setup: ${link}\n\nThe invite expires on ${c.expiresAt.toUTCString()}.\n`,
    html: layout(
      config.productName,
      `<h2>Help set up ${esc(c.organizationName)}</h2>
<p>${esc(c.inviterName)} is handing the setup of <strong>${esc(c.organizationName)}</strong> on ${esc(config.productName)} over to you, as an admin.</p>
${c.message ? `<blockquote style="border-left:3px solid #ddd;margin:0;padding-left:12px">${esc(c.message)}</blockquote>` : ''}
${button(link, 'Accept and continue the setup')}
<p>Or open this link: <a href="${esc(link)}">${esc(link)}</a></p>`,
    ),
  }
}

export function renderMemberJoined(config: Config, c: { to: string; memberName: string; memberEmail: string; organizationName: string }): MailMessage {
  const subject = `${c.memberName || c.memberEmail} joined ${c.organizationName} on ${config.productName}`
  return {
    to: c.to,
    subject,
    text: `${c.memberName || c.memberEmail} (${c.memberEmail}) just joined ${c.organizationName} on ${config.productName}.\n\n${config.siteUrl}\n`,
    html: layout(config.productName, `<p><strong>${esc(c.memberName || c.memberEmail)}</strong> (${esc(c.memberEmail)}) just joined <strong>${esc(c.organizationName)}</strong> on ${esc(config.productName)}.</p>`),
  }
}

async function inviteContext(db: Db, inviteId: string): Promise<(InviteContext & { isDelegation: boolean }) | null> {
  const rows = await db.query<{ id: string; target_email: string; message: string | null; created_at: Date; is_setup_delegation: boolean; first_name: string | null; email: string | null; org_name: string }>(
    `SELECT i.id, i.target_email, i.message, i.created_at, i.is_setup_delegation, u.first_name, u.email, o.name AS org_name
       FROM invites i JOIN organizations o ON o.id = i.organization_id LEFT JOIN users u ON u.id = i.created_by_id
      WHERE i.id = $1`,
    [inviteId],
  )
  const r = rows[0]
  if (!r) return null
  return {
    inviteId: r.id,
    targetEmail: r.target_email,
    inviterName: r.first_name || r.email || 'Someone',
    inviterEmail: r.email,
    organizationName: r.org_name,
    message: r.message,
    expiresAt: new Date(r.created_at.getTime() + INVITE_DAYS_VALIDITY * 86_400_000),
    isDelegation: r.is_setup_delegation,
  }
}

/** Job handlers for the three emails. Each reads the current rows, so a deleted invite sends nothing. */
export function emailJobHandlers(config: Config, mailer: Mailer): Record<string, JobHandler> {
  const sendInvite = (render: typeof renderInvite): JobHandler => async (job, db) => {
    const ctx = await inviteContext(db, String(job.payload.inviteId))
    if (!ctx) return
    await mailer.send(render(config, ctx))
    await inviteStore.markEmailed(db, ctx.inviteId)
  }
  return {
    [EMAIL_JOBS.invite]: sendInvite(renderInvite),
    [EMAIL_JOBS.delegation]: sendInvite(renderDelegation),
    [EMAIL_JOBS.memberJoined]: async (job, db) => {
      const rows = await db.query<{ first_name: string; email: string; org_name: string }>(
        `SELECT u.first_name, u.email, o.name AS org_name FROM users u, organizations o WHERE u.id = $1 AND o.id = $2`,
        [job.payload.userId, job.payload.organizationId],
      )
      if (!rows[0]) return
      await mailer.send(renderMemberJoined(config, { to: String(job.payload.to), memberName: rows[0].first_name, memberEmail: rows[0].email, organizationName: rows[0].org_name }))
    },
  }
}
