// omnisession/fetch: a Fetch API handler (as in a Next.js route handler or Hono) called with
// real Request objects; cookies, signing with key rotation, rolling expiry, login rotation.
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
  store = await Store.open({ allowAnonymous: true, idleTimeoutMs: 60_000, clock })
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
      await sessions.login(session, url.searchParams.get('user'))
      return sessions.commit(session, Response.redirect('https://example.test/home', 303))
    }
    if (url.pathname === '/logout') {
      await sessions.logout(session)
      return sessions.commit(session, new Response(null, { status: 204 }))
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

test('a new session gets a __Host- cookie with Secure, HttpOnly and SameSite=Lax; no cookie when empty', async () => {
  const b = browser(handler(new FetchSessions({ store })))
  const empty = await b.send('/')
  assert.equal(empty.set, null, 'an empty session sets no cookie')
  const { response, set } = await b.send('/add?item=apple')
  assert.deepEqual(await response.json(), { items: ['apple'] })
  assert.match(set, /^__Host-omnisession=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax$/)
  await b.send('/add?item=pear')
  const id = b.cookie.split('=')[1]
  assert.deepEqual((await store.get(id)).data, { items: ['apple', 'pear'] })
})

test('signed cookies: tampering is refused, old keys still verify after rotation', async () => {
  const b = browser(handler(new FetchSessions({ store, secret: KEY_A })))
  await b.send('/add?item=one')
  const [id, signature] = b.cookie.split('=')[1].split('.')
  assert.ok(signature, 'the cookie is signed')
  const rotated = browser(handler(new FetchSessions({ store, secret: [KEY_B, KEY_A] })))
  rotated.cookie = b.cookie
  const seen = await (await rotated.send('/')).response.json()
  assert.equal(seen.id, id, 'a cookie signed with the old key is still read')
  const forged = browser(handler(new FetchSessions({ store, secret: KEY_A })))
  forged.cookie = `__Host-omnisession=${id}.${'A'.repeat(signature.length)}`
  assert.equal((await (await forged.send('/')).response.json()).id, null)
  const unsigned = browser(handler(new FetchSessions({ store, secret: KEY_A })))
  unsigned.cookie = `__Host-omnisession=${id}`
  assert.equal((await (await unsigned.send('/')).response.json()).id, null)
})

test('login rotates the id (fixation defence), attaches the user and keeps the data; immutable redirects get the cookie', async () => {
  const b = browser(handler(new FetchSessions({ store })))
  await b.send('/add?item=book')
  const before = b.cookie.split('=')[1]
  const { response } = await b.send('/login?user=u42')
  assert.equal(response.status, 303)
  const after = b.cookie.split('=')[1]
  assert.notEqual(after, before)
  assert.equal(await store.get(before), null)
  const s = await store.get(after)
  assert.equal(s.userId, 'u42')
  assert.deepEqual(s.data, { items: ['book'] })
  assert.deepEqual((await store.listByUserId('u42')).map((x) => x.id), [after])
})

test('logout deletes the session and clears the cookie; a parallel commit does not bring it back', async () => {
  const sessions = new FetchSessions({ store })
  const app = handler(sessions)
  const b = browser(app)
  await b.send('/add?item=x')
  const id = b.cookie.split('=')[1]
  const request = new Request('https://example.test/', { headers: { cookie: b.cookie } })
  const slow = await sessions.load(request)
  const { set } = await b.send('/logout')
  assert.match(set, /^__Host-omnisession=; Path=\/; Max-Age=0;/)
  slow.data.items.push('late')
  const late = await sessions.commit(slow, Response.json({}))
  assert.match(late.headers.get('set-cookie'), /Max-Age=0/)
  assert.equal(await store.get(id), null)
})

test('rolling: every commit touches the session and re-sends the cookie with Max-Age', async () => {
  const b = browser(handler(new FetchSessions({ store, rolling: true, maxAgeMs: 3_600_000 })))
  await b.send('/add?item=r')
  const id = b.cookie.split('=')[1]
  const first = await store.get(id)
  clock.advance(50_000)
  const { set } = await b.send('/')
  assert.match(set, /Max-Age=3600/)
  const touched = await store.get(id)
  assert.equal(touched.version, first.version, 'touch does not rewrite the data')
  assert.ok(touched.lastAccessedAt > first.lastAccessedAt)
  clock.advance(50_000) // 100 s after the last write, 50 s after the touch: alive only thanks to touch
  assert.notEqual(await store.get(id), null)
  const plain = browser(handler(new FetchSessions({ store })))
  plain.cookie = b.cookie
  clock.advance(61_000)
  assert.equal((await (await plain.send('/')).response.json()).id, null, 'idle expiry without a touch')
})

test('a value with no JSON form is SESSION_NOT_SERIALIZABLE; bad configuration is CONFIG_INVALID', async () => {
  const b = browser(handler(new FetchSessions({ store })))
  await b.send('/add?item=x')
  await assert.rejects(b.send('/bad'), (e) => e.code === 'SESSION_NOT_SERIALIZABLE' && e.details.path === '/when')
  assert.throws(() => new FetchSessions({ store, secret: 'short' }), (e) => e.code === 'CONFIG_INVALID')
  assert.throws(() => new FetchSessions({ store, cookie: { secure: false } }), (e) => e.code === 'CONFIG_INVALID')
  assert.throws(() => new FetchSessions({ store, cookie: { domain: 'example.test' } }), (e) => e.code === 'CONFIG_INVALID')
  assert.throws(() => new FetchSessions({}), (e) => e.code === 'CONFIG_INVALID')
  const plainName = new FetchSessions({ store, cookieName: 'sid', cookie: { secure: false, sameSite: 'Strict' } })
  const { set } = await browser(handler(plainName)).send('/add?item=y')
  assert.match(set, /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/)
})
