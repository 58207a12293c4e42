'use strict'

// Sealed cookie sessions for Express, in the shape of the `cookie-session` package: `req.session`
// is the session's data (`req.session = null` ends it; `isNew`, `isChanged`, `isPopulated`),
// `req.sessionOptions.maxAge` this request's lifetime. Login and logout are express-session's, as
// the server-side adapter has them (express.js): `req.session.regenerate(cb)` then the user
// (`userIdFrom`, default passport's `passport.user`), and `req.session.destroy(cb)`, so that
// passport's login and logout work unchanged. The request cycle is sealed.js's: the cookie is
// opened when the request comes in (a value that does not open is no session, the core raises
// its violation event and the response clears the cookie) and sealed when the response's
// headers go out, only when something changed (or `rolling`).

const { SessionError } = require('./errors.js')
const { SealedCookie, lifetimeArg } = require('./sealed.js')
const { diff } = require('./diff.js')
const { defaultUserIdFrom } = require('./express-user.js')

/** What only this module sees of a `req.session`: the request's context. */
const CONTEXTS = new WeakMap()

function contextOf(sess) {
  const ctx = CONTEXTS.get(sess)
  if (!ctx) throw new TypeError('not a req.session of cookieSession()')
  return ctx
}

/** `req.session`: the data as own properties; the members below are on the prototype, not data. */
class CookieSessionData {
  /** @internal */
  constructor(ctx, data) {
    Object.assign(this, data)
    CONTEXTS.set(this, ctx)
  }

  /** No session came with the request (or it was regenerated): nothing is sealed until it holds data. */
  get isNew() {
    return !contextOf(this).cycle.live
  }

  /** The data differs from what the client's cookie holds. */
  get isChanged() {
    const { set, unset } = diff(contextOf(this).cycle.snapshot, this)
    return Object.keys(set).length > 0 || unset.length > 0
  }

  /** The session holds data. */
  get isPopulated() {
    return Object.keys(this).length > 0
  }

  /** Login, express-session's way: a new, empty session (a fresh seal; the old value carries no login). */
  regenerate(callback) {
    const ctx = contextOf(this)
    ctx.cycle.reset()
    ctx.session = new CookieSessionData(ctx, {})
    later(callback)
    return ctx.session
  }

  /** Logout: as `req.session = null`, the cookie is cleared. */
  destroy(callback) {
    contextOf(this).session = null
    later(callback)
    return this
  }

  /** Seals now, to report an error early (the response seals again, with the request's last changes). */
  save(callback) {
    let err = null
    try {
      contextOf(this).check()
    } catch (e) {
      err = e
    }
    later(callback, err)
    return this
  }

  toJSON() {
    return { ...this }
  }
}

function later(callback, err = null) {
  if (typeof callback === 'function') process.nextTick(callback, err)
}

/**
 * Express middleware: sealed cookie sessions, in the shape of `cookie-session`.
 *
 * @param {object} options CookieSessions' options (`keys`, `cookie`, `maxAgeMs`, `rolling`,
 *   `maxCookieBytes`, `onViolation`, `logger`), and `userIdFrom(sess)` (default: passport's
 *   `sess.passport.user`, then `sess.userId`): the user sealed in
 */
function cookieSession(options) {
  const opts = options ?? {}
  const engine = new SealedCookie(opts, 'cookieSession', ['userIdFrom'])
  const { userIdFrom = defaultUserIdFrom } = opts
  if (typeof userIdFrom !== 'function') {
    throw new SessionError('CONFIG_INVALID', 'CONFIG_INVALID: userIdFrom must be a function', { option: 'userIdFrom' })
  }
  // The user sealed in: userIdFrom's, else the one sealed already (as the server-side adapter's
  // saves leave the stored user); only a regenerate (or a new session) starts without one.
  const owner = (sess, cycle) => {
    const id = userIdFrom(sess)
    if (id === undefined || id === null) return cycle.userId
    return typeof id === 'number' && Number.isSafeInteger(id) ? String(id) : id
  }

  return function cookieSessionMiddleware(req, res, next) {
    const cycle = engine.read(req.headers.cookie)
    const ctx = {
      cycle,
      session: null,
      /** The Set-Cookie this response owes the client, or null (throws what sealing throws). */
      cookie() {
        const sess = ctx.session
        return sess === null ? engine.cookieFor(cycle, {}, null, true) : engine.cookieFor(cycle, { ...sess }, owner(sess, cycle))
      },
      /** Whether the session can be sealed as it is now (req.session.save). */
      check() {
        const copy = Object.assign(Object.create(Object.getPrototypeOf(cycle)), cycle)
        const sess = ctx.session
        if (sess !== null) engine.cookieFor(copy, { ...sess }, owner(sess, copy))
      },
    }
    ctx.session = new CookieSessionData(ctx, cycle.snapshot)

    Object.defineProperty(req, 'session', {
      configurable: true,
      enumerable: true,
      get: () => ctx.session,
      set(value) {
        if (value === null || value === undefined) ctx.session = null
        else if (typeof value === 'object') {
          // A new session with that data, as cookie-session does (`req.session = {...}`).
          cycle.reset()
          ctx.session = new CookieSessionData(ctx, value)
        } else throw new TypeError('req.session can only be set to null or an object')
      },
    })

    let maxAge = cycle.lifetimeMs
    req.sessionOptions = Object.preventExtensions({
      /** This request's lifetime in ms (sealed expiry and cookie Max-Age); setting it re-seals the session. */
      get maxAge() {
        return maxAge
      },
      set maxAge(ms) {
        maxAge = lifetimeArg(ms, 'req.sessionOptions.maxAge')
        Object.assign(cycle, { lifetimeMs: maxAge, newLifetime: true })
      },
    })

    onHeaders(res, () => {
      // A session that cannot be sealed throws here, once: in a route handler Express passes it
      // to the app's error handler, whose response then goes out without a cookie.
      const cookie = ctx.cookie()
      if (cookie !== null) res.appendHeader('Set-Cookie', cookie)
    })
    next()
  }
}

/** Runs `listener` once, just before the response's headers are written (as `on-headers` does). */
function onHeaders(res, listener) {
  const writeHead = res.writeHead
  let fired = false
  res.writeHead = function writeHeadWithSession(statusCode, ...rest) {
    if (!fired) {
      fired = true
      // Headers given to writeHead are set first, so that the cookie joins a Set-Cookie among them.
      const last = rest[rest.length - 1]
      if (last !== null && typeof last === 'object' && !Array.isArray(last)) {
        rest.pop()
        for (const [name, value] of Object.entries(last)) this.setHeader(name, value)
      }
      listener()
    }
    return writeHead.call(this, statusCode, ...rest)
  }
}

module.exports = { cookieSession, CookieSessionData }
