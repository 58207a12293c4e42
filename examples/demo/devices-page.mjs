// The "active devices" page of the Express app: sign in, see your sessions, revoke one or all
// others. Plain HTML and forms (POST, then a 303 to GET /devices). devices_page.py is the FastAPI
// app's twin: both render the same page from the same store, and their handles agree.
import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * A session's handle in the page: HMAC-SHA256 of its id under the app's secret, never the id
 * itself (an id in the HTML is a cookie to steal). The server maps a handle back by computing the
 * handles of the signed-in user's own sessions only, so a handle cannot reach anyone else's, and
 * without the secret nobody can make one from an id.
 */
export function handleOf(secret, sessionId) {
  return createHmac('sha256', secret).update(`devices-page handle\0${sessionId}`).digest('base64url').slice(0, 32)
}

/** The session among `sessions` whose handle is `handle`, or undefined. */
export function sessionOfHandle(secret, sessions, handle) {
  if (typeof handle !== 'string') return undefined
  const wanted = Buffer.from(handle)
  if (wanted.length !== 32) return undefined // timingSafeEqual throws on a length mismatch (a 500)
  return sessions.find((s) => timingSafeEqual(Buffer.from(handleOf(secret, s.id)), wanted))
}

/** A User-Agent in plain words ("Firefox on Linux"); the order matters, Edge says Chrome too. */
export function describeDevice(userAgent) {
  if (!userAgent) return 'Unknown device'
  const browsers = [[/Edg\//, 'Edge'], [/OPR\//, 'Opera'], [/Firefox\//, 'Firefox'], [/Chrom(e|ium)\//, 'Chrome'], [/Safari\//, 'Safari'], [/^curl\//, 'curl']]
  const systems = [[/iPhone/, 'an iPhone'], [/iPad/, 'an iPad'], [/Android/, 'Android'], [/Windows/, 'Windows'], [/Mac OS X|Macintosh/, 'macOS'], [/CrOS/, 'ChromeOS'], [/Linux/, 'Linux']]
  const browser = browsers.find(([re]) => re.test(userAgent))?.[1] ?? 'A browser'
  const system = systems.find(([re]) => re.test(userAgent))?.[1]
  return system ? `${browser} on ${system}` : browser
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const when = (date) => (date ? `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never')

/** A user name a sign-in form may give: anything else is refused with the form again (400). */
export const validUser = (user) => typeof user === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(user)

function page(app, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Active devices (${app})</title>
<style>body{font-family:sans-serif;max-width:44em;margin:2em auto}li{margin:.8em 0;padding:.6em;border:1px solid #ccc;border-radius:6px}
li.this-device{border-color:#2a7;background:#efe}form{display:inline}.meta{color:#555;font-size:.9em}</style></head>
<body><h1>Active devices</h1><p class="meta">served by the ${escape(app)} app</p>
${body}
</body></html>`
}

export function signInPage(app, error = '') {
  return page(app, `${error ? `<p class="error">${escape(error)}</p>` : ''}<form id="sign-in" method="post" action="/devices/login">
<label>User <input name="user" autocomplete="username" required></label> <button>Sign in</button></form>`)
}

/** `sessions` as listByUserId gives them (Node field names), `currentId` this request's. */
export function devicesPage(app, secret, user, sessions, currentId) {
  const items = sessions.map((s) => {
    const mine = s.id === currentId
    const action = mine
      ? '<strong class="marker">this device</strong>'
      : `<form method="post" action="/devices/revoke"><input type="hidden" name="device" value="${handleOf(secret, s.id)}"><button>Sign out this device</button></form>`
    return `<li class="device${mine ? ' this-device' : ''}"><span class="name">${escape(describeDevice(s.userAgent))}</span> ${action}
<div class="meta">signed in ${when(s.createdAt)} · last seen ${when(s.lastAccessedAt)}${s.ipAddress ? ` · from ${escape(s.ipAddress)}` : ''}</div></li>`
  })
  return page(app, `<p>Signed in as <strong id="user">${escape(user)}</strong>: ${sessions.length} active session${sessions.length === 1 ? '' : 's'}.</p>
<ul id="devices">${items.join('\n')}</ul>
<form id="revoke-others" method="post" action="/devices/revoke-others"><button>Sign out all other devices</button></form>
<form id="sign-out" method="post" action="/devices/logout"><button>Sign out</button></form>`)
}
