/**
 * orgd's own e-signature: the agreement rendered as a PDF (pdf-lib), a signing link derived from
 * the row's nonce with SECRET_KEY, and the signed PDF: the original pages with the signature
 * filled in, plus an audit page naming who signed, when, from where, and the SHA-256 of the
 * unsigned PDF they were shown.
 */
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import fontkit from '@pdf-lib/fontkit'
import { PDFDocument, PDFHexString, PDFName, rgb, StandardFonts, type PDFFont, type PDFPage } from 'pdf-lib'
import { safeEqual } from '../../lib/crypto.ts'
import { isUuid } from '../../lib/ids.ts'

const require = createRequire(import.meta.url)
const FONT_DIR = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf')
// DejaVu covers Latin, Greek, Cyrillic and more, so a representative's own spelling of a name prints.
let fonts: { regular: Buffer; bold: Buffer } | null = null
function fontBytes() {
  fonts ??= { regular: readFileSync(join(FONT_DIR, 'DejaVuSans.ttf')), bold: readFileSync(join(FONT_DIR, 'DejaVuSans-Bold.ttf')) }
  return fonts
}

export const DOCUMENT_TITLES: Record<string, string> = {
  BAA: 'Business Associate Agreement',
  DPA: 'Data Processing Agreement',
  MSA: 'Master Service Agreement',
}

export interface AgreementInput {
  documentId: string
  documentType: string
  productName: string
  countersignerEmail: string
  companyName: string
  companyAddress: string
  representativeEmail: string
  date: Date
}

export interface SignatureInput {
  documentId: string
  signerName: string
  signerEmail: string
  signedAt: Date
  ip: string
  unsignedSha256: string
}

const PAGE = { width: 595.28, height: 841.89, margin: 56 }
/** Height kept free at the bottom of the last page for the signature block. */
const SIGNATURE_BLOCK_HEIGHT = 150
const INK = rgb(0.11, 0.12, 0.15)
const MUTED = rgb(0.38, 0.39, 0.44)

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The agreement's text, the same in the PDF and on the signing page. */
export function clauses(i: AgreementInput): string[] {
  const p = i.productName
  const common = [
    `This ${DOCUMENT_TITLES[i.documentType] ?? i.documentType} (the "Agreement") is entered into between ${p} ("Provider") and ${i.companyName}, of ${i.companyAddress} ("Customer"), and takes effect on the date it is signed by Customer.`,
    `Customer's representative for this Agreement is ${i.representativeEmail}. Provider's countersigner is ${i.countersignerEmail}.`,
  ]
  const byType: Record<string, string[]> = {
    DPA: [
      '1. Scope. Provider processes personal data on behalf of Customer only to provide the services Customer uses, and only on Customer\'s documented instructions.',
      '2. Confidentiality. Provider ensures that everyone authorised to process the personal data is bound by confidentiality.',
      '3. Security. Provider maintains technical and organisational measures appropriate to the risk of the processing.',
      '4. Sub-processors. Provider informs Customer of intended changes to its sub-processors, giving Customer the opportunity to object.',
      '5. Assistance. Provider assists Customer in responding to requests from data subjects and in meeting its obligations on security, breach notification and impact assessments.',
      '6. Deletion. At the end of the services Provider deletes or returns the personal data, as Customer chooses, unless the law requires storage.',
    ],
    BAA: [
      '1. Permitted uses. Provider uses and discloses protected health information only to perform the services for Customer, or as required by law.',
      '2. Safeguards. Provider uses appropriate safeguards to prevent any use or disclosure not provided for by this Agreement.',
      '3. Reporting. Provider reports to Customer any use or disclosure not provided for by this Agreement, including breaches of unsecured protected health information.',
      '4. Subcontractors. Provider ensures that subcontractors who handle protected health information agree to the same restrictions.',
      '5. Access and amendment. Provider makes protected health information available to Customer as needed for individuals\' rights of access and amendment.',
      '6. Termination. On termination Provider returns or destroys all protected health information, where feasible.',
    ],
    MSA: [
      '1. Services. Provider makes its services available to Customer under the terms of this Agreement and any order forms referring to it.',
      '2. Fees. Customer pays the fees set out in the applicable order forms.',
      '3. Confidentiality. Each party protects the other\'s confidential information with reasonable care.',
      '4. Term. This Agreement continues until terminated by either party in accordance with its terms.',
    ],
  }
  return [...common, ...(byType[i.documentType] ?? [])]
}

function wrap(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/)) {
    const candidate = line ? `${line} ${word}` : word
    if (font.widthOfTextAtSize(candidate, size) <= width || !line) line = candidate
    else {
      lines.push(line)
      line = word
    }
  }
  if (line) lines.push(line)
  return lines
}

async function newDoc(): Promise<{ pdf: PDFDocument; regular: PDFFont; bold: PDFFont }> {
  const pdf = await PDFDocument.create()
  pdf.registerFontkit(fontkit)
  const f = fontBytes()
  return { pdf, regular: await pdf.embedFont(f.regular, { subset: true }), bold: await pdf.embedFont(f.bold, { subset: true }) }
}

/** The unsigned agreement. Its bytes are hashed and the hash recorded before anyone is asked to sign. */
export async function renderAgreement(i: AgreementInput): Promise<Buffer> {
  const { pdf, regular, bold } = await newDoc()
  const title = `${i.productName} ${i.documentType} — ${i.companyName}`
  pdf.setTitle(title)
  pdf.setAuthor(i.productName)
  pdf.setSubject(DOCUMENT_TITLES[i.documentType] ?? i.documentType)
  pdf.setCreationDate(i.date)
  pdf.setModificationDate(i.date)
  pdf.setProducer(i.productName)
  pdf.setCreator(i.productName)
  const width = PAGE.width - 2 * PAGE.margin
  let page: PDFPage = pdf.addPage([PAGE.width, PAGE.height])
  let y = PAGE.height - PAGE.margin
  const draw = (text: string, font: PDFFont, size: number, color = INK, gap = 4) => {
    for (const line of wrap(text, font, size, width)) {
      if (y - size < PAGE.margin) {
        page = pdf.addPage([PAGE.width, PAGE.height])
        y = PAGE.height - PAGE.margin
      }
      page.drawText(line, { x: PAGE.margin, y: y - size, size, font, color })
      y -= size + gap
    }
  }
  draw(DOCUMENT_TITLES[i.documentType] ?? i.documentType, bold, 20, INK, 8)
  draw(title, regular, 11, MUTED, 4)
  draw(`Document ${i.documentId} · prepared ${i.date.toISOString().slice(0, 10)}`, regular, 9, MUTED, 16)
  const facts: Array<[string, string]> = [
    ['Company', i.companyName],
    ['Address', i.companyAddress],
    ['Representative', i.representativeEmail],
    ['Document type', `${i.documentType} (${DOCUMENT_TITLES[i.documentType] ?? i.documentType})`],
    ['Date', i.date.toISOString().slice(0, 10)],
    ['Provider', `${i.productName} (countersigner ${i.countersignerEmail})`],
  ]
  for (const [k, v] of facts) draw(`${k}: ${v}`, regular, 10, INK, 3)
  y -= 12
  for (const c of clauses(i)) {
    draw(c, regular, 10, INK, 3)
    y -= 6
  }
  if (y - SIGNATURE_BLOCK_HEIGHT < PAGE.margin) {
    page = pdf.addPage([PAGE.width, PAGE.height])
    y = PAGE.height - PAGE.margin
  }
  page.drawText('Signed for Customer:', { x: PAGE.margin, y: PAGE.margin + SIGNATURE_BLOCK_HEIGHT - 16, size: 10, font: bold, color: INK })
  page.drawLine({ start: { x: PAGE.margin, y: PAGE.margin + 60 }, end: { x: PAGE.margin + 260, y: PAGE.margin + 60 }, thickness: 0.6, color: MUTED })
  page.drawText('Name, date', { x: PAGE.margin, y: PAGE.margin + 46, size: 8, font: regular, color: MUTED })
  return Buffer.from(await pdf.save({ useObjectStreams: false }))
}

/** The signed PDF: the original pages, the signature written into the block, and an audit page. */
export async function signAgreement(unsigned: Buffer, s: SignatureInput): Promise<Buffer> {
  const pdf = await PDFDocument.load(unsigned, { updateMetadata: false })
  pdf.registerFontkit(fontkit)
  const f = fontBytes()
  const regular = await pdf.embedFont(f.regular, { subset: true })
  const bold = await pdf.embedFont(f.bold, { subset: true })
  const pages = pdf.getPages()
  const last = pages[pages.length - 1]
  const when = s.signedAt.toISOString()
  last.drawText(s.signerName, { x: PAGE.margin + 4, y: PAGE.margin + 68, size: 16, font: bold, color: rgb(0.07, 0.2, 0.6) })
  last.drawText(`${s.signerName} (${s.signerEmail}), ${when}`, { x: PAGE.margin + 70, y: PAGE.margin + 46, size: 8, font: regular, color: MUTED })
  last.drawText('Signed electronically; see the audit page.', { x: PAGE.margin, y: PAGE.margin + 30, size: 8, font: regular, color: MUTED })

  // Plain ASCII lines are set in a standard font, whose text stays readable in the content stream
  // (an auditor's text tools can find the hash); anything else needs the embedded Unicode font.
  const helvetica = await pdf.embedFont(StandardFonts.Helvetica)
  const helveticaBold = await pdf.embedFont(StandardFonts.HelveticaBold)
  const audit = pdf.addPage([PAGE.width, PAGE.height])
  let y = PAGE.height - PAGE.margin
  const line = (text: string, preferred: PDFFont, size: number, color = INK) => {
    const ascii = /^[\x20-\x7e]*$/.test(text)
    const font = ascii ? (preferred === bold ? helveticaBold : helvetica) : preferred
    for (const l of wrap(text, font, size, PAGE.width - 2 * PAGE.margin)) {
      audit.drawText(l, { x: PAGE.margin, y: y - size, size, font, color })
      y -= size + 6
    }
  }
  line('Audit trail', bold, 18)
  y -= 8
  line(`Document: ${s.documentId}`, regular, 10)
  line(`Signer name: ${s.signerName}`, regular, 10)
  line(`Signer email: ${s.signerEmail}`, regular, 10)
  line(`Signed at (UTC): ${when}`, regular, 10)
  line(`Signer IP address: ${s.ip}`, regular, 10)
  line('SHA-256 of the unsigned PDF:', regular, 10)
  line(s.unsignedSha256, regular, 9)
  y -= 8
  line('The signer typed their full name and confirmed that they agree to sign this document electronically.', regular, 9, MUTED)
  // pdf-lib keeps the document information dictionary private; it is a plain PDFDict in the trailer.
  ;(pdf as unknown as { getInfoDict(): { set(k: PDFName, v: PDFHexString): void } }).getInfoDict().set(
    PDFName.of('SignatureAudit'),
    PDFHexString.fromText(JSON.stringify({ document_id: s.documentId, signer_name: s.signerName, signer_email: s.signerEmail, signed_at: when, ip: s.ip, unsigned_sha256: s.unsignedSha256 })),
  )
  pdf.setModificationDate(s.signedAt)
  return Buffer.from(await pdf.save({ useObjectStreams: false }))
}

function mac(secretKey: string, id: string, nonce: string): string {
  return createHmac('sha256', secretKey).update(`legal-sign\n${id}\n${nonce}`).digest('base64url')
}

/** `<document id>.<HMAC>`: nothing secret is stored, and clearing the nonce voids every link. */
export function signingToken(secretKey: string, id: string, nonce: string): string {
  return `${id}.${mac(secretKey, id, nonce)}`
}

export function parseSigningToken(token: string): { id: string; mac: string } | null {
  const m = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(token)
  if (!m || !isUuid(m[1])) return null
  return { id: m[1].toLowerCase(), mac: m[2] }
}

export function signingTokenMatches(secretKey: string, parsed: { id: string; mac: string }, nonce: string | null): boolean {
  return nonce !== null && safeEqual(parsed.mac, mac(secretKey, parsed.id, nonce))
}
