// Sealed client-side sessions from Node: every vector of tests/conformance/sealed/vectors.json,
// round trips, key rotation, errors with their stable codes, and that key bytes never show.
//
// The seal vectors fix the nonce, which only the core's test-only `seal_with_nonce` takes (not
// exposed to JS: a caller-chosen nonce breaks AES-GCM). So each seal vector is sealed here with
// a fresh nonce and checked by decrypting it with node:crypto (an independent AES-GCM): the
// plaintext must be the vector's payload byte for byte, under the same associated data.
import assert from 'node:assert/strict'
import { createDecipheriv } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import util from 'node:util'
import * as esm from 'omnisession'
import { Sealer, SeedsOpener, SessionError } from 'omnisession'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(import.meta.url)
const VECTORS = JSON.parse(readFileSync(path.join(ROOT, 'tests/conformance/sealed/vectors.json'), 'utf8'))
const V1 = VECTORS.v1
const SEEDS = VECTORS.seeds

const unhex = (h) => Buffer.from(h, 'hex')

/** Unix ms of an RFC 3339 instant, rounded down (a Date holds milliseconds, the core nanoseconds). */
function ms(text) {
  const m = text.match(/^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/)
  assert.ok(m, text)
  const frac = (m[2] || '').padEnd(3, '0').slice(0, 3)
  return Date.parse(`${m[1]}.${frac}${m[3]}`)
}

/** The wire form of a Date: RFC 3339, `Z`, fraction trimmed (as core/src/timestamp.rs writes). */
function wire(date) {
  return date.toISOString().replace(/\.?0+Z$/, 'Z').replace(/\.Z$/, 'Z')
}

function sealInput(s) {
  return {
    userId: s.user_id,
    data: s.data,
    createdAt: new Date(ms(s.created_at)),
    expiresAt: s.expires_at === null ? null : new Date(ms(s.expires_at)),
  }
}

/** The plaintext of a v1 value, decrypted by node:crypto; null when it does not authenticate. */
function decryptV1(value, key, cookieName) {
  const [, keyId, body] = value.split('.')
  const raw = Buffer.from(body, 'base64url')
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
  decipher.setAAD(Buffer.concat([Buffer.from('omnisession-sealed-v1\0'), Buffer.from(keyId), Buffer.from('\0'), Buffer.from(cookieName)]))
  decipher.setAuthTag(raw.subarray(raw.length - 16))
  try {
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}

function sealerOf(ids, { cookieName = V1.cookie_name, maxCookieBytes = V1.max_cookie_bytes } = {}) {
  return new Sealer({ keys: ids.map((id) => ({ id, key: unhex(V1.keys[id]) })), cookieName, maxCookieBytes })
}

/** `stale`: the value opened under another key than the ring's first (an adapter re-seals it). */
function assertSession(got, want, name, stale = false) {
  assert.ok(got.session, `${name}: ${JSON.stringify(got)}`)
  assert.deepEqual(Object.keys(got), stale ? ['session', 'stale'] : ['session'], name)
  if (stale) assert.equal(got.stale, true, name)
  const s = got.session
  assert.deepEqual(Object.keys(s), ['userId', 'data', 'createdAt', 'expiresAt'], name)
  assert.equal(s.userId, want.user_id, name)
  assert.deepEqual(s.data, want.data, name)
  assert.ok(s.createdAt instanceof Date, name)
  assert.equal(s.createdAt.getTime(), ms(want.created_at), name)
  if (want.expires_at === null) assert.equal(s.expiresAt, null, name)
  else assert.equal(s.expiresAt.getTime(), ms(want.expires_at), name)
}

function throwsCode(fn, code, check) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof SessionError, `${e}`)
    assert.equal(e.code, code, e.message)
    if (check) check(e)
    return true
  })
}

describe('conformance vectors', () => {
  test('v1 seal: sealed from Node, the plaintext is the vector payload byte for byte', () => {
    assert.ok(V1.seal.length >= 4)
    let exact = 0
    for (const c of V1.seal) {
      const key = unhex(V1.keys[c.key])
      // The vector's own value decrypts to its payload: the check below is sound.
      assert.equal(decryptV1(c.value, key, V1.cookie_name), c.payload, `${c.name}: vector`)
      const input = sealInput(c.session)
      const value = sealerOf([c.key]).seal(input)
      assert.ok(value.startsWith(`v1.${c.key}.`), c.name)
      // A Date holds milliseconds: a vector instant finer than that is sealed truncated.
      let payload = c.payload
      for (const [text, date] of [[c.session.created_at, input.createdAt], [c.session.expires_at, input.expiresAt]]) {
        if (text !== null && wire(date) !== text) payload = payload.replace(`"${text}"`, `"${wire(date)}"`)
      }
      if (payload === c.payload) {
        exact += 1
        assert.equal(value.length, c.value.length, `${c.name}: length`)
      }
      assert.equal(decryptV1(value, key, V1.cookie_name), payload, c.name)
      assert.equal(decryptV1(value, key, 'other'), null, `${c.name}: bound to the cookie name`)
      assertSession(sealerOf([c.key]).open(value, new Date(ms(c.session.created_at))), { ...c.session, created_at: wire(input.createdAt) }, c.name)
    }
    assert.ok(exact >= V1.seal.length - 1, `${exact} of ${V1.seal.length} payloads exact`)
  })

  test('v1 open: the expected session or reason', () => {
    assert.ok(V1.open.length >= 20)
    for (const c of V1.open) {
      const sealer = sealerOf(c.ring, { cookieName: c.cookie_name, maxCookieBytes: c.max_cookie_bytes })
      const got = sealer.open(c.value, new Date(ms(c.now)))
      if (c.expect.session) assertSession(got, c.expect.session, c.name, c.value.split('.')[1] !== c.ring[0])
      else assert.deepEqual(got, { session: null, reason: c.expect.reason }, c.name)
    }
  })

  test('seeds: the JSON the seeds sealed, or the reason', () => {
    assert.ok(SEEDS.open.length >= 10)
    for (const c of SEEDS.open) {
      const got = new SeedsOpener(unhex(SEEDS.keys[c.key])).open(c.value)
      if ('json' in c.expect) assert.deepEqual(got, { json: c.expect.json }, c.name)
      else assert.deepEqual(got, { json: null, reason: c.expect.reason }, c.name)
    }
  })
})

const NOW = new Date('2024-05-01T10:00:00Z')
const key = (n) => Buffer.alloc(32, n)
const sealer = (keys, options = {}) => new Sealer({ keys: keys.map(([id, n]) => ({ id, key: key(n) })), cookieName: 'sid', ...options })
const sample = () => ({ userId: 'user-1', data: { cart: [1, 2.5, '<x>', { deep: null }], é: '漢🙂' }, createdAt: NOW, expiresAt: new Date(NOW.getTime() + 3_600_000) })

describe('Sealer', () => {
  test('round trip: every seal differs, the value is cookie-safe, the session comes back', () => {
    const s = sealer([['a', 1]])
    for (const input of [{ data: {}, createdAt: NOW }, sample()]) {
      const one = s.seal(input)
      const two = s.seal(input)
      assert.notEqual(one, two, 'a fresh nonce per seal')
      assert.match(one, /^v1\.a\.[A-Za-z0-9_-]+$/)
      for (const v of [one, two]) {
        const { session } = s.open(v, NOW)
        assert.equal(session.userId, input.userId ?? null)
        assert.deepEqual(session.data, input.data)
        assert.equal(session.createdAt.getTime(), NOW.getTime())
        assert.equal(session.expiresAt?.getTime() ?? null, input.expiresAt?.getTime() ?? null)
      }
    }
    // Defaults: no data, created now, never expires; a safe integer user id is its decimal.
    const before = Date.now()
    const { session } = s.open(s.seal({ userId: 42 }))
    assert.equal(session.userId, '42')
    assert.deepEqual(session.data, {})
    assert.equal(session.expiresAt, null)
    assert.ok(session.createdAt.getTime() >= before && session.createdAt.getTime() <= Date.now())
    // Uint8Array keys work as Buffers do.
    const u8 = new Sealer({ keys: [{ id: 'a', key: new Uint8Array(32).fill(1) }], cookieName: 'sid' })
    assert.ok(u8.open(s.seal(sample()), NOW).session)
  })

  test('data keeps a __proto__ key as data, and whole floats read back as integers', () => {
    const s = sealer([['a', 1]])
    const data = JSON.parse('{"__proto__": {"polluted": true}, "whole": 2.0, "x": -7}')
    const { session } = s.open(s.seal({ data, createdAt: NOW }), NOW)
    assert.deepEqual(Object.keys(session.data), ['__proto__', 'whole', 'x'])
    assert.equal(Object.getPrototypeOf(session.data), Object.prototype)
    assert.equal({}.polluted, undefined)
    assert.equal(session.data.whole, 2)
  })

  test('rotation: a new key in front still opens old values; a removed or replaced key opens nothing', () => {
    const value = sealer([['b', 2]]).seal(sample())
    const aThenB = sealer([['a', 1], ['b', 2]])
    assert.equal(aThenB.open(value, NOW).session.userId, 'user-1')
    assert.equal(aThenB.open(value, NOW).stale, true, 'opened by a key other than the first')
    assert.equal(sealer([['b', 2], ['a', 1]]).open(value, NOW).stale, undefined)
    const resealed = aThenB.seal(sample())
    assert.ok(resealed.startsWith('v1.a.'), 'the first key seals')
    const aOnly = sealer([['a', 1]])
    assert.equal(aOnly.open(resealed, NOW).session.userId, 'user-1')
    assert.deepEqual(aOnly.open(value, NOW), { session: null, reason: 'tampered' })
    assert.deepEqual(sealer([['b', 9]]).open(value, NOW), { session: null, reason: 'tampered' })
    assert.deepEqual(sealer([['a', 1]], { cookieName: 'other' }).open(resealed, NOW), { session: null, reason: 'tampered' })
  })

  test('expiry: live at expiresAt, expired 1 ms after; now defaults to the current time', () => {
    const s = sealer([['a', 1]])
    const input = sample()
    const value = s.seal(input)
    assert.ok(s.open(value, input.expiresAt).session)
    assert.deepEqual(s.open(value, new Date(input.expiresAt.getTime() + 1)), { session: null, reason: 'expired' })
    assert.deepEqual(s.open(value), { session: null, reason: 'expired' }, 'sample() expired in 2024')
    assert.ok(s.open(s.seal({ ...input, expiresAt: new Date(Date.now() + 60_000) })).session)
  })

  test('size: SESSION_SIZE_EXCEEDED with size and limit; open refuses what seal would not write', () => {
    const big = sealer([['a', 1]], { maxCookieBytes: 1 << 20 })
    const value = big.seal(sample())
    const size = 'sid='.length + value.length
    const exact = sealer([['a', 1]], { maxCookieBytes: size })
    assert.equal(exact.seal(sample()).length, value.length)
    const under = sealer([['a', 1]], { maxCookieBytes: size - 1 })
    throwsCode(() => under.seal(sample()), 'SESSION_SIZE_EXCEEDED', (e) => assert.deepEqual(e.details, { size, limit: size - 1 }))
    assert.deepEqual(under.open(value, NOW), { session: null, reason: 'oversized' })
    throwsCode(() => sealer([['a', 1]]).seal({ data: { blob: 'x'.repeat(3100) } }), 'SESSION_SIZE_EXCEEDED', (e) => assert.equal(e.details.limit, 4096))
  })

  test('seal errors: SESSION_NOT_SERIALIZABLE with the path, SESSION_INVALID for bad shapes', () => {
    const s = sealer([['a', 1]])
    throwsCode(() => s.seal({ data: { f() {} } }), 'SESSION_NOT_SERIALIZABLE', (e) => assert.equal(e.details.path, '/f'))
    throwsCode(() => s.seal({ data: { a: [1, undefined] } }), 'SESSION_NOT_SERIALIZABLE', (e) => assert.equal(e.details.path, '/a/1'))
    throwsCode(() => s.seal({ data: { big: 2 ** 60 } }), 'SESSION_NOT_SERIALIZABLE', (e) => assert.equal(e.details.path, '/big'))
    throwsCode(() => s.seal({ data: { d: new Date() } }), 'SESSION_NOT_SERIALIZABLE')
    throwsCode(() => s.seal({ userId: '' }), 'SESSION_INVALID')
    throwsCode(() => s.seal({ userId: 1.5 }), 'SESSION_INVALID')
    throwsCode(() => s.seal({ ttl: 5 }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'ttl'))
    throwsCode(() => s.seal({ createdAt: 5 }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'createdAt'))
    throwsCode(() => s.seal({ expiresAt: new Date(NaN) }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'expiresAt'))
    throwsCode(() => s.seal({ expiresAt: new Date(8.64e15) }), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'expiresAt'))
    throwsCode(() => s.seal(), 'SESSION_INVALID')
    throwsCode(() => s.seal({ data: [] }), 'SESSION_INVALID')
  })

  test('constructor errors are CONFIG_INVALID naming the option', () => {
    const cases = [
      [{ keys: [], cookieName: 'sid' }, 'keys'],
      [{ keys: 'k', cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: key(1).subarray(0, 16) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: Buffer.alloc(31) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: Buffer.alloc(33) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: 'x'.repeat(32) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: key(1) }, { id: 'a', key: key(2) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: '', key: key(1) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a.b', key: key(1) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'x'.repeat(17), key: key(1) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 7, key: key(1) }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: key(1), extra: 1 }], cookieName: 'sid' }, 'keys'],
      [{ keys: [{ id: 'a', key: key(1) }], cookieName: '' }, 'cookieName'],
      [{ keys: [{ id: 'a', key: key(1) }], cookieName: 'a b' }, 'cookieName'],
      [{ keys: [{ id: 'a', key: key(1) }], cookieName: 'a=b' }, 'cookieName'],
      [{ keys: [{ id: 'a', key: key(1) }] }, 'cookieName'],
      [{ keys: [{ id: 'a', key: key(1) }], cookieName: 'sid', maxCookieBytes: 0 }, 'maxCookieBytes'],
      [{ keys: [{ id: 'a', key: key(1) }], cookieName: 'sid', maxCookieBytes: -1 }, 'maxCookieBytes'],
      [{ keys: [{ id: 'a', key: key(1) }], cookieName: 'sid', cookie: 'x' }, 'cookie'],
      [undefined, 'options'],
    ]
    for (const [options, option] of cases) {
      throwsCode(() => new Sealer(options), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, option, e.message))
    }
    for (const len of [0, 15, 17, 31, 33]) {
      throwsCode(() => new SeedsOpener(Buffer.alloc(len)), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'key'))
    }
    throwsCode(() => new SeedsOpener('0123456789abcdef'), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'key'))
  })

  test('open never throws for a string: any string is a session or a reason', () => {
    const s = sealer([['a', 1]])
    const seeds = new SeedsOpener(key(1))
    const valid = s.seal(sample())
    const inputs = ['', 'v1.', 'v1.a.', 'v1.a.!!!', '\ud800', `${valid}\ud800`, 'x'.repeat(1 << 20), valid.replace('v1.', 'v2.'), '\0', '🙂'.repeat(100), valid.slice(0, -1)]
    for (let i = 0; i < 500; i++) {
      inputs.push(String.fromCharCode(...Array.from({ length: i % 64 }, () => Math.floor(Math.random() * 0x10000))))
      const chars = valid.split('')
      chars[Math.floor(Math.random() * chars.length)] = 'ABCxyz019-_.'[i % 12]
      inputs.push(chars.join(''))
    }
    for (const input of inputs) {
      const got = s.open(input, NOW)
      if (got.session === null) assert.ok(['malformed', 'tampered', 'expired', 'oversized'].includes(got.reason), got.reason)
      else assert.equal(input, valid, 'only the sealed value opens')
      const fromSeeds = seeds.open(input)
      assert.equal(fromSeeds.json, null)
      assert.ok(['malformed', 'tampered', 'oversized'].includes(fromSeeds.reason), fromSeeds.reason)
    }
    // A non-string is a caller bug, not a cookie: SESSION_INVALID.
    for (const bad of [undefined, null, 5, {}, Buffer.from(valid)]) {
      throwsCode(() => s.open(bad, NOW), 'SESSION_INVALID')
      throwsCode(() => seeds.open(bad), 'SESSION_INVALID')
    }
    throwsCode(() => s.open(valid, 'now'), 'SESSION_INVALID', (e) => assert.equal(e.details.argument, 'now'))
  })

  test('key bytes never show: not in util.inspect, error messages or details', () => {
    const secret = Buffer.alloc(32, 0xab)
    const forms = (bytes) => [bytes.toString('hex').slice(0, 8), bytes.toString('base64').slice(0, 8), bytes.toString('base64url').slice(0, 8), '171', 'ab, ab', '0xab']
    const s = new Sealer({ keys: [{ id: 'a', key: secret }], cookieName: 'sid' })
    const seeds = new SeedsOpener(Buffer.alloc(16, 0xab))
    const shown = [util.inspect(s, { showHidden: true, depth: 10 }), util.inspect(seeds, { showHidden: true, depth: 10 }), JSON.stringify(s), JSON.stringify(seeds), String(s)]
    const errors = []
    for (const fn of [
      () => new Sealer({ keys: [{ id: 'a', key: Buffer.alloc(31, 0xab) }], cookieName: 'sid' }),
      () => new Sealer({ keys: [{ id: 'a', key: secret }, { id: 'a', key: secret }], cookieName: 'sid' }),
      () => new Sealer({ keys: [{ id: 'a.b', key: secret }], cookieName: 'sid' }),
      () => new Sealer({ keys: [{ id: 'a', key: secret }], cookieName: 'a b' }),
      () => new SeedsOpener(Buffer.alloc(20, 0xab)),
      () => s.seal({ data: { f() {} } }),
      () => s.seal({ data: { blob: 'x'.repeat(5000) } }),
    ]) {
      try {
        fn()
        assert.fail('did not throw')
      } catch (e) {
        assert.ok(e instanceof SessionError, `${e}`)
        errors.push(e)
      }
    }
    for (const e of errors) shown.push(e.message, String(e), e.stack, JSON.stringify(e.details), util.inspect(e, { depth: 10 }))
    for (const text of shown) {
      for (const form of forms(secret)) assert.ok(!text.toLowerCase().includes(form.toLowerCase()), `${form} in ${text}`)
    }
    assert.deepEqual(Object.keys(s), [])
    assert.deepEqual(Object.keys(seeds), [])
  })
})

/** Waits for `n` violation events: they are queued to the JS thread, as a store's are. */
async function eventsOf(list, n) {
  for (let i = 0; i < 200 && list.length < n; i++) await new Promise((r) => setTimeout(r, 5))
  await new Promise((r) => setTimeout(r, 20)) // and no more than n
  return list
}

describe('a request\'s values and violation events', () => {
  test('open takes every value of the cookie in a request: none, one, several', () => {
    const s = sealer([['a', 1]])
    const value = s.seal(sample())
    assert.deepEqual(s.open([], NOW), { session: null, reason: null })
    assert.equal(s.open([value], NOW).session.userId, 'user-1')
    assert.deepEqual(s.open([value, value], NOW), { session: null, reason: 'duplicated' })
    assert.deepEqual(s.open([value, 'x', 'y'], NOW), { session: null, reason: 'duplicated' })
    assert.deepEqual(s.open(['v1.a.x'], NOW), { session: null, reason: 'malformed' })
    for (const bad of [[5], [value, null], [undefined]]) {
      throwsCode(() => s.open(bad, NOW), 'SESSION_INVALID', (e) => assert.match(e.details.argument, /^value\[\d\]$/))
    }
  })

  test('every value that does not open raises its event, shaped as a store\'s (at a Date, no id, no site)', async () => {
    const events = []
    const s = sealer([['a', 1]], { maxCookieBytes: 200, onViolation: (e) => events.push(e) })
    const value = s.seal({ userId: 'u', createdAt: NOW, expiresAt: new Date(NOW.getTime() + 1000) })
    const cases = [
      [() => s.open('v1.a.!!!', NOW), 'cookie_malformed'],
      [() => s.open(value.slice(0, -2) + (value.endsWith('AA') ? 'BB' : 'AA'), NOW), 'cookie_tampered'],
      [() => s.open(sealer([['a', 2]]).seal({ createdAt: NOW }), NOW), 'cookie_tampered'],
      [() => s.open(value, new Date(NOW.getTime() + 1001)), 'cookie_expired'],
      [() => s.open('x'.repeat(300), NOW), 'cookie_oversized'],
      [() => s.open([value, value], NOW), 'cookie_duplicated'],
      [() => s.open('\ud800', NOW), 'cookie_malformed'],
    ]
    for (const [fn] of cases) assert.equal(fn().session, null)
    assert.ok(s.open(value, NOW).session, 'a value that opens raises nothing')
    assert.deepEqual(s.open([], NOW), { session: null, reason: null }, 'nor does no cookie')
    await eventsOf(events, cases.length)
    assert.deepEqual(events.map((e) => e.type), cases.map(([, type]) => type))
    for (const e of events) {
      assert.deepEqual(Object.keys(e).sort(), ['at', 'limit', 'message', 'sessionIdHash', 'siteId', 'size', 'type', 'userId'])
      assert.equal(e.sessionIdHash, null)
      assert.equal(e.userId, null)
      assert.equal(e.siteId, '')
      // `at` is the `now` the value was opened at.
      assert.ok(e.at instanceof Date, `${e.at}`)
      assert.equal(e.at.getTime(), NOW.getTime() + (e.type === 'cookie_expired' ? 1001 : 0))
      assert.match(e.message, /"sid"/)
    }
    const oversized = events.find((e) => e.type === 'cookie_oversized')
    assert.deepEqual([oversized.size, oversized.limit], [304, 200])
  })

  test('a callback that throws or rejects is logged and ignored; onViolation must be a function', async () => {
    const warned = []
    const logger = { warn: (message) => warned.push(message) }
    let calls = 0
    const throwing = sealer([['a', 1]], { logger, onViolation: () => { calls++; throw new Error('boom') } })
    const rejecting = sealer([['a', 1]], { logger, onViolation: async () => { calls++; throw new Error('boom') } })
    assert.deepEqual(throwing.open('bad', NOW), { session: null, reason: 'malformed' })
    assert.deepEqual(rejecting.open('bad', NOW), { session: null, reason: 'malformed' })
    await eventsOf(warned, 4)
    assert.equal(calls, 2)
    assert.ok(warned.some((m) => m.includes('onViolation callback threw')), warned.join('\n'))
    assert.ok(warned.some((m) => m.includes('onViolation callback rejected')), warned.join('\n'))
    assert.ok(warned.some((m) => m.includes('(cookie_malformed)')), 'the logger hears the event too')
    for (const onViolation of ['f', 1, {}]) {
      throwsCode(() => sealer([['a', 1]], { onViolation }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'onViolation'))
    }
    throwsCode(() => sealer([['a', 1]], { logger: 5 }), 'CONFIG_INVALID', (e) => assert.equal(e.details.option, 'logger'))
  })
})

describe('exports and declarations', () => {
  test('CommonJS and ESM export the same classes', () => {
    const cjs = require('omnisession')
    for (const name of ['Sealer', 'SeedsOpener']) {
      assert.equal(typeof cjs[name], 'function', name)
      assert.equal(esm[name], cjs[name], name)
      assert.equal(esm.default[name], cjs[name], name)
    }
  })

  test('index.d.ts and the generated native.d.ts declare the runtime methods', () => {
    const declared = (file, className) => {
      const text = readFileSync(path.join(ROOT, 'bindings-node/js', file), 'utf8')
      const body = text.match(new RegExp(`export declare class ${className}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`))
      assert.ok(body, `${className} not declared in ${file}`)
      return [...new Set([...body[1].matchAll(/^\s{2}(?!static\b|private\b|constructor\b)(\w+)\(/gm)].map((m) => m[1]))].sort()
    }
    // The exported Sealer is index.js's subclass of the native one (it wraps onViolation).
    const methods = (proto) => {
      const names = new Set()
      for (let p = proto; p !== Object.prototype; p = Object.getPrototypeOf(p)) {
        for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor') names.add(n)
      }
      return [...names].sort()
    }
    assert.deepEqual(methods(Sealer.prototype), ['open', 'seal'])
    assert.deepEqual(methods(SeedsOpener.prototype), ['open'])
    for (const [cls, name] of [[Sealer, 'Sealer'], [SeedsOpener, 'SeedsOpener']]) {
      assert.deepEqual(declared('native.d.ts', name), methods(cls.prototype), `native.d.ts ${name}`)
      assert.deepEqual(declared('index.d.ts', name), methods(cls.prototype), `index.d.ts ${name}`)
    }
  })
})
