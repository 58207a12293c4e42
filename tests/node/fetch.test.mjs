// omnisession/fetch: a Fetch API handler (as in a Next.js route handler or Hono) called with
// real Request objects on a manual clock: cookies, signing with key rotation, one-call login,
// lifetimes, rolling, option checks. The request-cycle scenarios shared with the other adapters
// (over real HTTP) are in adapters.test.mjs.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ManualClock, Store } from 'omnisession'
import { FetchSessions } from 'omnisession/fetch'

const KEY_A = 'key-a-0123456789abcdef'
const KEY_B = 'key-b-0123456789abcdef'
let store
let clock

before(async () => {
  clock = new ManualClock(Date.UTC(2030, 0, 1))
  store = await Store.open({ allowAnonymous: true, clock })
})

after(async () => {
  await store.close()
})

/** The app: a route handler over Request/Response. */
function handler(sessions) {
  return async (request) => {
    const url = new URL(request.url)
    const session = await sessions.load(request)
    if (url.pathname === '/add') {
      session.data.items = [...(session.data.items ?? []), url.searchParams.get('item')]
      return sessions.commit(session, Response.json({ items: session.data.items }))
    }
    if (url.pathname === '/login') {
      session.data.seen = true
      await sessions.login(session, url.searchParams.get('user'))
      return sessions.commit(session, Response.redirect('https://example.test/home', 303))
    }
    if (url.pathname === '/logout') {
      await sessions.logout(session)
      return sessions.commit(session, new Response(null, { status: 204 }))
    }
    if (url.pathname === '/expiry') {
      session.setExpiry(Number(url.searchParams.get('ms')))
      return sessions.commit(session, Response.json({}))
    }
    if (url.pathname === '/bad') {
      session.data.when = new Date()
      return sessions.commit(session, Response.json({}))
    }
    return sessions.commit(session, Response.json({ id: session.id, userId: session.userId, data: session.data }))
  }
}

function browser(app) {
  let cookie = null
  return {
    get cookie() {
      return cookie
    },
    set cookie(v) {
      cookie = v
    },
    get id() {
      return cookie.split('=')[1].split('.')[0]
    },
    async send(path) {
      const request = new Request(`https://example.test${path}`, { headers: cookie ? { cookie } : {} })
      const response = await app(request)
      const set = response.headers.get('set-cookie')
      if (set) {
        const pair = set.split(';')[0]
        cookie = pair.endsWith('=') ? null : pair
      }
      return { response, set }
    },
  }
}

/** The store's operations a FetchSessions calls, in order. */
function recording(target) {
  const calls = []
  const proxy = new Proxy(target, {
    get(t, name) {
      const value = t[name]
      if (typeof value !== 'function') return value
      return (...args) => {
        calls.push(name)
        return value.apply(t, args)
      }
    },
  })
  return { proxy, calls }
}

test('a new session gets a __Host- cookie with Secure, HttpOnly and SameSite=Lax; no cookie when empty', async () => {
  const b = browser(handler(new FetchSessions({ store })))
  const empty = await b.send('/')
  assert.equal(empty.set, null, 'an empty session sets no cookie')
  const { response, set } = await b.send('/add?item=apple')
  assert.deepEqual(await response.json(), { items: ['apple'] })
  assert.match(set, /^__Host-omnisession=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax$/)
  const next = await b.send('/add?item=pear')
  assert.equal(next.set, null, 'an existing session is saved without re-sending the cookie')
  assert.deepEqual((await store.get(b.id)).data, { items: ['apple', 'pear'] })
})

test('signed cookies: old keys still verify after rotation; a forged, unsigned or oversized cookie is no session, and cleared', async () => {
  const b = browser(handler(new FetchSessions({ store, secret: KEY_A })))
  await b.send('/add?item=one')
  const [id, signature] = b.cookie.split('=')[1].split('.')
  assert.ok(signature, 'the cookie is signed')
  const rotated = browser(handler(new FetchSessions({ store, secret: [KEY_B, KEY_A] })))
  rotated.cookie = b.cookie
  assert.equal((await (await rotated.send('/')).response.json()).id, id, 'a cookie signed with the old key is still read')
  for (const value of [`${id}.${'A'.repeat(signature.length)}`, id, 'x'.repeat(5000)]) {
    const other = browser(handler(new FetchSessions({ store, secret: KEY_A })))
    other.cookie = `__Host-omnisession=${value}`
    const { response, set } = await other.send('/')
    assert.equal((await response.json()).id, null)
    assert.match(set, /^__Host-omnisession=; Path=\/; Max-Age=0;/)
  }
})

test('login is one core call: a new id, the user, the data and this request\'s change; immutable redirects get the cookie', async () => {
  const { proxy, calls } = recording(store)
  const b = browser(handler(new FetchSessions({ store: proxy })))
  await b.send('/add?item=book')
  const before = b.id
  calls.length = 0
  const { response, set } = await b.send('/login?user=u42')
  assert.deepEqual(calls, ['get', 'login'], 'no write after the login')
  assert.equal(response.status, 303)
  assert.match(set, /^__Host-omnisession=/)
  assert.notEqual(b.id, before)
  assert.equal(await store.get(before), null)
  const s = await store.get(b.id)
  assert.equal(s.userId, 'u42')
  assert.deepEqual(s.data, { items: ['book'], seen: true })
  assert.deepEqual((await store.listByUserId('u42')).map((x) => x.id), [b.id])
})

test('logout deletes the session and clears the cookie; a parallel commit does not bring it back', async () => {
  const sessions = new FetchSessions({ store })
  const b = browser(handler(sessions))
  await b.send('/add?item=x')
  const id = b.id
  const slow = await sessions.load(new Request('https://example.test/', { headers: { cookie: b.cookie } }))
  const { set } = await b.send('/logout')
  assert.match(set, /^__Host-omnisession=; Path=\/; Max-Age=0;/)
  slow.data.items.push('late')
  const late = await sessions.commit(slow, Response.json({}))
  assert.match(late.headers.get('set-cookie'), /Max-Age=0/)
  assert.equal(slow.destroyed, true)
  assert.equal(await store.get(id), null)
})

test('maxAgeMs is the server lifetime and the Max-Age (rounded up, never 0); setExpiry changes both', async () => {
  const b = browser(handler(new FetchSessions({ store, maxAgeMs: 500 })))
  const { set } = await b.send('/add?item=a')
  assert.match(set, /; Max-Age=1; Expires=/)
  assert.equal((await store.get(b.id)).expiresAt.getTime(), clock.now() + 500)
  const longer = await b.send('/expiry?ms=7200000')
  assert.match(longer.set, /; Max-Age=7200; /)
  assert.equal((await store.get(b.id)).expiresAt.getTime(), clock.now() + 7_200_000)
  assert.equal((await b.send('/')).set, null, 'the new lifetime was sent once')
  const s = await new FetchSessions({ store }).load(new Headers())
  assert.throws(() => s.setExpiry(-1), (e) => e.code === 'SESSION_INVALID')
})

test('rolling: a read slides the server expiry once half the window has passed; the cookie is re-sent every time', async () => {
  const rollingStore = await Store.open({ allowAnonymous: true, clock })
  const { proxy, calls } = recording(rollingStore)
  const b = browser(handler(new FetchSessions({ store: proxy, rolling: true, maxAgeMs: 100_000 })))
  await b.send('/add?item=r')
  const created = await rollingStore.get(b.id)
  clock.advance(40_000)
  calls.length = 0
  const early = await b.send('/')
  assert.deepEqual(calls, ['getSliding'], 'no write on commit')
  assert.match(early.set, /Max-Age=100;/)
  assert.equal((await rollingStore.get(b.id)).expiresAt.getTime(), created.expiresAt.getTime(), 'less than half the window: no write')
  clock.advance(20_000)
  await b.send('/')
  const slid = await rollingStore.get(b.id)
  assert.equal(slid.expiresAt.getTime(), clock.now() + 100_000)
  assert.equal(slid.version, created.version, 'the slide does not rewrite the data')
  clock.advance(90_000) // 150 s after the create: alive only thanks to the slide
  assert.equal((await (await b.send('/')).response.json()).id, b.id)
  const plain = browser(handler(new FetchSessions({ store: rollingStore })))
  plain.cookie = b.cookie
  clock.advance(100_001)
  assert.equal((await (await plain.send('/')).response.json()).id, null, 'expired without a sliding read')
  await rollingStore.close()
})

test('a value with no JSON form is SESSION_NOT_SERIALIZABLE; every option is checked (CONFIG_INVALID naming it)', async () => {
  const b = browser(handler(new FetchSessions({ store })))
  await b.send('/add?item=x')
  await assert.rejects(b.send('/bad'), (e) => e.code === 'SESSION_NOT_SERIALIZABLE' && e.details.path === '/when')
  const invalid = [
    [{}, 'store'],
    [{ store, secret: 'short' }, 'secret'],
    [{ store, cookie: { secure: false } }, 'name'],
    [{ store, cookie: { domain: 'example.test' } }, 'name'],
    [{ store, cookie: { sameSite: 'sometimes' } }, 'sameSite'],
    [{ store, cookie: { secret: KEY_A } }, 'cookie.secret'],
    [{ store, cookie: 'sid' }, 'cookie'],
    [{ store, maxAgeMs: 0 }, 'maxAgeMs'],
    [{ store, maxAgeMs: 1.5 }, 'maxAgeMs'],
    [{ store, rolling: 'yes', maxAgeMs: 1000 }, 'rolling'],
    [{ store, rolling: true }, 'rolling'],
    [{ store, cookieName: 'sid' }, 'cookieName'],
  ]
  for (const [options, option] of invalid) {
    assert.throws(() => new FetchSessions(options), (e) => e.code === 'CONFIG_INVALID' && e.details.option === option, option)
  }
  const plainName = new FetchSessions({ store, cookie: { name: 'sid', secure: false, sameSite: 'Strict' } })
  const { set } = await browser(handler(plainName)).send('/add?item=y')
  assert.match(set, /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/)
})
