// The Express half of the demo: express-session over omnisession/express, passport-style login,
// and the "active devices" page (GET /devices, devices-page.mjs).
// Started by run.mjs with PORT and the store location (BACKEND + SQLITE_PATH or REDIS_URL).
import { readFileSync } from 'node:fs'
import express from 'express'
import session from 'express-session'
import { Store } from 'omnisession'
import { OmnisessionStore, genid } from 'omnisession/express'
import { devicesPage, sessionOfHandle, signInPage, validUser } from './devices-page.mjs'

const settings = JSON.parse(readFileSync(new URL('./settings.json', import.meta.url), 'utf8'))
const backend = process.env.BACKEND || 'sqlite'

// Violations this process received; GET /violations shows them to the driver.
const violations = []
const store = await Store.open({
  backend,
  ...(backend === 'redis' ? { url: process.env.REDIS_URL } : { path: process.env.SQLITE_PATH }),
  allowAnonymous: true, // express-session creates a session before anyone logs in
  maxSessionSize: settings.maxSessionSize,
  maxSessionsPerUser: settings.maxSessionsPerUser,
  onViolation: (e) => violations.push({ type: e.type, userId: e.userId, size: e.size, limit: e.limit }),
})

const app = express()
app.use(
  session({
    // Each session records its User-Agent; the address only because this demo opts in (personal data).
    store: new OmnisessionStore({ store, recordIpAddress: settings.recordIpAddress }),
    genid, // omnisession ids, the same format the FastAPI app issues
    name: settings.cookieName,
    secret: settings.cookieSecret, // express-session always signs: s:<id>.<HMAC>, see express_cookie.py
    resave: false,
    saveUninitialized: false,
    // Plain HTTP on localhost, hence not Secure; a real deployment keeps secure: true.
    cookie: { maxAge: settings.ttlSeconds * 1000, httpOnly: true, sameSite: 'lax', secure: false },
  }),
)

const userOf = (req) => (req.session.passport ? req.session.passport.user : null)

function requireUser(req, res, next) {
  if (userOf(req) === null) return res.status(401).json({ error: 'not signed in' })
  next()
}

app.get('/health', (req, res) => res.json({ ok: true }))

// What passport's req.login does: a new session id (fixation defence), then the user.
app.post('/login', (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err)
    req.session.passport = { user: req.query.user }
    req.session.loggedInVia = 'express'
    req.session.save((saveErr) => (saveErr ? next(saveErr) : res.json({ sessionId: req.sessionID })))
  })
})

app.get('/me', (req, res) => {
  const { cookie, ...data } = req.session
  const user = userOf(req)
  res.json({ user, sessionId: user === null ? null : req.sessionID, data })
})

app.post('/cart', requireUser, (req, res) => {
  req.session.cart = [...(req.session.cart || []), req.query.item]
  res.json({ cart: req.session.cart })
})

// Stores a note of `size` characters: past maxSessionSize the save fails before anything is written.
app.post('/note', (req, res, next) => {
  req.session.note = 'x'.repeat(Number(req.query.size))
  req.session.save((err) => (err ? next(err) : res.json({ ok: true })))
})

app.get('/sessions', requireUser, async (req, res) => {
  const sessions = await store.listByUserId(userOf(req))
  res.json(sessions.map((s) => ({ id: s.id, loggedInVia: s.data.loggedInVia, createdAt: s.createdAt })))
})

// "Sign out everywhere": every session of this user, whichever app issued it.
app.post('/sessions/revoke', requireUser, async (req, res) => {
  res.json({ revoked: await store.deleteByUserId(userOf(req)) })
})

app.get('/violations', (req, res) => res.json(violations))

// The "active devices" page (devices-page.mjs): forms POST, then a 303 back to GET /devices. The
// cookie is SameSite=Lax, so another site's form cannot post here with it (no CSRF token needed
// for the demo); a revoked device finds no session on its next request and gets the sign-in form.
app.use('/devices', express.urlencoded({ extended: false, limit: '2kb' }))
const backToDevices = (res) => res.redirect(303, '/devices')

app.get('/devices', async (req, res) => {
  const user = userOf(req)
  if (user === null) return res.type('html').send(signInPage('express'))
  const sessions = await store.listByUserId(user)
  // Listings name sessions by their ids at rest (the ids themselves unless the store hashes them):
  // idAtRest finds this device among them, deleteAtRest ends one.
  res.type('html').send(devicesPage('express', settings.cookieSecret, user, sessions, store.idAtRest(req.sessionID)))
})

app.post('/devices/login', (req, res, next) => {
  const user = req.body?.user
  if (!validUser(user)) return res.status(400).type('html').send(signInPage('express', 'A user name is 1 to 64 letters, digits, ".", "_" or "-".'))
  req.session.regenerate((err) => {
    if (err) return next(err)
    req.session.passport = { user }
    req.session.loggedInVia = 'express'
    req.session.save((saveErr) => (saveErr ? next(saveErr) : backToDevices(res)))
  })
})

// One device, named by its handle: only among this user's other sessions.
app.post('/devices/revoke', async (req, res) => {
  const user = userOf(req)
  if (user === null) return backToDevices(res)
  const others = (await store.listByUserId(user)).filter((s) => s.id !== store.idAtRest(req.sessionID))
  const target = sessionOfHandle(settings.cookieSecret, others, req.body?.device)
  if (target) await store.deleteAtRest(target.id)
  backToDevices(res)
})

app.post('/devices/revoke-others', async (req, res) => {
  const user = userOf(req)
  if (user === null) return backToDevices(res)
  for (const s of await store.listByUserId(user)) if (s.id !== store.idAtRest(req.sessionID)) await store.deleteAtRest(s.id)
  backToDevices(res)
})

app.post('/devices/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : backToDevices(res))))

// omnisession errors carry a stable code; the size limit is the client's fault (413).
app.use((err, req, res, next) => {
  if (res.headersSent) return next(err)
  // A client's mistake (a malformed form body: body-parser's 400) is not a server error.
  const status = err.code === 'SESSION_SIZE_EXCEEDED' ? 413 : err.status >= 400 && err.status < 500 ? err.status : 500
  res.status(status).json({ error: err.code || String(err) })
})

const server = app.listen(Number(process.env.PORT), '127.0.0.1')

// The driver stops this process by PID with SIGTERM: finish in-flight requests, close the store.
process.once('SIGTERM', () => {
  server.closeAllConnections()
  server.close(async () => {
    await store.close()
    process.exit(0)
  })
})
