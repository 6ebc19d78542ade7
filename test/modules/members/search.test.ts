import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addMember, bearer, createUser, createTestApp, seedWorld, type TestApp, type World } from '../../helpers/app.ts'

// Member search reads the copy of each person's searchable text kept on their memberships
// (migration 0007). These cases pin what that copy must keep true.
let t: TestApp
let w: World
const base = () => `/api/organizations/${w.org.id}/members/`

interface Hit { user: { uuid: string; first_name: string }; search_match_type: string }
async function search(term: string, extra = ''): Promise<{ count: number; results: Hit[] }> {
  const res = await t.app.inject({ method: 'GET', url: `${base()}?search=${encodeURIComponent(term)}${extra}`, headers: bearer(w.keys.member) })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  for (const [first, last] of [['Zelda', 'Quixbarton'], ['Abel', 'Quixbarton'], ['Mona', 'Quixbartonne'], ['Ann', 'Smithers']]) {
    await addMember(t.services, w.org.id, await createUser(t.services, { firstName: first, lastName: last }), 1)
  }
  // A namesake in another organization must never show up.
  await addMember(t.services, w.other.id, await createUser(t.services, { firstName: 'Quentin', lastName: 'Quixbarton' }), 1)
})
afterAll(async () => t.close())

describe('members search', () => {
  it('lists exact matches in first-name order, counts them all, and pages through them', async () => {
    const all = await search('quixbarton')
    expect(all.count).toBe(3)
    expect(all.results.map((r) => r.user.first_name)).toEqual(['Abel', 'Mona', 'Zelda'])
    expect(all.results.every((r) => r.search_match_type === 'exact')).toBe(true)
    const second = await search('quixbarton', '&limit=1&offset=1')
    expect(second.count).toBe(3)
    expect(second.results.map((r) => r.user.first_name)).toEqual(['Mona'])
  })

  it('past the last exact match answers an empty page, never similar matches', async () => {
    const past = await search('quixbarton', '&offset=10')
    expect(past.count).toBe(3)
    expect(past.results).toEqual([])
  })

  it('a term cannot straddle two fields to make an exact match', async () => {
    // "ann smithers" is first name + last name, not a substring of either field.
    const res = await search('ann smithers')
    expect(res.results.every((r) => r.search_match_type === 'similar')).toBe(true)
    expect(res.results.map((r) => r.user.first_name)).toContain('Ann')
  })

  it('follows a rename, an email change and a deactivation of the person', async () => {
    const person = await createUser(t.services, { firstName: 'Bartholomew', lastName: 'Kestrel' })
    await addMember(t.services, w.org.id, person, 1)
    expect((await search('kestrel')).count).toBe(1)

    await t.db.query(`UPDATE users SET last_name = 'Osprey' WHERE id = $1`, [person.id])
    expect((await search('kestrel')).count).toBe(0)
    expect((await search('osprey')).results.map((r) => r.user.uuid)).toEqual([person.uuid])

    await t.db.query(`UPDATE users SET email = 'falconer@example.org' WHERE id = $1`, [person.id])
    expect((await search('falconer')).results.map((r) => r.user.uuid)).toEqual([person.uuid])

    await t.db.query(`UPDATE users SET is_active = false WHERE id = $1`, [person.id])
    expect((await search('osprey')).count).toBe(0)
    await t.db.query(`UPDATE users SET is_active = true WHERE id = $1`, [person.id])
    expect((await search('osprey')).count).toBe(1)
  })

  it('combines with the email filter', async () => {
    const res = await search('olivia', `&email=${encodeURIComponent(w.owner.email)}`)
    expect(res.results.map((r) => r.user.uuid)).toEqual([w.owner.uuid])
    const none = await search('olivia', `&email=${encodeURIComponent(w.admin.email)}`)
    expect(none.count).toBe(0)
  })
})
