// Shared helpers of the Node suites: a real redis-server on a free port (killed by its PID),
// temp dirs, and a small wait for violation events queued to the JS thread.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

export function tempDir(prefix = 'omnisession-node-') {
  return mkdtempSync(path.join(tmpdir(), prefix))
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true })
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let answer = ''
    socket.setTimeout(500)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk
      socket.destroy()
      resolve(answer.startsWith('+PONG'))
    })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/** Starts a redis-server of our own; `stop()` kills it by PID. */
export async function startRedis() {
  const dir = tempDir('omnisession-redis-')
  const port = await freePort()
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--loglevel', 'warning'],
    { stdio: 'ignore' },
  )
  let failed = null
  child.on('error', (err) => {
    failed = err
  })
  const deadline = Date.now() + 20_000
  while (!(await ping(port))) {
    if (failed) throw new Error(`redis-server could not start (apt-get install -y redis-server): ${failed.message}`)
    if (Date.now() > deadline) throw new Error('redis-server did not become ready')
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        process.kill(child.pid, 'SIGTERM')
        await exited
      }
      removeDir(dir)
    },
  }
}

/**
 * Lets events queued to the JS thread (violations) run: waits `ms`, or, given a condition
 * (`() => events.length >= 1`), until it holds (2 s at most) and then 10 ms more, so that an
 * extra event would still show. Events are delivered after the operation that raised them may
 * have settled: a refused argument rejects at once, its event follows on a later turn.
 */
export async function settle(until = 10) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  if (typeof until === 'number') return sleep(until)
  const deadline = Date.now() + 2000
  while (!until() && Date.now() < deadline) await sleep(1)
  return sleep(10)
}
