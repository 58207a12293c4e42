// omnisession/express driven over real HTTP: an Express app with express-session and a
// passport-style login, requests sent with plain fetch against app.listen(0). The request-cycle
// scenarios shared with the other adapters (login, logout races, lifetimes, bad cookies) are in
// adapters.test.mjs; this file covers what is particular to express-session's Store contract.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { after, before, test } from 'node:test'
import express from 'express'
import session from 'express-session'
import { Store } from 'omnisession'
import { OmnisessionStore, genid } from 'omnisession/express'

const SECRET = 'express-test-secret-0123456789'
let store
let server
let base
const appErrors = []

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function buildApp() {
  const app = express()
  app.use(
    session({
      store: new OmnisessionStore({ store }),
      genid,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      // secure given: express-session writes it before httpOnly, the store's sorted JSON after.
      cookie: { maxAge: 60_000, sameSite: 'strict', secure: false },
    }),
  )
  // passport-style login: a new session id, then the user under sess.passport.user.
  app.post('/login', (req, res, next) => {
    const carried = req.session.cart
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.passport = { user: req.query.user }
      if (carried) req.session.cart = carried
      req.session.save((saveErr) => (saveErr ? next(saveErr) : res.json({ ok: true })))
    })
  })
  app.post('/anon', (req, res) => {
    req.session.cart = ['apple']
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => {
    const { cookie, ...data } = req.session
    res.json({ user: req.session.passport ? req.session.passport.user : null, data })
  })
  // Sets one key after an optional delay (the session was loaded before the delay).
  app.post('/set', async (req, res) => {
    await sleep(Number(req.query.delay || 0))
    req.session[req.query.key] = req.query.value
    res.json({ ok: true })
  })
  // A user set without a new id (no regenerate): the save attaches it to the anonymous session.
  app.post('/attach', (req, res) => {
    req.session.passport = { user: req.query.user }
    res.json({ ok: true })
  })
  // A cookie setting changed without a data change.
  app.post('/max-age', (req, res) => {
    req.session.cookie.maxAge = Number(req.query.ms)
    res.json({ ok: true })
  })
  app.get('/cookie', (req, res) => res.json({ cookie: req.session.cookie, n: req.session.n ?? null }))
  app.post('/date', (req, res) => {
    req.session.when = new Date()
    res.json({ ok: true })
  })
  app.use((err, req, res, next) => {
    appErrors.push(err)
    if (res.headersSent) return next(err)
    res.status(500).json({ code: err.code })
  })
  return app
}

before(async () => {
  store = await Store.open({ allowAnonymous: true })
  server = buildApp().listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  base = `http://127.0.0.1:${server.address().port}`
})

after(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  await store.close()
})

/** A client that keeps the session cookie, as a browser would. */
function client() {
  let cookie = null
  return {
    async request(method, url) {
      const res = await fetch(base + url, { method, headers: cookie ? { cookie } : {} })
      const set = res.headers.get('set-cookie')
      if (set) cookie = set.split(';')[0]
      return { status: res.status, set, body: await res.json() }
    },
    /** Presents a cookie for `sid`, signed as express-session signs it (cookie-signature). */
    use(sid) {
      const mac = createHmac('sha256', SECRET).update(sid).digest('base64').replace(/=+$/, '')
      cookie = `connect.sid=${encodeURIComponent(`s:${sid}.${mac}`)}`
    },
    sid() {
      // connect.sid=s:<sid>.<signature>
      const value = decodeURIComponent(cookie.split('=')[1])
      return value.slice(2, value.lastIndexOf('.'))
    },
  }
}

test('passport-style login: new omnisession id, the user attached and indexed, data carried over', async () => {
  const c = client()
  await c.request('POST', '/anon')
  const anonymous = c.sid()
  assert.match(anonymous, /^[A-Za-z0-9_-]{43}$/, 'genid issues omnisession ids')
  assert.equal((await store.get(anonymous)).userId, null)
  await c.request('POST', '/login?user=alice')
  const sid = c.sid()
  assert.notEqual(sid, anonymous, 'login regenerates the id')
  assert.equal(await store.get(anonymous), null, 'the anonymous session is gone')
  const s = await store.get(sid)
  assert.equal(s.userId, 'alice')
  assert.deepEqual(s.data.cart, ['apple'])
  assert.deepEqual((await store.listByUserId('alice')).map((x) => x.id), [sid])
  const who = await c.request('GET', '/whoami')
  assert.equal(who.body.user, 'alice')
})

test('a new cookie maxAge without a data change lasts: later requests slide by the new window', async () => {
  const c = client()
  await c.request('POST', '/login?user=erin')
  await c.request('POST', '/max-age?ms=300000')
  await c.request('GET', '/whoami') // unchanged: a touch, by the stored window
  const s = await store.get(c.sid())
  assert.ok(Math.abs(s.expiresAt - Date.now() - 300_000) < 2000, `expires in ${s.expiresAt - Date.now()} ms`)
  assert.equal(s.data.cookie.originalMaxAge, 300_000)
})

test('a request that changes nothing is a touch, never a write of its data', async () => {
  const c = client()
  await c.request('POST', '/login?user=frank')
  await c.request('POST', '/set?key=n&value=1')
  const before = await store.get(c.sid())
  await c.request('GET', '/whoami')
  await c.request('GET', '/whoami')
  assert.equal((await store.get(c.sid())).version, before.version)
})

test('an unmodified session is touched, not rewritten: its expiry moves to the cookie\'s', async () => {
  const c = client()
  await c.request('POST', '/login?user=bob')
  const before = await store.get(c.sid())
  await sleep(5)
  await c.request('GET', '/whoami')
  const after = await store.get(c.sid())
  assert.equal(after.version, before.version)
  assert.ok(after.lastAccessedAt > before.lastAccessedAt)
  assert.ok(after.expiresAt > before.expiresAt, 'the cookie\'s new expiry is the server\'s')
  assert.ok(Math.abs(after.expiresAt - Date.now() - 60_000) < 1000)
})

test('a user set without regenerate is attached to the anonymous session by the save', async () => {
  const c = client()
  await c.request('POST', '/anon')
  await c.request('POST', '/attach?user=gina')
  const s = await store.get(c.sid())
  assert.equal(s.userId, 'gina')
  assert.deepEqual(s.data.cart, ['apple'])
})

test('a record without an express cookie (another service wrote it) gets the app\'s own cookie', async () => {
  const written = await store.create({ data: { n: 1 } }) // as a Python or Go service writes it
  const c = client()
  c.use(written.id)
  const { body } = await c.request('GET', '/cookie')
  assert.equal(body.n, 1)
  assert.equal(body.cookie.sameSite, 'strict', "the app's cookie options, not invented ones")
  assert.equal(body.cookie.originalMaxAge, 60_000)
  const { set } = await c.request('POST', '/set?key=k&value=v')
  assert.match(set, /SameSite=Strict/)
  const s = await store.get(written.id)
  assert.deepEqual({ n: s.data.n, k: s.data.k, sameSite: s.data.cookie.sameSite }, { n: 1, k: 'v', sameSite: 'strict' })
})

test('two parallel requests that change different keys both keep their change', async () => {
  const c = client()
  await c.request('POST', '/login?user=carol')
  await Promise.all([c.request('POST', '/set?key=a&value=1&delay=150'), c.request('POST', '/set?key=b&value=2&delay=50')])
  const s = await store.get(c.sid())
  assert.equal(s.data.a, '1')
  assert.equal(s.data.b, '2')
  assert.equal(s.data.passport.user, 'carol')
})

test('a value with no JSON form is refused (SESSION_NOT_SERIALIZABLE reaches the app), never coerced', async () => {
  const c = client()
  await c.request('POST', '/login?user=erin')
  const before = appErrors.length
  await c.request('POST', '/date')
  await sleep(20)
  assert.equal(appErrors.length, before + 1)
  assert.equal(appErrors.at(-1).code, 'SESSION_NOT_SERIALIZABLE')
  assert.equal(appErrors.at(-1).details.path, '/when')
  assert.equal((await store.get(c.sid())).data.when, undefined)
})

test('the express-session store interface: get, set (an upsert), touch, destroy, length, all, clear', async () => {
  const s = new OmnisessionStore({ store })
  const call = (method, ...args) => new Promise((resolve, reject) => s[method](...args, (err, value) => (err ? reject(err) : resolve(value))))
  await call('clear')
  const sid = genid()
  const expires = new Date(Date.now() + 60_000)
  await call('set', sid, { cookie: { originalMaxAge: 60_000, expires, httpOnly: true, path: '/' }, userId: 'frank', n: 1 })
  const created = await store.get(sid)
  assert.equal(created.userId, 'frank', 'an unknown id is created, with its user')
  assert.equal(created.expiresAt.getTime(), expires.getTime(), "the cookie's expiry is the server's")
  await call('set', sid, { cookie: { originalMaxAge: null, expires: null, path: '/' }, n: 2 })
  const replaced = await store.get(sid)
  assert.deepEqual(replaced.data.n, 2, 'a known id is replaced')
  assert.equal(replaced.expiresAt.getTime(), expires.getTime(), 'a browser-session cookie keeps the expiry')
  assert.equal(await call('length'), 1)
  const all = await call('all')
  assert.equal(Object.getPrototypeOf(all), null, "MemoryStore#all's shape: an object keyed by id")
  assert.deepEqual(Object.keys(all), [sid])
  assert.equal(all[sid].n, 2)
  const later = new Date(Date.now() + 120_000)
  await call('touch', sid, { cookie: { originalMaxAge: 60_000, expires: later, path: '/' } })
  await call('set', sid, { cookie: { originalMaxAge: 60_000, expires: later.toISOString(), path: '/' }, n: 3 })
  const loaded = await call('get', sid)
  assert.equal(loaded.n, 3)
  assert.equal(loaded.cookie.expires, later.toISOString(), 'an ISO string works as well as a Date')
  await store.touch(sid, { ttlMs: 30_000 }) // moved by someone else: get gives the record's expiry
  assert.equal(new Date((await call('get', sid)).cookie.expires).getTime(), (await store.get(sid)).expiresAt.getTime())
  await call('destroy', sid)
  assert.equal(await call('get', sid), null)
  await call('touch', sid, loaded) // gone: nothing to keep alive, not an error
  await call('set', sid, loaded) // gone: the patch is dropped (logout wins)...
  await call('set', sid, { n: 4 }) // ...and so is an upsert: an ended id is never re-created
  assert.equal(await store.get(sid), null)
  assert.equal(await call('length'), 0)
  assert.throws(() => new OmnisessionStore({}), (e) => e.code === 'CONFIG_INVALID' && e.details.option === 'store')
  assert.throws(() => new OmnisessionStore({ store, userIdFrom: 'x' }), (e) => e.code === 'CONFIG_INVALID' && e.details.option === 'userIdFrom')
})
