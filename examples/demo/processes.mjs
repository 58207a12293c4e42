// The demo's child processes: each started on a free port, waited for until it answers, and
// stopped by its own PID (SIGTERM, then SIGKILL if it hangs). Output is kept, shown on failure.
import { spawn } from 'node:child_process'
import net from 'node:net'

/** A port nothing listens on right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Spawns `command args` and waits until `ready()` resolves true (30 s at most).
 * Returns {name, pid, output(), stop()}.
 */
export async function startProcess(name, command, args, { env, cwd, ready }) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  let spawnError = null
  child.on('error', (err) => (spawnError = err))
  const exited = new Promise((resolve) => child.once('exit', resolve))

  const proc = {
    name,
    pid: child.pid,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || spawnError) return
      process.kill(child.pid, 'SIGTERM')
      const timer = setTimeout(() => process.kill(child.pid, 'SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (spawnError) throw new Error(`${name}: could not start ${command}: ${spawnError.message}`)
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before it was ready:\n${output}`)
    if (await ready().catch(() => false)) return proc
    if (Date.now() > deadline) {
      await proc.stop()
      throw new Error(`${name} was not ready after 30 s:\n${output}`)
    }
    await sleep(100)
  }
}

/** Does a Redis server answer PING on this port? */
export function redisAnswers(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setTimeout(500)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      socket.destroy()
      resolve(String(chunk).startsWith('+PONG'))
    })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/** Does an HTTP app answer GET /health? */
export async function httpAnswers(url) {
  const res = await fetch(`${url}/health`)
  return res.ok
}
