import type { Config } from '../../config.ts'
import { esc, htmlPage } from '../../lib/html.ts'

export type SignupPageState =
  | {
      kind: 'create' | 'join' | 'login'
      inviteId: string
      organizationName: string
      inviterName: string
      email: string
      firstName: string
      csrfToken?: string
      error?: string
      firstNameValue?: string
    }
  | { kind: 'error'; inviteId: string; message: string; error?: string; firstNameValue?: string }

function page(config: Config, title: string, body: string): string {
  return htmlPage({ productName: config.productName, title, body, width: 420, css: `
  input[readonly] { background: #f3f4f6; }` })
}

export function renderSignupPage(config: Config, s: SignupPageState): string {
  const error = s.error ? `<p class="error" role="alert">${esc(s.error)}</p>` : ''
  if (s.kind === 'error') {
    return page(config, 'Invite', `<h1>This invite can't be used</h1><p class="error" role="alert">${esc(s.message)}</p>${error}`)
  }
  const intro = `<h1>Join ${esc(s.organizationName)}</h1>
<p class="muted">${esc(s.inviterName)} invited <strong>${esc(s.email)}</strong> to join <strong>${esc(s.organizationName)}</strong> on ${esc(config.productName)}.</p>${error}`
  const action = `/signup/${encodeURIComponent(s.inviteId)}`
  if (s.kind === 'join') {
    return page(
      config,
      `Join ${s.organizationName}`,
      `${intro}
<form method="post" action="${esc(action)}">
  <input type="hidden" name="action" value="join">
  <input type="hidden" name="csrf_token" value="${esc(s.csrfToken ?? '')}">
  <p>You are signed in as <strong>${esc(s.email)}</strong>.</p>
  <button type="submit">Join ${esc(s.organizationName)}</button>
</form>`,
    )
  }
  if (s.kind === 'login') {
    return page(
      config,
      `Join ${s.organizationName}`,
      `${intro}
<p>You already have an account. Log in to join.</p>
<form method="post" action="${esc(action)}">
  <input type="hidden" name="action" value="login">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" value="${esc(s.email)}" readonly autocomplete="username">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required autocomplete="current-password">
  <button type="submit">Log in and join</button>
</form>`,
    )
  }
  return page(
    config,
    `Join ${s.organizationName}`,
    `${intro}
<form method="post" action="${esc(action)}">
  <input type="hidden" name="action" value="create">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" value="${esc(s.email)}" readonly autocomplete="username">
  <label for="first_name">First name</label>
  <input id="first_name" name="first_name" type="text" required maxlength="150" value="${esc(s.firstNameValue ?? s.firstName)}" autocomplete="given-name">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required minlength="8" autocomplete="new-password" aria-describedby="password-help">
  <p id="password-help" class="muted">At least 8 characters.</p>
  <button type="submit">Create account and join</button>
</form>`,
  )
}

export function renderJoined(config: Config, organizationName: string | null, email: string | null): string {
  if (!organizationName) {
    return page(config, 'Not found', `<h1>Nothing to show</h1><p>Sign in to see your organizations.</p>`)
  }
  return page(
    config,
    `You joined ${organizationName}`,
    `<h1>You joined ${esc(organizationName)}</h1><p>You are now a member of <strong>${esc(organizationName)}</strong>, signed in as ${esc(email ?? '')}.</p>`,
  )
}
