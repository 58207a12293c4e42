'use strict'

// Sessions over the Fetch API (`Request`/`Response`/`Headers`): Next.js route handlers on the
// Node runtime, Hono, and anything else that hands you a `Request` and takes a `Response`.
// Each step is one core call: `load` a get (a sliding one when rolling), `commit` a per-key
// patch (a create for a new session), `login` the core's login, `logout` a delete. The cookie
// is cookie.js's: `__Host-` with Secure, HttpOnly and SameSite=Lax by default, HMAC-signed with
// rotating keys when there is a secret. `maxAgeMs` is the server's lifetime of a session, and
// the cookie's Max-Age.

const { SessionError } = require('./errors.js')
const { SessionCookie } = require('./cookie.js')
const { diff } = require('./diff.js')

const OPTIONS = new Set(['store', 'secret', 'cookie', 'maxAgeMs', 'rolling'])
const GONE = new Set(['SESSION_NOT_FOUND', 'SESSION_EXPIRED'])

/**
 * What only this module sees of a session: `snapshot` (the data as stored), `lifetimeMs` (ms
 * from a write, undefined: the store's default), whether a new lifetime awaits its write, whether
 * a cookie must go out, and whether the client holds one of ours.
 */
const STATE = new WeakMap()

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

function stateOf(session) {
  const state = STATE.get(session)
  if (!state) throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: not a session from FetchSessions#load', { argument: 'session' })
  return state
}

function lifetime(ms) {
  return ms === undefined ? {} : { ttlMs: ms }
}

/** Points a session at a stored record (loaded, created or signed in). */
function adopt(session, record) {
  session.id = record.id
  session.userId = record.userId
  session.data = structuredClone(record.data)
  stateOf(session).snapshot = structuredClone(record.data)
}

/** One request's session: mutate `data`, then `commit` it. */
class FetchSession {
  /** @internal */
  constructor(record, hasCookie, lifetimeMs) {
    this.id = null
    this.userId = null
    this.data = {}
    this.destroyed = false
    STATE.set(this, { snapshot: {}, lifetimeMs, newLifetime: false, sendCookie: false, hasCookie })
    if (record !== null) adopt(this, record)
  }

  /** Not stored yet: commit creates it once it holds data. */
  get isNew() {
    return this.id === null
  }

  /** This session's lifetime, `ms` from its next write (server expiry and cookie Max-Age; 0 = now). */
  setExpiry(ms) {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: setExpiry takes a non-negative integer (milliseconds)', { argument: 'ms' })
    }
    Object.assign(stateOf(this), { lifetimeMs: ms, newLifetime: true })
  }
}

class FetchSessions {
  #store
  #cookie
  #cookieName
  #maxAgeMs
  #rolling

  /**
   * @param {object} options
   * @param {import('./index').Store} options.store opened with `allowAnonymous: true` for
   *   sessions that exist before login
   * @param {string | Buffer | Array<string | Buffer>} [options.secret] HMAC keys: the first
   *   signs, every one verifies (key rotation). Without it the cookie holds the plain id.
   * @param {object} [options.cookie] SessionCookie's `{name, path, domain, secure, httpOnly, sameSite}`
   * @param {number} [options.maxAgeMs] the lifetime of a session (server-side) and the cookie's
   *   Max-Age; default: the store's defaultTtlMs and a browser-session cookie
   * @param {boolean} [options.rolling] every request renews the lifetime and re-sends the cookie
   */
  constructor(options) {
    const opts = options ?? {}
    for (const key of Object.keys(opts)) {
      if (!OPTIONS.has(key)) throw configError(key, `unknown FetchSessions option ${JSON.stringify(key)}`)
    }
    const { store, secret, cookie = {}, maxAgeMs, rolling = false } = opts
    if (!store || typeof store.login !== 'function') throw configError('store', 'FetchSessions needs {store} (from Store.open)')
    if (typeof cookie !== 'object' || cookie === null) throw configError('cookie', 'cookie must be an object of cookie options')
    for (const key of ['secret', 'maxAgeMs']) {
      if (Object.hasOwn(cookie, key)) throw configError(`cookie.${key}`, `${key} is an option of FetchSessions, not of its cookie`)
    }
    if (maxAgeMs !== undefined && !(Number.isSafeInteger(maxAgeMs) && maxAgeMs > 0)) {
      throw configError('maxAgeMs', 'maxAgeMs must be a positive integer (milliseconds)')
    }
    if (typeof rolling !== 'boolean') throw configError('rolling', 'rolling must be a boolean')
    if (rolling && maxAgeMs === undefined) throw configError('rolling', 'rolling needs maxAgeMs: the window each request renews')
    this.#store = store
    this.#cookie = new SessionCookie({ ...cookie, secret })
    // The name as the cookie module writes it (and defaults it), to tell "no cookie" from a bad one.
    this.#cookieName = this.#cookie.clear().split('=', 1)[0]
    this.#maxAgeMs = maxAgeMs
    this.#rolling = rolling
  }

  /**
   * Reads the session of a `Request` (or of its `Headers`); a new, empty one when there is none.
   * A bad cookie (tampered, oversized, duplicated, unknown or ended id) is no session, never an
   * error; commit clears it.
   */
  async load(request) {
    const headers = request && request.headers ? request.headers : request
    if (!headers || typeof headers.get !== 'function') {
      throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: load needs a Request or Headers', { argument: 'request' })
    }
    const header = headers.get('cookie')
    const id = this.#cookie.read(header)
    // Rolling: the read slides the expiry, once half the window has passed (one write per half
    // window, not one per request as a touch on every commit would be).
    const record = id === null ? null : await (this.#rolling ? this.#store.getSliding(id, this.#maxAgeMs) : this.#store.get(id))
    const hasCookie = header !== null && header.includes(`${this.#cookieName}=`)
    return new FetchSession(record, hasCookie, this.#maxAgeMs)
  }

  /**
   * Signs a user in, in one core call: a new id (session fixation defence), the old one ended;
   * this request's changes are kept, and the data carried over only from an anonymous session
   * or one of this same user.
   */
  async login(session, userId) {
    const state = stateOf(session)
    const { set, unset } = diff(state.snapshot, session.data)
    const from = session.destroyed ? null : session.id
    adopt(session, await this.#store.login({ from, userId, set, unset, ...lifetime(state.lifetimeMs) }))
    session.destroyed = false
    Object.assign(state, { newLifetime: false, sendCookie: true })
    return session
  }

  /** Logs out now: the session is deleted (and cannot be re-created by a parallel request). */
  async logout(session) {
    stateOf(session)
    if (session.id !== null) await this.#store.delete(session.id)
    session.destroyed = true
    return session
  }

  /**
   * Saves the session's changes and sets the cookie on `target` (a `Response` or `Headers`).
   * Resolves to the `Response` to return (a copy when the given one's headers are immutable).
   */
  async commit(session, target) {
    const state = stateOf(session)
    if (!session.destroyed) {
      try {
        await this.#write(session, state)
      } catch (err) {
        if (!GONE.has(err && err.code)) throw err
        session.destroyed = true // deleted (logout) or expired meanwhile: nothing is re-created
      }
    }
    const cookie = this.#cookieOf(session, state)
    return cookie === null ? target : withCookie(target, cookie)
  }

  async #write(session, state) {
    if (session.id === null) {
      if (Object.keys(session.data).length === 0) return
      adopt(session, await this.#store.create({ data: session.data, ...lifetime(state.lifetimeMs) }))
      state.sendCookie = true
    } else {
      const { set, unset } = diff(state.snapshot, session.data)
      if (Object.keys(set).length === 0 && unset.length === 0 && !state.newLifetime) return
      await this.#store.patch(session.id, { set, unset, ...(state.newLifetime ? lifetime(state.lifetimeMs) : {}) })
      state.snapshot = structuredClone(session.data)
      state.sendCookie ||= state.newLifetime
    }
    state.newLifetime = false
  }

  #cookieOf(session, state) {
    if (session.destroyed || session.id === null) {
      // No session: a cookie the client holds (forged, expired, logged out) goes.
      const clear = state.hasCookie
      state.hasCookie = false
      return clear ? this.#cookie.clear() : null
    }
    if (!state.sendCookie && !this.#rolling) return null
    Object.assign(state, { sendCookie: false, hasCookie: true })
    return this.#cookie.serialize(session.id, { maxAgeMs: state.lifetimeMs ?? null })
  }
}

function withCookie(target, cookie) {
  if (typeof Response !== 'undefined' && target instanceof Response) {
    try {
      target.headers.append('Set-Cookie', cookie)
      return target
    } catch {
      // Immutable headers (Response.redirect, a fetched response): answer with a copy.
      const copy = new Response(target.body, target)
      copy.headers.append('Set-Cookie', cookie)
      return copy
    }
  }
  if (target && typeof target.append === 'function') {
    target.append('Set-Cookie', cookie)
    return target
  }
  throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: commit needs a Response or Headers', { argument: 'target' })
}

module.exports = { FetchSessions, FetchSession }
