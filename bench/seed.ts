// Fast, deterministic seeding for the benchmarks: the organization, its owner and the owner's
// personal API key go through orgd's services (exactly what `orgd bootstrap` does); the thousands
// of members are written by one INSERT ... SELECT generate_series per table, so 100,000 people
// take seconds instead of minutes.
import type { Db } from '../src/db/index.ts'
import type { Services } from '../src/services.ts'

const FIRST_NAMES = [
  'Alex', 'Alexander', 'Alexandra', 'Alexis', 'Alessandro', 'Alejandro', 'Amelia', 'Aisha', 'Ahmed', 'Akira',
  'Ana', 'Andrea', 'Andrew', 'Anna', 'Antoine', 'Arjun', 'Ava', 'Benjamin', 'Bianca', 'Bruno',
  'Camila', 'Carlos', 'Caroline', 'Charlotte', 'Chen', 'Chloe', 'Christopher', 'Daniel', 'David', 'Diego',
  'Dmitri', 'Elena', 'Elijah', 'Elizabeth', 'Emily', 'Emma', 'Ethan', 'Fatima', 'Felix', 'Fernando',
  'Francesca', 'Gabriel', 'Grace', 'Hannah', 'Hiroshi', 'Ibrahim', 'Ingrid', 'Isabella', 'Ivan', 'Jack',
  'James', 'Javier', 'Jessica', 'Jin', 'John', 'Jose', 'Julia', 'Kai', 'Katarzyna', 'Kenji',
  'Laura', 'Leila', 'Liam', 'Lucas', 'Lucia', 'Luis', 'Maria', 'Mariana', 'Mark', 'Martin',
  'Mateo', 'Mei', 'Mia', 'Michael', 'Mohammed', 'Nadia', 'Natalia', 'Nikolai', 'Noah', 'Olivia',
  'Omar', 'Oscar', 'Pablo', 'Patrick', 'Paul', 'Pedro', 'Priya', 'Rafael', 'Rahul', 'Rebecca',
  'Ricardo', 'Robert', 'Rosa', 'Samuel', 'Sara', 'Sebastian', 'Sofia', 'Sophie', 'Stefan', 'Sven',
  'Takeshi', 'Thomas', 'Tomas', 'Valentina', 'Victor', 'Wei', 'William', 'Xavier', 'Yara', 'Yuki',
  'Zainab', 'Zoe',
]

const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
  'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores',
  'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts',
  'Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Dubois', 'Moreau', 'Laurent', 'Rossi', 'Russo',
  'Ferrari', 'Esposito', 'Bianchi', 'Kowalski', 'Nowak', 'Wiśniewska', 'Novák', 'Horvath', 'Ivanov', 'Petrov',
  'Sokolova', 'Kuznetsov', 'Jensen', 'Nielsen', 'Hansen', 'Andersson', 'Johansson', 'Larsen', 'Virtanen', 'Korhonen',
  'Tanaka', 'Suzuki', 'Takahashi', 'Watanabe', 'Yamamoto', 'Wang', 'Li', 'Zhang', 'Liu', 'Chen',
  'Kim', 'Park', 'Choi', 'Singh', 'Kumar', 'Sharma', 'Patel', 'Khan', 'Ali', 'Hassan',
  'Okafor', 'Mensah', 'Adeyemi', 'Silva', 'Santos', 'Oliveira', 'Pereira', 'Costa', 'Alexander', 'Fernandes',
  "O'Brien", 'Murphy', 'Kelly', 'MacDonald', 'van Dijk', 'de Vries', 'Bakker', 'Janssen',
]

const DOMAINS = [
  'gmail.com', 'outlook.com', 'yahoo.com', 'proton.me', 'icloud.com', 'fastmail.com',
  'acme-corp.com', 'globex.io', 'initech.dev', 'umbrella.co', 'hooli.xyz', 'example.org',
]

export const SEED_NAMES = { first: FIRST_NAMES, last: LAST_NAMES, domains: DOMAINS }

/**
 * Inserts users number `from`..`to` (inclusive) in one statement and returns their id range.
 * Names are picked by a hash of the number, so every run seeds the same people. Emails take
 * a few realistic shapes and always carry the number, so they stay unique.
 */
export async function insertUsers(db: Db, from: number, to: number): Promise<{ minId: number; maxId: number }> {
  // Postgres has no unaccent in core: strip the few accents used above by hand for emails.
  const rows = await db.query<{ min_id: number; max_id: number }>(
    `WITH picked AS (
       SELECT i,
              $1::text[] AS fns, $2::text[] AS lns, $3::text[] AS doms,
              mod(abs(hashint4(i)::bigint), cardinality($1::text[])) + 1 AS fi,
              mod(abs(hashint4(i + 1000003)::bigint), cardinality($2::text[])) + 1 AS li,
              mod(abs(hashint4(i + 2000003)::bigint), cardinality($3::text[])) + 1 AS di,
              mod(abs(hashint4(i + 3000017)::bigint), 1000) AS r
         FROM generate_series($4::int, $5::int) AS g(i)
     ), named AS (
       SELECT i, r, fns[fi] AS first_name, lns[li] AS last_name, doms[di] AS domain,
              translate(lower(replace(replace(lns[li], ' ', ''), '''', '')), 'üśá', 'usa') AS last_slug,
              lower(fns[fi]) AS first_slug
         FROM picked
     ), inserted AS (
       INSERT INTO users (email, first_name, last_name, distinct_id, is_email_verified, role_at_organization,
                          date_joined, last_login, is_2fa_enabled)
       SELECT CASE mod(i, 4)
                WHEN 0 THEN first_slug || '.' || last_slug || i || '@' || domain
                WHEN 1 THEN left(first_slug, 1) || last_slug || i || '@' || domain
                WHEN 2 THEN first_slug || '_' || i || '@' || domain
                ELSE last_slug || '.' || first_slug || '+' || i || '@' || domain
              END,
              first_name,
              -- A few people never filled in a last name.
              CASE WHEN r < 30 THEN '' ELSE last_name END,
              'bench-' || i,
              r >= 100,
              (ARRAY['engineering', 'product', 'founder', 'marketing', 'sales', 'leadership', 'data', 'other'])[mod(r, 8) + 1],
              now() - make_interval(secs => mod(abs(hashint4(i + 4000037)::bigint), 94608000)),
              CASE WHEN r < 200 THEN NULL ELSE now() - make_interval(secs => mod(abs(hashint4(i + 5000011)::bigint), 7776000)) END,
              r < 150
         FROM named
       RETURNING id
     )
     SELECT min(id) AS min_id, max(id) AS max_id FROM inserted`,
    [FIRST_NAMES, LAST_NAMES, DOMAINS, from, to],
  )
  return { minId: rows[0].min_id, maxId: rows[0].max_id }
}

const MEMBERSHIP_SELECT = `
  SELECT $1::uuid, u.id, CASE WHEN mod(u.id, 50) = 0 THEN 8 ELSE 1 END,
         j.joined_at, j.joined_at + make_interval(secs => mod(abs(hashint4(u.id + 7000003)::bigint), 86400 * 30))
    FROM users u,
         LATERAL (SELECT now() - make_interval(secs => mod(abs(hashint4(u.id + 6000011)::bigint), 63072000)) AS joined_at) j
   WHERE u.id BETWEEN $2 AND $3`

/**
 * Adds users with ids in [minId, maxId] to the organization, in statements after the users
 * exist, so the membership trigger counts them into organizations.member_count. In batches of
 * 250: the trigger updates the one organization row per membership, and in a single big
 * statement those updates of one row get slower and slower (about 0.1 ms a membership this way).
 */
export async function insertMemberships(db: Db, organizationId: string, minId: number, maxId: number, batch = 250): Promise<void> {
  for (let lo = minId; lo <= maxId; lo += batch) {
    const hi = Math.min(maxId, lo + batch - 1)
    await db.query(`INSERT INTO memberships (organization_id, user_id, level, joined_at, updated_at) ${MEMBERSHIP_SELECT}`, [organizationId, lo, hi])
  }
}

/**
 * The same rows for large organizations, in one transaction with the counting trigger off and
 * member_count raised by the number of listed people added, as the trigger would have done
 * (checkMemberCount verifies it afterwards). 100,000 memberships take about 1.5 s instead of 10.
 */
export async function insertMembershipsBulk(db: Db, organizationId: string, ranges: Array<{ minId: number; maxId: number }>): Promise<void> {
  await db.tx(async (q) => {
    await q.exec('ALTER TABLE memberships DISABLE TRIGGER memberships_count')
    for (const r of ranges) {
      await q.query(`INSERT INTO memberships (organization_id, user_id, level, joined_at, updated_at) ${MEMBERSHIP_SELECT}`, [organizationId, r.minId, r.maxId])
    }
    await q.query(
      `UPDATE organizations o SET member_count = (
         SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.organization_id = o.id AND u.is_active AND u.email NOT LIKE '%@posthogbot.user')
        WHERE o.id = $1`,
      [organizationId],
    )
    await q.exec('ALTER TABLE memberships ENABLE TRIGGER memberships_count')
  })
}

/** The listed member count, computed the slow way, to check the trigger-maintained one. */
export async function checkMemberCount(db: Db, organizationId: string): Promise<number> {
  const [row] = await db.query<{ stored: number; actual: number }>(
    `SELECT o.member_count AS stored,
            (SELECT count(*)::int FROM memberships m JOIN users u ON u.id = m.user_id
              WHERE m.organization_id = o.id AND u.is_active AND u.email NOT LIKE '%@posthogbot.user') AS actual
       FROM organizations o WHERE o.id = $1`,
    [organizationId],
  )
  if (!row || row.stored !== row.actual) {
    throw new Error(`organizations.member_count is ${row?.stored}, but the organization has ${row?.actual} listed members`)
  }
  return row.actual
}

export interface Seeded {
  ownerId: number
  apiKey: string
  org10k: string
  org100k: string | null
}

/**
 * The owner, a 10,000-member organization (owner + 9,999 people) and the owner's personal API key.
 * `members` is the organization's total size including the owner.
 */
export async function seedSmall(db: Db, services: Services, members: number): Promise<{ ownerId: number; apiKey: string; organizationId: string; userIds: { minId: number; maxId: number } }> {
  const { user: owner } = await services.users.ensure({ email: 'bench-owner@acme-corp.com', firstName: 'Olivia', lastName: 'Owner' })
  const { organization } = await services.organizations.create(owner, `Bench ${members.toLocaleString('en')} members`)
  const key = await services.apiKeys.create(owner, { label: 'bench', scopes: ['*'] })
  const userIds = await insertUsers(db, 1, members - 1)
  await insertMemberships(db, organization.id, userIds.minId, userIds.maxId)
  return { ownerId: owner.id, apiKey: key.value!, organizationId: organization.id, userIds }
}

/**
 * A second organization of `members` people (the same owner): the people of the first one plus
 * new users, so the users table holds `members` people in all.
 */
export async function seedLarge(db: Db, services: Services, ownerId: number, members: number, existing: { minId: number; maxId: number }): Promise<string> {
  const owner = await services.users.findByEmail('bench-owner@acme-corp.com')
  if (!owner || owner.id !== ownerId) throw new Error('bench owner not found')
  const { organization } = await services.organizations.create(owner, `Bench ${members.toLocaleString('en')} members`)
  const already = existing.maxId - existing.minId + 1
  const more = await insertUsers(db, already + 1, members - 1)
  await insertMembershipsBulk(db, organization.id, [existing, more])
  return organization.id
}
