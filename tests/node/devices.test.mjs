// Device details on sessions: the adapters record the User-Agent of the request that creates or
// signs in a session, and its address only when the app opted in (personal data). Express over
// a real server (app.listen), FetchSessions with real Request objects, as their suites do;
// listByUserId is where an "active devices" page reads them.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import express from 'express'
import session from 'express-session'
import { Store } from 'omnisession'
import { OmnisessionStore, genid } from 'omnisession/express'
import { FetchSessions } from 'omnisession/fetch'

const stores = []
const servers = []

after(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
  for (const store of stores) await store.close()
})

async function openStore() {
  const store = await Store.open({ allowAnonymous: true })
  stores.push(store)
  return store
}

/** An express-session app with a passport-style login; `options` go to OmnisessionStore. */
async function serve(store, options = {}) {
  const app = express()
  app.use(session({ store: new OmnisessionStore({ store, ...options }), genid, secret: 'devices-test-secret-0123', resave: false, saveUninitialized: false }))
  app.post('/cart', (req, res) => {
    req.session.cart = ['tea']
    res.json({ id: req.sessionID })
  })
  app.post('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.passport = { user: req.query.user }
      req.session.save((e) => (e ? next(e) : res.json({ id: req.sessionID })))
    })
  })
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  await new Promise((r) => server.once('listening', r))
  return `http://127.0.0.1:${server.address().port}`
}

async function post(url, userAgent, cookie) {
  const res = await fetch(url, { method: 'POST', headers: { 'user-agent': userAgent, ...(cookie ? { cookie } : {}) } })
  return { id: (await res.json()).id, cookie: res.headers.get('set-cookie')?.split(';')[0] ?? cookie }
}

test('express: a login records the User-Agent; no address unless recordIpAddress', async () => {
  const store = await openStore()
  const base = await serve(store)
  const anonymous = await post(`${base}/cart`, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0')
  const created = await store.get(anonymous.id)
  assert.equal(created.userAgent, 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0') // a session it creates too
  const login = await post(`${base}/login?user=alice`, 'Mozilla/5.0 (iPhone) Safari/604.1', anonymous.cookie)
  const [mine] = await store.listByUserId('alice')
  assert.equal(mine.id, login.id)
  assert.equal(mine.userAgent, 'Mozilla/5.0 (iPhone) Safari/604.1')
  assert.equal(mine.ipAddress, '')
  assert.equal(created.ipAddress, '')
})

test('express: recordIpAddress records req.ip (Express\'s trust proxy rules decide what it is)', async () => {
  const store = await openStore()
  const base = await serve(store, { recordIpAddress: true })
  await post(`${base}/login?user=bob`, 'agent/1')
  const [mine] = await store.listByUserId('bob')
  assert.equal(mine.userAgent, 'agent/1')
  assert.equal(mine.ipAddress, '127.0.0.1')
  assert.throws(() => new OmnisessionStore({ store, recordIpAddress: 'yes' }), { code: 'CONFIG_INVALID' })
})

test('fetch: load records the device for the create and the login; login(session, user, headers) too', async () => {
  const store = await openStore()
  const plain = new FetchSessions({ store, secret: 'devices-test-secret-0123' })
  const request = new Request('https://example.test/', { headers: { 'user-agent': 'agent/2', 'x-real-ip': '203.0.113.5' } })
  let s = await plain.load(request)
  s.data.cart = ['tea']
  await plain.commit(s, new Response())
  assert.equal((await store.get(s.id)).userAgent, 'agent/2')
  await plain.login(s, 'carol')
  let [mine] = await store.listByUserId('carol')
  assert.deepEqual([mine.id, mine.userAgent, mine.ipAddress], [s.id, 'agent/2', ''])

  // A Fetch Request carries no client address: the app says where its proxy puts it.
  const opted = new FetchSessions({ store, secret: 'devices-test-secret-0123', recordIpAddress: (r) => (r.headers ?? r).get('x-real-ip') })
  s = await opted.load(new Request('https://example.test/')) // e.g. Next's cookies(): no headers
  await opted.login(s, 'dave', new Headers({ 'user-agent': 'agent/3', 'x-real-ip': '203.0.113.6' }))
  ;[mine] = await store.listByUserId('dave')
  assert.deepEqual([mine.userAgent, mine.ipAddress], ['agent/3', '203.0.113.6'])
  assert.throws(() => new FetchSessions({ store, recordIpAddress: true }), { code: 'CONFIG_INVALID' })

  // A long header is kept to its first 512 characters by the core (MAX_USER_AGENT_CHARS).
  s = await plain.load(new Request('https://example.test/'))
  await plain.login(s, 'erin', new Headers({ 'user-agent': `${'é'.repeat(500)}${'x'.repeat(100)}` }))
  ;[mine] = await store.listByUserId('erin')
  assert.equal(mine.userAgent, `${'é'.repeat(500)}${'x'.repeat(12)}`)
})
