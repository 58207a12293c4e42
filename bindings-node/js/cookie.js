'use strict'

// The session cookie, written once for Node: option checks, HMAC-SHA256 signing with rotating
// keys, reading the `Cookie` request header and writing `Set-Cookie`. Its Python twin is
// bindings-python/python/omnisession/_cookie.py; tests/conformance/cookies.json holds the
// vectors on which both must agree byte for byte.

const { createHmac, timingSafeEqual } = require('node:crypto')
const { SessionError } = require('./errors.js')
const { TOKEN, ID, configError, keyBytes, cookieValue, splitSigned } = require('./cookie-rules.js')

const OPTIONS = new Set(['name', 'secret', 'path', 'domain', 'secure', 'httpOnly', 'sameSite', 'maxAgeMs'])
// Printable ASCII without ';' or space: nothing that could end the attribute or start another.
const PATH = /^\/[\x21-\x3a\x3c-\x7e]*$/
const DOMAIN = /^\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/
const SAME_SITE = new Map([['strict', 'Strict'], ['lax', 'Lax'], ['none', 'None']])
// IMF-fixdate has four year digits: a later Expires is written as the last second of 9999.
const LAST_HTTP_DATE_S = 253402300799

/** A Max-Age in milliseconds as whole seconds, rounded up; null for a browser-session cookie. */
function maxAgeSeconds(ms) {
  if (ms === undefined || ms === null) return null
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw configError('maxAgeMs', 'maxAgeMs must be a non-negative safe integer (milliseconds), or null')
  }
  // Integer arithmetic only: exact over the whole safe range.
  const rest = ms % 1000
  return (ms - rest) / 1000 + (rest === 0 ? 0 : 1)
}

function mac(key, id) {
  return createHmac('sha256', key).update(id).digest('base64url')
}

function httpDate(seconds) {
  return new Date(seconds * 1000).toUTCString()
}

class SessionCookie {
  #name
  #keys
  #path
  #domain
  #secure
  #httpOnly
  #sameSite
  #maxAge

  /**
   * @param {object} [options]
   * @param {string} [options.name] default `__Host-omnisession`
   * @param {string | Buffer | Uint8Array | Array<string | Buffer | Uint8Array>} [options.secret] HMAC keys of at least
   *   16 bytes: the first signs, every one verifies (rotation). Without it the cookie holds the
   *   plain id.
   * @param {string} [options.path] default `/`
   * @param {string} [options.domain] default none (host-only)
   * @param {boolean} [options.secure] default true
   * @param {boolean} [options.httpOnly] default true
   * @param {'Strict' | 'Lax' | 'None'} [options.sameSite] default `Lax`, any case
   * @param {number | null} [options.maxAgeMs] default none (a browser-session cookie)
   */
  constructor(options) {
    const opts = options ?? {}
    for (const key of Object.keys(opts)) {
      if (!OPTIONS.has(key)) throw configError(key, `unknown cookie option ${JSON.stringify(key)}`)
    }
    const {
      name = '__Host-omnisession',
      secret,
      path = '/',
      domain = null,
      secure = true,
      httpOnly = true,
      sameSite = 'Lax',
      maxAgeMs,
    } = opts
    if (typeof name !== 'string' || !TOKEN.test(name)) {
      throw configError('name', "name must be a cookie name token: letters, digits and !#$%&'*+-.^_`|~")
    }
    this.#keys = keyBytes(secret)
    if (typeof path !== 'string' || !PATH.test(path)) {
      throw configError('path', "path must start with '/' and hold only printable ASCII, without ';' or spaces")
    }
    if (domain !== null && (typeof domain !== 'string' || !DOMAIN.test(domain))) {
      throw configError('domain', 'domain must be a host name: ASCII letters, digits, "-", "_" and dots')
    }
    if (typeof secure !== 'boolean') throw configError('secure', 'secure must be a boolean')
    if (typeof httpOnly !== 'boolean') throw configError('httpOnly', 'httpOnly must be a boolean')
    const canonical = typeof sameSite === 'string' ? SAME_SITE.get(sameSite.toLowerCase()) : undefined
    if (canonical === undefined) throw configError('sameSite', "sameSite must be 'Strict', 'Lax' or 'None'")
    this.#maxAge = maxAgeSeconds(maxAgeMs)
    // Browsers drop these cookies, so the mistake would only show as "nobody stays logged in".
    if (canonical === 'None' && !secure) throw configError('sameSite', 'SameSite=None needs secure: true')
    // Browsers match the prefixes case-insensitively (RFC 6265bis), so the rules do too.
    const lower = name.toLowerCase()
    if (lower.startsWith('__secure-') && !secure) throw configError('name', 'a __Secure- cookie needs secure: true')
    if (lower.startsWith('__host-') && (!secure || path !== '/' || domain !== null)) {
      throw configError('name', "a __Host- cookie needs secure: true, path '/' and no domain; use a name without the prefix otherwise")
    }
    this.#name = name
    this.#path = path
    this.#domain = domain
    this.#secure = secure
    this.#httpOnly = httpOnly
    this.#sameSite = canonical
  }

  /** The cookie value of a session id: the id, then `.` and its HMAC when there is a secret. */
  sign(id) {
    if (typeof id !== 'string' || !ID.test(id)) {
      throw new SessionError('SESSION_INVALID', 'SESSION_INVALID: not a session id', { argument: 'id' })
    }
    return this.#keys.length === 0 ? id : `${id}.${mac(this.#keys[0], id)}`
  }

  /** The session id of a cookie value, or null when it is malformed or not signed by a key. */
  verify(value) {
    const parts = splitSigned(value, this.#keys.length > 0)
    if (parts === null) return null
    if (parts.mac === null) return parts.id // unsigned: the value is the id
    // The encoded MACs are compared, not decoded bytes: base64url has several spellings of the
    // last character of 32 bytes, and only the one this module writes is accepted.
    const given = Buffer.from(parts.mac, 'latin1')
    for (const key of this.#keys) {
      if (timingSafeEqual(Buffer.from(mac(key, parts.id), 'latin1'), given)) return parts.id
    }
    return null
  }

  /** The session id in a `Cookie` request header, or null (absent, duplicated, oversized, forged). */
  read(header) {
    const value = cookieValue(header, this.#name)
    return value === null ? null : this.verify(value)
  }

  /**
   * The `Set-Cookie` value carrying a session id.
   * @param {string} id
   * @param {object} [options]
   * @param {number | null} [options.maxAgeMs] overrides the constructor's; null: a browser-session cookie
   * @param {number} [options.now] the current time in ms (for Expires), default `Date.now()`
   */
  serialize(id, { maxAgeMs, now = Date.now() } = {}) {
    const value = this.sign(id)
    const maxAge = maxAgeMs === undefined ? this.#maxAge : maxAgeSeconds(maxAgeMs)
    if (maxAge === null) return this.#setCookie(value, null, 0)
    return this.#setCookie(value, maxAge, Math.min(Math.floor(now / 1000) + maxAge, LAST_HTTP_DATE_S))
  }

  /** The `Set-Cookie` value that deletes the cookie. */
  clear() {
    return this.#setCookie('', 0, 0)
  }

  #setCookie(value, maxAge, expiresSeconds) {
    const parts = [`${this.#name}=${value}`, `Path=${this.#path}`]
    // Expires too: a client that ignores Max-Age would otherwise keep the cookie for the session.
    if (maxAge !== null) parts.push(`Max-Age=${maxAge}`, `Expires=${httpDate(expiresSeconds)}`)
    if (this.#domain !== null) parts.push(`Domain=${this.#domain}`)
    if (this.#secure) parts.push('Secure')
    if (this.#httpOnly) parts.push('HttpOnly')
    parts.push(`SameSite=${this.#sameSite}`)
    return parts.join('; ')
  }
}

module.exports = { SessionCookie }
