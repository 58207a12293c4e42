'use strict'

// Sessions over the Fetch API (`Request`/`Response`/`Headers`): Next.js route handlers on the
// Node runtime, Hono, and anything else that hands you a `Request` and takes a `Response`.
// `load` reads the cookie and the session; `commit` writes the change as a per-key patch and
// sets the cookie. The cookie is `__Host-` with Secure, HttpOnly and SameSite=Lax by default,
// optionally HMAC-signed with rotating keys.

const { createHmac, timingSafeEqual } = require('node:crypto')
const { SessionError } = require('./index.js')
const { diff } = require('./diff.js')

const GONE = new Set(['SESSION_NOT_FOUND', 'SESSION_EXPIRED'])
const SAME_SITE = new Set(['Strict', 'Lax', 'None'])

function configError(option, message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option })
}

function readCookie(header, name) {
  if (typeof header !== 'string') return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}

/** One request's session: mutate `data`, then `commit` it. */
class FetchSession {
  /** @internal */
  constructor(stored, hadCookie) {
    this.id = stored ? stored.id : null
    this.userId = stored ? stored.userId : null
    this.data = stored ? structuredClone(stored.data) : {}
    this.isNew = !stored
    this.destroyed = false
    /** @internal */
    this.snapshot = stored ? structuredClone(stored.data) : null
    /** @internal */
    this.hadCookie = hadCookie
    /** @internal */
    this.cookieChanged = false
  }
}

class FetchSessions {
  #store
  #keys
  #name
  #cookie
  #rolling
  #maxAgeMs

  /**
   * @param {object} options
   * @param {import('./index').Store} options.store opened with `allowAnonymous: true` for
   *   sessions that exist before login
   * @param {string | string[]} [options.secret] HMAC keys: the first signs, every one verifies
   *   (key rotation). Without it the cookie holds the plain id.
   * @param {string} [options.cookieName] default `__Host-omnisession`
   * @param {object} [options.cookie] `{secure, httpOnly, sameSite, path, domain}`
   * @param {number} [options.maxAgeMs] cookie Max-Age and the lifetime of new sessions
   * @param {boolean} [options.rolling] touch the session and re-send the cookie on every commit
   */
  constructor(options) {
    const { store, secret, cookieName = '__Host-omnisession', cookie = {}, maxAgeMs, rolling = false } = options || {}
    if (!store || typeof store.patch !== 'function') throw configError('store', 'FetchSessions needs {store} (from Store.open)')
    const keys = secret === undefined ? [] : Array.isArray(secret) ? secret : [secret]
    if (keys.some((k) => typeof k !== 'string' || k.length < 16)) {
      throw configError('secret', 'secret must be a string (or a list of strings) of at least 16 characters')
    }
    if (typeof cookieName !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) {
      throw configError('cookieName', 'cookieName must be a cookie token')
    }
    const c = { secure: true, httpOnly: true, sameSite: 'Lax', path: '/', domain: undefined, ...cookie }
    if (!SAME_SITE.has(c.sameSite)) throw configError('cookie', 'cookie.sameSite must be Strict, Lax or None')
    if (cookieName.startsWith('__Host-') && (c.secure !== true || c.path !== '/' || c.domain !== undefined)) {
      throw configError('cookie', 'a __Host- cookie must be Secure, with Path=/ and no Domain')
    }
    if (maxAgeMs !== undefined && !(Number.isSafeInteger(maxAgeMs) && maxAgeMs > 0)) {
      throw configError('maxAgeMs', 'maxAgeMs must be a positive integer')
    }
    if (typeof rolling !== 'boolean') throw configError('rolling', 'rolling must be a boolean')
    this.#store = store
    this.#keys = keys
    this.#name = cookieName
    this.#cookie = c
    this.#rolling = rolling
    this.#maxAgeMs = maxAgeMs
  }

  #sign(id, key) {
    return createHmac('sha256', key).update(id).digest('base64url')
  }

  #encode(id) {
    return this.#keys.length === 0 ? id : `${id}.${this.#sign(id, this.#keys[0])}`
  }

  #decode(value) {
    if (this.#keys.length === 0) return value
    const dot = value.lastIndexOf('.')
    if (dot < 0) return null
    const id = value.slice(0, dot)
    const given = Buffer.from(value.slice(dot + 1))
    for (const key of this.#keys) {
      const want = Buffer.from(this.#sign(id, key))
      if (want.length === given.length && timingSafeEqual(want, given)) return id
    }
    return null
  }

  #setCookie(value, maxAgeSeconds) {
    const c = this.#cookie
    const parts = [`${this.#name}=${value}`, `Path=${c.path}`]
    if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`)
    if (c.domain !== undefined) parts.push(`Domain=${c.domain}`)
    if (c.secure) parts.push('Secure')
    if (c.httpOnly) parts.push('HttpOnly')
    parts.push(`SameSite=${c.sameSite}`)
    return parts.join('; ')
  }

  #cookieFor(id) {
    const maxAge = this.#maxAgeMs === undefined ? undefined : Math.floor(this.#maxAgeMs / 1000)
    return this.#setCookie(this.#encode(id), maxAge)
  }

  /** Reads the session of a `Request` (or of its `Headers`); a new, empty one when none. */
  async load(request) {
    const headers = request && request.headers ? request.headers : request
    const raw = headers && typeof headers.get === 'function' ? readCookie(headers.get('cookie'), this.#name) : null
    const id = raw === null ? null : this.#decode(raw)
    const stored = id === null ? null : await this.#store.get(id)
    return new FetchSession(stored, raw !== null)
  }

  /**
   * Logs a user in: the session gets a new id (session fixation defence) and the user; this
   * request's changes are kept.
   */
  async login(session, userId) {
    const ttl = this.#maxAgeMs === undefined ? {} : { ttlMs: this.#maxAgeMs }
    let saved
    if (session.id !== null && !session.destroyed) {
      const rotated = await this.#store.rotate(session.id)
      const { set, unset } = diff(session.snapshot, session.data)
      const data = { ...rotated.data, ...set }
      for (const key of unset) delete data[key]
      if (rotated.userId === null || rotated.userId === String(userId)) {
        saved = await this.#store.update({ id: rotated.id, userId, data, version: rotated.version })
      } else {
        // Another user's session: it ends here, the new user starts a session of their own.
        await this.#store.delete(rotated.id)
        saved = await this.#store.create({ userId, data, ...ttl })
      }
    } else {
      saved = await this.#store.create({ userId, data: session.data, ...ttl })
    }
    this.#adopt(session, saved)
    return session
  }

  /** Logs out now: the session is deleted (and cannot be re-created by a parallel request). */
  async logout(session) {
    if (session.id !== null) await this.#store.delete(session.id)
    session.destroyed = true
    session.cookieChanged = true
    return session
  }

  #adopt(session, saved) {
    session.id = saved.id
    session.userId = saved.userId
    session.data = structuredClone(saved.data)
    session.snapshot = structuredClone(saved.data)
    session.isNew = false
    session.destroyed = false
    session.cookieChanged = true
  }

  /**
   * Saves the session's changes and sets the cookie on `target` (a `Response` or `Headers`).
   * Resolves to the `Response` to return (a copy when the given one's headers are immutable).
   */
  async commit(session, target) {
    let cookie = null
    if (session.destroyed) {
      if (session.hadCookie || session.cookieChanged) cookie = this.#setCookie('', 0)
    } else if (session.id === null) {
      if (Object.keys(session.data).length > 0) {
        const ttl = this.#maxAgeMs === undefined ? {} : { ttlMs: this.#maxAgeMs }
        this.#adopt(session, await this.#store.create({ data: session.data, ...ttl }))
        cookie = this.#cookieFor(session.id)
      } else if (session.hadCookie) {
        cookie = this.#setCookie('', 0)
      }
    } else {
      const { set, unset } = diff(session.snapshot, session.data)
      try {
        if (Object.keys(set).length > 0 || unset.length > 0) {
          await this.#store.patch(session.id, { set, unset })
          session.snapshot = structuredClone(session.data)
        } else if (this.#rolling) {
          await this.#store.touch(session.id)
        }
        if (this.#rolling || session.cookieChanged) cookie = this.#cookieFor(session.id)
      } catch (err) {
        if (!GONE.has(err && err.code)) throw err
        // Deleted (logout) or expired meanwhile: nothing is re-created, the cookie goes.
        session.destroyed = true
        cookie = this.#setCookie('', 0)
      }
    }
    session.cookieChanged = false
    return cookie === null ? target : withCookie(target, cookie)
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
