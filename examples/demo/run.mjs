// The demo: an Express app and a FastAPI app share sessions through one store (SQLite by
// default, BACKEND=redis for a throwaway redis-server). Every step is checked; any surprise
// stops the demo with a non-zero exit code.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Browser } from './browser.mjs'
import { findChromium } from './chromium.mjs'
import { DevicesPageFailure, driveDevicesPages } from './devices-browser.mjs'
import { freePort, httpAnswers, redisAnswers, startProcess } from './processes.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const settings = JSON.parse(readFileSync(path.join(here, 'settings.json'), 'utf8'))
const backend = process.env.BACKEND || 'sqlite'
const localVenv = path.join(root, '.venv', 'bin', 'python')
// PYTHON may be relative (make's .venv/bin/python): resolved against where the demo was started.
const python = process.env.PYTHON ? path.resolve(process.env.PYTHON) : existsSync(localVenv) ? localVenv : 'python3'
// The devices page's screenshots (git-ignored, under target/).
const screenshots = path.join(root, 'target', 'demo-screenshots')

class DemoFailure extends Error {}

function expect(condition, what) {
  if (!condition) throw new DemoFailure(what)
}

const short = (id) => (typeof id === 'string' ? `${id.slice(0, 8)}…` : String(id))
const line = (who, what, result = '') => console.log(`  ${who.padEnd(8)}${what.padEnd(44)}${result}`.trimEnd())

const started = [] // every child process, stopped by PID at the end
const dir = mkdtempSync(path.join(tmpdir(), 'omnisession-demo-'))

async function startStore() {
  if (backend === 'sqlite') {
    const file = path.join(dir, 'sessions.db')
    return { env: { BACKEND: 'sqlite', SQLITE_PATH: file }, description: `sqlite, one file: ${file}` }
  }
  if (backend !== 'redis') throw new DemoFailure(`BACKEND must be sqlite or redis, not ${backend}`)
  const port = await freePort()
  const redis = await startProcess(
    'redis-server',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { cwd: dir, ready: () => redisAnswers(port) },
  )
  started.push(redis)
  const url = `redis://127.0.0.1:${port}`
  return { env: { BACKEND: 'redis', REDIS_URL: url }, description: `redis, a throwaway redis-server at ${url} (pid ${redis.pid})` }
}

async function startApp(name, command, script, storeEnv) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const app = await startProcess(name, command, [path.join(here, script)], {
    cwd: root,
    env: { ...storeEnv, PORT: String(port), PYTHONUNBUFFERED: '1' },
    ready: () => httpAnswers(url),
  })
  started.push(app)
  return { ...app, url }
}

/** Waits (2 s at most) for `count` violation events: they reach the app's callback asynchronously. */
async function violationsOf(app, count) {
  const deadline = Date.now() + 2000
  for (;;) {
    const events = await (await fetch(`${app.url}/violations`)).json()
    if (events.length >= count || Date.now() > deadline) return events
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function demo() {
  findChromium() // step 6 needs it: say so before anything starts
  const store = await startStore()
  const express = await startApp('express', process.execPath, 'express-app.mjs', store.env)
  const fastapi = await startApp('fastapi', python, 'fastapi_app.py', store.env)
  const at = { express: express.url, fastapi: fastapi.url }
  console.log('omnisession demo: an Express app and a FastAPI app sharing their sessions')
  console.log(`  store    ${store.description}`)
  console.log(`  express  ${express.url} (pid ${express.pid}): express-session + omnisession/express`)
  console.log(`  fastapi  ${fastapi.url} (pid ${fastapi.pid}): omnisession.starlette.SessionMiddleware`)
  console.log(`  cookie   "${settings.cookieName}", signed the express-session way (s:<id>.<HMAC>) by both apps`)
  console.log(`  limits   ${settings.maxSessionSize} bytes per session, ${settings.maxSessionsPerUser} sessions per user`)

  const laptop = new Browser('laptop')
  const phone = new Browser('phone')
  const tablet = new Browser('tablet')
  const desktop = new Browser('desktop')
  const ask = (browser, method, app, route) => browser.request(method, `${at[app]}${route}`)
  const login = async (browser, app) => {
    const r = await ask(browser, 'POST', app, '/login?user=alice')
    expect(r.status === 200 && /^[A-Za-z0-9_-]{43}$/.test(r.body.sessionId), `${browser.name}: login on ${app} failed: ${JSON.stringify(r.body)}`)
    line(browser.name, `logs in as alice on ${app}`, `session ${short(r.body.sessionId)}`)
    return r.body.sessionId
  }
  const signedOut = async (browser, app, why) => {
    const r = await ask(browser, 'GET', app, '/me')
    expect(r.status === 200 && r.body.user === null, `${browser.name} should be signed out on ${app}: ${JSON.stringify(r.body)}`)
    line(browser.name, `visits ${app}`, `signed out: ${why}`)
  }
  const listSessions = async (browser, app, expected) => {
    const r = await ask(browser, 'GET', app, '/sessions')
    const got = r.status === 200 ? r.body.map((s) => `${short(s.id)} (${s.loggedInVia})`) : []
    const want = expected.map(([id, via]) => `${short(id)} (${via})`)
    expect(JSON.stringify(got) === JSON.stringify(want), `${browser.name}: sessions on ${app} are ${JSON.stringify(r.body)}, expected ${want}`)
    line(browser.name, `lists alice's sessions on ${app}`, `${got.length}: ${got.join(', ')}`)
  }

  console.log('\n1. A cookie issued by one app is honoured by the other')
  const s1 = await login(laptop, 'express')
  const cookie = laptop.cookie(settings.cookieName)
  expect(cookie === `s%3A${s1}.${cookie.slice(cookie.lastIndexOf('.') + 1)}`, `unexpected cookie ${cookie}`)
  line('laptop', 'keeps the cookie express-session set', `${settings.cookieName}=s%3A<session id>.<its HMAC>`)
  let r = await ask(laptop, 'GET', 'fastapi', '/me')
  expect(r.body.user === 'alice' && r.body.sessionId === s1, `fastapi did not see the express login: ${JSON.stringify(r.body)}`)
  line('laptop', 'reads its session on fastapi', `user alice, same session ${short(r.body.sessionId)}`)
  r = await ask(laptop, 'POST', 'fastapi', '/cart?item=tea')
  expect(r.status === 200, `fastapi /cart: ${r.status}`)
  line('laptop', 'adds "tea" to its cart on fastapi')
  r = await ask(laptop, 'GET', 'express', '/me')
  expect(JSON.stringify(r.body.data.cart) === '["tea"]' && r.body.sessionId === s1, `express did not see the cart: ${JSON.stringify(r.body)}`)
  line('laptop', 'reads its cart on express', `cart ${JSON.stringify(r.body.data.cart)}`)
  const s2 = await login(phone, 'fastapi')
  r = await ask(phone, 'GET', 'express', '/me')
  expect(r.body.user === 'alice' && r.body.sessionId === s2, `express did not see the fastapi login: ${JSON.stringify(r.body)}`)
  line('phone', 'reads its session on express', `user alice, same session ${short(s2)}`)

  console.log(`\n2. The size limit: a session's JSON may not exceed ${settings.maxSessionSize} bytes`)
  const bytes = settings.maxSessionSize + 1000
  for (const app of ['express', 'fastapi']) {
    r = await ask(laptop, 'POST', app, `/note?size=${bytes}`)
    expect(r.status === 413 && r.body.error === 'SESSION_SIZE_EXCEEDED', `a ${bytes}-byte note on ${app}: ${r.status} ${JSON.stringify(r.body)}`)
    line('laptop', `stores a ${bytes}-byte note on ${app}`, `refused: ${r.status} ${r.body.error}`)
  }
  r = await ask(laptop, 'GET', 'express', '/me')
  expect(JSON.stringify(r.body.data.cart) === '["tea"]' && !('note' in r.body.data), `the refused note changed the session: ${JSON.stringify(r.body)}`)
  line('laptop', 'reads its session on express', 'unchanged: cart ["tea"], no note')

  console.log(`\n3. The per-user limit: ${settings.maxSessionsPerUser} sessions per user, the oldest is evicted`)
  await listSessions(phone, 'express', [[s1, 'express'], [s2, 'fastapi']])
  const s3 = await login(tablet, 'express')
  await signedOut(laptop, 'fastapi', 'its session, the oldest, was evicted')
  const s4 = await login(desktop, 'fastapi')
  await signedOut(phone, 'express', 'its session, now the oldest, was evicted')
  await listSessions(tablet, 'fastapi', [[s3, 'express'], [s4, 'fastapi']])

  console.log('\n4. Sign out everywhere: one call revokes the sessions both apps issued')
  r = await ask(desktop, 'POST', 'express', '/sessions/revoke')
  expect(r.body.revoked === 2, `revoke on express: ${JSON.stringify(r.body)}`)
  line('desktop', 'revokes all of alice\'s sessions on express', `${r.body.revoked} revoked`)
  await signedOut(tablet, 'fastapi', 'revoked')
  await signedOut(desktop, 'express', 'revoked')

  console.log('\n5. Violation events: each app received those of its own requests (onViolation / on_violation)')
  const expected = ['size_exceeded', 'session_limit_exceeded']
  for (const app of [express, fastapi]) {
    const events = await violationsOf(app, expected.length)
    // Every visit with an evicted or revoked session's cookie is also a replayed_id event.
    const types = events.map((e) => e.type).filter((t) => t !== 'replayed_id')
    const replays = events.length - types.length
    expect(JSON.stringify(types) === JSON.stringify(expected), `${app.name} received ${JSON.stringify(events)}, expected ${expected}`)
    expect(replays > 0, `${app.name} reported no replayed_id for the cookies of evicted and revoked sessions`)
    for (const e of events.filter((x) => x.type !== 'replayed_id')) {
      const detail =
        e.type === 'size_exceeded'
          ? `${e.size} bytes > limit ${e.limit}: refused`
          : `${e.size} sessions already (limit ${e.limit}): oldest evicted`
      line(app.name, e.type, `user ${e.userId}, ${detail}`)
    }
    line(app.name, 'replayed_id', `${replays} visits with the cookie of an evicted or revoked session`)
  }

  console.log('\n6. The "active devices" page in headless Chromium: two devices of one user, one signs the other out')
  const files = await driveDevicesPages({ at, settings, screenshots, log: line })
  line('browser', `${files.length} screenshots`, path.relative(root, screenshots))
}

async function stopAll() {
  const stopped = []
  for (const proc of started.reverse()) {
    await proc.stop()
    stopped.push(`${proc.name} (pid ${proc.pid})`)
  }
  rmSync(dir, { recursive: true, force: true })
  if (stopped.length) console.log(`\nstopped ${stopped.join(', ')}`)
}

let failed = null
try {
  await demo()
} catch (err) {
  failed = err
}
await stopAll().catch((err) => (failed = failed || err))
if (failed) {
  console.error(`\ndemo FAILED: ${failed instanceof DemoFailure || failed instanceof DevicesPageFailure ? failed.message : failed.stack}`)
  for (const proc of started) if (proc.output()) console.error(`--- output of ${proc.name} ---\n${proc.output()}`)
  process.exit(1)
}
console.log('demo OK')
