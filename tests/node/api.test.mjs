// Host-specific behaviour of the Node binding: every JS value with no JSON form, typed errors
// for bad input, callbacks and the logger, custom backends written in JS, CJS and ESM.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import * as esm from 'omnisession'
import { CODES, ManualClock, SessionError, Store, generateSessionId, hashSessionId } from 'omnisession'
import { settle } from './helpers.mjs'

const require = createRequire(import.meta.url)

async function rejects(promise, code, check) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof SessionError, `not a SessionError: ${err && err.stack}`)
    assert.ok(err instanceof Error)
    assert.equal(err.code, code, err.message)
    assert.equal(err.name, 'SessionError')
    assert.ok(err.message.startsWith(`${code}: `), err.message)
    if (check) check(err)
    return true
  })
}

async function openWithEvents(options = {}) {
  const events = []
  const store = await Store.open({ cleanupIntervalMs: 0, ...options, onViolation: (e) => events.push(e) })
  return { store, events }
}

describe('JSON-only data', () => {
  class Point {
    constructor() {
      this.x = 1
    }
  }
  const sparse = [1, , 3] // eslint-disable-line no-sparse-arrays
  const cases = [
    ['undefined', undefined, 'undefined'],
    ['a function', () => 1, 'a function'],
    ['a symbol', Symbol('s'), 'a symbol'],
    ['a BigInt', 10n, 'a BigInt'],
    ['NaN', NaN, 'not a finite number'],
    ['Infinity', Infinity, 'not a finite number'],
    ['-Infinity', -Infinity, 'not a finite number'],
    ['a Date', new Date(0), 'a Date'],
    ['a Map', new Map([[1, 2]]), 'an instance of Map'],
    ['a Set', new Set([1]), 'an instance of Set'],
    ['a Uint8Array', new Uint8Array(2), 'a typed array'],
    ['a Float64Array', new Float64Array(1), 'a typed array'],
    ['a Buffer', Buffer.from('x'), 'a typed array'],
    ['an ArrayBuffer', new ArrayBuffer(4), 'an ArrayBuffer'],
    ['a DataView', new DataView(new ArrayBuffer(4)), 'a DataView'],
    ['a class instance', new Point(), 'an instance of Point'],
    ['a RegExp', /x/, 'an instance of RegExp'],
    ['a Promise', Promise.resolve(1), 'a Promise'],
    ['an Error', new Error('x'), 'an instance of Error'],
    ['a boxed string', new String('x'), 'an instance of String'], // eslint-disable-line no-new-wrappers
    ['2^53', 2 ** 53, 'outside ±(2^53-1)'],
    ['-(2^53)', -(2 ** 53), 'outside ±(2^53-1)'],
    ['1e20', 1e20, 'outside ±(2^53-1)'],
    ['a sparse array', sparse, 'sparse', '/a/0/b/1'],
    ['a lone surrogate', 'a\ud800b', 'lone UTF-16 surrogate'],
  ]

  for (const [name, value, reason, where = '/a/0/b'] of cases) {
    test(`${name} is SESSION_NOT_SERIALIZABLE with its path, and raises a violation`, async () => {
      const { store, events } = await openWithEvents()
      const id = generateSessionId()
      await rejects(store.create({ userId: 'u1', id, data: { a: [{ b: value }] } }), 'SESSION_NOT_SERIALIZABLE', (err) => {
        assert.equal(err.details.path, where)
        assert.ok(err.details.reason.includes(reason), err.details.reason)
        assert.equal(err.details.session_id_hash, hashSessionId(id))
      })
      assert.equal(await store.count(), 0)
      await settle(() => events.length >= 1)
      assert.equal(events.length, 1)
      assert.equal(events[0].type, 'not_serializable')
      assert.equal(events[0].sessionIdHash, hashSessionId(id))
      assert.equal(events[0].userId, 'u1')
      assert.ok(events[0].at instanceof Date)
      await store.close()
    })
  }

  test('a cycle is refused with the path where the value reappears', async () => {
    const { store } = await openWithEvents()
    const data = { a: { b: [] } }
    data.a.b.push(data.a)
    await rejects(store.create({ userId: 'u1', data }), 'SESSION_NOT_SERIALIZABLE', (err) => {
      assert.equal(err.details.path, '/a/b/0')
      assert.match(err.details.reason, /cycle/)
    })
    await store.close()
  })

  test('a symbol key is refused; shared (non-cyclic) references and null prototypes are fine', async () => {
    const { store } = await openWithEvents()
    await rejects(store.create({ userId: 'u1', data: { [Symbol('k')]: 1 } }), 'SESSION_NOT_SERIALIZABLE')
    const shared = { n: 1 }
    const bare = Object.create(null)
    bare.k = 'v'
    const s = await store.create({ userId: 'u1', data: { x: shared, y: shared, bare } })
    assert.deepEqual(s.data, { x: { n: 1 }, y: { n: 1 }, bare: { k: 'v' } })
    await store.close()
  })

  test('the same rule holds for update and patch (with the id hash), and nothing is stored', async () => {
    const { store, events } = await openWithEvents()
    const s = await store.create({ userId: 'u1', data: { keep: true } })
    await rejects(store.update({ ...s, data: { d: new Date() } }), 'SESSION_NOT_SERIALIZABLE', (err) => {
      assert.equal(err.details.path, '/d')
      assert.equal(err.details.session_id_hash, hashSessionId(s.id))
    })
    await rejects(store.patch(s.id, { set: { f: () => 1 } }), 'SESSION_NOT_SERIALIZABLE', (err) => assert.equal(err.details.path, '/f'))
    assert.deepEqual((await store.get(s.id)).data, { keep: true })
    await settle(() => events.length >= 2)
    assert.deepEqual(
      events.map((e) => [e.type, e.sessionIdHash]),
      [
        ['not_serializable', hashSessionId(s.id)],
        ['not_serializable', hashSessionId(s.id)],
      ],
    )
    await store.close()
  })

  test('nesting deeper than 64 levels is refused without exhausting the stack', async () => {
    const { store } = await openWithEvents()
    let deep = {}
    for (let i = 0; i < 100_000; i++) deep = { k: deep }
    await rejects(store.create({ userId: 'u1', data: deep }), 'SESSION_NOT_SERIALIZABLE', (err) => assert.match(err.details.reason, /deeper than 64/))
    await store.close()
  })

  test('what is stored is exactly what comes back: values, key order, unicode, -0, floats', async () => {
    const { store } = await openWithEvents()
    const data = {
      z: 1,
      a: [true, false, null, 'é😀\u2028<&>', 0.1, 1e21, -1.5e-7, 9007199254740991, -9007199254740991],
      o: { nested: { deeper: [] } },
      'key with / slash': '',
      'nul\u0000key': 'x',
    }
    const s = await store.create({ userId: 7, data })
    assert.equal(s.userId, '7')
    const back = await store.get(s.id)
    assert.deepEqual(back.data, data)
    const negZero = await store.create({ userId: 'u1', data: { n: -0 } })
    assert.ok(Object.is((await store.get(negZero.id)).data.n, 0))
    await store.close()
  })
})

describe('errors for bad input', () => {
  test('every code is exported and is a string', () => {
    assert.equal(CODES.length, 11)
    assert.ok(CODES.includes('SESSION_NOT_SERIALIZABLE'))
  })

  test('unknown options and wrong option types are CONFIG_INVALID naming the option', async () => {
    await rejects(Store.open({ maxSessionSise: 10 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'maxSessionSise'))
    await rejects(Store.open({ max_session_size: 10 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'max_session_size'))
    await rejects(Store.open({ defaultTtl: 10 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'defaultTtl'))
    await rejects(Store.open({ defaultTtlMs: '10' }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'defaultTtlMs'))
    await rejects(Store.open({ defaultTtlMs: 1.5 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'defaultTtlMs'))
    await rejects(Store.open({ maxSessionsPerUser: -1 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'maxSessionsPerUser'))
    await rejects(Store.open({ allowAnonymous: 'yes' }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'allowAnonymous'))
    await rejects(Store.open({ evictionPolicy: 'newest' }), 'CONFIG_INVALID')
    await rejects(Store.open({ backend: 'mongo' }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'backend'))
    await rejects(Store.open({ backend: 'sqlite' }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'path'))
    await rejects(Store.open({ siteId: Symbol('x') }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'siteId'))
    await rejects(Store.open({ onViolation: 'log' }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'onViolation'))
    await rejects(Store.open({ logger: { warn: 1 } }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'logger'))
    await rejects(Store.open({ clock: { now: () => 0 } }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'clock'))
    await rejects(Store.open('memory'), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'options'))
    await rejects(Store.open(null), 'CONFIG_INVALID')
    await rejects(Store.open({ backend: { get() {} } }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'backend'))
    await rejects(Store.open({ backend: { get() {}, set() {}, delete() {} }, path: '/x' }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'path'))
    assert.throws(() => new Store(), (err) => err instanceof SessionError && err.code === 'CONFIG_INVALID')
  })

  test('an unreachable backend is BACKEND_UNAVAILABLE', async () => {
    await rejects(Store.open({ backend: 'redis', url: 'redis://127.0.0.1:1' }), 'BACKEND_UNAVAILABLE')
    await rejects(Store.open({ backend: 'sqlite', path: '/nonexistent-dir/x/y.db' }), 'BACKEND_UNAVAILABLE')
  })

  test('non-string ids, bad argument shapes and unknown fields are SESSION_INVALID', async () => {
    const { store } = await openWithEvents()
    for (const id of [42, null, undefined, {}, ['x'], Symbol('x'), 1n]) {
      await rejects(store.get(id), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'id'))
      await rejects(store.touch(id), 'SESSION_INVALID')
      await rejects(store.delete(id), 'SESSION_INVALID')
    }
    await rejects(store.create({ userId: 'u1', ttl: 5 }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'ttl'))
    await rejects(store.create({ userId: 'u1', ttlMs: -1 }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'ttlMs'))
    await rejects(store.create({ userId: 1.5 }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'userId'))
    await rejects(store.create({ userId: true }), 'SESSION_INVALID')
    await rejects(store.create({ userId: 'u1', data: [1] }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'data'))
    await rejects(store.create({ userId: 'u1', data: 'x' }), 'SESSION_INVALID')
    await rejects(store.create('u1'), 'SESSION_INVALID')
    await rejects(store.create({ userId: 'u1', id: 'short' }), 'SESSION_INVALID')
    await rejects(store.create({}), 'SESSION_INVALID')
    const s = await store.create({ userId: 'u1' })
    await rejects(store.update({ id: s.id }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'data'))
    await rejects(store.update({ id: s.id, data: {}, extra: 1 }), 'SESSION_INVALID')
    await rejects(store.patch(s.id, { set: {}, unset: 'k' }), 'SESSION_INVALID')
    await rejects(store.patch(s.id, { unset: [1] }), 'SESSION_INVALID')
    await rejects(store.patch(s.id, null), 'SESSION_INVALID')
    await rejects(store.list({ limit: 0 }), 'SESSION_INVALID')
    await rejects(store.list({ limit: 'ten' }), 'SESSION_INVALID')
    await rejects(store.listByUserId({}), 'SESSION_INVALID')
    await store.close()
  })

  test('store errors carry codes and details: not found, conflict, size, limit, expired', async () => {
    const clock = new ManualClock(1_000_000)
    const { store } = await openWithEvents({ maxSessionSize: 500, maxSessionsPerUser: 1, evictionPolicy: 'reject', idleTimeoutMs: 1000, clock })
    const missing = generateSessionId()
    await rejects(store.touch(missing), 'SESSION_NOT_FOUND', (e) => assert.equal(e.details.session_id_hash, hashSessionId(missing)))
    const s = await store.create({ userId: 'u1' })
    await rejects(store.create({ userId: 'u2', id: s.id }), 'SESSION_CONFLICT')
    await rejects(store.update({ ...s, version: 7 }), 'SESSION_CONFLICT', (e) => assert.equal(e.details.actual, 1))
    await rejects(store.patch(s.id, { set: { big: 'x'.repeat(600) } }), 'SESSION_SIZE_EXCEEDED', (e) => assert.equal(e.details.limit, 500))
    await rejects(store.create({ userId: 'u1' }), 'SESSION_LIMIT_EXCEEDED')
    clock.advance(1001)
    await rejects(store.touch(s.id), 'SESSION_EXPIRED')
    await store.close()
  })

  test('a closed store rejects every operation with STORE_CLOSED; close is idempotent', async () => {
    const { store } = await openWithEvents()
    const s = await store.create({ userId: 'u1' })
    await store.close()
    await store.close()
    const id = s.id
    for (const op of [
      () => store.create({ userId: 'u1' }),
      () => store.get(id),
      () => store.update({ id, data: {} }),
      () => store.patch(id, { set: { a: 1 } }),
      () => store.touch(id),
      () => store.rotate(id),
      () => store.delete(id),
      () => store.deleteByUserId('u1'),
      () => store.listByUserId('u1'),
      () => store.list(),
      () => store.count(),
      () => store.clear(),
      () => store.cleanup(),
    ]) {
      await rejects(op(), 'STORE_CLOSED')
    }
  })
})

describe('sessions as plain objects', () => {
  test('create, get, patch, rotate, lists and counts', async () => {
    const clock = new ManualClock(Date.UTC(2030, 0, 1))
    const { store } = await openWithEvents({ clock, defaultTtlMs: 60_000, siteId: 'site-a' })
    const s = await store.create({ userId: 'u1', data: { n: 1 }, ipAddress: '10.0.0.1', userAgent: 'UA', organizationId: 'org' })
    assert.deepEqual(Object.keys(s), ['id', 'userId', 'siteId', 'organizationId', 'data', 'createdAt', 'updatedAt', 'lastAccessedAt', 'expiresAt', 'ipAddress', 'userAgent', 'version'])
    assert.equal(s.siteId, 'site-a')
    assert.ok(s.createdAt instanceof Date)
    assert.equal(s.createdAt.toISOString(), '2030-01-01T00:00:00.000Z')
    assert.equal(s.expiresAt.toISOString(), '2030-01-01T00:01:00.000Z')
    assert.equal(s.version, 1)
    const forever = await store.create({ userId: 'u1', expiresAt: null })
    assert.equal(forever.expiresAt, null)
    const now = await store.create({ userId: 'u1', ttlMs: 0 })
    assert.equal(now.expiresAt.toISOString(), '2030-01-01T00:00:00.000Z', 'a ttl of 0 is now, not never')
    clock.advance(10)
    const p = await store.patch(s.id, { set: { m: 2 }, unset: ['n'] })
    assert.deepEqual(p.data, { m: 2 })
    assert.equal(p.version, 2)
    const r = await store.rotate(s.id)
    assert.notEqual(r.id, s.id)
    assert.equal(await store.get(s.id), null)
    // Oldest created_at first, ties by id: both were created at the same instant.
    assert.deepEqual((await store.listByUserId('u1')).map((x) => x.id), [r.id, forever.id].sort())
    const page = await store.list({ limit: 1 })
    assert.equal(page.sessions.length, 1)
    assert.equal(typeof page.cursor, 'string')
    assert.equal(await store.count(), 2)
    assert.equal(await store.deleteByUserId('u1'), 2)
    assert.equal(await store.clear(), 0)
    assert.equal(await store.cleanup(), 0)
    await store.close()
  })

  test('a returned session is a copy: mutating it changes nothing stored', async () => {
    const { store } = await openWithEvents()
    const s = await store.create({ userId: 'u1', data: { list: [1] } })
    s.data.list.push(2)
    assert.deepEqual((await store.get(s.id)).data, { list: [1] })
    await store.close()
  })
})

describe('callbacks and logger', () => {
  test('a throwing or rejecting onViolation is logged and swallowed; the op result stands', async () => {
    const warnings = []
    const logger = { warn: (msg, fields) => warnings.push([msg, fields]) }
    let calls = 0
    const store = await Store.open({
      logger,
      onViolation: (e) => {
        calls++
        if (e.message.includes('malformed') || calls === 1) throw new Error('callback failure')
        return Promise.reject(new Error('async callback failure'))
      },
    })
    assert.equal(await store.get('bad id!'), null)
    assert.equal(await store.get('bad id!'), null)
    await settle(30)
    assert.equal(calls, 2)
    const messages = warnings.map(([m]) => m)
    assert.equal(messages.filter((m) => m.includes('session policy violation (malformed_id)')).length, 2)
    assert.ok(messages.some((m) => m.includes('callback threw')), messages.join('\n'))
    await store.close()
  })

  test('an async callback that rejects does not become an unhandled rejection', async () => {
    let unhandled = 0
    const onUnhandled = () => unhandled++
    process.on('unhandledRejection', onUnhandled)
    const warnings = []
    const store = await Store.open({ logger: { warn: (m) => warnings.push(m) }, onViolation: async () => { throw new Error('nope') } })
    await store.get('bad id!')
    await settle(30)
    process.off('unhandledRejection', onUnhandled)
    assert.equal(unhandled, 0)
    assert.ok(warnings.some((m) => m.includes('rejected')), warnings.join('\n'))
    await store.close()
  })

  test('a throwing logger is ignored too', async () => {
    const store = await Store.open({ logger: { warn: () => { throw new Error('logger down') } }, onViolation: () => { throw new Error('x') } })
    assert.equal(await store.get('bad id!'), null)
    await settle(20)
    await store.close()
  })

  test('violation events have every field, and never the raw id', async () => {
    const { store, events } = await openWithEvents({ siteId: 'a', maxSessionSize: 400 })
    const s = await store.create({ userId: 'u1' })
    await rejects(store.patch(s.id, { set: { big: 'x'.repeat(500) } }), 'SESSION_SIZE_EXCEEDED')
    await settle(() => events.length >= 1)
    assert.equal(events.length, 1)
    const e = events[0]
    assert.deepEqual(Object.keys(e).sort(), ['at', 'limit', 'message', 'sessionIdHash', 'siteId', 'size', 'type', 'userId'])
    assert.equal(e.type, 'size_exceeded')
    assert.equal(e.limit, 400)
    assert.ok(e.size > 400)
    assert.equal(e.siteId, 'a')
    assert.equal(e.sessionIdHash, hashSessionId(s.id))
    assert.ok(!JSON.stringify(e).includes(s.id))
    await store.close()
  })
})

/** A custom backend in JS: a Map of wire records, with optional methods. */
function mapBackend({ listByUserId = true, list = true, failing = () => false } = {}) {
  const records = new Map()
  const meta = new Map()
  const calls = []
  const check = (op) => {
    calls.push(op)
    if (failing(op)) throw new Error(`storage down during ${op}`)
  }
  const backend = {
    records,
    meta,
    calls,
    async get(id) {
      check('get')
      return records.get(id) ?? null
    },
    async set(id, record, m) {
      check('set')
      records.set(id, record)
      meta.set(id, m)
    },
    delete(id) {
      check('delete')
      records.delete(id)
    },
  }
  if (listByUserId) {
    backend.listByUserId = async (siteId, userId) => {
      check('listByUserId')
      return [...records.entries()].filter(([id]) => meta.get(id).userId === userId && meta.get(id).siteId === siteId).map(([, r]) => r)
    }
  }
  if (list) {
    backend.list = async (cursor, limit) => {
      check('list')
      const ids = [...records.keys()].sort().filter((id) => cursor === null || id > cursor)
      const page = ids.slice(0, limit)
      return { records: page.map((id) => records.get(id)), cursor: ids.length > limit ? page.at(-1) : null }
    }
  }
  return backend
}

describe('custom backends written in JS', () => {
  test('stores wire records and enforces every control of the core', async () => {
    const backend = mapBackend()
    const { store, events } = await openWithEvents({ backend, maxSessionsPerUser: 2, maxSessionSize: 600, siteId: 's1' })
    const a = await store.create({ userId: 'u1', data: { n: 1 } })
    const stored = JSON.parse(backend.records.get(a.id))
    assert.equal(stored.id, a.id)
    assert.equal(stored.site_id, 's1')
    assert.deepEqual(backend.meta.get(a.id).userId, 'u1')
    assert.ok(backend.meta.get(a.id).expiresAt instanceof Date)
    await store.create({ userId: 'u1' })
    await store.create({ userId: 'u1' })
    assert.equal(await store.get(a.id), null, 'the oldest was evicted')
    await rejects(store.create({ userId: 'u1', id: a.id }), 'SESSION_CONFLICT')
    await rejects(store.patch(a.id, { set: { x: 1 } }), 'SESSION_NOT_FOUND')
    const b = (await store.listByUserId('u1'))[0]
    await rejects(store.patch(b.id, { set: { big: 'x'.repeat(700) } }), 'SESSION_SIZE_EXCEEDED')
    await rejects(store.patch(b.id, { set: { d: new Date() } }), 'SESSION_NOT_SERIALIZABLE')
    assert.equal(await store.count(), 2)
    const other = await Store.open({ backend, siteId: 's2' })
    assert.equal(await other.get(b.id), null, 'another site never sees it')
    await settle(() => events.length >= 5)
    assert.deepEqual(events.map((e) => e.type), ['session_limit_exceeded', 'replayed_id', 'replayed_id', 'size_exceeded', 'not_serializable'])
    await other.close()
    await store.close()
  })

  test('a backend without listByUserId cannot have a per-user limit; one without list cannot count', async () => {
    await rejects(Store.open({ backend: mapBackend({ listByUserId: false }), maxSessionsPerUser: 1 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'maxSessionsPerUser'))
    const store = await Store.open({ backend: mapBackend({ list: false, listByUserId: false }) })
    await store.create({ userId: 'u1' })
    await rejects(store.count(), 'CONFIG_INVALID')
    await rejects(store.listByUserId('u1'), 'CONFIG_INVALID')
    await store.close()
  })

  test('a backend that throws, rejects or answers garbage is BACKEND_ERROR, never a crash', async () => {
    let mode = 'ok'
    const backend = mapBackend({ failing: (op) => mode === op })
    const store = await Store.open({ backend })
    const s = await store.create({ userId: 'u1' })
    mode = 'set'
    await rejects(store.patch(s.id, { set: { a: 1 } }), 'BACKEND_ERROR', (e) => assert.match(e.message, /storage down during set/))
    mode = 'delete' // a synchronous throw
    await rejects(store.delete(s.id), 'BACKEND_ERROR')
    mode = 'ok'
    backend.records.set(s.id, 'not a record')
    await rejects(store.get(s.id), 'BACKEND_ERROR', (e) => assert.equal(e.details.session_id_hash, hashSessionId(s.id)))
    backend.get = async () => 42
    await rejects(store.get(s.id), 'BACKEND_ERROR')
    await store.close()
  })

  test("a record kept under another id is BACKEND_ERROR, never that id's session", async () => {
    const backend = mapBackend()
    const store = await Store.open({ backend })
    const victim = await store.create({ userId: 'u1', data: { secret: 1 } })
    const other = generateSessionId()
    backend.records.set(other, backend.records.get(victim.id))
    await rejects(store.get(other), 'BACKEND_ERROR', (e) => assert.equal(e.details.session_id_hash, hashSessionId(other)))
    await rejects(store.touch(other), 'BACKEND_ERROR')
    assert.deepEqual(await store.get(victim.id), victim)
    await store.close()
  })
})

describe('module formats', () => {
  test('CommonJS and ESM export the same API and one SessionError class', () => {
    const cjs = require('omnisession')
    assert.equal(cjs.Store, Store)
    assert.equal(cjs.SessionError, SessionError)
    assert.equal(esm.default, cjs)
    const api = ['CODES', 'ManualClock', 'MemoryBackend', 'Sealer', 'SeedsOpener', 'SessionError', 'Store', 'generateSessionId', 'hashSessionId']
    assert.deepEqual(Object.keys(cjs).sort(), api)
    assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), api)
    assert.equal(typeof require('omnisession/express').OmnisessionStore, 'function')
    assert.equal(typeof require('omnisession/fetch').FetchSessions, 'function')
  })

  test('generated ids are 43 url-safe characters; hashes are 16 hex digits', () => {
    const id = generateSessionId()
    assert.match(id, /^[A-Za-z0-9_-]{43}$/)
    assert.match(hashSessionId(id), /^[0-9a-f]{16}$/)
    assert.equal(hashSessionId(id), hashSessionId(id))
  })

  test('ManualClock refuses fractional milliseconds with a SessionError', () => {
    const clock = new ManualClock(5)
    clock.advance(10)
    assert.equal(clock.now(), 15)
    assert.throws(() => clock.advance(0.5), (e) => e instanceof SessionError && e.code === 'SESSION_INVALID')
  })
})

describe('ids hashed at rest', () => {
  const idHashKey = 'a node test server key of forty bytes....'

  test('listings show ids at rest; idAtRest finds this device; deleteAtRest ends one', async (t) => {
    const { mkdtempSync, readFileSync, readdirSync, statSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(tmpdir(), 'at-rest-'))
    const store = await Store.open({ backend: 'file', path: dir, cleanupIntervalMs: 0, idsAtRest: 'hmac-sha256', idHashKey })
    t.after(() => store.close())
    const a = await store.create({ userId: 'u', data: { n: 1 } })
    const b = await store.create({ userId: 'u' })
    assert.equal((await store.get(a.id)).data.n, 1)
    const rotated = await store.rotate(b.id)
    assert.equal((await store.get(rotated.id)).userId, 'u')
    const listed = (await store.listByUserId('u')).map((s) => s.id).sort()
    assert.deepEqual(listed, [store.idAtRest(a.id), store.idAtRest(rotated.id)].sort())
    assert.ok(!listed.includes(a.id))
    // Nothing the store handed out is on disk, in a name or in a record.
    const dump = readdirSync(dir, { recursive: true })
      .map((f) => f + (statSync(join(dir, f)).isFile() ? readFileSync(join(dir, f), 'utf8') : ''))
      .join('\n')
    for (const id of [a.id, b.id, rotated.id]) assert.ok(!dump.includes(id), 'an id at rest')
    await store.deleteAtRest(store.idAtRest(a.id))
    assert.equal(await store.get(a.id), null)
  })

  test('plain ids are their own ids at rest', async () => {
    const store = await Store.open({ cleanupIntervalMs: 0 })
    const s = await store.create({ userId: 'u' })
    assert.equal(store.idAtRest(s.id), s.id)
    await store.deleteAtRest(s.id)
    assert.equal(await store.get(s.id), null)
    await store.close()
  })

  test('a short key, an unknown mode and the Go-compatible mode are CONFIG_INVALID, the key never shown', async () => {
    await rejects(Store.open({ idsAtRest: 'hmac-sha256', idHashKey: 'too short a secret' }), 'CONFIG_INVALID', (err) => {
      assert.equal(err.details.option, 'idHashKey')
      assert.ok(!err.message.includes('too short a secret'))
    })
    await rejects(Store.open({ idsAtRest: 'md5' }), 'CONFIG_INVALID', (err) => assert.equal(err.details.option, 'idsAtRest'))
    await rejects(Store.open({ idsAtRest: 'hmac-sha256' }), 'CONFIG_INVALID', (err) => assert.equal(err.details.option, 'idHashKey'))
    await rejects(Store.open({ idsAtRest: 'sha256', omnistorageCompat: true }), 'CONFIG_INVALID', (err) =>
      assert.equal(err.details.option, 'idsAtRest'),
    )
  })
})
