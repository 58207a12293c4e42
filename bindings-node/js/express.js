'use strict'

// express-session's Store contract over omnisession, each method a core call. A save of the
// session this request loaded is a per-key `patch` (parallel requests keep their own keys); any
// other save is an `upsert`. The cookie's expiry is the server's: every write sends it, `get`
// reads it back. A session ended meanwhile (logout) stays ended: its write is dropped.
// Login is express-session's `regenerate` (the old id deleted for good) and then the user
// (`passport.user`), which the save attaches: express-session has no public way to put a
// session made by a one-call login on the request (`req.sessionID` is read-only).
// Device details: a session this adapter creates (the save after `regenerate`, i.e. every
// login, or a first save) records the request's User-Agent, and its address (`req.ip`, which
// follows Express's `trust proxy`) only with `recordIpAddress: true`: an address is personal data.

const session = require('express-session')
const { SessionError, generateSessionId } = require('./index.js')
const { diff, isPlainObject } = require('./diff.js')
const { defaultUserIdFrom } = require('./express-user.js')

/** What a request loaded: the session object handed to express-session → {id, data} as stored. */
const LOADED = new WeakMap()

/** Codes that mean "the session is gone": the write is dropped, nothing is re-created. */

/** express-session's `genid`: omnisession ids (32 random bytes, base64url). */
const genid = () => generateSessionId()

/** The data of an express-session session: its own keys, the cookie in its JSON form. */
function dataOf(sess) {
  const data = { ...sess }
  if (sess.cookie !== undefined) data.cookie = JSON.parse(JSON.stringify(sess.cookie))
  return data
}

/**
 * The cookie's expiry as a write's lifetime: `expires` (a Date, or an ISO string once stored),
 * else a `maxAge`; a browser-session cookie (or an invalid date) leaves the store's default ttl.
 */
function lifetimeOf(cookie) {
  const expires = cookie ? cookie.expires : null
  const at = expires instanceof Date || typeof expires === 'string' ? new Date(expires) : null
  if (at !== null && Number.isFinite(at.getTime())) return { expiresAt: at }
  const maxAge = cookie ? cookie.maxAge : null
  return Number.isFinite(maxAge) ? { ttlMs: Math.max(0, Math.ceil(maxAge)) } : {}
}

/**
 * Whether two cookies (as stored) have the same settings: every attribute but the expiry, and
 * the window (`originalMaxAge`), which express-session recomputes from the clock (a few ms off).
 */
function sameSettings(stored, cookie) {
  const { expires: _a, originalMaxAge: x = null, ...was } = isPlainObject(stored) ? stored : {}
  const { expires: _b, originalMaxAge: y = null, ...is } = JSON.parse(JSON.stringify(cookie))
  const sameWindow = x === y || (x !== null && y !== null && Math.abs(x - y) <= 1000)
  // The store keeps keys sorted (Go's encoding/json order): compare in one order.
  return sameWindow && JSON.stringify(was, Object.keys(was).sort()) === JSON.stringify(is, Object.keys(is).sort())
}

/** A stored session as express-session reads it, remembered as loaded; its cookie's expiry is the record's. */
function sessionOf(s) {
  const sess = structuredClone(s.data)
  // touch, a sliding read or another service may have moved the expiry since the cookie was saved.
  if (isPlainObject(sess.cookie) && sess.cookie.expires != null && s.expiresAt !== null) {
    sess.cookie.expires = s.expiresAt.toISOString()
  }
  LOADED.set(sess, { id: s.id, data: structuredClone(s.data) })
  return sess
}

/** A write whose session ended meanwhile (logout, expiry) is dropped: logout wins. */
function unlessGone(err) {
  if (!(err && err.gone === true)) throw err
}

/** Calls an express-session callback outside the promise chain (a throwing callback is not a rejection). */
function settle(promise, cb) {
  const done = typeof cb === 'function' ? cb : () => {}
  promise.then(
    (value) => process.nextTick(done, null, value),
    (err) => process.nextTick(done, err),
  )
}

class OmnisessionStore extends session.Store {
  #store
  #userIdFrom
  #recordIpAddress

  /**
   * @param {{store: import('./index').Store, userIdFrom?: (sess: object) => unknown, recordIpAddress?: boolean}} options
   * The store should be opened with `allowAnonymous: true` unless every session has a user.
   */
  constructor(options) {
    super()
    const { store, userIdFrom = defaultUserIdFrom, recordIpAddress = false } = options || {}
    if (!store || typeof store.upsert !== 'function') {
      throw new SessionError('CONFIG_INVALID', 'CONFIG_INVALID: OmnisessionStore needs {store} (from Store.open)', { option: 'store' })
    }
    if (typeof userIdFrom !== 'function') {
      throw new SessionError('CONFIG_INVALID', 'CONFIG_INVALID: userIdFrom must be a function', { option: 'userIdFrom' })
    }
    if (typeof recordIpAddress !== 'boolean') {
      throw new SessionError('CONFIG_INVALID', 'CONFIG_INVALID: recordIpAddress must be a boolean', { option: 'recordIpAddress' })
    }
    this.#store = store
    this.#userIdFrom = userIdFrom
    this.#recordIpAddress = recordIpAddress
  }

  // express-session's Session keeps its request as a non-enumerable `req` (not stored, not in
  // dataOf's copy): the device of the request that creates the session.
  #deviceOf(sess) {
    const req = sess && sess.req
    if (!req || !req.headers) return {}
    const agent = req.headers['user-agent']
    const device = typeof agent === 'string' && agent !== '' ? { userAgent: agent } : {}
    if (this.#recordIpAddress && typeof req.ip === 'string' && req.ip !== '') device.ipAddress = req.ip
    return device
  }

  // A plain get: express-session itself slides the expiry (it calls `touch` with the cookie's
  // new expiry after every request that did not save), so a sliding read would slide it twice.
  get(sid, cb) {
    settle(this.#store.get(sid).then((s) => (s ? sessionOf(s) : null)), cb)
  }

  // express-session copies what `get` returned into a Session object: what was loaded follows.
  createSession(req, sess) {
    if (!isPlainObject(sess.cookie)) sess.cookie = this.#appCookie(req)
    const created = super.createSession(req, sess)
    if (LOADED.has(sess)) LOADED.set(created, LOADED.get(sess))
    return created
  }

  // A record another service wrote (Python, Go) has no express cookie. It gets the one this app
  // gives a new session: `generate`, which session() installs on its store (Store#regenerate
  // calls it), run on a stand-in for the request so the request keeps its own id and session.
  #appCookie(req) {
    if (typeof this.generate !== 'function') return {} // outside session(): express-session's defaults
    const probe = Object.create(req)
    this.generate(probe)
    return probe.session.cookie.toJSON()
  }

  set(sid, sess, cb) {
    settle(this.#save(sid, sess), cb)
  }

  // A cookie setting changed without a data change (`req.session.cookie.maxAge = …`) is saved
  // with the new expiry, so later requests slide by the new window; otherwise a touch.
  touch(sid, sess, cb) {
    const loaded = LOADED.get(sess)
    const changed = loaded !== undefined && loaded.id === sid && !sameSettings(loaded.data.cookie, sess.cookie)
    const write = changed
      ? this.#save(sid, sess)
      : this.#store.touch(sid, lifetimeOf(sess.cookie)).then(() => undefined, unlessGone)
    settle(write, cb)
  }

  destroy(sid, cb) {
    settle(this.#store.delete(sid), cb)
  }

  length(cb) {
    settle(this.#store.count(), cb)
  }

  clear(cb) {
    settle(this.#store.clear().then(() => undefined), cb)
  }

  all(cb) {
    settle(this.#all(), cb)
  }

  // As MemoryStore#all: an object keyed by id (no prototype), each session as `get` gives it.
  async #all() {
    const out = Object.create(null)
    let cursor = null
    do {
      const page = await this.#store.list(cursor === null ? {} : { cursor })
      for (const s of page.sessions) out[s.id] = sessionOf(s)
      cursor = page.cursor
    } while (cursor !== null)
    return out
  }

  async #save(sid, sess) {
    const data = dataOf(sess)
    const owner = this.#userIdFrom(sess)
    const write = { ...(owner === undefined || owner === null ? {} : { userId: owner }), ...lifetimeOf(sess.cookie) }
    const loaded = LOADED.get(sess)
    try {
      if (loaded && loaded.id === sid) await this.#store.patch(sid, { ...diff(loaded.data, data), ...write })
      else await this.#store.upsert({ id: sid, data, ...write, ...this.#deviceOf(sess) })
    } catch (err) {
      return unlessGone(err)
    }
    // A second save in the same request diffs against what this request wrote (not against the
    // stored data, which may hold other requests' changes this request must not undo).
    LOADED.set(sess, { id: sid, data: structuredClone(data) })
  }
}

module.exports = { OmnisessionStore, genid, defaultUserIdFrom }

// Sealed cookie sessions, in the shape of cookie-session (express-sealed.js).
module.exports.cookieSession = require('./express-sealed.js').cookieSession
