// omnisession/express driven over real HTTP: an Express app with express-session and a
// passport-style login, requests sent with plain fetch against app.listen(0).
import assert from 'node:assert/strict'
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
      cookie: { maxAge: 60_000 },
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
  app.post('/date', (req, res) => {
    req.session.when = new Date()
    res.json({ ok: true })
  })
  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })))
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
    get cookie() {
      return cookie
    },
    async request(method, url) {
      const res = await fetch(base + url, { method, headers: cookie ? { cookie } : {} })
      const set = res.headers.get('set-cookie')
      if (set) cookie = set.split(';')[0]
      return { status: res.status, body: await res.json() }
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

test('an unmodified session is touched, not rewritten', async () => {
  const c = client()
  await c.request('POST', '/login?user=bob')
  const before = await store.get(c.sid())
  await sleep(5)
  await c.request('GET', '/whoami')
  const after = await store.get(c.sid())
  assert.equal(after.version, before.version)
  assert.ok(after.lastAccessedAt > before.lastAccessedAt)
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

test('a session destroyed by logout is not re-created by a slow parallel request', async () => {
  const c = client()
  await c.request('POST', '/login?user=dave')
  const sid = c.sid()
  const slow = c.request('POST', '/set?key=late&value=x&delay=200')
  await sleep(50)
  const logout = await c.request('POST', '/logout')
  assert.equal(logout.status, 200)
  const late = await slow
  assert.equal(late.status, 200, 'the slow request completes; its change is dropped')
  await sleep(50)
  assert.equal(await store.get(sid), null)
  assert.deepEqual(await store.listByUserId('dave'), [])
  await assert.rejects(store.create({ userId: 'dave', id: sid }), (e) => e.code === 'SESSION_CONFLICT')
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

test('the express-session store interface: length, all, touch, destroy, clear', async () => {
  const s = new OmnisessionStore({ store })
  const call = (method, ...args) => new Promise((resolve, reject) => s[method](...args, (err, value) => (err ? reject(err) : resolve(value))))
  await call('clear')
  const sid = genid()
  await call('set', sid, { cookie: { originalMaxAge: 1000, expires: new Date(Date.now() + 1000), httpOnly: true, path: '/' }, userId: 'frank', n: 1 })
  assert.equal(await call('length'), 1)
  const all = await call('all')
  assert.deepEqual(Object.keys(all), [sid])
  assert.equal(all[sid].n, 1)
  const loaded = await call('get', sid)
  assert.equal(loaded.n, 1)
  assert.equal(typeof loaded.cookie.expires, 'string')
  await call('touch', sid, loaded)
  await call('destroy', sid)
  assert.equal(await call('get', sid), null)
  await call('touch', sid, loaded) // gone: nothing to keep alive, not an error
  assert.equal(await call('length'), 0)
  assert.throws(() => new OmnisessionStore({}), (e) => e.code === 'CONFIG_INVALID')
})
