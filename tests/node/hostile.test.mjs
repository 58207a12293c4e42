// Hostile input through the Node binding: a table of more than 200 bad data values (every kind
// docs/design.md rejects, at every place a value can sit, through every write), malformed and
// hostile ids, and oversized inputs. Each gives its documented code and stores nothing.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { MemoryBackend, SessionError, Store, generateSessionId } from 'omnisession'
import { settle } from './helpers.mjs'

class Point {
  constructor() {
    this.x = 1
  }
}

function cycle() {
  const a = { n: 1 }
  a.self = a
  return a
}

function nested(levels) {
  let v = {}
  for (let i = 1; i < levels; i++) v = { k: v }
  return v
}

// Where depth is what is refused, the path is where the limit is reached, below the place.
const PREFIX = Symbol('below')

// [name, value, where the offending value is found, relative to the place it is put]
const KINDS = [
  ['undefined', undefined, ''],
  ['a function', () => 1, ''],
  ['an async function', async () => 1, ''],
  ['a class', Point, ''],
  ['a symbol', Symbol('s'), ''],
  ['a BigInt', 10n, ''],
  ['a negative BigInt', -(2n ** 70n), ''],
  ['NaN', NaN, ''],
  ['Infinity', Infinity, ''],
  ['-Infinity', -Infinity, ''],
  ['2^53', 2 ** 53, ''],
  ['-(2^53)', -(2 ** 53), ''],
  ['1e20 (an integer literal past 2^53)', 1e20, ''],
  ['a Date', new Date(0), ''],
  ['an invalid Date', new Date(NaN), ''],
  ['a Map', new Map([['a', 1]]), ''],
  ['a Set', new Set([1]), ''],
  ['a WeakMap', new WeakMap(), ''],
  ['a Uint8Array', new Uint8Array(2), ''],
  ['a Float64Array', new Float64Array(1), ''],
  ['a Buffer', Buffer.from('x'), ''],
  ['an ArrayBuffer', new ArrayBuffer(4), ''],
  ['a DataView', new DataView(new ArrayBuffer(4)), ''],
  ['a class instance', new Point(), ''],
  ['a RegExp', /x/g, ''],
  ['a Promise', Promise.resolve(1), ''],
  ['an Error', new Error('x'), ''],
  ['a boxed string', new String('x'), ''], // eslint-disable-line no-new-wrappers
  ['a boxed number', new Number(1), ''], // eslint-disable-line no-new-wrappers
  ['a boxed boolean', new Boolean(true), ''], // eslint-disable-line no-new-wrappers
  ['a lone high surrogate', 'a\ud800b', ''],
  ['a lone low surrogate', '\udc00', ''],
  ['a sparse array', [1, , 3], '/1'], // eslint-disable-line no-sparse-arrays
  ['a cycle', cycle(), '/self'],
  ['an object 65 deep', nested(65), PREFIX], // refused where the depth limit is reached
]

// Where a value is put in the data, and the JSON pointer of that place.
const PLACES = [
  ['as a top-level value', (v) => ({ v }), '/v'],
  ['inside an array', (v) => ({ v: [v] }), '/v/0'],
  ['after good array items', (v) => ({ v: [1, 'two', null, v] }), '/v/3'],
  ['inside an object', (v) => ({ v: { w: v } }), '/v/w'],
  ['deep in a mixed structure', (v) => ({ a: [{ b: [{ c: v }] }] }), '/a/0/b/0/c'],
  ['beside good keys', (v) => ({ ok: true, n: 1.5, v }), '/v'],
]

async function refused(promise, where, path) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof SessionError, `${where}: not a SessionError: ${err && err.stack}`)
    assert.equal(err.code, 'SESSION_NOT_SERIALIZABLE', `${where}: ${err.message}`)
    if (path.endsWith('*')) assert.ok(err.details.path.startsWith(path.slice(0, -1)), `${where}: ${err.details.path}`)
    else assert.equal(err.details.path, path, where)
    return true
  })
}

describe('a table of bad data values', () => {
  let total = 0
  for (const [kind, value, inner] of KINDS) {
    test(`${kind}, at every place, through create, patch and update, stores nothing`, async () => {
      const events = []
      const store = await Store.open({ cleanupIntervalMs: 0, onViolation: (e) => events.push(e) })
      const target = await store.create({ userId: 'u1', data: { keep: 'me' } })
      let writes = 0
      for (const [place, put, at] of PLACES) {
        const data = put(value)
        const path = inner === PREFIX ? `${at}/*` : at + inner
        const where = `${kind} ${place}`
        await refused(store.create({ userId: 'u1', id: generateSessionId(), data }), `create: ${where}`, path)
        await refused(store.patch(target.id, { set: data }), `patch: ${where}`, path)
        await refused(store.update({ id: target.id, data }), `update: ${where}`, path)
        writes += 3
      }
      total += writes
      assert.equal(await store.count(), 1, 'nothing was created')
      const after = await store.get(target.id)
      assert.deepEqual(after.data, { keep: 'me' }, 'nothing was written')
      assert.equal(after.version, 1)
      await settle(() => events.length >= writes)
      assert.equal(events.filter((e) => e.type === 'not_serializable').length, writes)
      await store.close()
    })
  }
  test('the table holds at least 200 bad values', () => {
    assert.ok(total >= 200 * 3, `only ${total / 3} bad values were tried`)
  })
})

// Ids that must address nothing: wrong shapes, wrong alphabet, key-like strings.
const BAD_IDS = [
  '',
  'short',
  'a'.repeat(21),
  'a'.repeat(129),
  '../../../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  'session:' + 'a'.repeat(30),
  '~idx:' + 'a'.repeat(30),
  '~tomb:' + 'a'.repeat(30),
  '*'.repeat(30),
  'a'.repeat(30) + '*',
  'a'.repeat(30) + '?',
  '[a-z]'.repeat(6),
  'a'.repeat(30) + '\n' + 'b'.repeat(10),
  'a'.repeat(30) + '\0',
  'a'.repeat(30) + ' ',
  'é'.repeat(30),
  '🙂'.repeat(30),
  'a'.repeat(30) + '/',
  'a'.repeat(30) + '\\',
  'a'.repeat(30) + '.',
  'a'.repeat(30) + '=',
  'a'.repeat(30) + '+',
  "a' OR '1'='1" + 'a'.repeat(20),
  'a'.repeat(30) + '"',
  'a'.repeat(100_000),
]
const NOT_STRINGS = [undefined, null, 42, 1.5, true, {}, [], () => 1, Symbol('id'), 10n, new String('a'.repeat(43))] // eslint-disable-line no-new-wrappers

describe('hostile ids', () => {
  test('malformed ids read as null, write as SESSION_INVALID, and raise malformed_id', async () => {
    const events = []
    const store = await Store.open({ cleanupIntervalMs: 0, onViolation: (e) => events.push(e) })
    const real = await store.create({ userId: 'u1' })
    for (const id of BAD_IDS) {
      assert.equal(await store.get(id), null, JSON.stringify(id.slice(0, 40)))
      const writes = [
        () => store.create({ userId: 'u1', id }),
        () => store.update({ id, data: {} }),
        () => store.patch(id, { set: { a: 1 } }),
        () => store.touch(id),
        () => store.rotate(id),
        () => store.delete(id),
      ]
      for (const write of writes) {
        await assert.rejects(write(), (err) => err instanceof SessionError && err.code === 'SESSION_INVALID')
      }
    }
    assert.equal(await store.count(), 1)
    assert.notEqual(await store.get(real.id), null)
    await settle(() => events.length >= BAD_IDS.length * 7)
    assert.equal(events.filter((e) => e.type === 'malformed_id').length, BAD_IDS.length * 7)
    await store.close()
  })

  test('ids of every accepted length are found, on both sides of the lengths read in one call', async () => {
    // get reads an id of up to 126 bytes in one call (bindings-node/src/bound.rs), and the
    // memory backend keeps one of up to 46 bytes in its map slot (core/src/backend/memory/key.rs).
    const store = await Store.open({ cleanupIntervalMs: 0 })
    for (const length of [22, 43, 46, 47, 125, 126, 127, 128]) {
      const id = 'a-_Z9'.repeat(26).slice(0, length)
      const created = await store.create({ userId: 'u1', id, data: { length } })
      assert.equal(created.id, id)
      const read = await store.get(id)
      assert.equal(read?.id, id, `an id of ${length} bytes`)
      assert.deepEqual(read.data, { length })
      assert.equal(await store.get(id.slice(0, -1) + (id.endsWith('a') ? 'b' : 'a')), null)
    }
    await store.close()
  })

  test('an id that is not a string is SESSION_INVALID for every operation', async () => {
    const store = await Store.open({ cleanupIntervalMs: 0 })
    for (const id of NOT_STRINGS) {
      for (const op of ['get', 'touch', 'rotate', 'delete']) {
        await assert.rejects(store[op](id), (err) => err instanceof SessionError && err.code === 'SESSION_INVALID', `${op}(${String(id)})`)
      }
    }
    await store.close()
  })
})

describe('oversized input', () => {
  test('a 100 MiB string is SESSION_SIZE_EXCEEDED, stores nothing and does not exhaust memory', async () => {
    const store = await Store.open({ cleanupIntervalMs: 0 })
    const before = process.memoryUsage().rss
    const big = 'x'.repeat(100 * 1024 * 1024)
    await assert.rejects(store.create({ userId: 'u1', data: { big } }), (err) => err.code === 'SESSION_SIZE_EXCEEDED')
    const s = await store.create({ userId: 'u1' })
    await assert.rejects(store.patch(s.id, { set: { big } }), (err) => err.code === 'SESSION_SIZE_EXCEEDED')
    const grown = process.memoryUsage().rss - before
    assert.ok(grown < 2 * 1024 ** 3, `RSS grew by ${grown} bytes`)
    assert.equal(await store.count(), 1)
    assert.deepEqual((await store.get(s.id)).data, {})
    await store.close()
  })

  test('depth 10,000 and a million-element array are refused without a stack overflow', async () => {
    const store = await Store.open({ cleanupIntervalMs: 0 })
    await assert.rejects(store.create({ userId: 'u1', data: nested(10_000) }), (err) => err.code === 'SESSION_NOT_SERIALIZABLE')
    const deepArray = []
    let cursor = deepArray
    for (let i = 0; i < 10_000; i++) cursor = cursor[cursor.push([]) - 1]
    await assert.rejects(store.create({ userId: 'u1', data: { a: deepArray } }), (err) => err.code === 'SESSION_NOT_SERIALIZABLE')
    await assert.rejects(store.create({ userId: 'u1', data: { a: new Array(1_000_000).fill(1) } }), (err) => err.code === 'SESSION_SIZE_EXCEEDED')
    assert.equal(await store.count(), 0)
    await store.close()
  })
})

describe('raw ids never leak', () => {
  test('no error message, error detail, violation event or log line carries a raw session id', async () => {
    const lines = []
    const logger = Object.fromEntries(['warn', 'info', 'debug'].map((level) => [level, (msg, fields) => lines.push(`${msg} ${JSON.stringify(fields)}`)]))
    const events = []
    const backend = new MemoryBackend() // both sites on one storage
    const options = { backend, cleanupIntervalMs: 0, maxSessionSize: 600, maxSessionsPerUser: 1, evictionPolicy: 'reject', logger, onViolation: (e) => events.push(e) }
    const shop = await Store.open({ ...options, siteId: 'shop' })
    const blog = await Store.open({ ...options, siteId: 'blog' })
    const ids = []
    const errors = []
    const attempt = async (promise) => {
      try {
        await promise
      } catch (err) {
        errors.push(`${err.message} ${JSON.stringify(err.details)} ${err.stack}`)
      }
    }
    const s = await shop.create({ userId: 'alice' })
    ids.push(s.id)
    const wanted = generateSessionId()
    ids.push(wanted)
    await attempt(shop.patch(s.id, { set: { big: 'x'.repeat(1000) } })) // size_exceeded
    await attempt(shop.patch(s.id, { set: { when: new Date() } })) // not_serializable
    await attempt(shop.create({ userId: 'alice', id: wanted })) // session_limit_exceeded
    await attempt(blog.get(s.id)) // site_mismatch
    await attempt(blog.touch(s.id))
    await attempt(blog.create({ userId: 'bob', id: s.id })) // a foreign id: conflict + site_mismatch
    await attempt(shop.update({ id: s.id, data: {}, version: 99 })) // conflict
    await shop.delete(s.id)
    await attempt(shop.touch(s.id)) // not found
    await attempt(shop.create({ userId: 'carol', id: s.id })) // tombstoned: conflict
    await settle(30)
    await shop.close()
    await blog.close()
    assert.ok(errors.length >= 8 && events.length >= 5, `${errors.length} errors, ${events.length} events`)
    const everything = [...errors, ...lines, ...events.map((e) => JSON.stringify(e))].join('\n')
    for (const id of ids) assert.ok(!everything.includes(id), `a raw id leaked:\n${everything}`)
    assert.ok(events.every((e) => /^[0-9a-f]{16}$/.test(e.sessionIdHash ?? '0000000000000000')))
  })
})
