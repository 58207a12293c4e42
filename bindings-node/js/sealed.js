'use strict'

// Sealed cookie sessions over the Fetch API (`CookieSessions`), and the request cycle they
// share with the Express middleware (express-sealed.js). The whole session travels in the
// cookie, sealed by the core's Sealer (AES-256-GCM, the cookie name bound in, the expiry sealed
// in, the size limit on `name=value`); there is no store and no id. Each step is one core call:
// `load` one `open` of every value the request sent under the cookie's name (a value that does
// not open, or several, is no session: the core raises its violation event, and the response
// clears the cookie), `login` one `seal` (a fresh nonce: the value before login carries no
// login), `commit` one `seal` when something changed. The cookie's attributes are cookie.js's
// (`__Host-`, Secure, HttpOnly, SameSite=Lax by default); `maxAgeMs` is the sealed expiry.

const { SessionError } = require('./errors.js')
const { SessionCookie } = require('./cookie.js')
const { diff } = require('./diff.js')
const { cookieHeaderOf, sinkOf, HOLD } = require('./carriers.js')
const { cookieValues } = require('./cookie-rules.js')
const { Sealer } = require('./index.js')

/** The sealed expiry of a session when no lifetime is set: the store's defaultTtlMs (24 h). */
const DEFAULT_TTL_MS = 24 * 3600 * 1000
/** The options of both adapters; the Express one adds its own (express-sealed.js). */
const ENGINE_OPTIONS = ['keys', 'cookie', 'maxAgeMs', 'rolling', 'maxCookieBytes', 'onViolation', 'logger']

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

function lifetimeArg(ms, what) {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new SessionError('SESSION_INVALID', `SESSION_INVALID: ${what} takes a non-negative integer (milliseconds)`, { argument: 'ms' })
  }
  return ms
}

/**
 * One request's sealed session as the cycle sees it: what the client holds, and what the
 * response owes it. The adapters keep the data and the user; this keeps the rest.
 */
class Cycle {
  constructor(opened, hadCookie, lifetimeMs) {
    const s = opened.session
    /** The current session came from the request's cookie (false: new, regenerated, logged in). */
    this.live = s !== null
    /** The client holds a cookie of this name (any value): a response without a session clears it. */
    this.hadCookie = hadCookie
    /** The data and user as sealed in the client's cookie (new: none). */
    this.snapshot = s === null ? {} : structuredClone(s.data)
    this.userId = s === null ? null : s.userId
    this.createdAt = s === null ? null : s.createdAt
    this.expiresAt = s === null ? null : s.expiresAt
    /** Sealed with an older key than the first: re-sealed by the next response, expiry unchanged (rotation). */
    this.stale = opened.stale === true
    this.lifetimeMs = lifetimeMs
    this.newLifetime = false
    /** Sealed already in this request (login): the Set-Cookie commit sends unless the session changed again. */
    this.pending = null
    /** The value the client holds for the current session (null: none). */
    this.value = null
  }

  /** A new session from here on (login, regenerate, logout): nothing of the client's cookie is kept. */
  reset() {
    Object.assign(this, { live: false, stale: false, snapshot: {}, userId: null, createdAt: null, expiresAt: null, pending: null, value: null })
  }
}

/** The cookie and the Sealer of one adapter: options, reading a request, writing a response. */
class SealedCookie {
  #sealer
  #cookie
  #prefix
  #maxAgeMs
  #rolling

  /**
   * @param {object} options see CookieSessions; `extra` lists the adapter's own options
   * @param {string} what the adapter's name, for messages
   */
  constructor(options, what, extra = []) {
    const opts = options ?? {}
    if (typeof opts !== 'object') throw configError('options', `${what} needs {keys}`)
    for (const key of Object.keys(opts)) {
      if (!ENGINE_OPTIONS.includes(key) && !extra.includes(key)) {
        const hint = key === 'secret' ? ': sealed sessions take keys, [{id, key: 32 bytes}]' : ''
        throw configError(key, `unknown ${what} option ${JSON.stringify(key)}${hint}`)
      }
    }
    const { keys, cookie = {}, maxAgeMs, rolling = false, maxCookieBytes, onViolation, logger } = opts
    if (typeof cookie !== 'object' || cookie === null) throw configError('cookie', 'cookie must be an object of cookie options')
    for (const key of ['secret', 'maxAgeMs']) {
      if (Object.hasOwn(cookie, key)) throw configError(`cookie.${key}`, `${key} is an option of ${what}, not of its cookie`)
    }
    if (maxAgeMs !== undefined && !(Number.isSafeInteger(maxAgeMs) && maxAgeMs > 0)) {
      throw configError('maxAgeMs', 'maxAgeMs must be a positive integer (milliseconds)')
    }
    if (typeof rolling !== 'boolean') throw configError('rolling', 'rolling must be a boolean')
    if (rolling && maxAgeMs === undefined) throw configError('rolling', 'rolling needs maxAgeMs: the window each response renews')
    // cookie.js checks the attributes (and the __Host- / __Secure- rules) and writes Set-Cookie;
    // the core's Sealer checks the keys and binds every value to the cookie's name.
    this.#cookie = new SessionCookie(cookie)
    const name = this.#cookie.clear().split('=', 1)[0]
    this.#sealer = new Sealer({ keys, cookieName: name, maxCookieBytes, onViolation, logger })
    this.name = name
    this.#prefix = `${name}=${'A'.repeat(22)}` // a session id's shape, for cookie.js to write
    this.#maxAgeMs = maxAgeMs
    this.#rolling = rolling
  }

  /** The cycle of a request whose `Cookie` header is `header` (one core `open`). */
  read(header) {
    const values = cookieValues(header, this.name)
    const cycle = new Cycle(this.#sealer.open(values), values.length > 0, this.#maxAgeMs)
    if (cycle.live) cycle.value = values[0]
    return cycle
  }

  /**
   * The `Set-Cookie` a response owes the client for a session of `data` and `userId` (null:
   * nothing owed), sealing it (one core `seal`, which may throw SESSION_NOT_SERIALIZABLE,
   * SESSION_SIZE_EXCEEDED or SESSION_INVALID) when it changed, got a new lifetime, was logged
   * in or rolls. `ended`: logged out, the cookie goes.
   */
  cookieFor(cycle, data, userId, ended = false) {
    const populated = userId !== null || Object.keys(data).length > 0
    if (ended || (!cycle.live && !populated)) {
      // No session: a cookie the client holds (bad, expired, logged out, regenerated) goes.
      const clear = cycle.hadCookie
      cycle.hadCookie = false
      cycle.pending = null
      return clear ? this.#cookie.clear() : null
    }
    const { set, unset } = diff(cycle.snapshot, data)
    const changed = Object.keys(set).length > 0 || unset.length > 0 || userId !== cycle.userId || cycle.stale
    const renew = !cycle.live || cycle.newLifetime || (this.#rolling && cycle.pending === null)
    if (!changed && !renew) {
      const pending = cycle.pending
      cycle.pending = null
      return pending
    }
    const now = Date.now()
    const expiresAt = renew ? new Date(now + (cycle.lifetimeMs ?? DEFAULT_TTL_MS)) : cycle.expiresAt
    const createdAt = cycle.live ? cycle.createdAt : new Date(now)
    const value = this.#sealer.seal({ userId, data, createdAt, expiresAt })
    Object.assign(cycle, { live: true, hadCookie: true, stale: false, newLifetime: false, pending: null, snapshot: structuredClone(data), userId, createdAt, expiresAt })
    return this.#setCookie(cycle, value, now)
  }

  /** Seals now (login): the cookie is kept for commit. */
  sealNow(cycle, data, userId) {
    cycle.pending = this.cookieFor(cycle, data, userId)
  }

  /** The cookie to hold before a login or logout (next.js): the one the client has, or a clearing one. */
  holding(cycle) {
    return cycle.live && cycle.value !== null ? this.#setCookie(cycle, cycle.value, Date.now()) : this.#cookie.clear()
  }

  /**
   * The `Set-Cookie` of the cycle's session sealed as `value`: it lives as long as the seal
   * (Max-Age rounded up to a second); without a lifetime option it is a browser-session
   * cookie, the sealed expiry still bounding it.
   */
  #setCookie(cycle, value, now) {
    cycle.value = value
    const { lifetimeMs, expiresAt } = cycle
    const maxAgeMs = lifetimeMs === undefined ? null : expiresAt === null ? lifetimeMs : Math.max(0, expiresAt.getTime() - now)
    // cookie.js writes `name=<id>; attributes`: the sealed value takes the id's place.
    const line = this.#cookie.serialize(this.#prefix.slice(this.name.length + 1), { maxAgeMs, now })
    return `${this.name}=${value}${line.slice(this.#prefix.length)}`
  }
}

/** What only CookieSessions sees of a session: its Cycle. */
const CYCLES = new WeakMap()

function cycleOf(session) {
  const cycle = CYCLES.get(session)
  if (!cycle) throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: not a session from CookieSessions#load', { argument: 'session' })
  return cycle
}

/** One request's sealed session: mutate `data`, then `commit` it. */
class CookieSession {
  /** @internal */
  constructor(cycle) {
    this.userId = cycle.userId
    this.data = structuredClone(cycle.snapshot)
    this.destroyed = false
    CYCLES.set(this, cycle)
  }

  /** Not sealed yet: commit seals it once it holds data or a user. */
  get isNew() {
    return !cycleOf(this).live
  }

  /** When the session was first sealed (login starts a new one); null while new. */
  get createdAt() {
    return cycleOf(this).createdAt
  }

  /** The sealed expiry the client's cookie holds; null while new, or for a value sealed without one. */
  get expiresAt() {
    return cycleOf(this).expiresAt
  }

  /** This session's lifetime, `ms` from its next seal (sealed expiry and cookie Max-Age; 0 = now). */
  setExpiry(ms) {
    Object.assign(cycleOf(this), { lifetimeMs: lifetimeArg(ms, 'setExpiry'), newLifetime: true })
  }
}

/** The cookie a CookieSessions holds for a session before its login or logout (see HOLD below). */
let holding

class CookieSessions {
  #engine

  /**
   * @param {object} options
   * @param {Array<{id: string, key: Uint8Array}>} options.keys AES-256 keys (32 bytes each):
   *   the first seals, every one opens (rotation: put the new key first)
   * @param {object} [options.cookie] SessionCookie's `{name, path, domain, secure, httpOnly, sameSite}`
   * @param {number} [options.maxAgeMs] the lifetime sealed into a session and the cookie's
   *   Max-Age; default: 24 h sealed in and a browser-session cookie
   * @param {boolean} [options.rolling] every response re-seals with a renewed lifetime
   * @param {number} [options.maxCookieBytes] the limit on `name=value` (default 4096)
   * @param {(event: object) => void} [options.onViolation] the core's `cookie_*` events
   * @param {object} [options.logger]
   */
  constructor(options) {
    this.#engine = new SealedCookie(options, 'CookieSessions')
  }

  /**
   * Reads the session of a `Request`, its `Headers` (Next's `headers()` too) or a cookie store
   * (Next's `cookies()`); a new, empty one when there is none. A value that does not open
   * (malformed, tampered, expired, oversized, duplicated) is no session, never an error: the
   * core raises its violation event and commit clears the cookie.
   */
  async load(request) {
    return new CookieSession(this.#engine.read(cookieHeaderOf(request, this.#engine.name)))
  }

  /**
   * Signs a user in: a fresh seal (a new nonce; the value before login carries no login),
   * created now, with this request's changes; the data is carried over only from an anonymous
   * session or one of this same user (as the store's login).
   */
  async login(session, userId) {
    const cycle = cycleOf(session)
    if (userId === null || userId === undefined) {
      throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: login needs a user id', { argument: 'userId' })
    }
    const { set } = diff(cycle.snapshot, session.data)
    const user = typeof userId === 'number' && Number.isSafeInteger(userId) ? String(userId) : userId
    const keep = !session.destroyed && (session.userId === null || session.userId === user)
    const data = keep ? session.data : set
    const before = { ...cycle }
    try {
      cycle.reset()
      this.#engine.sealNow(cycle, data, user)
    } catch (err) {
      Object.assign(cycle, before) // a bad user id or data changes nothing
      throw err
    }
    Object.assign(session, { userId: cycle.userId, data: structuredClone(cycle.snapshot), destroyed: false })
    return session
  }

  /** Logs out: commit clears the cookie (a copy of the value kept elsewhere stays valid until its sealed expiry). */
  async logout(session) {
    cycleOf(session).reset()
    Object.assign(session, { userId: null, data: {}, destroyed: true })
    return session
  }

  /**
   * Seals the session when it changed (or rolls) and sets the cookie on `target`: a
   * `Response`, `Headers` or a cookie store (Next's `cookies()`). Resolves to the target (a
   * copy of a `Response` whose headers are immutable). A session that cannot be sealed
   * (SESSION_NOT_SERIALIZABLE, SESSION_SIZE_EXCEEDED) throws, and no cookie is set.
   */
  async commit(session, target) {
    const cycle = cycleOf(session)
    const sink = sinkOf(target)
    const cookie = this.#engine.cookieFor(cycle, session.data, session.userId, session.destroyed)
    return cookie === null ? target : sink.put(cookie)
  }

  static {
    holding = (sessions, session) => sessions.#engine.holding(cycleOf(session))
  }
}

module.exports = { CookieSessions, CookieSession, SealedCookie, lifetimeArg }

// next.js checks, before a login or logout, that its cookie store can take the cookie, through
// HOLD (carriers.js): CookieSessions answers it as FetchSessions does.
Object.defineProperty(CookieSessions.prototype, HOLD, {
  value(session, target) {
    sinkOf(target).hold(holding(this, session))
  },
})
