// Sessions cross from the core to JS as numbers and one string (bindings-node/src/transfer/,
// bindings-node/js/transfer.js): every value must come back exactly as JSON.parse would make
// it, on a result ready at once (memory) and on one settled later (SQLite, custom backend).
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Store } from 'omnisession'
import { removeDir, tempDir } from './helpers.mjs'

const SHAPES = {
  scalars: { s: 'text', empty: '', n: 42, neg: -7, f: 0.125, big: 9007199254740991, t: true, f2: false, nil: null },
  nested: { a: { b: { c: [1, [2, [3, { d: 'deep' }]]] } }, list: [], obj: {} },
  unicode: { 'ключ': 'значение', emoji: '😀 and 𝄞', mixed: ['é', 'ascii', '中文'], replacement: 'a\uFFFDb', 'ñ': { 'ü': 'ß' } },
  keys: { 0: 'index-like', 10: 'ten', '': 'empty key', 'a b': 1, ['x'.repeat(65)]: 'long key', ['k'.repeat(64)]: 'longest interned' },
  lengths: Object.fromEntries(Array.from({ length: 21 }, (_, n) => [`s${n}`, 'abcdefghijklmnopqrstu'.slice(0, n)])),
  escapes: { quote: 'say "hi"', slash: 'a\\b', nl: 'line\nbreak', tab: '\t', nul: 'a\u0000b', html: '<script>&</script>' },
  // Keys that would break out of a string literal, were one ever made from them.
  codeKeys: { '"}); process.exit(3); ({"': 1, '\\': 2, '`${globalThis}`': 3, '\n': 4, '\u2028\u2029': 5, "'": 6, '*/ //': 7 },
}

// The core keeps keys in byte order of their UTF-8 (the order Go writes them in).
function sorted(obj) {
  const names = Object.keys(obj).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  return Object.fromEntries(names.map((k) => [k, obj[k]]))
}

async function roundTrips(store) {
  for (const [name, data] of Object.entries(SHAPES)) {
    const created = await store.create({ userId: 'u1', data })
    const expected = JSON.parse(JSON.stringify(data))
    assert.deepStrictEqual(created.data, expected, `create, ${name}`)
    const read = await store.get(created.id)
    assert.deepStrictEqual(read.data, expected, `get, ${name}`)
    assert.equal(Object.getPrototypeOf(read.data), Object.prototype, name)
    assert.deepStrictEqual(Object.keys(read.data), Object.keys(sorted(expected)), `key order, ${name}`)
  }
}

describe('sessions come back as JSON.parse makes them', () => {
  let dir
  before(() => {
    dir = tempDir()
  })
  after(() => removeDir(dir))

  test('memory (settled at once)', async () => {
    const store = await Store.open({ backend: 'memory', allowAnonymous: true })
    await roundTrips(store)
    await store.close()
  })

  test('SQLite (settled later)', async () => {
    const store = await Store.open({ backend: 'sqlite', path: path.join(dir, 'transfer.db') })
    await roundTrips(store)
    await store.close()
  })

  test('a __proto__ key is an own property, not the prototype', async () => {
    const data = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}')
    const store = await Store.open({ backend: 'memory', allowAnonymous: true })
    const s = await store.create({ data })
    const read = await store.get(s.id)
    assert.equal(Object.getPrototypeOf(read.data), Object.prototype)
    assert.ok(Object.hasOwn(read.data, '__proto__'))
    assert.deepStrictEqual(Object.getOwnPropertyDescriptor(read.data, '__proto__').value, { polluted: true })
    assert.equal({}.polluted, undefined)
    await store.close()
  })

  test('the session fields: strings, nulls, Dates, version', async () => {
    const store = await Store.open({ backend: 'memory', defaultTtlMs: 0, allowAnonymous: true })
    const anon = await store.create({ ipAddress: '203.0.113.9', userAgent: 'agent/1 ✓' })
    const read = await store.get(anon.id)
    assert.equal(read.userId, null)
    assert.equal(read.organizationId, null)
    assert.equal(read.siteId, '')
    assert.equal(read.expiresAt, null)
    assert.equal(read.ipAddress, '203.0.113.9')
    assert.equal(read.userAgent, 'agent/1 ✓')
    assert.ok(read.createdAt instanceof Date && read.lastAccessedAt instanceof Date)
    assert.equal(read.version, 1)
    assert.deepStrictEqual(Object.keys(read), ['id', 'userId', 'siteId', 'organizationId', 'data', 'createdAt', 'updatedAt', 'lastAccessedAt', 'expiresAt', 'ipAddress', 'userAgent', 'version'])
    await store.close()
  })

  test('a result larger than the shared layout buffer, then small ones again', async () => {
    const store = await Store.open({ backend: 'memory', maxSessionSize: 0, allowAnonymous: true })
    const big = { numbers: Array.from({ length: 20000 }, (_, i) => i / 4), words: Array.from({ length: 3000 }, (_, i) => `w${i}`) }
    const s = await store.create({ data: big })
    assert.deepStrictEqual((await store.get(s.id)).data, big)
    const small = await store.create({ data: { n: 1 } })
    assert.deepStrictEqual((await store.get(small.id)).data, { n: 1 })
    await store.close()
  })

  test('more distinct keys than are interned still come back', async () => {
    const store = await Store.open({ backend: 'memory', maxSessionSize: 0, allowAnonymous: true })
    for (let round = 0; round < 3; round++) {
      const data = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`key-${round}-${i}`, i]))
      const s = await store.create({ data })
      assert.deepStrictEqual((await store.get(s.id)).data, data)
    }
    await store.close()
  })

  test('lists and pages of sessions', async () => {
    const store = await Store.open({ backend: 'memory', allowAnonymous: true })
    const made = []
    for (let i = 0; i < 5; i++) made.push(await store.create({ userId: 'lister', data: { i, tag: `t${i}` } }))
    const listed = await store.listByUserId('lister')
    assert.deepStrictEqual(listed.map((s) => s.data.i).sort(), [0, 1, 2, 3, 4])
    const first = await store.list({ limit: 2 })
    assert.equal(first.sessions.length, 2)
    assert.equal(typeof first.cursor, 'string')
    const rest = await store.list({ cursor: first.cursor, limit: 10 })
    assert.equal(rest.cursor, null)
    const ids = [...first.sessions, ...rest.sessions].map((s) => s.id).sort()
    assert.deepStrictEqual(ids, made.map((s) => s.id).sort())
    assert.deepStrictEqual(await store.listByUserId('nobody'), [])
    await store.close()
  })

  test('an integer beyond 2^53 written by another host comes back as the nearest number', async () => {
    const records = new Map()
    const backend = {
      get: async (id) => records.get(id) ?? null,
      set: async (id, record) => {
        records.set(id, record)
      },
      delete: async (id) => {
        records.delete(id)
      },
    }
    const store = await Store.open({ backend, allowAnonymous: true })
    const s = await store.create({ data: { n: 1 } })
    // A Go or Python service may store integers no JS number holds exactly.
    records.set(s.id, records.get(s.id).replace('"n":1', '"n":1152921504606846977,"m":-9007199254740993,"f":1e300'))
    const read = await store.get(s.id)
    assert.deepStrictEqual(read.data, JSON.parse('{"f":1e300,"m":-9007199254740993,"n":1152921504606846977}'))
    await store.close()
  })
})
