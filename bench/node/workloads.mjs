// The per-operation matrix for Node: every store x {get, create, save, touch, rotate,
// deleteByUserId} x session size x operations in flight, all in one process and one run so the
// numbers can be divided by each other.
//   node workloads.mjs --redis URL --tmp DIR --out FILE [--n 10000] [--sizes 1024,16384] [--inflight 1,64]
import fs from 'node:fs'
import { createClient } from 'redis'
import { arg, measure, payload } from './measure.mjs'
import * as omni from './stores/omnisession.mjs'
import * as memoryStore from './stores/express-memory.mjs'
import * as connectRedis from './stores/connect-redis.mjs'
import * as rawRedis from './stores/raw-redis.mjs'
import * as bsq from './stores/better-sqlite3.mjs'

const IMPLS = [
  ['omnisession', 'memory', omni],
  ['express-session MemoryStore', 'memory', memoryStore],
  ['omnisession', 'sqlite', omni],
  ['better-sqlite3 store', 'sqlite', bsq],
  ['omnisession', 'redis', omni],
  ['connect-redis', 'redis', connectRedis],
  ['node-redis raw', 'redis', rawRedis],
]

const n = Number(arg('n', 10000))
const warmup = Math.max(5, Math.floor(n / 20))
// rotate and deleteByUserId use up the sessions they act on: each gets its own slice of the pool.
const consume = Math.max(5, Math.floor((n - 2 * warmup) / 2))
const sizes = arg('sizes', '1024,16384').split(',').map(Number)
const inFlights = arg('inflight', '1,64').split(',').map(Number)
const ctxBase = { redisUrl: arg('redis'), tmp: arg('tmp') }
const only = arg('only', '')

const redis = createClient({ url: ctxBase.redisUrl })
await redis.connect()
const results = []

for (const [impl, backend, mod] of IMPLS) {
  if (only && !`${impl}/${backend}`.includes(only)) continue
  for (const size of sizes) {
    const tag = `${impl}-${backend}-${size}`.replace(/[^a-z0-9]+/gi, '_')
    const store = await mod.open(backend, { ...ctxBase, tag })
    for (const inFlight of inFlights) {
      const row = (op, r) => results.push({ runner: 'node', impl, backend, op, size, in_flight: inFlight, ...r })
      const pool = []
      row('create', await measure(async (i) => { pool[i] = await store.create(i, payload(size, i)) }, { n: n + warmup, inFlight }))
      // get checks what it read, so a store that silently returns nothing cannot look fast.
      const get = async (id) => { if ((await store.get(id)) == null) throw new Error(`${impl}: lost ${id}`) }
      row('get', await measure((i) => get(pool[i % pool.length].id), { n, inFlight, warmup }))
      for (const op of ['save', 'touch']) {
        row(op, await measure((i) => store[op](pool[i % pool.length].id, i), { n, inFlight, warmup }))
      }
      const rotating = pool.slice(0, consume + warmup)
      const deleting = pool.slice(consume + warmup, 2 * (consume + warmup))
      row('rotate', store.rotate
        ? await measure((i) => store.rotate(rotating[i].id), { n: consume, inFlight, warmup })
        : { missing: 'no rotate in this store API' })
      row('deleteByUserId', store.deleteByUserId
        ? await measure((i) => store.deleteByUserId(deleting[i].user), { n: consume, inFlight, warmup })
        : { missing: 'no per-user index in this store' })
      process.stderr.write(`node ${impl}/${backend} ${size}B x${inFlight} done\n`)
    }
    await store.close()
    await redis.flushDb()
  }
}
await redis.close()
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
