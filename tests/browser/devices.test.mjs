// The demo's "active devices" page (examples/demo/) in headless Chromium, against the real
// Express and FastAPI apps sharing one SQLite file: examples/demo/devices-browser.mjs drives two
// devices per app and across apps, screenshots in target/demo-screenshots/. Then what a browser
// would not try: handles of another user's sessions, forged handles, bad cookies and bodies.
// `make test-browser` (in `make test`): needs chromium (`make chromium`) and .venv (`make python`).
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { findChromium } from '../../examples/demo/chromium.mjs'
import { driveDevicesPages } from '../../examples/demo/devices-browser.mjs'
import { handleOf } from '../../examples/demo/devices-page.mjs'
import { freePort, httpAnswers, startProcess } from '../../examples/demo/processes.mjs'
import { removeDir, tempDir } from '../node/helpers.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const demo = path.join(root, 'examples', 'demo')
const settings = JSON.parse(readFileSync(path.join(demo, 'settings.json'), 'utf8'))
const python = process.env.PYTHON ? path.resolve(process.env.PYTHON) : path.join(root, '.venv', 'bin', 'python')
const screenshots = path.join(root, 'target', 'demo-screenshots')
const dir = tempDir('omnisession-devices-')
const apps = []
const at = {}

before(async () => {
  assert.ok(existsSync(python), `the FastAPI app needs ${python}: run \`make python\` (or set PYTHON)`)
  const env = { BACKEND: 'sqlite', SQLITE_PATH: path.join(dir, 'sessions.db'), PYTHONUNBUFFERED: '1' }
  for (const [name, command, script] of [['express', process.execPath, 'express-app.mjs'], ['fastapi', python, 'fastapi_app.py']]) {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    apps.push(await startProcess(name, command, [path.join(demo, script)], { cwd: root, env: { ...env, PORT: String(port) }, ready: () => httpAnswers(url) }))
    at[name] = url
  }
})

after(async () => {
  for (const app of apps) await app.stop()
  removeDir(dir)
})

test('a missing chromium is a failure that says what to install, never a skip', () => {
  const saved = process.env.CHROMIUM
  process.env.CHROMIUM = path.join(dir, 'no-such-chromium')
  try {
    assert.throws(() => findChromium(), /apt-get install -y chromium/)
  } finally {
    if (saved === undefined) delete process.env.CHROMIUM
    else process.env.CHROMIUM = saved
  }
})

test('two devices per app and across apps: listed, marked, one signs the other out', async () => {
  const lines = []
  const files = await driveDevicesPages({ at, settings, screenshots, log: (...parts) => lines.push(parts.join(' | ')) })
  assert.equal(files.length, 9)
  for (const file of files) assert.deepEqual([...readFileSync(file).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], file)
  assert.equal(lines.filter((l) => l.includes('signed out: shown the sign-in form')).length, 4, lines.join('\n'))
})

/** Signs `user` in on `app` with a form post; returns the cookie and the session id in it. */
async function signIn(app, user) {
  const res = await fetch(`${at[app]}/devices/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ user }) })
  assert.equal(res.status, 303)
  const cookie = res.headers.get('set-cookie').split(';')[0]
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1))
  return { cookie, id: value.slice(2, value.lastIndexOf('.')) }
}

const page = async (app, cookie) => (await fetch(`${at[app]}/devices`, { headers: cookie ? { cookie } : {} })).text()
const signedInAs = (html, user) => html.includes(`<strong id="user">${user}</strong>`)

for (const app of ['express', 'fastapi']) {
  test(`${app}: a handle reaches only the signed-in user's own other sessions; bad input is no 500`, async () => {
    const mallory = await signIn(app, `mallory-${app}`)
    const victim = await signIn(app, `victim-${app}`)
    const revoke = (cookie, device) =>
      fetch(`${at[app]}/devices/revoke`, { method: 'POST', redirect: 'manual', headers: { cookie }, body: new URLSearchParams({ device }) })
    // The right handle of another user's session, a forged one, a raw id: nothing is revoked.
    for (const device of [handleOf(settings.cookieSecret, victim.id), 'A'.repeat(32), 'é'.repeat(32), victim.id, '']) {
      assert.equal((await revoke(mallory.cookie, device)).status, 303)
    }
    assert.ok(signedInAs(await page(app, victim.cookie), `victim-${app}`), 'the victim was signed out by another user')
    // A session's own handle, as its owner's other device: revoked.
    const phone = await signIn(app, `victim-${app}`)
    assert.equal((await revoke(phone.cookie, handleOf(settings.cookieSecret, victim.id))).status, 303)
    assert.ok(!signedInAs(await page(app, victim.cookie), `victim-${app}`))
    // A forged cookie, a bad user name, a malformed body: the sign-in form, a 4xx, never a 500.
    const forged = await fetch(`${at[app]}/devices`, { headers: { cookie: `${settings.cookieName}=s%3A${'x'.repeat(43)}.forged` } })
    assert.equal(forged.status, 200)
    assert.match(await forged.text(), /id="sign-in"/)
    const bad = await fetch(`${at[app]}/devices/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ user: '<script>' }) })
    assert.equal(bad.status, 400)
    assert.ok(!(await bad.text()).includes('<script>'))
    const malformed = await fetch(`${at[app]}/devices/login`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'user=%E0%A4%A',
    })
    assert.ok(malformed.status >= 400 && malformed.status < 500, `malformed body: ${malformed.status}`)
    for (const action of ['revoke', 'revoke-others', 'logout']) {
      const signedOut = await fetch(`${at[app]}/devices/${action}`, { method: 'POST', redirect: 'manual' })
      assert.equal(signedOut.status, 303, `${action} without a session`)
    }
  })
}
