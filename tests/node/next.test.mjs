// A real Next.js app (tests/next-app: Next 15.5 and React 19, pinned there and installed by
// `make test-node`) whose files are the code blocks of the Next.js docs: built with `next build`,
// served by `next start` and driven over HTTP with a cookie jar; then `next dev`, where hot
// reload must keep one store (counted as the SQLite file's open handles in /proc).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const APP = path.join(ROOT, 'tests', 'next-app')
const NEXT = path.join(APP, 'node_modules', 'next', 'dist', 'bin', 'next')
const SECRET = 'next-test-secret-of-32-characters'
const DB = path.join(APP, 'sessions.db')

/** A README block that is a file of a Next.js app (tests/python/test_readme.py leaves these to us). */
const NEXT_FILE_BLOCK = /^```js\n\/\/ ((?:app|lib)\/[\w/.[\]-]+|middleware\.js|next\.config\.mjs)\n(.*?)^```$/gms

/** The README's Next.js blocks: each opens with the path of the app file it is. */
function docBlocks() {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(NEXT_FILE_BLOCK)]
  return blocks.map(([, file, code]) => ({ file, code }))
}

/**
 * The package as npm installs it from the registry: a copy of its files in the app's
 * node_modules. npm links a `file:` dependency instead, and a link resolves outside
 * node_modules, where Next's serverExternalPackages does not apply; a copy made here is also
 * never stale.
 */
function installPackage() {
  const target = path.join(APP, 'node_modules', 'omnisession')
  rmSync(target, { recursive: true, force: true })
  mkdirSync(path.join(target, 'bindings-node'), { recursive: true })
  copyFileSync(path.join(ROOT, 'package.json'), path.join(target, 'package.json'))
  // bindings-node/js holds exactly the package's "files" (.js, .mjs, .d.ts, .node).
  cpSync(path.join(ROOT, 'bindings-node', 'js'), path.join(target, 'bindings-node', 'js'), { recursive: true })
}

function writeApp() {
  installPackage()
  const blocks = docBlocks()
  assert.ok(blocks.length >= 7, `the Next.js docs hold ${blocks.length} file blocks`)
  for (const { file, code } of blocks) {
    mkdirSync(path.dirname(path.join(APP, file)), { recursive: true })
    writeFileSync(path.join(APP, file), `// Written by tests/node/next.test.mjs from the docs.\n${code}`)
  }
  return blocks.map((b) => b.file)
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const ENV = { ...process.env, SESSION_SECRET: SECRET, NEXT_TELEMETRY_DISABLED: '1', OMNISESSION_NEXT_TEST: '1' }
delete ENV.NODE_ENV

function run(args, { timeout = 300_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NEXT, ...args], { cwd: APP, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(output)
      else reject(new Error(`next ${args.join(' ')} exited ${code}:\n${output}`))
    })
  })
}

/** Starts `next start` or `next dev` on a free port, in a process group of its own (stopped by its PID). */
async function serve(command, ...flags) {
  const port = await freePort()
  const child = spawn(process.execPath, [NEXT, command, ...flags, '-p', String(port), '-H', '127.0.0.1'], {
    cwd: APP,
    env: ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next ${command} exited:\n${output}`)
    try {
      await fetch(`${base}/api/me`)
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`next ${command} did not answer:\n${output}`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  return {
    base,
    pid: child.pid,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      process.kill(-child.pid, 'SIGTERM')
      const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** A browser's cookie handling, reduced to what these flows need (Secure is ignored: plain http). */
class Client {
  jar = new Map()
  constructor(base) {
    this.base = base
  }
  async request(pathname, init = {}) {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const response = await fetch(this.base + pathname, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers ?? {}), ...(cookie ? { cookie } : {}) },
    })
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(/;\s*/)
      const eq = pair.indexOf('=')
      const gone = attributes.some((a) => /^max-age=0$/i.test(a)) || pair.slice(eq + 1) === ''
      if (gone) this.jar.delete(pair.slice(0, eq))
      else this.jar.set(pair.slice(0, eq), pair.slice(eq + 1))
    }
    return response
  }
  async html(pathname) {
    const response = await this.request(pathname)
    assert.equal(response.status, 200, `GET ${pathname}`)
    return response.text()
  }
  /** Submits the page's form as a browser without JavaScript does (a progressively enhanced Server Action). */
  async submit(pathname, fields = {}) {
    const html = await this.html(pathname)
    const action = html.match(/name="(\$ACTION_ID_[0-9a-f]+)"/)
    assert.ok(action, `no Server Action form on ${pathname}`)
    const form = new FormData()
    form.set(action[1], '')
    for (const [k, v] of Object.entries(fields)) form.set(k, v)
    return this.request(pathname, { method: 'POST', body: form })
  }
}

/** Open handles on the SQLite file (and its -wal/-shm) in a process and its descendants. */
function sqliteHandles(rootPid) {
  const children = new Map()
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch {
      // the process ended meanwhile
    }
  }
  let handles = 0
  for (const pids = [rootPid]; pids.length > 0; ) {
    const pid = pids.pop()
    pids.push(...(children.get(pid) ?? []))
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(DB)) handles++
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // the process ended meanwhile
    }
  }
  return handles
}

// Saves on every request, so the first one opens the store (a request without a cookie does not).
const HOT_ROUTE = (edit) => `// Rewritten by tests/node/next.test.mjs: one edit per version.
import { cookies } from 'next/headers'
import { sessions } from '../../../lib/session.js'

export async function GET() {
  const session = await sessions.get(await cookies())
  session.data.requests = (session.data.requests ?? 0) + 1
  await sessions.save(session)
  return Response.json({ edit: ${edit}, id: session.id })
}
`

function cleanApp() {
  for (const file of readdirSync(APP).filter((f) => f.startsWith('sessions.db'))) rmSync(path.join(APP, file))
}

describe('Next.js app', () => {
  let files
  before(() => {
    assert.ok(existsSync(NEXT), 'tests/next-app is not installed: run `make test-node` (npm ci in tests/next-app)')
    files = writeApp()
    // Not in a clean clone: git keeps no empty folder, and the route itself is ignored.
    mkdirSync(path.join(APP, 'app/api/hot'), { recursive: true })
    writeFileSync(path.join(APP, 'app/api/hot/route.js'), HOT_ROUTE(0))
    cleanApp()
  })
  after(cleanApp)

  describe('next build, next start', () => {
    let server
    let storeAtBuild
    before(async () => {
      rmSync(path.join(APP, '.next'), { recursive: true, force: true })
      await run(['build'])
      storeAtBuild = existsSync(DB)
      server = await serve('start')
    })
    after(() => server && server.stop())

    test('the docs are the app, and building it opened no store', () => {
      for (const file of ['next.config.mjs', 'lib/session.js', 'app/actions.js', 'app/page.js', 'app/api/me/route.js', 'middleware.js']) {
        assert.ok(files.includes(file), `${file} is not in the docs`)
      }
      assert.equal(storeAtBuild, false, 'next build created sessions.db')
    })

    test('log in with a Server Action, read in a Server Component and a Route Handler, log out', async () => {
      const client = new Client(server.base)
      assert.match(await client.html('/'), /Signed out/)
      assert.deepEqual(await (await client.request('/api/me')).json(), { userId: null, visits: 1 })
      assert.equal(client.jar.size, 0, 'an anonymous read sets no cookie')

      const login = await client.submit('/', { name: 'alice' })
      assert.ok([303, 307].includes(login.status), `login answered ${login.status}`)
      const [name] = [...client.jar.keys()]
      assert.equal(name, '__Host-omnisession', 'production keeps the __Host- cookie')
      assert.match(await client.html('/'), /Signed in as <!-- -->alice|Signed in as alice/)
      assert.deepEqual(await (await client.request('/api/me')).json(), { userId: 'alice', visits: 1 })
      assert.deepEqual(await (await client.request('/api/me')).json(), { userId: 'alice', visits: 2 })
      assert.match(await client.html('/account'), /Account of <!-- -->alice|Account of alice/)

      const logout = await client.submit('/')
      assert.ok([303, 307].includes(logout.status), `logout answered ${logout.status}`)
      assert.equal(client.jar.size, 0, 'logout clears the cookie')
      assert.match(await client.html('/'), /Signed out/)
    })

    test('middleware (Edge runtime) redirects a request without a validly signed cookie', async () => {
      const anonymous = new Client(server.base)
      const redirected = await anonymous.request('/account')
      assert.equal(redirected.status, 307)
      assert.equal(new URL(redirected.headers.get('location')).pathname, '/')

      const forged = new Client(server.base)
      forged.jar.set('__Host-omnisession', `${'A'.repeat(43)}.${'B'.repeat(43)}`)
      assert.equal((await forged.request('/account')).status, 307)

      const signedIn = new Client(server.base)
      await signedIn.submit('/', { name: 'bob' })
      assert.equal((await signedIn.request('/account')).status, 200)
    })

    test('a Server Component cannot save: refused before anything is stored, the cookie kept', async () => {
      const anonymous = new Client(server.base)
      assert.match(await anonymous.html('/readonly'), /refused: (<!-- -->)?TypeError: FetchSessions#commit: this cookie store .* nothing was stored/)
      assert.equal(anonymous.jar.size, 0)

      const client = new Client(server.base)
      await client.submit('/', { name: 'carol' })
      const cookie = [...client.jar.values()][0]
      const response = await client.request('/readonly')
      assert.match(await response.text(), /refused: (<!-- -->)?TypeError/)
      assert.deepEqual(response.headers.getSetCookie(), [])
      assert.equal([...client.jar.values()][0], cookie)
      assert.equal((await (await client.request('/api/me')).json()).userId, 'carol')
    })

    test('load and commit take every shape Next hands out, or throw a TypeError naming it', async () => {
      const client = new Client(server.base)
      await client.submit('/', { name: 'dave' })
      const shapes = await (await client.request('/api/shapes')).json()
      assert.match(shapes.getPromise, /^TypeError: .*a Promise: await cookies\(\)/)
      assert.match(shapes.getHeaders, /^TypeError: .*get\(await cookies\(\)\)/)
      assert.equal(shapes.loadRequest, 'dave')
      assert.equal(shapes.loadHeaders, 'dave')
      assert.equal(shapes.loadCookies, 'dave')
      assert.match(shapes.loadObject, /^TypeError: .*got an object with keys \["cookie"\]/)
      assert.match(shapes.commitHeaders, /^TypeError: .*cannot be written.*nothing was stored/)
      assert.equal(shapes.stored, 0)
    })

    test('a cookie of the wrong shape is no session, and nothing replaces it unasked', async () => {
      const client = new Client(server.base)
      client.jar.set('__Host-omnisession', 'not-a-session')
      assert.match(await client.html('/'), /Signed out/)
      const me = await client.request('/api/me')
      assert.equal((await me.json()).userId, null)
      assert.deepEqual(me.headers.getSetCookie(), [])
    })
  })

  // Turbopack is create-next-app's default for `next dev`, webpack Next's own.
  for (const bundler of ['--turbopack', '--webpack']) {
  test(`next dev ${bundler}: development cookie over http, and hot reload keeps one store`, { timeout: 240_000 }, async () => {
    cleanApp()
    const session = path.join(APP, 'lib', 'session.js')
    const original = readFileSync(session, 'utf8')
    const server = await serve('dev', ...(bundler === '--turbopack' ? [bundler] : []))
    try {
      // No Server Action here: Next's dev server fails no-JS form actions under Turbopack
      // (`reading 'bind'`, better-auth/better-auth#840); `next start` runs them above.
      const client = new Client(server.base)
      const first = await (await client.request('/api/hot')).json()
      assert.equal(first.edit, 0)
      assert.deepEqual([...client.jar.keys()], ['omnisession'], 'development: no __Host- prefix, no Secure')
      assert.ok(sqliteHandles(server.pid) > 0, 'the store is open')
      const stores = async () => (await (await client.request('/api/stores')).json()).stores
      assert.equal(await stores(), 1)
      for (let edit = 1; edit <= 10; edit++) {
        writeFileSync(path.join(APP, 'app/api/hot/route.js'), HOT_ROUTE(edit))
        writeFileSync(session, `${original}// edit ${edit}\n`)
        const deadline = Date.now() + 30_000
        for (;;) {
          const body = await (await client.request('/api/hot')).json()
          if (body.edit === edit) {
            assert.equal(body.id, first.id, 'the session survives the reload')
            break
          }
          assert.ok(Date.now() < deadline, `edit ${edit} was not reloaded`)
          await new Promise((r) => setTimeout(r, 100))
        }
      }
      assert.equal(await stores(), 1, 'hot reload opened no other store')
      // And from outside: one store's connections hold at most 11 handles on the file (a writer:
      // database, WAL and shared memory; four readers opened on demand: database and WAL).
      const handles = sqliteHandles(server.pid)
      assert.ok(handles <= 11, `${handles} handles on sessions.db: more than one store's`)
    } finally {
      await server.stop()
      writeFileSync(session, original)
      writeFileSync(path.join(APP, 'app/api/hot/route.js'), HOT_ROUTE(0))
    }
  })
  }
})
