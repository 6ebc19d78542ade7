import { Type } from '@sinclair/typebox'
import { DateTime, Nullable, Paginated } from '../../http/schemas.ts'

export const CreateLegalDocument = Type.Object({
  document_type: Type.Unsafe<'BAA' | 'DPA'>({ type: 'string', enum: ['BAA', 'DPA'], description: "Either 'BAA' or 'DPA'." }),
  company_name: Type.String({ minLength: 1, maxLength: 255, description: 'The customer legal entity entering the agreement.' }),
  company_address: Type.String({ minLength: 1, maxLength: 512, description: 'The customer address.' }),
  representative_email: Type.String({ format: 'email', maxLength: 254, description: 'Email the signing request is sent to.' }),
})

export const LegalDocumentCreator = Type.Object({ first_name: Type.String(), email: Type.String() })

export const LegalDocumentDTO = Type.Object({
  id: Type.String({ format: 'uuid' }),
  document_type: Type.String(),
  company_name: Type.String(),
  representative_email: Type.String(),
  status: Type.String(),
  signed_pdf_stored: Type.Boolean(),
  created_by: Nullable(LegalDocumentCreator),
  created_at: DateTime,
})

export const LegalDocumentList = Paginated(LegalDocumentDTO)
