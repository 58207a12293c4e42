'use strict'

// Where FetchSessions reads a session cookie from and writes one to: a `Request`, `Headers`
// (Next's read-only `headers()` too), a cookie store (Next's `cookies()`) or a `Response`.
// Anything else is a TypeError naming what it got, at once: a wrong shape must never pass for a
// request without a cookie, which would start an anonymous session that replaces the user's.

const isHeaders = (x) => typeof x.get === 'function' && typeof x.has === 'function' && typeof x.append === 'function'
const isCookieStore = (x) => typeof x.get === 'function' && typeof x.getAll === 'function'
const isRequest = (x) => typeof x.url === 'string' && x.headers != null && isHeaders(x.headers)

/** What a wrong argument was, for the TypeError: enough to see the mistake at a glance. */
function describe(value) {
  if (value === null || value === undefined) return String(value)
  if (typeof value.then === 'function') return 'a Promise (await headers() or cookies() first)'
  if (typeof value !== 'object') return `a ${typeof value}`
  const name = value.constructor && value.constructor.name
  return `an object${name && name !== 'Object' ? ` (${name})` : ''} with keys ${JSON.stringify(Object.keys(value).slice(0, 5))}`
}

function cookieHeaderOf(source, name) {
  // Headers first: Next's read-only headers also carry a `.headers` property (a raw object).
  if (source && typeof source.then !== 'function') {
    if (isHeaders(source)) return source.get('cookie')
    if (isRequest(source)) return source.headers.get('cookie')
    if (isCookieStore(source)) {
      // A store has parsed the header already; the cookie is rebuilt for the same checks.
      const found = source.getAll(name)
      return found.length === 0 ? null : found.map((c) => `${name}=${c.value}`).join('; ')
    }
  }
  throw new TypeError(`FetchSessions#load takes a Request, Headers or a cookie store (Next's cookies()); got ${describe(source)}`)
}

/** A `Set-Cookie` value of cookie.js as the options object a cookie store's `set` takes. */
function cookieObject(setCookie) {
  const [pair, ...attributes] = setCookie.split('; ')
  const eq = pair.indexOf('=')
  const cookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), secure: false, httpOnly: false }
  for (const attribute of attributes) {
    const [key, value] = attribute.split('=')
    if (key === 'Path') cookie.path = value
    else if (key === 'Domain') cookie.domain = value
    else if (key === 'Max-Age') cookie.maxAge = Number(value)
    else if (key === 'Expires') cookie.expires = new Date(value)
    else if (key === 'Secure') cookie.secure = true
    else if (key === 'HttpOnly') cookie.httpOnly = true
    else if (key === 'SameSite') cookie.sameSite = value.toLowerCase()
  }
  return cookie
}

function readOnly(what, err) {
  return new TypeError(`FetchSessions#commit: ${what} cannot be written (${err && err.message}); nothing was stored`, { cause: err })
}

/**
 * Where commit puts the cookie. `hold` runs before the store is written and must fail for a
 * target that cannot take a cookie; `put` sets the final one and gives the value commit returns.
 */
function sinkOf(target) {
  if (typeof Response !== 'undefined' && target instanceof Response) {
    return {
      hold() {}, // always writable: an immutable one is answered with a copy
      put(cookie) {
        try {
          target.headers.append('Set-Cookie', cookie)
          return target
        } catch {
          // Immutable headers (Response.redirect, a fetched response): answer with a copy.
          const copy = new Response(target.body, target)
          copy.headers.append('Set-Cookie', cookie)
          return copy
        }
      },
    }
  }
  if (target && isHeaders(target)) {
    return {
      // Deleting a header no one sets changes nothing, yet read-only headers (Next's headers(),
      // a Request's) refuse it as they would refuse the cookie.
      hold() {
        try {
          target.delete('x-omnisession-write-check')
        } catch (err) {
          throw readOnly("these Headers (a request's, or Next's headers())", err)
        }
      },
      put(cookie) {
        target.append('Set-Cookie', cookie)
        return target
      },
    }
  }
  if (target && typeof target.set === 'function' && isCookieStore(target)) {
    // A cookie store keeps one cookie per name, so the final cookie replaces the held one.
    const set = (cookie) => {
      target.set(cookieObject(cookie))
      return target
    }
    return {
      hold(cookie) {
        try {
          set(cookie)
        } catch (err) {
          throw readOnly("this cookie store (a Server Component's cookies()?)", err)
        }
      },
      put: set,
    }
  }
  throw new TypeError(`FetchSessions#commit takes a Response, Headers or a cookie store (Next's cookies()); got ${describe(target)}`)
}

// next.js's way to the cookie a client must keep if a write is lost: a method both FetchSessions
// and CookieSessions have under this key (`[HOLD](session, target)`); not public.
const HOLD = Symbol('omnisession.fetch.hold')

module.exports = { cookieHeaderOf, sinkOf, HOLD }
