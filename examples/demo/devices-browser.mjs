// The "active devices" page driven in headless Chromium (chromium.mjs), by run.mjs (the demo)
// and tests/node/demo-devices.test.mjs alike. Two browser contexts are two devices of one user,
// with different user agents: the first sees both sessions, itself marked "this device", and
// signs the other out; the other is signed out on its next navigation. Once on each app, then
// across apps (sign in on Express, revoke from FastAPI, and "all other devices" the other way).
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { launch } from './chromium.mjs'

export const USER_AGENTS = {
  laptop: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  phone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
}
export const DEVICE_NAMES = { laptop: 'Firefox on Linux', phone: 'Safari on an iPhone' }

export class DevicesPageFailure extends Error {}

function expect(condition, what) {
  if (!condition) throw new DevicesPageFailure(what)
}

/** The session id inside a device's cookie (express-session's s:<id>.<HMAC>), or null. */
async function sessionIdOf(device, cookieName) {
  const cookie = (await device.cookies()).find((c) => c.name === cookieName)
  const value = cookie ? decodeURIComponent(cookie.value) : ''
  return value.startsWith('s:') ? value.slice(2, value.lastIndexOf('.')) : null
}

/**
 * Runs the scenarios against `at` ({express, fastapi}: base URLs of the two apps sharing one
 * store); screenshots (PNG) go to `screenshots`. `log(who, what, result)` narrates. Returns the
 * files written. Throws DevicesPageFailure on any surprise.
 */
export async function driveDevicesPages({ at, settings, screenshots, log = () => {} }) {
  mkdirSync(screenshots, { recursive: true })
  const written = []
  const browser = await launch()
  const shoot = async (device, name) => {
    const file = path.join(screenshots, `${name}.png`)
    writeFileSync(file, await device.screenshot())
    written.push(file)
  }
  const signIn = async (device, app, user) => {
    await device.goto(`${at[app]}/devices`)
    const before = await device.page()
    expect(before.signInForm, `${device.name}: ${app} /devices shows no sign-in form to a new device`)
    await device.fill('#sign-in input[name=user]', user)
    await device.click('#sign-in button')
    const after = await device.page()
    expect(after.path === '/devices' && after.user === user, `${device.name}: not signed in as ${user} on ${app}: ${after.path} ${after.user}`)
    log(device.name, `signs in as ${user} on ${app}`, `${DEVICE_NAMES[device.kind]}`)
    return after
  }
  /** The page `device` sees on `app`: every device listed, itself (only) marked, no session id or secret in it. */
  const listed = async (device, app, others) => {
    await device.goto(`${at[app]}/devices`)
    const page = await device.page()
    const names = page.devices.map((d) => `${d.name}${d.thisDevice ? ' (this device)' : ''}`)
    const want = [`${DEVICE_NAMES[device.kind]} (this device)`, ...others.map((o) => DEVICE_NAMES[o.kind])]
    expect(JSON.stringify([...names].sort()) === JSON.stringify([...want].sort()), `${device.name} on ${app} sees ${JSON.stringify(names)}, expected ${JSON.stringify(want)}`)
    for (const d of [device, ...others]) {
      const id = await sessionIdOf(d, settings.cookieName)
      expect(id !== null && !page.html.includes(id), `${app}'s devices page holds the raw session id of ${d.name}`)
    }
    expect(!page.html.includes(settings.cookieSecret), `${app}'s devices page holds the secret`)
    log(device.name, `lists its devices on ${app}`, names.join(', '))
    return page
  }
  const signedOut = async (device, app) => {
    await device.goto(`${at[app]}/devices`)
    const page = await device.page()
    expect(page.signInForm && page.user === null, `${device.name} should be signed out on ${app} but sees ${JSON.stringify(page.devices)}`)
    log(device.name, `visits ${app}`, 'signed out: shown the sign-in form')
  }
  const pair = async (label) => {
    const laptop = await browser.device(`laptop`, USER_AGENTS.laptop)
    const phone = await browser.device(`phone`, USER_AGENTS.phone)
    laptop.kind = 'laptop'
    phone.kind = 'phone'
    laptop.label = phone.label = label
    return { laptop, phone }
  }

  try {
    for (const app of ['express', 'fastapi']) {
      const { laptop, phone } = await pair(app)
      const user = `devices-${app}`
      await laptop.goto(`${at[app]}/devices`)
      await shoot(laptop, `${app}-1-sign-in`)
      await signIn(laptop, app, user)
      await signIn(phone, app, user)
      await listed(laptop, app, [phone])
      await shoot(laptop, `${app}-2-two-devices`)
      await laptop.click('li.device:not(.this-device) form button')
      const after = await laptop.page()
      expect(after.devices.length === 1 && after.devices[0].thisDevice, `after the revoke ${app} lists ${JSON.stringify(after.devices)}`)
      log('laptop', `signs the phone out on ${app}`, '1 device left: this one')
      await shoot(laptop, `${app}-3-after-revoke`)
      await signedOut(phone, app)
      await shoot(phone, `${app}-4-revoked-device`)
    }

    // Across apps: the cookie is one per host, so a device signed in on one app is on both.
    const { laptop, phone } = await pair('cross')
    const user = 'devices-cross'
    await signIn(laptop, 'express', user)
    await signIn(phone, 'fastapi', user)
    await listed(laptop, 'fastapi', [phone])
    await laptop.click('li.device:not(.this-device) form button')
    log('laptop', 'signs the phone out on fastapi', 'its session was issued by fastapi, the page is fastapi\'s')
    await signedOut(phone, 'express')
    await signIn(phone, 'express', user)
    await listed(laptop, 'express', [phone])
    await laptop.click('#revoke-others button')
    log('laptop', 'signs all other devices out on express')
    await signedOut(phone, 'fastapi')
    await shoot(phone, 'cross-revoked-device')
    await listed(laptop, 'fastapi', [])
  } finally {
    await browser.close()
  }
  return written
}
