'use strict'

// The public face of the native module: `Store` (every operation a Promise), `SessionError`,
// and the host-only glue the core cannot hold: a guard around the user's callbacks and the
// adapter that turns a JS object into a custom backend. Every session rule is in the core.

const native = require('./load-native.js').loadNative()
const { SessionError, CODES } = require('./errors.js')
const { decode, settled, useLayout } = require('./transfer.js')

native.registerHost(SessionError, decode, useLayout)

const TOKEN = Symbol('omnisession.Store')
const LOGGER_METHODS = ['warn', 'info', 'debug']
const REQUIRED_BACKEND_METHODS = ['get', 'set', 'delete']
const OPTIONAL_BACKEND_METHODS = ['listByUserId', 'list', 'cleanup']

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

function isObject(value) {
  return typeof value === 'object' && value !== null
}

// A logger that can never throw into the store: a failing logger is itself ignored.
function makeLog(logger) {
  const log = {}
  for (const level of LOGGER_METHODS) {
    const method = logger ? logger[level] : undefined
    log[level] = (message, fields) => {
      try {
        if (method) {
          method.call(logger, message, fields)
        } else if (level === 'warn') {
          console.warn(message, fields)
        }
      } catch {
        // A logger that throws has nowhere left to report to.
      }
    }
  }
  return log
}

function checkLogger(logger) {
  if (logger === undefined || logger === null) return null
  if (!isObject(logger)) throw configError('logger', 'logger must be an object with warn/info/debug methods')
  for (const level of LOGGER_METHODS) {
    if (logger[level] !== undefined && typeof logger[level] !== 'function') {
      throw configError('logger', `logger.${level} must be a function`)
    }
  }
  return logger
}

// onViolation runs on the JS thread, queued by the core; nothing it does reaches the store.
function violationHook(callback, logger) {
  const log = makeLog(logger)
  return function onViolation(event) {
    event.at = new Date(event.at)
    if (logger) log.warn(`omnisession: session policy violation (${event.type}): ${event.message}`, event)
    if (!callback) return
    try {
      const result = callback(event)
      if (result && typeof result.then === 'function') {
        Promise.resolve(result).catch((err) => log.warn('omnisession: the onViolation callback rejected; ignored', err))
      }
    } catch (err) {
      log.warn('omnisession: the onViolation callback threw; ignored', err)
    }
  }
}

function recordList(method, value) {
  if (!Array.isArray(value) || value.some((r) => typeof r !== 'string')) {
    throw new TypeError(`${method} must resolve to an array of the strings given to set`)
  }
  return value
}

// The custom backend protocol between this file and the core (bindings-node/src/custom.rs):
// `dispatch([op, args])` always returns a promise of plain JSON; a throw or a rejection of the
// user's method rejects it, which the core reports as BACKEND_ERROR.
function backendHook(backend) {
  for (const method of REQUIRED_BACKEND_METHODS) {
    if (typeof backend[method] !== 'function') {
      throw configError('backend', `a custom backend needs a ${method}() method`)
    }
  }
  const methods = OPTIONAL_BACKEND_METHODS.filter((m) => typeof backend[m] === 'function')
  async function dispatch([op, args]) {
    switch (op) {
      case 'get': {
        const record = await backend.get(args[0])
        if (record === null || record === undefined) return null
        if (typeof record !== 'string') throw new TypeError('get must resolve to the string given to set, or null')
        return record
      }
      case 'set': {
        const [id, record, userId, siteId, expiresAtMs] = args
        const expiresAt = expiresAtMs === null ? null : new Date(expiresAtMs)
        await backend.set(id, record, { userId, siteId, expiresAt })
        return null
      }
      case 'delete':
        await backend.delete(args[0])
        return null
      case 'listByUserId':
        return recordList('listByUserId', await backend.listByUserId(args[0], args[1]))
      case 'list': {
        const page = await backend.list(args[0], args[1])
        if (!isObject(page)) throw new TypeError('list must resolve to {records, cursor}')
        const cursor = page.cursor === undefined ? null : page.cursor
        if (cursor !== null && typeof cursor !== 'string') throw new TypeError('list: cursor must be a string or null')
        return { records: recordList('list', page.records), cursor }
      }
      case 'cleanup': {
        const removed = await backend.cleanup(new Date(args[0]))
        if (!Number.isSafeInteger(removed) || removed < 0) {
          throw new TypeError('cleanup must resolve to the number of sessions removed')
        }
        return removed
      }
      default:
        throw new TypeError(`unknown custom backend operation ${op}`)
    }
  }
  return { dispatch, methods }
}

function hooksFor(options) {
  const hooks = {}
  if (!isObject(options)) return hooks
  const { onViolation, backend } = options
  if (onViolation !== undefined && onViolation !== null && typeof onViolation !== 'function') {
    throw configError('onViolation', 'onViolation must be a function')
  }
  const logger = checkLogger(options.logger)
  if (onViolation || logger) hooks.onViolation = violationHook(onViolation || null, logger)
  if (isObject(backend) && !(backend instanceof native.MemoryBackend)) {
    const { dispatch, methods } = backendHook(backend)
    hooks.backend = dispatch
    hooks.backendMethods = methods
  }
  return hooks
}

/**
 * Seals whole sessions into cookie values and opens them (the native class): `onViolation` gets
 * the core's `cookie_*` events through the same guard as a store's (a throw or a rejection is
 * logged and ignored, `at` is a Date).
 */
class Sealer extends native.Sealer {
  constructor(options) {
    // A Sealer takes no backend: the native side refuses the option by name.
    super(options, hooksFor(options))
  }
}

/** A session store. Open one with `await Store.open(options)`; every operation is a Promise. */
class Store {
  #native
  #get

  constructor(token, nativeStore) {
    if (token !== TOKEN) throw configError('options', 'use `await Store.open(options)` to open a store')
    this.#native = nativeStore
    this.#get = nativeStore.boundGet()
  }

  static async open(options) {
    const nativeStore = await native.NativeStore.open(options, hooksFor(options))
    return new Store(TOKEN, nativeStore)
  }

  create(input) {
    return settled(this.#native.create(input))
  }

  get(id) {
    return settled(this.#get(id), id)
  }

  update(session) {
    return settled(this.#native.update(session))
  }

  patch(id, patch) {
    return settled(this.#native.patch(id, patch))
  }

  touch(id, options) {
    return settled(this.#native.touch(id, options))
  }

  getSliding(id, rollingMs) {
    return settled(this.#native.getSliding(id, rollingMs))
  }

  login(input) {
    return settled(this.#native.login(input))
  }

  upsert(session) {
    return settled(this.#native.upsert(session))
  }

  rotate(id) {
    return settled(this.#native.rotate(id))
  }

  delete(id) {
    return this.#native.delete(id)
  }

  deleteAtRest(id) {
    return this.#native.deleteAtRest(id)
  }

  idAtRest(id) {
    return this.#native.idAtRest(id)
  }

  deleteByUserId(userId) {
    return this.#native.deleteByUserId(userId)
  }

  listByUserId(userId) {
    return settled(this.#native.listByUserId(userId))
  }

  list(options) {
    return settled(this.#native.list(options))
  }

  count() {
    return this.#native.count()
  }

  clear() {
    return this.#native.clear()
  }

  cleanup() {
    return this.#native.cleanup()
  }

  close() {
    return this.#native.close()
  }
}

module.exports = {
  Store,
  SessionError,
  CODES,
  ManualClock: native.ManualClock,
  MemoryBackend: native.MemoryBackend,
  Sealer,
  SeedsOpener: native.SeedsOpener,
  hashSessionId: native.hashSessionId,
  generateSessionId: native.generateSessionId,
}
