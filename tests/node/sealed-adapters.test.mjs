// Sealed cookie sessions in the hosts, over real HTTP: an Express 5 app with cookieSession
// (omnisession/express) and a Fetch API handler with CookieSessions (omnisession/fetch) served
// by node:http, each on a port of its own, driven by fetch with one cookie jar per client.
// Every rule is the core's (tests/node/sealed.test.mjs); what is checked here is the request
// cycle: round trip, login, logout, key rotation while running, every kind of bad cookie (no
// session, the cookie cleared, the core's violation event, a 200, nothing thrown at the app),
// the configuration errors, and tests/conformance/sealed/hosts.json (shared with Python).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import path from 'node:path'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import express from 'express'
import * as esmExpress from 'omnisession/express'
import * as esmFetch from 'omnisession/fetch'
import { Sealer, SessionError } from 'omnisession'
import { cookieSession } from 'omnisession/express'
import { CookieSessions } from 'omnisession/fetch'
import { nextSessions } from 'omnisession/next'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(import.meta.url)
const HOSTS = JSON.parse(readFileSync(path.join(ROOT, 'tests/conformance/sealed/hosts.json'), 'utf8'))
const NAME = '__Host-omnisession'
const KEYS = { A: Buffer.alloc(32, 0xa1), B: Buffer.alloc(32, 0xb2), C: Buffer.alloc(32, 0xc3) }
const ring = (...ids) => ids.map((id) => ({ id, key: KEYS[id] }))
const HOUR = 3_600_000

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** The session in a value, read as the server would (no events): the test's own Sealer. */
function peek(value, { keys = ring('A', 'B', 'C'), cookieName = NAME } = {}) {
  return new Sealer({ keys, cookieName }).open(value).session
}

/** The 12-byte nonce at the front of a v1 value's body. */
const nonceOf = (value) => Buffer.from(value.split('.')[2], 'base64url').subarray(0, 12).toString('hex')

// The same test app on both frameworks: the user is passport's in Express (login is
// regenerate + passport.user, as express-session apps do), the adapter's in Fetch.

function expressApp(state) {
  const app = express()
  app.use((req, res, next) => state.adapter(req, res, next))
  const ok = (req, res) => res.json({ ok: true })
  app.get('/whoami', (req, res) => res.json({ user: req.session.passport?.user ?? null }))
  app.get('/opened', (req, res) => res.json({ opened: !req.session.isNew }))
  app.get('/get', (req, res) => res.json({ value: req.session[req.query.key] ?? null }))
  app.post('/set', (req, res) => {
    req.session[req.query.key] = JSON.parse(req.query.value)
    ok(req, res)
  })
  app.post('/set-date', (req, res) => {
    req.session.when = new Date()
    ok(req, res)
  })
  app.post('/login', (req, res, next) =>
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.passport = { user: req.query.user }
      ok(req, res)
    }),
  )
  app.post('/logout', (req, res) => {
    req.session = null
    ok(req, res)
  })
  app.post('/expiry', (req, res) => {
    req.sessionOptions.maxAge = Number(req.query.seconds) * 1000
    ok(req, res)
  })
  app.use((err, req, res, next) => {
    state.errors.push(err)
    res.status(500).json({ error: err.code ?? err.message })
  })
  return http.createServer(app)
}

function fetchApp(state) {
  const handler = async (request) => {
    const sessions = state.adapter
    const url = new URL(request.url)
    const q = (name) => url.searchParams.get(name)
    const session = await sessions.load(request)
    let body = { ok: true }
    switch (`${request.method} ${url.pathname}`) {
      case 'GET /whoami':
        body = { user: session.userId }
        break
      case 'GET /opened':
        body = { opened: !session.isNew }
        break
      case 'GET /get':
        body = { value: session.data[q('key')] ?? null }
        break
      case 'POST /set':
        session.data[q('key')] = JSON.parse(q('value'))
        break
      case 'POST /set-date':
        session.data.when = new Date()
        break
      case 'POST /login':
        await sessions.login(session, q('user'))
        break
      case 'POST /logout':
        await sessions.logout(session)
        break
      case 'POST /expiry':
        session.setExpiry(Number(q('seconds')) * 1000)
        break
      default:
        return new Response(null, { status: 404 })
    }
    return sessions.commit(session, Response.json(body))
  }
  return http.createServer(async (req, res) => {
    try {
      const body = req.method === 'GET' || req.method === 'HEAD' ? {} : { body: Readable.toWeb(req), duplex: 'half' }
      const response = await handler(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers: req.headers, ...body }))
      for (const [name, value] of response.headers) if (name !== 'set-cookie') res.setHeader(name, value)
      res.setHeader('set-cookie', response.headers.getSetCookie())
      res.statusCode = response.status
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (err) {
      state.errors.push(err)
      res.statusCode = 500
      res.end(JSON.stringify({ error: err.code ?? err.message }))
    }
  })
}

const FRAMEWORKS = {
  express: { app: expressApp, make: (options) => cookieSession(options) },
  fetch: { app: fetchApp, make: (options) => new CookieSessions(options) },
}

/**
 * A server of `framework` on a port of its own. `configure(options)` replaces the adapter while
 * it runs (key rotation); every adapter reports to the same `events`.
 */
async function serve(framework, options) {
  const { app, make } = FRAMEWORKS[framework]
  const state = { adapter: null, events: [], errors: [] }
  const configure = (opts) => {
    state.adapter = make({ onViolation: (e) => state.events.push(e), ...opts })
  }
  configure(options)
  const server = app(state)
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const base = `http://127.0.0.1:${server.address().port}`

  /** One request; `cookie` is the raw Cookie header (default: the jar's). */
  async function send(method, url, { cookie, jar } = {}) {
    const header = cookie !== undefined ? cookie : jar && jar.size ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : null
    const res = await fetch(base + url, { method, headers: header === null ? {} : { cookie: header } })
    const setCookies = res.headers.getSetCookie().map(parseSetCookie)
    for (const c of setCookies) {
      if (!jar) continue
      if (c.value === '' || c.maxAge === 0) jar.delete(c.name)
      else jar.set(c.name, c.value)
    }
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null, cookie: setCookies.find((c) => c.name === NAME) ?? null, setCookies }
  }

  /** The events raised so far, once `n` have arrived (they are queued to the JS thread). */
  async function eventsAfter(n) {
    for (let i = 0; i < 200 && state.events.length < n; i++) await sleep(5)
    await sleep(20)
    return state.events
  }

  return {
    base,
    send,
    configure,
    eventsAfter,
    state,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
}

function parseSetCookie(line) {
  const [pair, ...attributes] = line.split(';').map((s) => s.trim())
  const eq = pair.indexOf('=')
  const out = { name: pair.slice(0, eq), value: pair.slice(eq + 1), maxAge: null, expires: null, flags: [], raw: line }
  for (const a of attributes) {
    const [k, v] = a.split('=')
    if (k === 'Max-Age') out.maxAge = Number(v)
    else if (k === 'Expires') out.expires = new Date(v)
    else out.flags.push(a)
  }
  return out
}

function assertCleared(res, label) {
  assert.ok(res.cookie, `${label}: no Set-Cookie`)
  assert.equal(res.cookie.value, '', `${label}: ${res.cookie.raw}`)
  assert.equal(res.cookie.maxAge, 0, label)
}

async function withServer(framework, options, fn) {
  const s = await serve(framework, options)
  try {
    await fn(s)
    assert.deepEqual(s.state.errors, [], 'no error reached the app')
  } finally {
    await s.close()
  }
}

for (const framework of Object.keys(FRAMEWORKS)) {
  describe(`${framework}: sealed cookie sessions over HTTP`, () => {
    test('round trip: sealed when changed, nothing sent when not, Max-Age and Expires agree with the sealed expiry', async () => {
      await withServer(framework, { keys: ring('A'), maxAgeMs: HOUR }, async ({ send }) => {
        const jar = new Map()
        assert.deepEqual((await send('GET', '/get?key=cart', { jar })).cookie, null, 'no session, no cookie')
        const before = Date.now()
        const set = await send('POST', '/set?key=cart&value=[1,"two",{"three":null}]', { jar })
        assert.equal(set.status, 200)
        const c = set.cookie
        assert.match(c.value, /^v1\.A\.[A-Za-z0-9_-]+$/)
        assert.deepEqual(c.flags, ['Path=/', 'Secure', 'HttpOnly', 'SameSite=Lax'])
        assert.equal(c.maxAge, 3600)
        const sealed = peek(c.value)
        assert.deepEqual(sealed.data, { cart: [1, 'two', { three: null }] })
        assert.equal(sealed.userId, null)
        assert.ok(sealed.expiresAt.getTime() >= before + HOUR && sealed.expiresAt.getTime() <= Date.now() + HOUR)
        // Expires is in whole seconds, Max-Age rounded up: the cookie outlives the seal by < 1 s.
        const gap = c.expires.getTime() - sealed.expiresAt.getTime()
        assert.ok(gap > -1000 && gap < 1000, `Expires ${c.expires.toISOString()} vs sealed ${sealed.expiresAt.toISOString()}`)

        const read = await send('GET', '/get?key=cart', { jar })
        assert.deepEqual(read.body, { value: [1, 'two', { three: null }] })
        assert.deepEqual(read.setCookies, [], 'unchanged: nothing sent')
        assert.deepEqual((await send('POST', '/set?key=cart&value=[1,"two",{"three":null}]', { jar })).setCookies, [], 'the same value again: unchanged')

        // A change keeps the sealed expiry (as a patch keeps the store's); Max-Age is what is left.
        await sleep(1100)
        const more = await send('POST', '/set?key=theme&value="dark"', { jar })
        const resealed = peek(more.cookie.value)
        assert.deepEqual(resealed.data, { cart: [1, 'two', { three: null }], theme: 'dark' })
        assert.equal(resealed.expiresAt.getTime(), sealed.expiresAt.getTime())
        assert.equal(resealed.createdAt.getTime(), sealed.createdAt.getTime())
        assert.ok(more.cookie.maxAge <= 3599 && more.cookie.maxAge >= 3590, `${more.cookie.maxAge}`)
        assert.notEqual(nonceOf(more.cookie.value), nonceOf(c.value))

        // A new lifetime re-seals with it, data or not.
        const expiry = await send('POST', '/expiry?seconds=60', { jar })
        assert.equal(expiry.cookie.maxAge, 60)
        const short = peek(expiry.cookie.value)
        assert.ok(Math.abs(short.expiresAt.getTime() - (Date.now() + 60_000)) < 2000)
        assert.deepEqual(short.data, resealed.data)
      })
    })

    test('without maxAgeMs: a browser-session cookie, 24 h sealed in; rolling re-seals every response', async () => {
      await withServer(framework, { keys: ring('A') }, async ({ send }) => {
        const res = await send('POST', '/set?key=n&value=1', { jar: new Map() })
        assert.equal(res.cookie.maxAge, null)
        assert.equal(res.cookie.expires, null)
        const left = peek(res.cookie.value).expiresAt.getTime() - Date.now()
        assert.ok(left > 24 * HOUR - 5000 && left <= 24 * HOUR, `${left}`)
      })
      await withServer(framework, { keys: ring('A'), maxAgeMs: HOUR, rolling: true }, async ({ send }) => {
        const jar = new Map()
        const first = await send('POST', '/set?key=n&value=1', { jar })
        await sleep(1100)
        const again = await send('GET', '/get?key=n', { jar })
        assert.deepEqual(again.body, { value: 1 })
        assert.ok(again.cookie, 'rolling: re-sent without a change')
        assert.equal(again.cookie.maxAge, 3600)
        assert.ok(peek(again.cookie.value).expiresAt > peek(first.cookie.value).expiresAt, 'the window moved')
        assert.deepEqual((await send('GET', '/get?key=n', { cookie: null })).setCookies, [], 'no session: nothing to roll')
      })
    })

    test('login is a fresh seal: a new nonce, the value before it carries no login', async () => {
      await withServer(framework, { keys: ring('A'), maxAgeMs: HOUR }, async ({ send }) => {
        const jar = new Map()
        const anonymous = (await send('POST', '/set?key=cart&value=["apple"]', { jar })).cookie.value
        const login = await send('POST', '/login?user=alice', { jar })
        assert.equal(login.status, 200)
        const value = login.cookie.value
        assert.notEqual(value, anonymous)
        assert.notEqual(nonceOf(value), nonceOf(anonymous))
        assert.deepEqual((await send('GET', '/whoami', { jar })).body, { user: 'alice' })
        // The pre-login value (planted, or kept by an attacker) still opens, as the anonymous session it was.
        assert.deepEqual((await send('GET', '/whoami', { cookie: `${NAME}=${anonymous}` })).body, { user: null })
        assert.equal(peek(anonymous).userId, null)
        const sealed = peek(value)
        assert.ok(sealed.createdAt.getTime() >= peek(anonymous).createdAt.getTime())
        if (framework === 'fetch') {
          // As the store's login: the data of an anonymous session is carried over.
          assert.equal(sealed.userId, 'alice')
          assert.deepEqual(sealed.data, { cart: ['apple'] })
          // ...and a login over another user's session carries none of it.
          await send('POST', '/set?key=secret&value=1', { jar })
          await send('POST', '/login?user=bob', { jar })
          assert.deepEqual((await send('GET', '/whoami', { jar })).body, { user: 'bob' })
          assert.deepEqual((await send('GET', '/get?key=secret', { jar })).body, { value: null })
          assert.deepEqual((await send('GET', '/get?key=cart', { jar })).body, { value: null })
          // The same user again keeps the data.
          await send('POST', '/set?key=theme&value="dark"', { jar })
          const again = (await send('POST', '/login?user=bob', { jar })).cookie.value
          assert.deepEqual(peek(again).data, { theme: 'dark' })
        } else {
          // express-session's regenerate: a new, empty session, then the user (passport's way).
          assert.equal(sealed.userId, 'alice', 'userIdFrom: passport.user is sealed in as the user')
          assert.deepEqual(sealed.data, { passport: { user: 'alice' } })
        }
      })
    })

    test('logout clears the cookie; a copy of the value stays valid until its sealed expiry', async () => {
      await withServer(framework, { keys: ring('A'), maxAgeMs: HOUR }, async ({ send }) => {
        const jar = new Map()
        const value = (await send('POST', '/login?user=alice', { jar })).cookie.value
        const logout = await send('POST', '/logout', { jar })
        assert.equal(logout.status, 200)
        assertCleared(logout, 'logout')
        assert.equal(jar.has(NAME), false)
        assert.deepEqual((await send('GET', '/whoami', { jar })).body, { user: null })
        assert.deepEqual((await send('POST', '/logout', { jar })).setCookies, [], 'no cookie, nothing to clear')
        // No store, so nothing revokes it: what "no server state" means (README).
        assert.deepEqual((await send('GET', '/whoami', { cookie: `${NAME}=${value}` })).body, { user: 'alice' })
      })
    })

    test('key rotation while running: [A], then [B, A] re-seals with B, then [B] refuses A', async () => {
      await withServer(framework, { keys: ring('A'), maxAgeMs: HOUR }, async ({ send, configure, eventsAfter }) => {
        const jar = new Map()
        await send('POST', '/login?user=alice', { jar })
        await send('POST', '/set?key=n&value=1', { jar })
        const withA = jar.get(NAME)
        assert.match(withA, /^v1\.A\./)

        configure({ keys: ring('B', 'A'), maxAgeMs: HOUR })
        const read = await send('GET', '/get?key=n', { jar })
        assert.deepEqual(read.body, { value: 1 }, 'the old value opens')
        assert.match(read.cookie.value, /^v1\.B\./, 'and the response re-seals it with B')
        const withB = peek(read.cookie.value)
        assert.equal(withB.expiresAt.getTime(), peek(withA).expiresAt.getTime(), 're-sealing keeps the expiry')
        assert.equal(withB.userId, 'alice')
        assert.deepEqual((await send('GET', '/get?key=n', { jar })).setCookies, [], 'a value of B is current: nothing sent')

        configure({ keys: ring('B'), maxAgeMs: HOUR })
        assert.deepEqual((await send('GET', '/whoami', { jar })).body, { user: 'alice' }, 'the re-sealed value opens under [B]')
        const n = (await eventsAfter(0)).length
        const replay = await send('GET', '/whoami', { cookie: `${NAME}=${withA}` })
        assert.equal(replay.status, 200)
        assert.deepEqual(replay.body, { user: null })
        assertCleared(replay, 'A-sealed value under [B]')
        const events = await eventsAfter(n + 1)
        assert.deepEqual(events.slice(n).map((e) => e.type), ['cookie_tampered'])
      })
    })

    test('bad cookies: no session, the cookie cleared, the right event, a 200, nothing thrown', async () => {
      await withServer(framework, { keys: ring('A'), maxAgeMs: 1000 }, async ({ send, eventsAfter }) => {
        const jar = new Map()
        await send('POST', '/login?user=alice', { jar })
        const valid = jar.get(NAME)
        const expiring = valid
        const flip = (v, i) => v.slice(0, i) + (v[i] === 'A' ? 'B' : 'A') + v.slice(i + 1)
        const wrongKey = new Sealer({ keys: [{ id: 'A', key: KEYS.C }], cookieName: NAME }).seal({ userId: 'alice' })
        const otherName = new Sealer({ keys: ring('A'), cookieName: 'other' }).seal({ userId: 'alice' })
        await sleep(1100) // `expiring` is now past its sealed expiry (and its Max-Age)
        const cases = [
          ['truncated', `${NAME}=${valid.slice(0, 30)}`, 'cookie_malformed'],
          ['non-base64', `${NAME}=v1.A.!!!!not*base64!!!!`, 'cookie_malformed'],
          ['another format', `${NAME}=s%3AOLD-SESSION-ID.signature`, 'cookie_malformed'],
          ['empty', `${NAME}=`, 'cookie_malformed'],
          ['tampered', `${NAME}=${flip(valid, valid.length - 10)}`, 'cookie_tampered'],
          ['wrong key', `${NAME}=${wrongKey}`, 'cookie_tampered'],
          ['moved from another cookie', `${NAME}=${otherName}`, 'cookie_tampered'],
          ['unknown key id', `${NAME}=${valid.replace('v1.A.', 'v1.Z.')}`, 'cookie_tampered'],
          ['replayed after expiry', `${NAME}=${expiring}`, 'cookie_expired'],
          ['oversized', `${NAME}=v1.A.${'A'.repeat(5000)}`, 'cookie_oversized'],
          ['duplicated', `${NAME}=${valid}; other=1; ${NAME}=${valid}`, 'cookie_duplicated'],
        ]
        let n = 0
        for (const [label, cookie, type] of cases) {
          for (const url of ['/whoami', '/get?key=n']) {
            const res = await send('GET', url, { cookie })
            assert.equal(res.status, 200, `${label}: ${JSON.stringify(res.body)}`)
            assert.deepEqual(res.body, url === '/whoami' ? { user: null } : { value: null }, label)
            assertCleared(res, label)
            const events = await eventsAfter(++n)
            assert.equal(events.length, n, `${label}: one event per request`)
            const e = events[n - 1]
            assert.equal(e.type, type, label)
            assert.ok(e.at instanceof Date, label)
            assert.equal(e.sessionIdHash, null)
            if (type === 'cookie_oversized') assert.deepEqual([e.size, e.limit], [NAME.length + 1 + 5005, 4096])
          }
        }
        // A bad cookie replaced by a session in the same request: the new value, not a clear.
        const fresh = await send('POST', '/set?key=n&value=2', { cookie: `${NAME}=garbage` })
        assert.match(fresh.cookie.value, /^v1\.A\./)
        assert.deepEqual(peek(fresh.cookie.value).data, { n: 2 })
        // No cookie at all: no event.
        await send('GET', '/whoami', { cookie: 'other=1' })
        assert.equal((await eventsAfter(n + 2)).length, n + 1)
      })
    })

    test('a session that cannot be sealed is the app\'s error (not a crash), and the client keeps its cookie', async () => {
      const s = await serve(framework, { keys: ring('A'), maxAgeMs: HOUR })
      try {
        const jar = new Map()
        await s.send('POST', '/set?key=n&value=1', { jar })
        const kept = jar.get(NAME)
        const big = await s.send('POST', `/set?key=big&value="${'x'.repeat(4000)}"`, { jar })
        assert.equal(big.status, 500)
        assert.deepEqual(big.body, { error: 'SESSION_SIZE_EXCEEDED' })
        assert.deepEqual(big.setCookies, [])
        const date = await s.send('POST', '/set-date', { jar })
        assert.deepEqual([date.status, date.body, date.setCookies], [500, { error: 'SESSION_NOT_SERIALIZABLE' }, []])
        assert.equal(jar.get(NAME), kept)
        assert.deepEqual((await s.send('GET', '/get?key=n', { jar })).body, { value: 1 })
        assert.deepEqual(s.state.errors.map((e) => e instanceof SessionError && e.code), ['SESSION_SIZE_EXCEEDED', 'SESSION_NOT_SERIALIZABLE'])
      } finally {
        await s.close()
      }
    })

    test('tests/conformance/sealed/hosts.json: the Cookie header, the response, the event', async () => {
      const keys = (ids) => ids.map((id) => ({ id, key: Buffer.from(HOSTS.keys[id], 'hex') }))
      const cookie = { name: HOSTS.cookie_name }
      await withServer(framework, { keys: keys(HOSTS.ring), cookie }, async ({ send, configure, eventsAfter }) => {
        let n = 0
        for (const c of HOSTS.cases) {
          configure({ keys: keys(c.ring ?? HOSTS.ring), cookie })
          const header = c.cookie === null ? null : c.cookie.replace(/\{(\w+)\}/g, (_, name) => HOSTS.values[name])
          const res = await send('GET', '/opened', { cookie: header })
          assert.equal(res.status, 200, c.name)
          assert.deepEqual(res.body, { opened: c.expect.session }, c.name)
          const set = res.setCookies.filter((x) => x.name === HOSTS.cookie_name)
          const { set_cookie: want } = c.expect
          if (want === null) assert.deepEqual(set, [], c.name)
          else if (want === 'clear') assert.deepEqual(set.map((x) => [x.value, x.maxAge]), [['', 0]], c.name)
          else {
            assert.equal(set.length, 1, c.name)
            assert.equal(set[0].value.split('.')[1], want.split(':')[1], c.name)
            const opened = new Sealer({ keys: keys(['k1', 'k2']), cookieName: HOSTS.cookie_name }).open(set[0].value).session
            const was = new Sealer({ keys: keys(['k1', 'k2']), cookieName: HOSTS.cookie_name }).open(header.split('=')[1]).session
            assert.deepEqual(opened, was, `${c.name}: the same session, expiry included`)
          }
          if (c.expect.violation !== null) n++
          const events = await eventsAfter(n)
          assert.equal(events.length, n, c.name)
          if (c.expect.violation !== null) assert.equal(events[n - 1].type, c.expect.violation, c.name)
        }
      })
    })

    test('configuration errors are CONFIG_INVALID at construction, naming the option', () => {
      const { make } = FRAMEWORKS[framework]
      const cases = [
        [{ keys: [] }, 'keys'],
        [{}, 'keys'],
        [{ keys: [{ id: 'A', key: Buffer.alloc(16) }] }, 'keys'],
        [{ keys: [{ id: 'A', key: Buffer.alloc(31) }] }, 'keys'],
        [{ keys: ['a secret string of 32 bytes....'] }, 'keys'],
        [{ keys: [{ id: 'A', key: 'x'.repeat(32) }] }, 'keys'],
        [{ keys: [...ring('A'), ...ring('A')] }, 'keys'],
        [{ keys: ring('A'), secret: 'x'.repeat(32) }, 'secret'],
        [{ keys: ring('A'), name: 'session' }, 'name'],
        [{ keys: ring('A'), cookie: { secure: false } }, 'name'],
        [{ keys: ring('A'), cookie: { name: 'a b' } }, 'name'],
        [{ keys: ring('A'), cookie: { maxAgeMs: 5 } }, 'cookie.maxAgeMs'],
        [{ keys: ring('A'), cookie: 'sid' }, 'cookie'],
        [{ keys: ring('A'), maxAgeMs: 0 }, 'maxAgeMs'],
        [{ keys: ring('A'), maxAgeMs: 1.5 }, 'maxAgeMs'],
        [{ keys: ring('A'), rolling: true }, 'rolling'],
        [{ keys: ring('A'), rolling: 'yes', maxAgeMs: 5 }, 'rolling'],
        [{ keys: ring('A'), maxCookieBytes: 0 }, 'maxCookieBytes'],
        [{ keys: ring('A'), onViolation: 'log' }, 'onViolation'],
        [{ keys: ring('A'), logger: 1 }, 'logger'],
        [{ keys: ring('A'), store: {} }, 'store'],
        ...(framework === 'express' ? [[{ keys: ring('A'), userIdFrom: 'passport' }, 'userIdFrom']] : [[{ keys: ring('A'), userIdFrom: () => 1 }, 'userIdFrom']]),
      ]
      for (const [options, option] of cases) {
        assert.throws(
          () => make(options),
          (e) => {
            assert.ok(e instanceof SessionError, `${JSON.stringify(option)}: ${e}`)
            assert.equal(e.code, 'CONFIG_INVALID', e.message)
            assert.equal(e.details.option, option, e.message)
            return true
          },
        )
      }
      // The key bytes are never shown in a message.
      try {
        make({ keys: [{ id: 'A', key: Buffer.alloc(31, 0xab) }] })
      } catch (e) {
        assert.ok(!/ab, ?ab|abab|q6ur/i.test(e.message + JSON.stringify(e.details)), e.message)
      }
    })
  })
}

describe('express: the shape of cookie-session', () => {
  test('req.session: isNew, isChanged, isPopulated; = null clears; = {...} replaces; sessionOptions.maxAge', async () => {
    const app = express()
    const seen = []
    app.use(cookieSession({ keys: ring('A'), maxAgeMs: HOUR }))
    app.post('/touch', (req, res) => {
      const s = req.session
      seen.push({ isNew: s.isNew, isPopulated: s.isPopulated, isChanged: s.isChanged })
      s.n = (s.n ?? 0) + 1
      seen.push({ isChanged: s.isChanged, json: JSON.stringify(s), keys: Object.keys(s) })
      res.json({ n: s.n })
    })
    app.post('/null', (req, res) => {
      req.session = null
      res.json({ session: req.session })
    })
    app.post('/replace', (req, res) => {
      req.session = { fresh: true }
      res.json({ isNew: req.session.isNew, isPopulated: req.session.isPopulated })
    })
    app.post('/max-age', (req, res) => {
      assert.equal(req.sessionOptions.maxAge, HOUR)
      req.sessionOptions.maxAge = 5000
      assert.throws(() => {
        req.sessionOptions.domain = 'x'
      }, TypeError)
      res.json({ ok: true })
    })
    app.post('/bad-max-age', (req, res) => {
      assert.throws(() => {
        req.sessionOptions.maxAge = -1
      }, /SESSION_INVALID/)
      res.json({ ok: true })
    })
    app.post('/save', (req, res, next) => {
      req.session.when = new Date()
      req.session.save((err) => {
        delete req.session.when
        res.json({ error: err ? err.code : null })
      })
    })
    app.post('/destroy', (req, res) => req.session.destroy(() => res.json({ ok: true })))
    app.post('/headers', (req, res) => {
      req.session.h = 1
      res.writeHead(200, { 'Set-Cookie': 'other=1; Path=/', 'Content-Type': 'application/json' })
      res.end('{}')
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    const base = `http://127.0.0.1:${server.address().port}`
    let cookie = ''
    const post = async (url) => {
      const res = await fetch(base + url, { method: 'POST', headers: cookie ? { cookie } : {} })
      const set = res.headers.getSetCookie()
      const ours = set.find((c) => c.startsWith(`${NAME}=`))
      if (ours) cookie = ours.split(';')[0]
      return { body: await res.json(), set, ours: ours ?? null }
    }
    try {
      await post('/touch')
      await post('/touch')
      assert.deepEqual(seen, [
        { isNew: true, isPopulated: false, isChanged: false },
        { isChanged: true, json: '{"n":1}', keys: ['n'] },
        { isNew: false, isPopulated: true, isChanged: false },
        { isChanged: true, json: '{"n":2}', keys: ['n'] },
      ])
      const maxAge = await post('/max-age')
      assert.match(maxAge.ours, /Max-Age=5;/, 'a new lifetime re-seals, no data changed')
      assert.ok(Math.abs(peek(cookie.split('=')[1]).expiresAt.getTime() - (Date.now() + 5000)) < 2000)
      await post('/bad-max-age')
      assert.deepEqual((await post('/save')).body, { error: 'SESSION_NOT_SERIALIZABLE' })
      const headers = await post('/headers')
      assert.equal(headers.set.length, 2, 'a Set-Cookie given to writeHead is kept, ours joins it')
      assert.ok(headers.set.includes('other=1; Path=/'))
      assert.deepEqual(peek(cookie.split('=')[1]).data, { n: 2, h: 1 })
      const replaced = await post('/replace')
      assert.deepEqual(replaced.body, { isNew: true, isPopulated: true })
      assert.deepEqual(peek(cookie.split('=')[1]).data, { fresh: true })
      const cleared = await post('/null')
      assert.deepEqual(cleared.body, { session: null })
      assert.match(cleared.ours, new RegExp(`^${NAME}=; Path=/; Max-Age=0;`))
      cookie = ''
      await post('/touch')
      assert.match((await post('/destroy')).ours, new RegExp(`^${NAME}=; Path=/; Max-Age=0;`))
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })

  test('passport\'s login and logout (regenerate, save, destroy) and a numeric user', async () => {
    const app = express()
    app.use(cookieSession({ keys: ring('A'), maxAgeMs: HOUR }))
    // What passport 0.6+ does in req.login / req.logout, with keepSessionInfo unset.
    app.post('/login', (req, res, next) => {
      req.session.regenerate((err) => {
        if (err) return next(err)
        req.session.passport = { user: 7 }
        req.session.save((err2) => (err2 ? next(err2) : res.json({ ok: true })))
      })
    })
    app.post('/logout', (req, res, next) => {
      delete req.session.passport.user
      req.session.save((err) => {
        if (err) return next(err)
        req.session.regenerate((err2) => (err2 ? next(err2) : res.json({ ok: true })))
      })
    })
    app.post('/visit', (req, res) => {
      req.session.visits = (req.session.visits ?? 0) + 1
      res.json({ visits: req.session.visits })
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    const base = `http://127.0.0.1:${server.address().port}`
    const post = async (url, cookie) => {
      const res = await fetch(base + url, { method: 'POST', headers: cookie ? { cookie } : {} })
      return res.headers.getSetCookie().find((c) => c.startsWith(`${NAME}=`))?.split(';')[0] ?? null
    }
    try {
      const anonymous = await post('/visit')
      const login = await post('/login', anonymous)
      const sealed = peek(login.split('=')[1])
      assert.equal(sealed.userId, '7', 'a safe integer user is sealed as its decimal')
      assert.deepEqual(sealed.data, { passport: { user: 7 } })
      // A later save keeps the sealed user even where userIdFrom finds none (as the store keeps it).
      const visit = await post('/visit', login)
      assert.equal(peek(visit.split('=')[1]).userId, '7')
      const logout = await post('/logout', visit)
      assert.equal(logout, `${NAME}=`, 'regenerated and empty: the cookie is cleared')
    } finally {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})

describe('fetch: targets and sessions', () => {
  const sessions = () => new CookieSessions({ keys: ring('A'), maxAgeMs: HOUR })

  test('load and commit take what FetchSessions takes: Request, Headers, a cookie store; an immutable Response is copied', async () => {
    const s = sessions()
    const session = await s.load(new Headers())
    session.data.n = 1
    const headers = await s.commit(session, new Headers())
    const value = headers.getSetCookie()[0].split(';')[0].split('=')[1]
    // A cookie store (Next's cookies()) reads the value and takes the cookie as an object.
    const jar = new Map([[NAME, value]])
    const store = {
      get: (name) => (jar.has(name) ? { name, value: jar.get(name) } : undefined),
      getAll: (name) => (jar.has(name) ? [{ name, value: jar.get(name) }] : []),
      set: (c) => jar.set(c.name, c.value) && undefined,
    }
    const loaded = await s.load(store)
    assert.deepEqual(loaded.data, { n: 1 })
    assert.equal(loaded.isNew, false)
    assert.equal(loaded.expiresAt.getTime(), peek(value).expiresAt.getTime())
    await s.login(loaded, 'alice')
    await s.commit(loaded, store)
    assert.equal(peek(jar.get(NAME)).userId, 'alice')
    const redirect = await s.commit(await s.logout(loaded), Response.redirect('https://example.test/', 303))
    assert.equal(redirect.status, 303)
    assert.match(redirect.headers.get('set-cookie') ?? '', /Max-Age=0/)
    await assert.rejects(s.load({ headers: {} }), TypeError)
    await assert.rejects(s.commit(await s.load(new Headers()), {}), TypeError)
    await assert.rejects(s.commit({ data: {} }, new Headers()), (e) => e.code === 'SESSION_INVALID')
  })

  test('login with a bad user id throws and changes nothing; setExpiry checks its argument', async () => {
    const s = sessions()
    const session = await s.load(new Request('https://example.test/'))
    session.data.n = 1
    for (const bad of ['', 1.5, {}, null]) {
      await assert.rejects(s.login(session, bad), (e) => e instanceof SessionError && e.code === 'SESSION_INVALID', String(bad))
    }
    assert.equal(session.userId, null)
    assert.equal(session.isNew, true)
    assert.deepEqual(session.data, { n: 1 })
    assert.throws(() => session.setExpiry(-1), (e) => e.code === 'SESSION_INVALID')
    await s.login(session, 42)
    assert.equal(session.userId, '42')
    const res = await s.commit(session, new Response(null))
    assert.deepEqual(peek(res.headers.get('set-cookie').split(';')[0].split('=')[1]).data, { n: 1 })
  })
})

describe('next: nextSessions({sealed})', () => {
  /** Next's cookie store, as far as sessions use it; `readOnly`: a Server Component's. */
  function cookieStore(initial = {}, { readOnly = false } = {}) {
    const jar = new Map(Object.entries(initial))
    return {
      jar,
      get: (name) => (jar.has(name) ? { name, value: jar.get(name) } : undefined),
      getAll: (name) => (jar.has(name) ? [{ name, value: jar.get(name) }] : []),
      set(c) {
        if (readOnly) throw new Error('Cookies can only be modified in a Server Action or Route Handler')
        if (c.value === '' || c.maxAge === 0) jar.delete(c.name)
        else jar.set(c.name, c.value)
      },
    }
  }

  test('the sealed engine takes the store\'s place: get, save, login, logout through the cookie store', async () => {
    const events = []
    const sessions = nextSessions({ sealed: { keys: ring('A'), onViolation: (e) => events.push(e.type) }, maxAgeMs: HOUR })
    const jar = cookieStore()
    const session = await sessions.get(jar)
    assert.equal(session.isNew, true)
    session.data.visits = 1
    await sessions.save(session)
    assert.deepEqual(peek(jar.jar.get(NAME)).data, { visits: 1 })
    const before = jar.jar.get(NAME)
    const again = await sessions.get(jar)
    await sessions.login(again, 'alice')
    assert.notEqual(jar.jar.get(NAME), before)
    assert.equal(peek(jar.jar.get(NAME)).userId, 'alice')
    assert.deepEqual(peek(jar.jar.get(NAME)).data, { visits: 1 })
    // A Server Component's cookies are read-only: login throws before anything, the cookie stays.
    const readOnly = cookieStore(Object.fromEntries(jar.jar), { readOnly: true })
    const there = await sessions.get(readOnly)
    assert.equal(there.userId, 'alice')
    await assert.rejects(sessions.login(there, 'bob'), TypeError)
    await assert.rejects(sessions.logout(there), TypeError)
    assert.equal(peek(readOnly.jar.get(NAME)).userId, 'alice')
    // A login that fails leaves the client's cookie as it was (what was held is that cookie).
    const held = jar.jar.get(NAME)
    await assert.rejects(sessions.login(await sessions.get(jar), ''), (e) => e.code === 'SESSION_INVALID')
    assert.equal(jar.jar.get(NAME), held)
    await sessions.logout(await sessions.get(jar))
    assert.equal(jar.jar.has(NAME), false)
    // A bad cookie: no session, and saving clears it.
    const bad = cookieStore({ [NAME]: 'v1.A.garbage' })
    assert.equal((await sessions.get(bad)).isNew, true)
    await sessions.save(await sessions.get(bad))
    assert.equal(bad.jar.has(NAME), false)
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual(events, ['cookie_malformed', 'cookie_malformed'])
    await assert.rejects(sessions.store(), (e) => e.code === 'CONFIG_INVALID' && e.details.option === 'store')
  })

  test('options: sealed or store, not both; no secret; the shared options stay at the top', () => {
    const cases = [
      [{ sealed: { keys: ring('A') }, store: {} }, 'sealed'],
      [{ sealed: 'keys' }, 'sealed'],
      [{ sealed: { keys: ring('A'), cookie: {} } }, 'sealed.cookie'],
      [{ sealed: { keys: ring('A'), maxAgeMs: 5 } }, 'sealed.maxAgeMs'],
      [{ sealed: { keys: ring('A') }, secret: 'x'.repeat(32) }, 'secret'],
      [{ sealed: { keys: [] } }, 'keys'],
      [{ sealed: { keys: ring('A') }, rolling: true }, 'rolling'],
      [{ sealed: { keys: ring('A') }, cookie: { secure: false } }, 'cookie.secure'],
    ]
    for (const [options, option] of cases) {
      assert.throws(() => nextSessions(options), (e) => e.code === 'CONFIG_INVALID' && e.details.option === option, option)
    }
  })
})

describe('exports and declarations', () => {
  test('CommonJS and ESM export the adapters from omnisession/fetch and omnisession/express', () => {
    const fetchCjs = require('omnisession/fetch')
    const expressCjs = require('omnisession/express')
    for (const name of ['CookieSessions', 'CookieSession', 'FetchSessions', 'FetchSession']) {
      assert.equal(typeof fetchCjs[name], 'function', name)
      assert.equal(esmFetch[name], fetchCjs[name], name)
    }
    for (const name of ['cookieSession', 'OmnisessionStore', 'genid', 'defaultUserIdFrom']) {
      assert.equal(typeof expressCjs[name], 'function', name)
      assert.equal(esmExpress[name], expressCjs[name], name)
    }
  })

  test('tsc: the declarations type a realistic use and refuse the usual mistakes', () => {
    const dir = path.join(ROOT, 'target', 'sealed-types')
    mkdirSync(dir, { recursive: true })
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: 'node16', moduleResolution: 'node16', target: 'es2022', lib: ['es2022', 'dom'], types: [], skipLibCheck: false },
        files: ['check.ts'],
      }),
    )
    writeFileSync(
      path.join(dir, 'check.ts'),
      `import { Sealer, type SealedRequestOpened, type ViolationEvent, type ViolationType } from 'omnisession'
import { CookieSessions, type CookieSession } from 'omnisession/fetch'
import { cookieSession, type CookieSessionData } from 'omnisession/express'
import { nextSessions, type NextSessions } from 'omnisession/next'

const key = new Uint8Array(32)
const events: ViolationType[] = []
export const sealer = new Sealer({ keys: [{ id: 'a', key }], cookieName: 'sid', onViolation: (e: ViolationEvent) => { events.push(e.type) } })
const opened: SealedRequestOpened = sealer.open(['v1.a.x', 'v1.a.y'])
if (opened.session === null) { const why: 'malformed' | 'tampered' | 'expired' | 'oversized' | 'duplicated' | null = opened.reason; void why }
const one = sealer.open('v1.a.x')
if (one.session !== null) { const stale: true | undefined = one.stale; void stale }
const kind: ViolationType = 'cookie_duplicated'

export async function handler(request: Request): Promise<Response> {
  const sessions = new CookieSessions({ keys: [{ id: 'a', key }], cookie: { name: 'sid' }, maxAgeMs: 60_000, rolling: true, maxCookieBytes: 4096 })
  const session: CookieSession = await sessions.load(request)
  session.data.n = 1
  session.setExpiry(1000)
  const expires: Date | null = session.expiresAt
  await sessions.login(session, 'u1')
  await sessions.logout(session)
  void [expires, kind]
  // @ts-expect-error sealed sessions take keys, not a secret
  new CookieSessions({ secret: 'x' })
  return sessions.commit(session, new Response(null))
}

export const next: NextSessions<CookieSession> = nextSessions({ sealed: { keys: [{ id: 'a', key }] }, maxAgeMs: 60_000 })
export const server: NextSessions = nextSessions({ store: { allowAnonymous: true } })
export const middleware = cookieSession({ keys: [{ id: 'a', key }], userIdFrom: (s) => s.uid })
export function route(req: { session: CookieSessionData }): boolean {
  req.session.regenerate(() => {})
  return req.session.isNew && req.session.isChanged && req.session.isPopulated
}
`,
    )
    const tsc = require.resolve('typescript/bin/tsc')
    const run = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8' })
    assert.equal(run.status, 0, run.stdout + run.stderr)
  })
})
