'use strict'

// Sessions over the Fetch API (Next.js on the Node runtime, Hono, anything that hands you a
// `Request` and takes a `Response`; carriers.js says which shapes). Each step is one core call:
// `load` a get (a sliding one when rolling), `commit` a per-key patch (a create for a new
// session), `login` the core's login, `logout` a delete. The cookie is cookie.js's (`__Host-`,
// Secure, HttpOnly, SameSite=Lax by default); `maxAgeMs` is the server's lifetime of a session.
// Device details: the User-Agent of the request `load` (or `login`) was given goes with the
// create and the login; an address only through `recordIpAddress(request)`, because the Fetch
// API carries none (the runtime or the proxy in front knows it) and it is personal data.

const { SessionError } = require('./errors.js')
const { SessionCookie } = require('./cookie.js')
const { diff } = require('./diff.js')
const { cookieHeaderOf, sinkOf, HOLD } = require('./carriers.js')
const { generateSessionId } = require('./index.js')
// Sealed cookie sessions: the same load/login/logout/commit, the session in the cookie.
const { CookieSessions, CookieSession } = require('./sealed.js')

const OPTIONS = new Set(['store', 'secret', 'cookie', 'maxAgeMs', 'rolling', 'recordIpAddress'])

/**
 * What only this module sees of a session: `snapshot` (the data as stored), `expiresAt` (as
 * stored), `lifetimeMs` (ms from a write, undefined: the store's default), whether a new
 * lifetime awaits its write, whether a cookie must go out, and whether the client holds one of ours.
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
  Object.assign(stateOf(session), { snapshot: structuredClone(record.data), expiresAt: record.expiresAt })
}

/** One request's session: mutate `data`, then `commit` it. */
class FetchSession {
  /** @internal */
  constructor(record, hasCookie, lifetimeMs, device = {}) {
    this.id = null
    this.userId = null
    this.data = {}
    this.destroyed = false
    STATE.set(this, { snapshot: {}, expiresAt: null, lifetimeMs, newLifetime: false, sendCookie: false, hasCookie, device })
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
  #recordIpAddress

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
   * @param {false | ((request: Request | Headers) => string | null | undefined)} [options.recordIpAddress]
   *   the client's address for a new or signed-in session (default: none is recorded)
   */
  constructor(options) {
    const opts = options ?? {}
    for (const key of Object.keys(opts)) {
      if (!OPTIONS.has(key)) throw configError(key, `unknown FetchSessions option ${JSON.stringify(key)}`)
    }
    const { store, secret, cookie = {}, maxAgeMs, rolling = false, recordIpAddress = false } = opts
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
    if (recordIpAddress !== false && typeof recordIpAddress !== 'function') {
      // Not `true`: a Request has no client address, so the app says where its runtime or proxy puts it.
      throw configError('recordIpAddress', 'recordIpAddress must be a function (request) => the client address, e.g. (r) => r.headers.get("x-real-ip") behind a proxy that sets it')
    }
    this.#store = store
    this.#cookie = new SessionCookie({ ...cookie, secret })
    // The name as the cookie module writes it (and defaults it), to tell "no cookie" from a bad one.
    this.#cookieName = this.#cookie.clear().split('=', 1)[0]
    this.#maxAgeMs = maxAgeMs
    this.#rolling = rolling
    this.#recordIpAddress = recordIpAddress
  }

  /** The device of a Request or Headers (a cookie store has none): its User-Agent, the opted-in address. */
  #deviceOf(source) {
    const isHeaders = (x) => x != null && typeof x.get === 'function' && typeof x.append === 'function'
    const headers = isHeaders(source) ? source : source != null && typeof source.url === 'string' && isHeaders(source.headers) ? source.headers : null
    if (headers === null) return {}
    const device = {}
    const agent = headers.get('user-agent')
    if (agent) device.userAgent = agent
    const address = this.#recordIpAddress ? this.#recordIpAddress(source) : null
    if (typeof address === 'string' && address !== '') device.ipAddress = address
    return device
  }

  /**
   * Reads the session of a `Request`, its `Headers` (Next's `headers()` too) or a cookie store
   * (Next's `cookies()`); a new, empty one when there is none. A bad cookie (tampered,
   * oversized, duplicated, unknown or ended id) is no session, never an error; commit clears it.
   */
  async load(request) {
    const header = cookieHeaderOf(request, this.#cookieName)
    const id = this.#cookie.read(header)
    // Rolling: the read slides the expiry, once half the window has passed (one write per half
    // window, not one per request as a touch on every commit would be).
    const record = id === null ? null : await (this.#rolling ? this.#store.getSliding(id, this.#maxAgeMs) : this.#store.get(id))
    const hasCookie = header !== null && header.includes(`${this.#cookieName}=`)
    return new FetchSession(record, hasCookie, this.#maxAgeMs, this.#deviceOf(request))
  }

  /**
   * Signs a user in, in one core call: a new id (session fixation defence), the old one ended;
   * this request's changes are kept, and the data carried over only from an anonymous session
   * or one of this same user. `request` (a Request or Headers) gives the device when `load` had
   * only a cookie store (Next's `cookies()`).
   */
  async login(session, userId, request) {
    const state = stateOf(session)
    const { set, unset } = diff(state.snapshot, session.data)
    const from = session.destroyed ? null : session.id
    const device = request === undefined ? state.device : this.#deviceOf(request)
    adopt(session, await this.#store.login({ from, userId, set, unset, ...device, ...lifetime(state.lifetimeMs) }))
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
   * Saves the session's changes and sets the cookie on `target`: a `Response`, `Headers` or a
   * cookie store (Next's `cookies()`). Resolves to the target (a copy of a `Response` whose
   * headers are immutable). A target that cannot take a cookie fails before anything is stored.
   */
  async commit(session, target) {
    const state = stateOf(session)
    const sink = sinkOf(target)
    if (!session.destroyed) {
      const write = this.#writeOf(session, state)
      if (write !== null) {
        sink.hold(this.#holding(session, state, write.id))
        try {
          await write.run()
        } catch (err) {
          if (!(err && err.gone === true)) throw err
          session.destroyed = true // deleted (logout) or expired meanwhile: nothing is re-created
        }
      }
    }
    const cookie = this.#cookieOf(session, state)
    return cookie === null ? target : sink.put(cookie)
  }

  /**
   * Sets on a cookie store the cookie its client keeps should the coming write be lost, which is
   * also how a read-only one (a Server Component's) fails before the store is touched.
   */
  [HOLD](session, target) {
    sinkOf(target).hold(this.#holding(session, stateOf(session), null))
  }

  /** The write this commit needs, or null; a new session gets its id now, for #holding. */
  #writeOf(session, state) {
    if (session.id === null) {
      if (Object.keys(session.data).length === 0) return null
      const id = generateSessionId()
      return {
        id,
        run: async () => {
          adopt(session, await this.#store.create({ id, data: session.data, ...state.device, ...lifetime(state.lifetimeMs) }))
          Object.assign(state, { sendCookie: true, newLifetime: false })
        },
      }
    }
    const { set, unset } = diff(state.snapshot, session.data)
    if (Object.keys(set).length === 0 && unset.length === 0 && !state.newLifetime) return null
    return {
      id: session.id,
      run: async () => {
        const record = await this.#store.patch(session.id, { set, unset, ...(state.newLifetime ? lifetime(state.lifetimeMs) : {}) })
        Object.assign(state, { snapshot: structuredClone(session.data), expiresAt: record.expiresAt })
        state.sendCookie ||= state.newLifetime
        state.newLifetime = false
      },
    }
  }

  /**
   * The cookie for a cookie store to hold before a write: the one of `id` (a new session's, or
   * the current one re-sent with the lifetime it has left), or a clearing one when there is none.
   */
  #holding(session, state, id) {
    if (id === null && (session.id === null || session.destroyed)) return this.#cookie.clear()
    if (session.id === null || state.lifetimeMs === undefined) {
      return this.#cookie.serialize(id ?? session.id, { maxAgeMs: state.lifetimeMs ?? null })
    }
    const left = state.expiresAt === null ? state.lifetimeMs : Math.max(0, state.expiresAt.getTime() - Date.now())
    return this.#cookie.serialize(session.id, { maxAgeMs: left })
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

module.exports = { FetchSessions, FetchSession, CookieSessions, CookieSession }
