import type { Config } from '../../config.ts'
import { esc, htmlPage } from '../../lib/html.ts'
import { DOCUMENT_TITLES } from '../../adapters/esign/local.ts'

export type SignPageState =
  | {
      kind: 'form'
      token: string
      documentType: string
      companyName: string
      companyAddress: string
      representativeEmail: string
      organizationName: string
      unsignedSha256: string
      /** The agreement's text, as the PDF has it. */
      clauses: string[]
      error?: { message: string; field: 'full_name' | 'consent' | null }
      fullName?: string
    }
  | { kind: 'signed'; documentType: string; companyName: string; signerName: string | null }
  | { kind: 'error'; message: string }

function page(config: Config, title: string, body: string): string {
  return htmlPage({ productName: config.productName, title, body, width: 760, css: `
  main { margin-top: 5vh; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
  dt { font-weight: 600; }
  dd { margin: 0; }
  article { max-height: 50vh; overflow-y: auto; border: 1px solid #c4c6cd; border-radius: 4px; padding: 8px 16px; background: #fbfbf8; }
  article p { line-height: 1.45; }
  input[type=checkbox] { width: auto; }
  .check { display: flex; gap: 8px; align-items: flex-start; font-weight: 400; }
  button { width: auto; padding: 10px 18px; }
  button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
  .muted { font-size: .9rem; }
  code { word-break: break-all; }` })
}

export function renderSignPage(config: Config, s: SignPageState): string {
  if (s.kind === 'error') return page(config, 'Signing link', `<h1>This signing link can't be used</h1><p class="error" role="alert">${esc(s.message)}</p>`)
  const title = DOCUMENT_TITLES[s.documentType] ?? s.documentType
  if (s.kind === 'signed') {
    return page(
      config,
      `${title} signed`,
      `<h1>${esc(title)} signed</h1><p role="status">Thank you${s.signerName ? `, ${esc(s.signerName)}` : ''}. The ${esc(s.documentType)} for <strong>${esc(s.companyName)}</strong> is signed. Your organization's admins can download the signed copy.</p>`,
    )
  }
  const action = `/legal/sign/${encodeURIComponent(s.token)}`
  const nameError = s.error?.field === 'full_name'
  const consentError = s.error?.field === 'consent'
  return page(
    config,
    `Sign the ${title}`,
    `<h1>Sign the ${esc(title)}</h1>
<p>${esc(s.organizationName)} asked ${esc(config.productName)} to prepare this ${esc(s.documentType)} for <strong>${esc(s.companyName)}</strong>. Review it, then sign below.</p>
${s.error ? `<p class="error" role="alert" id="form-error">${esc(s.error.message)}</p>` : ''}
<dl>
  <dt>Company</dt><dd>${esc(s.companyName)}</dd>
  <dt>Address</dt><dd>${esc(s.companyAddress)}</dd>
  <dt>Representative</dt><dd>${esc(s.representativeEmail)}</dd>
  <dt>Document</dt><dd>${esc(title)} (${esc(s.documentType)})</dd>
</dl>
<article aria-label="${esc(title)}" tabindex="0">
  <h2>${esc(title)}</h2>
  ${s.clauses.map((c) => `<p>${esc(c)}</p>`).join('\n  ')}
</article>
<p><a href="${esc(action)}/document.pdf">Open the document (PDF)</a></p>
<p class="muted">SHA-256 of this document: <code>${esc(s.unsignedSha256)}</code></p>
<form method="post" action="${esc(action)}" novalidate>
  <label for="full_name">Your full name</label>
  <input id="full_name" name="full_name" type="text" required maxlength="200" autocomplete="name" value="${esc(s.fullName ?? '')}"${nameError ? ' aria-invalid="true" aria-describedby="form-error"' : ''}>
  <label class="check" for="consent"><input id="consent" name="consent" type="checkbox" value="yes" required${consentError ? ' aria-invalid="true" aria-describedby="form-error"' : ''}> I have read this ${esc(s.documentType)}, I am authorised to sign it for ${esc(s.companyName)}, and I agree to sign it electronically.</label>
  <button type="submit">Sign the ${esc(s.documentType)}</button>
</form>`,
  )
}
