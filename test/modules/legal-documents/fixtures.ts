import type { ProductFeature } from '../../../src/config.ts'
import type { UserRow } from '../../../src/modules/users/store.ts'
import { addMember, createKey, createOrg, createUser, login, PASSWORD, type Session, type TestApp } from '../../helpers/app.ts'

/** One organization of its own per test (documents are one per type per organization). */
export interface OrgFixture {
  orgId: string
  owner: UserRow
  admin: UserRow
  member: UserRow
  ownerKey: string
  adminKey: string
  memberKey: string
  admin_: Session
  member_: Session
}

let n = 0
export async function orgFixture(t: TestApp, features?: ProductFeature[]): Promise<OrgFixture> {
  n += 1
  const s = t.services
  const owner = await createUser(s, { firstName: 'Olivia', password: PASSWORD })
  const admin = await createUser(s, { firstName: 'Ada', password: PASSWORD })
  const member = await createUser(s, { firstName: '', password: PASSWORD })
  const org = await createOrg(s, owner, `Legal Org ${n}`)
  await addMember(s, org.id, admin, 8)
  await addMember(s, org.id, member, 1)
  await t.db.query(`UPDATE users SET current_organization_id = $1 WHERE id = ANY ($2::int[])`, [org.id, [admin.id, member.id]])
  if (features) await t.db.query(`UPDATE organizations SET available_product_features = $2 WHERE id = $1`, [org.id, JSON.stringify(features)])
  return {
    orgId: org.id,
    owner,
    admin,
    member,
    ownerKey: await createKey(s, owner),
    adminKey: await createKey(s, admin),
    memberKey: await createKey(s, member),
    admin_: await login(t.app, admin.email),
    member_: await login(t.app, member.email),
  }
}

export const DPA = { document_type: 'DPA', company_name: 'Acme, Inc.', company_address: '1 Analytics Way', representative_email: 'ada@acme.example' }
export const BAA = { ...DPA, document_type: 'BAA' }
