'use strict'

// `omnisession/next`: sessions for the Next.js App Router on the Node runtime. One object per
// app (`nextSessions(options)`), and one call per request, `get(await cookies())`, in Server
// Components (read only), Server Actions and Route Handlers; `save`, `login` and `logout` set
// the cookie through that same cookie store. A thin layer over FetchSessions (fetch.js): what it
// adds is where the store lives and when it opens, and development mode.
//
// The store opens on the first request, not at import: `next build` evaluates route modules
// ("Collecting page data"), where a Redis server may not exist. It is kept on globalThis, one
// per process and per store options, because hot reload evaluates the app's modules again on
// every edit, and closed when the process is told to stop.

const { Store } = require('./index.js')
const { FetchSessions, CookieSessions } = require('./fetch.js')
const { HOLD } = require('./carriers.js')
const { SessionError } = require('./errors.js')
const { developmentMode, cookieDefaults } = require('./development.js')

const OPTIONS = new Set(['store', 'sealed', 'secret', 'cookie', 'maxAgeMs', 'rolling', 'development', 'recordIpAddress'])
const SHARED = Symbol.for('omnisession.next')
/** The cookie store each session was read from: where save, login and logout write. */
const JARS = new WeakMap()

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

function shared() {
  globalThis[SHARED] ??= { stores: new Map(), closeOnExit: false }
  return globalThis[SHARED]
}

/** The process's store for these options, opened on first use. */
function storeFor(options) {
  const state = shared()
  const key = JSON.stringify(options)
  let opening = state.stores.get(key)
  if (opening === undefined) {
    opening = Store.open(options)
    state.stores.set(key, opening)
    // A failed open (the Redis server not up yet) is tried again by the next request.
    opening.catch(() => state.stores.get(key) === opening && state.stores.delete(key))
    closeOnExit(state)
  }
  return opening
}

async function closeStores() {
  const { stores } = shared()
  const opened = [...stores.values()]
  stores.clear()
  await Promise.allSettled(opened.map(async (opening) => (await opening).close()))
}

function closeOnExit(state) {
  if (state.closeOnExit) return
  state.closeOnExit = true
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, async () => {
      await closeStores()
      // Alone on this signal, the listener has replaced Node's default exit: give it back.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

/** A Store whose every call waits for the shared one: FetchSessions is built (and its options checked) at import. */
function lazyStore(options) {
  const call = (method) => async (...args) => (await storeFor(options))[method](...args)
  return new Proxy({}, { get: (_, method) => (method === 'then' ? undefined : call(method)) })
}

function jarOf(session) {
  const jar = JARS.get(session)
  if (jar === undefined) throw new TypeError('not a session from NextSessions#get')
  return jar
}

class NextSessions {
  // Server-side sessions (FetchSessions), or with `sealed` the session sealed in the cookie
  // (CookieSessions, sealed.js): the same load/commit/login/logout.
  #engine
  #storeOptions

  /** @internal use nextSessions(options) */
  constructor(options) {
    const opts = options ?? {}
    for (const key of Object.keys(opts)) {
      if (!OPTIONS.has(key)) throw configError(key, `unknown nextSessions option ${JSON.stringify(key)}`)
    }
    const { store, sealed, cookie = {}, development, ...rest } = opts
    if (sealed !== undefined && store !== undefined) throw configError('sealed', 'sealed sessions have no store: give store or sealed, not both')
    if (sealed === undefined && (typeof store !== 'object' || store === null || typeof store.login === 'function')) {
      throw configError('store', 'store must be the options of Store.open, e.g. {backend: "sqlite", path: "sessions.db", allowAnonymous: true}: it is opened on first use')
    }
    if (typeof cookie !== 'object' || cookie === null) throw configError('cookie', 'cookie must be an object of cookie options')
    const dev = developmentMode(development)
    // Production never loses Secure: the way to a plain-http cookie is development mode.
    if (!dev && cookie.secure === false) {
      throw configError('cookie.secure', 'secure: false is for development only: development mode (NODE_ENV=development, or development: true outside production) sends the cookie over http')
    }
    this.#storeOptions = store
    if (sealed !== undefined) {
      if (typeof sealed !== 'object' || sealed === null) throw configError('sealed', 'sealed must be the options of CookieSessions: {keys, maxCookieBytes?, onViolation?}')
      for (const key of ['cookie', 'maxAgeMs', 'rolling']) {
        if (Object.hasOwn(sealed, key)) throw configError(`sealed.${key}`, `${key} is an option of nextSessions, not of sealed`)
      }
      this.#engine = new CookieSessions({ ...sealed, ...rest, cookie: { ...cookieDefaults(dev), ...cookie } })
      return
    }
    this.#engine = new FetchSessions({ ...rest, store: lazyStore(store), cookie: { ...cookieDefaults(dev), ...cookie } })
  }

  /**
   * This request's session, from Next's cookie store: `get(await cookies())`. A new, empty
   * session when the request has none; a bad cookie is no session, never an error.
   */
  async get(cookieStore) {
    if (!cookieStore || typeof cookieStore.then === 'function' || typeof cookieStore.getAll !== 'function' || typeof cookieStore.set !== 'function') {
      const what = cookieStore && typeof cookieStore.then === 'function' ? 'a Promise: await cookies()' : typeof cookieStore
      throw new TypeError(`NextSessions#get takes Next's cookie store, get(await cookies()); got ${what}`)
    }
    const session = await this.#engine.load(cookieStore)
    JARS.set(session, cookieStore)
    return session
  }

  /** Stores the session's changes and sets the cookie. Throws, storing nothing, where cookies are read-only (a Server Component). */
  async save(session) {
    await this.#engine.commit(session, jarOf(session))
    return session
  }

  /** Signs a user in (a new id, the old one ended) and sets the cookie; Server Actions and Route Handlers. */
  // `requestHeaders` (`await headers()`) gives the device: the cookie store has no User-Agent.
  async login(session, userId, requestHeaders) {
    const jar = jarOf(session)
    this.#engine[HOLD](session, jar) // a read-only cookie store fails here, before the login is stored
    await this.#engine.login(session, userId, requestHeaders)
    return this.save(session)
  }

  /** Deletes the session and clears the cookie; Server Actions and Route Handlers. */
  async logout(session) {
    const jar = jarOf(session)
    this.#engine[HOLD](session, jar)
    await this.#engine.logout(session)
    return this.save(session)
  }

  /** The process's store (opened if it is not yet), for what sessions do not cover: listByUserId, deleteByUserId. */
  store() {
    if (this.#storeOptions === undefined) return Promise.reject(configError('store', 'sealed sessions have no store'))
    return storeFor(this.#storeOptions)
  }
}

/** The sessions of a Next.js app; call it once, at the top of a module of yours (lib/session.js). */
function nextSessions(options) {
  return new NextSessions(options)
}

module.exports = { nextSessions, NextSessions, closeStores }
