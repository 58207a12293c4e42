'use strict'

// What a session cookie may be, and how one is found in a `Cookie` header: the rules that
// cookie.js (Node, node:crypto) and edge.js (Web Crypto, no Node built-in) share. Pure
// JavaScript, so that it loads on the Edge runtime; only the HMAC differs between the two.

const { SessionError } = require('./errors.js')

// RFC 6265 cookie-name: an RFC 2616 token (no control characters, no separators).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// The store's id shape (core/src/id.rs `is_well_formed`): anything else can never address a
// session, and an id holds no '.', so `id.mac` splits one way only.
const ID = /^[A-Za-z0-9_-]{22,128}$/
// HMAC-SHA256 (32 bytes) in base64url without padding.
const MAC = /^[A-Za-z0-9_-]{43}$/
const MIN_KEY_BYTES = 16
const MAX_VALUE_BYTES = 4096
// The whole-header limit of Node's http and of h11 (uvicorn): a larger Cookie header cannot
// reach a default server anyway, and it bounds the work spent on a hostile one.
const MAX_HEADER_BYTES = 16384

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

/** The HMAC keys as bytes; [] for an unsigned cookie. The message never quotes a key. */
function keyBytes(secret) {
  if (secret === undefined || secret === null) return []
  const list = Array.isArray(secret) ? secret : [secret]
  const message = `secret must be a string or Uint8Array of at least ${MIN_KEY_BYTES} bytes (UTF-8), or a non-empty array of them`
  if (list.length === 0) throw configError('secret', message)
  return list.map((key) => {
    // A lone surrogate has no UTF-8 form: Node would key with U+FFFD, Python could not key at all.
    if (typeof key === 'string' && !key.isWellFormed()) throw configError('secret', 'a secret string must be well-formed Unicode')
    // A copy: a caller's later change to its buffer must not change the key.
    const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key instanceof Uint8Array ? Uint8Array.from(key) : null
    if (bytes === null || bytes.length < MIN_KEY_BYTES) throw configError('secret', message)
    return bytes
  })
}

// Optional whitespace around names and values is SP / HTAB only (RFC 6265), trimmed without a
// regex: /[ \t]+$/ backtracks quadratically over a long run of spaces.
function trimOws(text) {
  let start = 0
  let end = text.length
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--
  return text.slice(start, end)
}

/**
 * Every value of cookie `name` in a `Cookie` header, in order. The sealed adapters hand them
 * all to the core, which tells none from several (`cookie_duplicated`) and sees an oversized one.
 */
function cookieValues(header, name) {
  if (typeof header !== 'string') return []
  const values = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq >= 0 && trimOws(part.slice(0, eq)) === name) values.push(trimOws(part.slice(eq + 1)))
  }
  return values
}

/** The value of cookie `name` in a `Cookie` header, or null (absent, duplicated, oversized). */
function cookieValue(header, name) {
  // Bytes are at least UTF-16 units, so the cheap test first.
  if (typeof header !== 'string' || header.length > MAX_HEADER_BYTES || new TextEncoder().encode(header).length > MAX_HEADER_BYTES) {
    return null
  }
  const values = cookieValues(header, name)
  // Two cookies of one name (another path, a sibling subdomain planting one): which one the
  // browser meant is unknowable, so neither is trusted. A longer value is refused before any
  // HMAC is computed (a non-ASCII one fails to split).
  return values.length !== 1 || values[0].length > MAX_VALUE_BYTES ? null : values[0]
}

/**
 * A cookie value as `{id, mac}` to check (`mac` null when there are no keys: the value is the
 * id), or null when it is not of the form the keys would sign.
 */
function splitSigned(value, signed) {
  if (typeof value !== 'string') return null
  if (!signed) return ID.test(value) ? { id: value, mac: null } : null
  const dot = value.indexOf('.')
  if (dot < 0) return null
  const id = value.slice(0, dot)
  const mac = value.slice(dot + 1)
  return ID.test(id) && MAC.test(mac) ? { id, mac } : null
}

module.exports = { TOKEN, ID, configError, keyBytes, cookieValue, cookieValues, splitSigned }
