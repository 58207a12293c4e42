// A SQLite file write-locked by another process never holds the event loop: reads keep being
// served at once (WAL readers wait for no writer) and writes wait for the lock off the JS
// thread, while a timer keeps its schedule.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { Store } from '../../bindings-node/js/index.js'
import { removeDir, tempDir } from './helpers.mjs'

const HOLD_MS = 1500

/** Another process holds the file's write lock for HOLD_MS; resolves once it has it. */
function lockFile(file) {
  const script = `
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
time.sleep(${HOLD_MS} / 1000)
c.execute('COMMIT')
`
  const child = spawn('python3', ['-c', script, file], { stdio: ['ignore', 'pipe', 'inherit'] })
  const locked = new Promise((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`python3 is needed to hold a SQLite lock from another process: ${e.message}`)))
    child.stdout.once('data', () => resolve())
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return { locked, exited }
}

test('a write-locked SQLite file never delays the event loop', async () => {
  const dir = tempDir()
  const file = path.join(dir, 'sessions.db')
  const store = await Store.open({ backend: 'sqlite', path: file })
  try {
    const s = await store.create({ userId: 'u1', data: { n: 0 } })
    await store.get(s.id)
    const lock = lockFile(file)
    await lock.locked
    const lockedAt = performance.now()

    // A 10 ms timer: how late does it ever fire while the file is locked?
    let last = performance.now()
    let worst = 0
    const timer = setInterval(() => {
      const now = performance.now()
      worst = Math.max(worst, now - last - 10)
      last = now
    }, 10)

    const write = store.patch(s.id, { set: { n: 1 } })
    for (let i = 0; i < 200; i++) {
      const got = await store.get(s.id)
      assert.equal(got.id, s.id)
      await new Promise((r) => setTimeout(r, 2))
    }
    const written = await write
    const waited = performance.now() - lockedAt
    clearInterval(timer)
    await lock.exited

    assert.equal(written.version, 2)
    assert.ok(waited >= HOLD_MS - 100, `the write waited for the lock (${waited.toFixed(0)} ms)`)
    assert.ok(worst < 100, `the timer fired up to ${worst.toFixed(0)} ms late`)
    assert.equal((await store.get(s.id)).data.n, 1)
  } finally {
    await store.close()
    removeDir(dir)
  }
})
