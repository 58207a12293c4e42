// omnisession/next closes its stores when the process is told to stop (SIGTERM, SIGINT): a
// child process opens a SQLite store through nextSessions and is signalled. SQLite removes its
// write-ahead log only when the last connection closes cleanly, so the log's absence after the
// signal shows the store was closed (and its presence after SIGKILL, that the check can fail).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { removeDir, tempDir } from './helpers.mjs'

const NEXT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bindings-node/js/next.js')

const CHILD = `
const { nextSessions } = require(${JSON.stringify(NEXT)})
const sessions = nextSessions({
  store: { backend: 'sqlite', path: process.argv[2], allowAnonymous: true },
  secret: 'shutdown-test-secret-0123',
  development: false,
})
;(async () => {
  await (await sessions.store()).create({ data: { n: 1 } })
  process.stdout.write('ready\\n')
  setInterval(() => {}, 1000)
})()
`

/** Runs the child until it has written a session, signals it, and waits for it to end. */
async function signalled(signal) {
  const dir = tempDir()
  const db = path.join(dir, 'sessions.db')
  writeFileSync(path.join(dir, 'child.cjs'), CHILD)
  const child = spawn(process.execPath, [path.join(dir, 'child.cjs'), db], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk) => String(chunk).includes('ready') && resolve())
      child.once('exit', (code) => reject(new Error(`the child ended before it was ready (${code})`)))
    })
    assert.ok(existsSync(`${db}-wal`), 'an open store has a write-ahead log')
    const ended = new Promise((resolve) => child.once('exit', (code, sig) => resolve(sig)))
    child.kill(signal)
    return { endedBy: await ended, walLeft: existsSync(`${db}-wal`) }
  } finally {
    child.kill('SIGKILL')
    removeDir(dir)
  }
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal} closes the stores, then ends the process as the signal would`, async () => {
    const { endedBy, walLeft } = await signalled(signal)
    assert.equal(endedBy, signal)
    assert.equal(walLeft, false, 'the store was closed: SQLite checkpointed and removed its log')
  })
}

test('without a chance to close (SIGKILL) the log stays: the check above can fail', async () => {
  const { endedBy, walLeft } = await signalled('SIGKILL')
  assert.equal(endedBy, 'SIGKILL')
  assert.equal(walLeft, true)
})
