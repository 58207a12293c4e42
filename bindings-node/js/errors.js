'use strict'

/**
 * Every error code of omnisession (docs/design.md "Errors"): the same strings in Rust, Node and
 * Python.
 */
const CODES = Object.freeze([
  'SESSION_INVALID',
  'SESSION_NOT_SERIALIZABLE',
  'SESSION_SIZE_EXCEEDED',
  'SESSION_NOT_FOUND',
  'SESSION_EXPIRED',
  'SESSION_LIMIT_EXCEEDED',
  'SESSION_CONFLICT',
  'STORE_CLOSED',
  'BACKEND_UNAVAILABLE',
  'BACKEND_ERROR',
  'CONFIG_INVALID',
])

/**
 * The one error class of omnisession: `err.code` is one of `CODES`, `err.details` holds
 * structured details (option names, sizes, limits, `session_id_hash`; never a raw id).
 */
class SessionError extends Error {
  constructor(code, message, details) {
    super(message)
    this.name = 'SessionError'
    this.code = code
    this.details = details && typeof details === 'object' ? details : {}
    // Set by the native side from the core: the session has ended (SESSION_NOT_FOUND or
    // SESSION_EXPIRED), which a request cycle treats as no session rather than a failure.
    this.gone = false
  }
}

module.exports = { SessionError, CODES }
