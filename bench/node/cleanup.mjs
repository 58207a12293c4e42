// cleanup() cost: against the number expired E with the number live N fixed (should grow
// linearly), and against N with E fixed (should stay flat). A ManualClock expires sessions
// without sleeping. Memory and SQLite only: Redis expires keys itself.
//   node cleanup.mjs --tmp DIR --out FILE [--fixed 100000] [--fixed-expired 10000] [--steps 1000,10000,100000]
import fs from 'node:fs'
import path from 'node:path'
import { arg, payload } from './measure.mjs'
import { fillByCreate, fillSqlite } from './fill.mjs'
import { ManualClock, Store } from './omni.mjs'

const fixed = Number(arg('fixed', 100000))
const fixedExpired = Number(arg('fixed-expired', 10000))
const steps = arg('steps', '1000,10000,100000').split(',').map(Number)
const tmp = arg('tmp')
const data = payload(256)
const results = []

async function point(backend, live, expired) {
  const file = path.join(tmp, `cleanup-${backend}.db`)
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true })
  const clock = new ManualClock(Date.now())
  const store = await Store.open({ backend, ...(backend === 'sqlite' ? { path: file } : {}), clock, cleanupIntervalMs: 0 })
  if (backend === 'memory') {
    await fillByCreate(store, expired, data, { ttlMs: 1000 })
    await fillByCreate(store, live, data)
  } else {
    const [e] = await fillByCreate(store, 1, data, { ttlMs: 1000 })
    const [l] = await fillByCreate(store, 1, data)
    fillSqlite(file, e, expired - 1)
    fillSqlite(file, l, live - 1)
  }
  clock.advance(2000)
  const t0 = process.hrtime.bigint()
  const removed = await store.cleanup()
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (removed !== expired) throw new Error(`${backend}: cleanup removed ${removed}, expected ${expired}`)
  await store.close()
  results.push({ runner: 'node', scenario: 'cleanup', impl: 'omnisession', backend, live, expired, cleanup_ms: ms })
  process.stderr.write(`cleanup ${backend} N=${live} E=${expired}: ${ms.toFixed(1)} ms\n`)
}

for (const backend of ['memory', 'sqlite']) {
  for (const e of steps) await point(backend, fixed, e)
  for (const live of steps) await point(backend, live, fixedExpired)
}
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
