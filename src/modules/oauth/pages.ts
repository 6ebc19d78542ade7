import type { Config } from '../../config.ts'
import { esc, htmlPage } from '../../lib/html.ts'

function page(config: Config, title: string, body: string): string {
  return htmlPage({ productName: config.productName, title, body, width: 440, css: `
  button.secondary { background: #fff; color: #1d1f27; border: 1px solid #c4c6cd; margin-top: 10px; }
  .badge { display: inline-block; font-size: .8rem; background: #e4f5e9; color: #1b6b34; border-radius: 10px; padding: 2px 8px; margin-left: 6px; vertical-align: middle; }
  .badge.unverified { background: #fff4e0; color: #8a5a00; }
  ul.scopes { padding-left: 20px; }
  code { font-size: .9rem; }` })
}

const hidden = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n')

/** The sign-in form shown by /oauth/authorize to someone without a session. */
export function loginPage(config: Config, s: { next: string; appName: string; csrfToken: string; email?: string; error?: string }): string {
  return page(
    config,
    'Sign in',
    `<h1>Sign in to continue</h1>
<p class="muted">${esc(s.appName)} wants to access your ${esc(config.productName)} account. Sign in first.</p>
${s.error ? `<div class="error" role="alert">${esc(s.error)}</div>` : ''}
<form method="post" action="/oauth/login">
${hidden({ next: s.next, csrf_token: s.csrfToken })}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${esc(s.email ?? '')}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  )
}

/** What a scope lets the application do, in words. */
function describeScope(scope: string): string {
  const [object, action] = scope.split(':')
  const what = object.replace(/_/g, ' ')
  return action === 'write' ? `Read and change ${what}` : `Read ${what}`
}

export function consentPage(
  config: Config,
  s: { appName: string; clientId: string; verified: boolean; scopes: string[]; email: string; fields: Record<string, string>; csrfToken: string },
): string {
  const badge = s.verified ? '<span class="badge" data-testid="verified">Verified</span>' : '<span class="badge unverified">Not verified</span>'
  const scopes = s.scopes.length
    ? `<ul class="scopes">${s.scopes.map((sc) => `<li><code>${esc(sc)}</code> — ${esc(describeScope(sc))}</li>`).join('')}</ul>`
    : '<p class="muted">No access to your data (no scopes were asked for).</p>'
  return page(
    config,
    `Authorize ${s.appName}`,
    `<h1>Authorize <span id="app-name">${esc(s.appName)}</span>${badge}</h1>
<p><strong>${esc(s.appName)}</strong> wants to act for you (${esc(s.email)}) with these permissions:</p>
${scopes}
<form method="post" action="/oauth/authorize">
${hidden({ ...s.fields, csrf_token: s.csrfToken })}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>
<p class="muted">Client id <code>${esc(s.clientId)}</code></p>`,
  )
}

export function messagePage(config: Config, title: string, message: string, isError = true): string {
  return page(config, title, `<h1>${esc(title)}</h1>\n<p${isError ? ' class="error" role="alert"' : ''}>${esc(message)}</p>`)
}
