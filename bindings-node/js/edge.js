'use strict'

// `omnisession/edge`: the session cookie's signature checked with Web Crypto, for code that
// cannot load the native addon (Next.js middleware on the Edge runtime). It reads exactly what
// cookie.js writes, `<id>.<base64url HMAC-SHA256(key, id)>` with rotating keys, under the same
// header rules, but it cannot know whether the session still exists: the store says that, on
// the Node runtime. Pure JavaScript: no Node built-in, no addon.

const { SessionError } = require('./errors.js')
const { developmentMode, cookieDefaults } = require('./development.js')

// The rules of cookie.js, repeated because that module needs node:crypto; the shared vectors
// of tests/conformance/cookies.json hold both to them.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const ID = /^[A-Za-z0-9_-]{22,128}$/
const MAC = /^[A-Za-z0-9_-]{43}$/
const MIN_KEY_BYTES = 16
const MAX_VALUE_BYTES = 4096
const MAX_HEADER_BYTES = 16384
const OPTIONS = new Set(['secret', 'cookie', 'development'])

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

function keyBytes(secret) {
  const list = Array.isArray(secret) ? secret : [secret]
  const message = `secret must be a string or Uint8Array of at least ${MIN_KEY_BYTES} bytes (UTF-8), or a non-empty array of them`
  if (list.length === 0) throw configError('secret', message)
  return list.map((key) => {
    if (typeof key === 'string' && !key.isWellFormed()) throw configError('secret', 'a secret string must be well-formed Unicode')
    const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key instanceof Uint8Array ? key : null
    if (bytes === null || bytes.length < MIN_KEY_BYTES) throw configError('secret', message)
    return bytes
  })
}

function base64url(bytes) {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

// Every character is compared, so the time does not tell how much of a forged MAC was right.
function sameText(a, b) {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

function trimOws(text) {
  let start = 0
  let end = text.length
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--
  return text.slice(start, end)
}

class SessionVerifier {
  #name
  #keys

  /**
   * @param {object} options
   * @param {string | Uint8Array | Array<string | Uint8Array>} [options.secret] the app's keys;
   *   every one verifies. Without it the cookie holds the plain id and only its shape is checked.
   * @param {{name?: string}} [options.cookie] the cookie's name, as given to the Node side
   * @param {boolean} [options.development] as given to `omnisession/next`
   */
  constructor(options) {
    const opts = options ?? {}
    for (const key of Object.keys(opts)) {
      if (!OPTIONS.has(key)) throw configError(key, `unknown SessionVerifier option ${JSON.stringify(key)}`)
    }
    const { secret, cookie = {}, development } = opts
    const name = cookie.name ?? cookieDefaults(developmentMode(development)).name ?? '__Host-omnisession'
    if (typeof name !== 'string' || !TOKEN.test(name)) throw configError('cookie.name', 'name must be a cookie name token')
    this.#name = name
    const bytes = secret === undefined || secret === null ? [] : keyBytes(secret)
    this.#keys = bytes.map((key) => crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']))
  }

  /** The session id of a cookie value, or null when it is malformed or signed by no key. */
  async verify(value) {
    if (typeof value !== 'string') return null
    if (this.#keys.length === 0) return ID.test(value) ? value : null
    const dot = value.indexOf('.')
    if (dot < 0) return null
    const id = value.slice(0, dot)
    const given = value.slice(dot + 1)
    if (!ID.test(id) || !MAC.test(given)) return null
    const message = new TextEncoder().encode(id)
    for (const key of this.#keys) {
      const mac = base64url(new Uint8Array(await crypto.subtle.sign('HMAC', await key, message)))
      if (sameText(mac, given)) return id
    }
    return null
  }

  /**
   * The signed session id a request carries, or null (no cookie, forged, duplicated, oversized).
   * Takes a `Request` (a NextRequest), its `Headers`, or the `Cookie` header's text. A valid
   * signature is no proof that the session still exists (logged out, expired): for that, load it.
   */
  async read(source) {
    const header = typeof source === 'string' || source === null || source === undefined ? source : headerOf(source)
    if (typeof header !== 'string' || header.length > MAX_HEADER_BYTES || new TextEncoder().encode(header).length > MAX_HEADER_BYTES) {
      return null
    }
    let found = null
    for (const part of header.split(';')) {
      const eq = part.indexOf('=')
      if (eq < 0 || trimOws(part.slice(0, eq)) !== this.#name) continue
      if (found !== null) return null // two cookies of one name: which one was meant is unknowable
      found = trimOws(part.slice(eq + 1))
    }
    if (found === null || found.length > MAX_VALUE_BYTES) return null
    return this.verify(found)
  }
}

function headerOf(source) {
  const headers = typeof source.get === 'function' ? source : source.headers
  if (!headers || typeof headers.get !== 'function') {
    throw new TypeError(`SessionVerifier#read takes a Request, Headers or a Cookie header string; got ${typeof source}`)
  }
  return headers.get('cookie')
}

module.exports = { SessionVerifier }
