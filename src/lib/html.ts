/** Escapes text for HTML bodies and attribute values (pages and emails). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

const BASE_CSS = `
  body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; background: #f3f4ef; color: #1d1f27; margin: 0; }
  main { margin: 8vh auto; background: #fff; border-radius: 8px; padding: 32px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 1.4rem; margin-top: 0; }
  label { display: block; font-weight: 600; margin: 16px 0 4px; }
  input { width: 100%; box-sizing: border-box; padding: 8px 10px; font-size: 1rem; border: 1px solid #c4c6cd; border-radius: 4px; }
  button { margin-top: 20px; width: 100%; padding: 10px; font-size: 1rem; background: #1d4aff; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
  .error { background: #fde8e8; color: #8a1c1c; padding: 10px 12px; border-radius: 4px; margin: 12px 0; }
  .muted { color: #5f6270; }`

/**
 * The one layout of orgd's server-rendered pages (signup, OAuth sign-in and consent, legal
 * signing): a centred card. `css` adds the page's own rules after the shared ones. Pages never
 * send a referrer, since their URLs carry invite ids, signing tokens or OAuth parameters.
 */
export function htmlPage(o: { productName: string; title: string; body: string; width: number; css?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(o.title)} · ${esc(o.productName)}</title>
<style>${BASE_CSS}
  main { max-width: ${o.width}px; }${o.css ?? ''}
</style>
</head>
<body><main>${o.body}</main></body>
</html>`
}
