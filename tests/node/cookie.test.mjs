// The session cookie module (bindings-node/js/cookie.js) against the shared vectors of
// tests/conformance/cookies.json (format: tests/conformance/README.md), then what only Node has.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { SessionCookie } from '../../bindings-node/js/cookie.js'
import { SessionError } from '../../bindings-node/js/errors.js'

const VECTORS = JSON.parse(readFileSync(new URL('../conformance/cookies.json', import.meta.url), 'utf8'))
const NODE_NAMES = { http_only: 'httpOnly', same_site: 'sameSite', max_age_ms: 'maxAgeMs' }
const KEY = '0123456789abcdef'
const ID = 'Zt3vQ8mK1pX9wLr2Yb7Hc4Nf6Sd0Ja5Ue_Gi-Ok8TqW'

const nodeName = (name) => NODE_NAMES[name] ?? name
const nodeOptions = (options) => Object.fromEntries(Object.entries(options).map(([k, v]) => [nodeName(k), v]))

/** Expands {"$repeat"} and {"$concat"} in a string field. */
function text(value) {
  if (value && typeof value === 'object' && typeof value.$repeat === 'string') return value.$repeat.repeat(value.times)
  if (value && typeof value === 'object' && Array.isArray(value.$concat)) return value.$concat.map(text).join('')
  return value
}

function expectError(run, testCase) {
  assert.throws(run, (err) => {
    assert.ok(err instanceof SessionError, `not a SessionError: ${err}`)
    assert.equal(err.code, testCase.error)
    if (testCase.option !== undefined) assert.equal(err.details.option, nodeName(testCase.option))
    return true
  })
}

function check(testCase, run) {
  if (testCase.error !== undefined) expectError(run, testCase)
  else assert.equal(run(), text(testCase.expect))
}

const cookie = (testCase) => new SessionCookie(nodeOptions(testCase.options))

describe('cookies.json', () => {
  for (const c of VECTORS.sign) test(`sign / ${c.name}`, () => check(c, () => cookie(c).sign(text(c.id))))
  for (const c of VECTORS.verify) test(`verify / ${c.name}`, () => check(c, () => cookie(c).verify(text(c.value))))
  for (const c of VECTORS.read) test(`read / ${c.name}`, () => check(c, () => cookie(c).read(text(c.header))))
  for (const c of VECTORS.serialize) {
    test(`serialize / ${c.name}`, () => {
      // An absent max_age_ms must reach serialize as absent (the configured one), null as null.
      const call = Object.hasOwn(c, 'max_age_ms') ? { maxAgeMs: c.max_age_ms, now: c.now } : { now: c.now }
      check(c, () => cookie(c).serialize(text(c.id), call))
    })
  }
  for (const c of VECTORS.clear) test(`clear / ${c.name}`, () => check(c, () => cookie(c).clear()))
  for (const c of VECTORS.options) {
    test(`options / ${c.name}`, () => {
      if (c.error !== undefined) expectError(() => cookie(c), c)
      else assert.ok(cookie(c) instanceof SessionCookie)
    })
  }
})

describe('Node only', () => {
  test('a Buffer or Uint8Array key signs as the string of the same bytes', () => {
    const want = new SessionCookie({ secret: KEY }).sign(ID)
    assert.equal(new SessionCookie({ secret: Buffer.from(KEY) }).sign(ID), want)
    assert.equal(new SessionCookie({ secret: new Uint8Array(Buffer.from(KEY)) }).sign(ID), want)
    assert.equal(new SessionCookie({ secret: [Buffer.from('another-key-0123456789'), KEY] }).verify(want), ID)
  })

  test('a Buffer key is copied: changing it later changes nothing', () => {
    const key = Buffer.from(KEY)
    const cookie = new SessionCookie({ secret: key })
    const before = cookie.sign(ID)
    key.fill(0)
    assert.equal(cookie.sign(ID), before)
  })

  test('a Buffer key of 15 bytes is refused', () => {
    expectError(() => new SessionCookie({ secret: Buffer.alloc(15, 1) }), { error: 'CONFIG_INVALID', option: 'secret' })
  })

  test('an unknown option is refused, by its name (maxAge is not maxAgeMs)', () => {
    expectError(() => new SessionCookie({ maxAge: 3600 }), { error: 'CONFIG_INVALID', option: 'maxAge' })
  })

  test('a fractional or infinite maxAgeMs is refused', () => {
    for (const maxAgeMs of [1.5, Infinity, NaN]) {
      expectError(() => new SessionCookie({ maxAgeMs }), { error: 'CONFIG_INVALID', option: 'maxAgeMs' })
    }
  })

  test('no error message quotes a secret', () => {
    const secrets = ['short-s3cret', 'ab\ud800cdefghijklmnopq', ['longer-s3cret-0123', 'tiny-s3cret']]
    for (const secret of secrets) {
      assert.throws(() => new SessionCookie({ secret }), (err) => {
        for (const key of [secret].flat()) assert.ok(!err.message.includes(key) && !JSON.stringify(err.details).includes(key))
        return err.details.option === 'secret'
      })
    }
  })

  test('verify and read never throw, whatever the string', () => {
    const cookie = new SessionCookie({ secret: KEY })
    const pool = ['.', ';', '=', ' ', '\t', 'é', '\ud800', '\udc00', '😀', '\0', '"', 'A', ID, cookie.sign(ID)]
    // Every string of up to three pieces, bare and as the cookie's value.
    let strings = ['']
    for (let round = 0; round < 3; round++) strings = [...strings, ...strings.flatMap((s) => pool.map((p) => s + p))]
    for (const s of new Set(strings)) {
      assert.doesNotThrow(() => cookie.verify(s))
      assert.doesNotThrow(() => cookie.read(s))
      assert.doesNotThrow(() => cookie.read(`__Host-omnisession=${s}`))
    }
    for (const odd of [undefined, null, 42, {}, [], Buffer.from('x')]) {
      assert.equal(cookie.verify(odd), null)
      assert.equal(cookie.read(odd), null)
    }
  })

  test('without now, Expires counts from the clock', () => {
    const before = Math.floor(Date.now() / 1000)
    const header = new SessionCookie({ maxAgeMs: 60_000 }).serialize(ID)
    const expires = Date.parse(/Expires=([^;]+)/.exec(header)[1]) / 1000
    assert.ok(expires >= before + 60 && expires <= Math.floor(Date.now() / 1000) + 60, header)
  })
})
