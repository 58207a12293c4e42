// The process around the store: worker threads (napi may swap the tokio runtime between
// envs), clean exit with open stores, callbacks and connections, and no crash on a throwing
// callback or an exit in the middle of operations.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { Store } from 'omnisession'
import { removeDir, startRedis, tempDir } from './helpers.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
let redis = null

before(async () => {
  redis = await startRedis()
})

after(async () => {
  await redis.stop()
})

/** Runs an ESM snippet in a fresh node process; resolves to {code, signal, stdout, stderr, ms}. */
function runNode(source, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the child did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { Store, hashSessionId } = require('omnisession')
;(async () => {
  const events = []
  const store = await Store.open({ ...workerData.options, onViolation: (e) => events.push(e.type) })
  const s = await store.create({ userId: 'w', data: { from: workerData.name } })
  const got = await store.get(s.id)
  await store.get('malformed!')
  await new Promise((r) => setTimeout(r, 20))
  let closedCode = null
  if (workerData.close) {
    await store.close()
    closedCode = await store.count().catch((e) => e.code)
  }
  parentPort.postMessage({ id: s.id, data: got.data, events, closedCode, hash: hashSessionId(s.id).length })
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack), code: e && e.code }))
`

function runWorker(workerData) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData })
    let message = null
    worker.on('message', (m) => (message = m))
    worker.on('error', reject)
    worker.on('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exited with ${code}`))))
  })
}

test('stores work inside worker threads, one after another and side by side', async () => {
  const dir = tempDir()
  try {
    const sqlite = { backend: 'sqlite', path: path.join(dir, 'w.db') }
    // One after another: the first worker's exit may shut napi's runtime down.
    for (const name of ['first', 'second']) {
      const r = await runWorker({ name, options: { backend: 'memory' }, close: true })
      assert.equal(r.error, undefined, r.error)
      assert.deepEqual(r.data, { from: name })
      assert.deepEqual(r.events, ['malformed_id'])
      assert.equal(r.closedCode, 'STORE_CLOSED')
    }
    // Side by side, over SQLite and Redis, one of them never closing its store.
    const results = await Promise.all([
      runWorker({ name: 'a', options: sqlite, close: true }),
      runWorker({ name: 'b', options: sqlite, close: false }),
      runWorker({ name: 'c', options: { backend: 'redis', url: redis.url, keyPrefix: `worker${process.pid}:` }, close: true }),
    ])
    for (const r of results) assert.equal(r.error, undefined, r.error)
    // The main thread still works, and sees what the workers wrote to the shared file.
    const store = await Store.open(sqlite)
    assert.deepEqual((await store.get(results[1].id)).data, { from: 'b' })
    await store.close()
  } finally {
    removeDir(dir)
  }
})

test('a terminated worker with operations in flight does not take the process down', async () => {
  const worker = new Worker(
    `const { Store } = require('omnisession')
     ;(async () => {
       const store = await Store.open({})
       require('node:worker_threads').parentPort.postMessage('ready')
       for (;;) await Promise.all(Array.from({ length: 50 }, () => store.create({ userId: 'u' })))
     })()`,
    { eval: true },
  )
  await new Promise((resolve) => worker.once('message', resolve))
  await new Promise((r) => setTimeout(r, 50))
  await worker.terminate()
  const store = await Store.open({})
  assert.equal((await store.create({ userId: 'after' })).userId, 'after')
  await store.close()
})

test('a process with open stores, a sweeper, a callback, a custom backend and a Redis connection exits by itself', async () => {
  const { code, signal, stderr, stdout, ms } = await runNode(`
    import { Store } from 'omnisession'
    const memory = await Store.open({ cleanupIntervalMs: 10, onViolation: () => {} })
    const redis = await Store.open({ backend: 'redis', url: ${JSON.stringify(redis.url)}, keyPrefix: 'exit${process.pid}:', onViolation: () => {} })
    const records = new Map()
    const custom = await Store.open({ backend: { get: (id) => records.get(id), set: (id, r) => void records.set(id, r), delete: (id) => void records.delete(id) } })
    for (const store of [memory, redis, custom]) {
      const s = await store.create({ userId: 'u' })
      await store.get('malformed!')
      await store.patch(s.id, { set: { n: 1 } })
    }
    console.log('done')
  `)
  assert.equal(stderr, '')
  assert.equal(stdout.trim(), 'done')
  assert.equal(signal, null)
  assert.equal(code, 0)
  assert.ok(ms < 10_000, `took ${ms} ms`)
})

test('a callback that throws is logged, never an uncaught exception', async () => {
  const { code, stderr, stdout } = await runNode(`
    import { Store } from 'omnisession'
    process.on('uncaughtException', (e) => { console.log('UNCAUGHT', e.message); process.exitCode = 3 })
    const store = await Store.open({ onViolation: () => { throw new Error('callback boom') } })
    console.log(await store.get('malformed!'))
    await new Promise((r) => setTimeout(r, 50))
    console.log('still alive')
  `)
  assert.equal(code, 0, stderr)
  assert.equal(stdout, 'null\nstill alive\n')
  assert.match(stderr, /onViolation callback threw; ignored/)
  assert.match(stderr, /callback boom/)
})

test('process.exit in the middle of operations exits cleanly', async () => {
  for (let i = 0; i < 3; i++) {
    const { code, signal, stderr } = await runNode(`
      import { Store } from 'omnisession'
      const store = await Store.open({ onViolation: () => {} })
      for (let i = 0; i < 200; i++) store.create({ userId: 'u', data: { i } }).catch(() => {})
      setTimeout(() => process.exit(0), 1)
    `)
    assert.equal(signal, null, stderr)
    assert.equal(code, 0, stderr)
  }
})

test('many concurrent operations settle, every one typed', async () => {
  const store = await Store.open({ maxSessionsPerUser: 5, evictionPolicy: 'reject' })
  const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => store.create({ userId: `u${i % 10}` })))
  const ok = results.filter((r) => r.status === 'fulfilled').length
  const refused = results.filter((r) => r.status === 'rejected')
  assert.equal(ok, 50, 'exactly the limit per user is admitted')
  assert.ok(refused.every((r) => r.reason.code === 'SESSION_LIMIT_EXCEEDED'))
  await store.close()
})
