'use strict'

// `omnisession/edge`: the session cookie's signature checked with Web Crypto, for code that
// cannot load the native addon (Next.js middleware on the Edge runtime). It reads exactly what
// cookie.js writes, `<id>.<base64url HMAC-SHA256(key, id)>` with rotating keys, under the same
// header rules, but it cannot know whether the session still exists: the store says that, on
// the Node runtime. Pure JavaScript: no Node built-in, no addon.

const { TOKEN, configError, keyBytes, cookieValue, splitSigned } = require('./cookie-rules.js')
const { developmentMode, cookieDefaults } = require('./development.js')

const OPTIONS = new Set(['secret', 'cookie', 'development'])

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
    this.#keys = keyBytes(secret).map((key) => crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']))
  }

  /** The session id of a cookie value, or null when it is malformed or signed by no key. */
  async verify(value) {
    const parts = splitSigned(value, this.#keys.length > 0)
    if (parts === null) return null
    if (parts.mac === null) return parts.id // unsigned: the value is the id
    const message = new TextEncoder().encode(parts.id)
    for (const key of this.#keys) {
      const mac = base64url(new Uint8Array(await crypto.subtle.sign('HMAC', await key, message)))
      if (sameText(mac, parts.mac)) return parts.id
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
    const value = cookieValue(header, this.#name)
    return value === null ? null : this.verify(value)
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
