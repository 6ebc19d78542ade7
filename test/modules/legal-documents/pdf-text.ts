import { decodePDFRawStream, PDFArray, PDFDict, PDFDocument, PDFName, PDFRawStream, PDFHexString, PDFString, type PDFPage } from 'pdf-lib'

/**
 * The text a page draws with single-byte (standard) fonts: the hex and literal strings of its
 * content streams, one per text operation. Text in embedded Unicode fonts is glyph ids, not
 * characters, and is not returned.
 */
export function pageText(page: PDFPage): string[] {
  const contents = page.node.Contents()
  const streams: PDFRawStream[] = []
  if (contents instanceof PDFArray) {
    for (let i = 0; i < contents.size(); i++) {
      const s = contents.lookup(i)
      if (s instanceof PDFRawStream) streams.push(s)
    }
  } else if (contents instanceof PDFRawStream) streams.push(contents)
  const out: string[] = []
  for (const s of streams) {
    const text = Buffer.from(decodePDFRawStream(s).decode()).toString('latin1')
    for (const m of text.matchAll(/<([0-9A-Fa-f]*)>\s*Tj/g)) out.push(Buffer.from(m[1], 'hex').toString('latin1'))
    for (const m of text.matchAll(/\(((?:\\.|[^\\)])*)\)\s*Tj/g)) out.push(m[1].replace(/\\(.)/g, '$1'))
  }
  return out
}

/** A custom entry of the document information dictionary, as text. */
export function infoEntry(pdf: PDFDocument, name: string): string | null {
  const infoRef = pdf.context.trailerInfo.Info
  const info = infoRef ? pdf.context.lookup(infoRef) : null
  if (!(info instanceof PDFDict)) return null
  const v = info.lookup(PDFName.of(name))
  if (v instanceof PDFHexString || v instanceof PDFString) return v.decodeText()
  return null
}
