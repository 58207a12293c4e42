// A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
// no npm package, no WebSocket, no port. Just what the devices page needs: browser contexts
// (separate cookie jars: separate devices), a user agent each, navigation, clicks that submit
// forms, the page's HTML and screenshots. Debian's `chromium`: `make chromium` installs it.
import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** The chromium to run: $CHROMIUM, else `chromium` on PATH; a clear error when there is none. */
export function findChromium() {
  const candidates = process.env.CHROMIUM ? [process.env.CHROMIUM] : (process.env.PATH || '').split(':').filter(Boolean).map((dir) => path.join(dir, 'chromium'))
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  throw new Error('chromium is needed to drive the demo\'s devices page: apt-get install -y chromium (or `make chromium`), or set CHROMIUM to its path')
}

export async function launch({ timeoutMs = 15_000 } = {}) {
  const executable = findChromium()
  const profile = mkdtempSync(path.join(tmpdir(), 'omnisession-chromium-'))
  // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
  const args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
    '--disable-dev-shm-usage', '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank']
  const child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const browser = new Browser(child, child.stdio[3], child.stdio[4], timeoutMs, () => stderr)
  browser.close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      browser.send('Browser.close').catch(() => {})
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    rmSync(profile, { recursive: true, force: true })
  }
  try {
    await browser.send('Browser.getVersion')
  } catch (err) {
    await browser.close()
    throw new Error(`chromium (${executable}) did not start: ${err.message}\n${stderr}`)
  }
  return browser
}

class Browser {
  #next = 1
  #pending = new Map()
  #listeners = new Set()

  constructor(child, input, output, timeoutMs, stderr) {
    this.pid = child.pid
    this.timeoutMs = timeoutMs
    this.input = input
    this.stderr = stderr
    let buffer = ''
    // Each message is JSON followed by a NUL byte.
    output.setEncoding('utf8')
    output.on('data', (chunk) => {
      buffer += chunk
      let end
      while ((end = buffer.indexOf('\0')) !== -1) {
        this.#dispatch(JSON.parse(buffer.slice(0, end)))
        buffer = buffer.slice(end + 1)
      }
    })
    child.once('exit', () => {
      for (const { reject } of this.#pending.values()) reject(new Error(`chromium exited\n${stderr()}`))
      this.#pending.clear()
    })
  }

  #dispatch(message) {
    if (message.id !== undefined) {
      const call = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      if (message.error) call?.reject(new Error(`${call.method}: ${message.error.message}`))
      else call?.resolve(message.result)
      return
    }
    for (const listener of this.#listeners) listener(message)
  }

  send(method, params = {}, sessionId = undefined) {
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${method}: no answer from chromium in ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      const done = (f) => (v) => (clearTimeout(timer), f(v))
      this.#pending.set(id, { method, resolve: done(resolve), reject: done(reject) })
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`)
    })
  }

  /** The next event `method` of `sessionId`; start waiting before what triggers it. */
  waitFor(method, sessionId) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (this.#listeners.delete(listener), reject(new Error(`no ${method} in ${this.timeoutMs} ms`))), this.timeoutMs)
      const listener = (m) => {
        if (m.method === method && m.sessionId === sessionId) {
          clearTimeout(timer)
          this.#listeners.delete(listener)
          resolve(m.params)
        }
      }
      this.#listeners.add(listener)
    })
  }

  /** A new device: a browser context of its own (its own cookies) with one tab and a user agent. */
  async device(name, userAgent) {
    const { browserContextId } = await this.send('Target.createBrowserContext', { disposeOnDetach: true })
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank', browserContextId })
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true })
    await this.send('Page.enable', {}, sessionId)
    await this.send('Emulation.setUserAgentOverride', { userAgent }, sessionId)
    await this.send('Emulation.setDeviceMetricsOverride', { width: 900, height: 640, deviceScaleFactor: 1, mobile: false }, sessionId)
    return new Device(this, name, browserContextId, sessionId)
  }
}

class Device {
  constructor(browser, name, contextId, sessionId) {
    Object.assign(this, { browser, name, contextId, sessionId })
  }

  #evaluate(expression) {
    return this.browser.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, this.sessionId).then((r) => {
      if (r.exceptionDetails) throw new Error(`${this.name}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`)
      return r.result.value
    })
  }

  /** Runs `action` and waits for the page it leads to (a POST's 303 included) to load. */
  async #navigation(action) {
    const loaded = this.browser.waitFor('Page.loadEventFired', this.sessionId)
    await action()
    await loaded
  }

  goto(url) {
    return this.#navigation(() => this.browser.send('Page.navigate', { url }, this.sessionId))
  }

  /** Clicks the element `selector` finds (a form's button): the form is submitted as a user would. */
  click(selector) {
    return this.#navigation(() => this.#evaluate(`(() => { const el = document.querySelector(${JSON.stringify(selector)}); if (!el) throw new Error('no ' + ${JSON.stringify(selector)}); el.click() })()`))
  }

  async fill(selector, value) {
    await this.#evaluate(`document.querySelector(${JSON.stringify(selector)}).value = ${JSON.stringify(value)}`)
  }

  /** What the page shows: its path, the HTML, and each device row (name, marked, text). */
  page() {
    return this.#evaluate(`({
      path: location.pathname,
      html: document.documentElement.outerHTML,
      signInForm: document.querySelector('#sign-in') !== null,
      user: document.querySelector('#user')?.textContent ?? null,
      devices: [...document.querySelectorAll('li.device')].map((li) => ({
        name: li.querySelector('.name').textContent, thisDevice: li.classList.contains('this-device'), text: li.textContent })),
    })`)
  }

  async cookies() {
    return (await this.browser.send('Storage.getCookies', { browserContextId: this.contextId })).cookies
  }

  async screenshot() {
    return Buffer.from((await this.browser.send('Page.captureScreenshot', { format: 'png' }, this.sessionId)).data, 'base64')
  }
}
