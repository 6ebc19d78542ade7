import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import { Type } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import { forSerialization, serializerFactory } from '../../src/http/serializer.ts'
import { DateTime, Nullable, Paginated, UserBasic } from '../../src/http/schemas.ts'
import { MemberList } from '../../src/modules/members/schemas.ts'

const plain = (s: unknown) => JSON.parse(JSON.stringify(s))

function compile(factory: SerializerSelector.SerializerFactory, schema: unknown) {
  return factory(undefined, undefined)({ method: 'GET', url: '/x', httpStatus: '200', schema })
}

const member = (over: Record<string, unknown> = {}) => ({
  id: '0190b8d2-1111-7000-8000-000000000001',
  user: {
    id: 7,
    uuid: '0190b8d2-2222-7000-8000-000000000002',
    distinct_id: null,
    first_name: 'Zoë "Z"',
    last_name: '',
    email: 'z@example.com',
    is_email_verified: null,
    hedgehog_config: null,
    role_at_organization: 'engineering',
  },
  level: 8,
  joined_at: new Date('2026-01-02T03:04:05.678Z'),
  updated_at: '2026-01-02T03:04:05.678901Z',
  is_2fa_enabled: false,
  has_social_auth: true,
  last_login: null,
  search_match_type: null,
  ...over,
})

describe('response serialization schemas', () => {
  it('turns a nullable simple field into the field with nullable: true', () => {
    expect(plain(forSerialization(Nullable(DateTime)))).toEqual({ type: 'string', format: 'date-time', nullable: true })
    expect(plain(forSerialization(Nullable(Type.Integer({ description: 'n' }))))).toEqual({ type: 'integer', description: 'n', nullable: true })
    expect(plain(forSerialization(Nullable(Type.Object({}, { additionalProperties: true }))))).toEqual({
      type: 'object',
      properties: {},
      additionalProperties: true,
      nullable: true,
    })
  })

  it('turns a nullable union of literals into a nullable enum of their type', () => {
    const s = Nullable(Type.Union([Type.Literal('exact'), Type.Literal('similar')]))
    expect(plain(forSerialization(s))).toEqual({ type: 'string', enum: ['exact', 'similar'], nullable: true })
  })

  it('leaves unions it cannot simplify as they are', () => {
    const twoObjects = Type.Union([Type.Object({ a: Type.String() }), Type.Object({ b: Type.String() })])
    expect(plain(forSerialization(twoObjects))).toEqual(plain(twoObjects))
    const mixedLiterals = Nullable(Type.Union([Type.Literal('a'), Type.Literal(1)]))
    expect(plain(forSerialization(mixedLiterals))).toEqual(plain(mixedLiterals))
    const withRef = Nullable(Type.Ref('ErrorBody'))
    expect(plain(forSerialization(withRef))).toEqual(plain(withRef))
  })

  it('reaches nested properties and array items, and does not touch the route schema', () => {
    const before = plain(MemberList)
    const out = plain(forSerialization(MemberList))
    expect(plain(MemberList)).toEqual(before)
    expect(JSON.stringify(out)).not.toContain('anyOf')
    expect(out.properties.next).toEqual({ type: 'string', nullable: true })
    expect(out.properties.results.items.properties.user.properties.distinct_id).toEqual({ type: 'string', nullable: true })
    expect(out.properties.results.items.properties.last_login).toEqual({ type: 'string', format: 'date-time', nullable: true })
  })

  it('writes the same JSON as the serializer compiled from the original schema', () => {
    const ours = compile(serializerFactory(), MemberList)
    const stock = compile(SerializerSelector(), MemberList)
    const pages = [
      { count: 0, next: null, previous: null, results: [] },
      {
        count: 3,
        next: 'http://h/api/organizations/o/members/?limit=2&offset=2',
        previous: null,
        results: [
          member(),
          member({
            user: { ...member().user, distinct_id: 'd1', is_email_verified: true, hedgehog_config: { color: 'blue', accessories: ['hat'] } },
            last_login: new Date('2026-03-04T05:06:07.000Z'),
            search_match_type: 'similar',
          }),
        ],
      },
    ]
    for (const page of pages) {
      expect(ours(page)).toBe(stock(page))
      expect(JSON.parse(ours(page))).toEqual(plain(page))
    }
  })

  it('compiles a serializer that calls no validator for nullable fields', () => {
    const paginatedUsers = Paginated(UserBasic)
    const ours = compile(serializerFactory(), paginatedUsers).toString()
    const stock = compile(SerializerSelector(), paginatedUsers).toString()
    // fast-json-stringify answers an anyOf by validating each branch; the copy has none left.
    expect(stock).toMatch(/validator/)
    expect(ours).not.toMatch(/validate_\d/)
  })
})
