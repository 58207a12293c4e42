// tests/conformance/adapters.json over real HTTP: every case against an Express 5 app with
// express-session and OmnisessionStore, and against a Fetch API handler with FetchSessions served
// by node:http, each over a fresh memory store. The test app is written in each framework's own
// idiom; one cookie jar per client.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import express from 'express'
import session from 'express-session'
import { Store } from 'omnisession'
import { OmnisessionStore, genid } from 'omnisession/express'
import { FetchSessions } from 'omnisession/fetch'

const SPEC = JSON.parse(readFileSync(new URL('../conformance/adapters.json', import.meta.url), 'utf8'))
const SECRET = 'adapters-test-secret-0123456789'
const DEFAULTS = { maxAgeMs: 3_600_000, rolling: false }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** GET /lifetime: the server's view, read from the store. */
async function lifetime(store, id) {
  const s = id ? await store.get(id) : null
  return { expires_in_ms: s && s.expiresAt ? s.expiresAt.getTime() - Date.now() : null }
}

/** express-session: login is regenerate + the user (passport's way), /expiry the cookie's maxAge. */
function expressApp(store, { maxAgeMs, rolling }) {
  const app = express()
  app.use(
    session({ store: new OmnisessionStore({ store }), genid, secret: SECRET, resave: false, saveUninitialized: false, rolling, cookie: { maxAge: maxAgeMs } }),
  )
  const ok = (req, res) => res.json({ ok: true })
  const set = (req, res) => {
    req.session[req.query.key] = JSON.parse(req.query.value)
    ok(req, res)
  }
  app.get('/whoami', (req, res) => res.json({ user: req.session.passport?.user ?? null }))
  app.get('/get', (req, res) => res.json({ value: req.session[req.query.key] ?? null }))
  app.post('/set', set)
  app.post('/slow-set', async (req, res) => {
    await sleep(Number(req.query.ms))
    set(req, res)
  })
  app.post('/login', (req, res, next) =>
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.passport = { user: req.query.user }
      ok(req, res)
    }),
  )
  app.post('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : ok(req, res.clearCookie('connect.sid')))))
  app.post('/expiry', (req, res) => {
    req.session.cookie.maxAge = Number(req.query.seconds) * 1000
    ok(req, res)
  })
  app.get('/lifetime', async (req, res) => res.json(await lifetime(store, req.sessionID)))
  app.use((err, req, res, next) => res.status(500).json({ error: err.code ?? err.message }))
  return { server: http.createServer(app), cookieName: 'connect.sid' }
}

/** FetchSessions: login is one call, /expiry is session.setExpiry. */
function fetchApp(store, { maxAgeMs, rolling }) {
  const sessions = new FetchSessions({ store, secret: SECRET, maxAgeMs, rolling })
  const handler = async (request) => {
    const url = new URL(request.url)
    const q = (name) => url.searchParams.get(name)
    const session = await sessions.load(request)
    let body = { ok: true }
    switch (`${request.method} ${url.pathname}`) {
      case 'GET /whoami':
        body = { user: session.userId }
        break
      case 'GET /get':
        body = { value: session.data[q('key')] ?? null }
        break
      case 'POST /slow-set':
        await sleep(Number(q('ms')))
      // falls through
      case 'POST /set':
        session.data[q('key')] = JSON.parse(q('value'))
        break
      case 'POST /login':
        await sessions.login(session, q('user'))
        break
      case 'POST /logout':
        await sessions.logout(session)
        break
      case 'POST /expiry':
        session.setExpiry(Number(q('seconds')) * 1000)
        break
      case 'GET /lifetime':
        body = await lifetime(store, session.id)
        break
      default:
        return new Response(null, { status: 404 })
    }
    return sessions.commit(session, Response.json(body))
  }
  return { server: http.createServer(nodeHandler(handler)), cookieName: '__Host-omnisession' }
}

/** A Fetch API handler as a node:http listener: IncomingMessage → Request, Response → ServerResponse. */
function nodeHandler(handler) {
  return async (req, res) => {
    try {
      const body = req.method === 'GET' || req.method === 'HEAD' ? {} : { body: Readable.toWeb(req), duplex: 'half' }
      const response = await handler(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers: req.headers, ...body }))
      for (const [name, value] of response.headers) if (name !== 'set-cookie') res.setHeader(name, value)
      res.setHeader('set-cookie', response.headers.getSetCookie())
      res.statusCode = response.status
      res.end(Buffer.from(await response.arrayBuffer()))
    } catch (err) {
      res.statusCode = 500
      res.end(JSON.stringify({ error: err.code ?? err.message }))
    }
  }
}

/** The HTTP client of the steps: one cookie jar (name → value) per client. */
function clients(base) {
  const jars = new Map()
  const jar = (name) => jars.get(name) ?? jars.set(name, new Map()).get(name)
  async function send({ client, request, expect }) {
    const [method, path] = request.split(' ')
    const cookie = [...jar(client)].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await fetch(base + path, { method, headers: cookie ? { cookie } : {} })
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';')
      const eq = pair.indexOf('=')
      const [name, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()]
      const cleared = value === '' || attributes.some((a) => /^\s*max-age=0$/i.test(a))
      if (cleared) jar(client).delete(name)
      else jar(client).set(name, value)
    }
    const text = await res.text()
    const body = text ? JSON.parse(text) : null
    const label = `${client}: ${request}`
    if (expect?.status !== undefined) assert.equal(res.status, expect.status, `${label} → ${text}`)
    if (expect?.body !== undefined) assert.deepEqual(body, expect.body, label)
    return body
  }
  return { jars, jar, send }
}

async function run(steps, { base, cookieName }) {
  const { jars, jar, send } = clients(base)
  for (const step of steps) {
    if (step.request) await send(step)
    else if (step.concurrently) await Promise.all(step.concurrently.map(send))
    else if (step.sleep_ms !== undefined) await sleep(step.sleep_ms)
    else if (step.copy_cookies) jars.set(step.copy_cookies.to, new Map(jar(step.copy_cookies.from)))
    else if (step.tamper) {
      const value = jar(step.tamper).get(cookieName)
      jar(step.tamper).set(cookieName, value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A'))
    } else if (step.oversize) jar(step.oversize).set(cookieName, 'x'.repeat(5000))
    else if (step.expect_cookie) assert.equal(jar(step.expect_cookie.client).has(cookieName), step.expect_cookie.present)
    else if (step.lifetime) {
      const { client, min_ms: min, max_ms: max } = step.lifetime
      const { expires_in_ms: left } = await send({ client, request: 'GET /lifetime', expect: { status: 200 } })
      assert.ok(left !== null && left >= min && left <= max, `lifetime ${left} ms not within [${min}, ${max}]`)
    } else throw new Error(`unknown step ${JSON.stringify(step)}`)
  }
}

for (const [framework, app] of [['express', expressApp], ['fetch', fetchApp]]) {
  for (const c of SPEC.cases) {
    test(`${framework}: ${c.name}`, async () => {
      const store = await Store.open({ allowAnonymous: true })
      const options = { maxAgeMs: c.max_age_ms ?? DEFAULTS.maxAgeMs, rolling: c.rolling ?? DEFAULTS.rolling }
      const { server, cookieName } = app(store, options)
      server.listen(0, '127.0.0.1')
      await new Promise((r) => server.once('listening', r))
      try {
        await run(c.steps, { base: `http://127.0.0.1:${server.address().port}`, cookieName })
      } finally {
        server.closeAllConnections()
        await new Promise((r) => server.close(r))
        await store.close()
      }
    })
  }
}
