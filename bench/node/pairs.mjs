// The cells the Node targets divide, measured head to head: the sides of a pair take turns
// (A, B, A, B, …) on the same warm process, so a slow spell of this shared machine lands on
// every side, and a target reads the median of the per-round ratios. workloads.mjs measures
// each store once, one after the other, which is what the full matrix needs but what the noise
// of a shared 2-core machine can swing by ±40 %.
//
// Every production cell: Redis get, save and touch against connect-redis; SQLite get and save
// against the better-sqlite3 store; each at 1 and 64 in flight, 1 KiB and 16 KiB. Redis get also
// against raw node-redis (GET + JSON.parse, 64 in flight) and `redis-benchmark` (-c 1 for the
// p50 at 1 in flight, -c 64 for the throughput ceiling); memory get against express-session's
// MemoryStore (64 in flight, 1 KiB). A request cycle on Redis (get then touch, get then save)
// against connect-redis, shown beside them.
//   node pairs.mjs --redis URL --tmp DIR --out FILE [--n 10000] [--n1 3000] [--rounds 5] [--pool 10000]
//                  [--only 'redis get,sqlite'] [--sizes 1024,16384] [--inflight 1,64]
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createClient } from 'redis'
import { arg, measure, median, payload } from './measure.mjs'
import * as omni from './stores/omnisession.mjs'
import * as memoryStore from './stores/express-memory.mjs'
import * as connectRedis from './stores/connect-redis.mjs'
import * as rawRedis from './stores/raw-redis.mjs'
import * as bsq from './stores/better-sqlite3.mjs'

const n = Number(arg('n', 10000)) // ops per side per round at 64 in flight
const n1 = Number(arg('n1', Math.max(1, Math.floor(n * 0.3)))) // at 1 in flight (each op waits a round trip)
const rounds = Number(arg('rounds', 5))
const poolSize = Number(arg('pool', 10000))
const redisUrl = arg('redis')
const ctxBase = { redisUrl, tmp: arg('tmp') }
const only = arg('only', '').split(',').filter(Boolean)
const sizes = arg('sizes', '1024,16384').split(',').map(Number)
const inFlights = arg('inflight', '1,64').split(',').map(Number)

const RB = 'redis-benchmark'
// A side is [impl] or [impl, the in-flight counts it runs at]; `redis-benchmark` is the server's
// own client, run as a process per round.
const GROUPS = [
  {
    // A memory get takes microseconds: twice the ops, so that a round outlasts the JIT's settling.
    backend: 'memory', sizes: [1024], inFlights: [64], scale: 2,
    stores: { omnisession: omni, 'express-session MemoryStore': memoryStore },
    ops: { get: [['omnisession'], ['express-session MemoryStore']] },
  },
  {
    backend: 'redis',
    stores: { omnisession: omni, 'connect-redis': connectRedis, 'node-redis raw': rawRedis },
    ops: {
      get: [['omnisession'], ['connect-redis'], ['node-redis raw', [64]], [RB]],
      save: [['omnisession'], ['connect-redis']],
      touch: [['omnisession'], ['connect-redis']],
      // A request's whole use of the store: the read that loads the session, then the touch or
      // save express-session ends an unchanged or a changed request with (shown, not a target).
      'get+touch': [['omnisession'], ['connect-redis']],
      'get+save': [['omnisession'], ['connect-redis']],
    },
  },
  {
    backend: 'sqlite',
    stores: { omnisession: omni, 'better-sqlite3 store': bsq },
    ops: { get: [['omnisession'], ['better-sqlite3 store']], save: [['omnisession'], ['better-sqlite3 store']] },
  },
]

const selected = (pair) => !only.length || only.some((o) => pair.includes(o))

/** One round of `redis-benchmark -c inFlight -d size` GET (its SET first writes the value). */
function redisBenchmarkRound(inFlight, size, requests) {
  const { hostname, port } = new URL(redisUrl)
  const csv = execFileSync(RB, ['-h', hostname, '-p', port, '-c', String(inFlight), '-n', String(requests),
    '-d', String(size), '-t', 'set,get', '--csv'], { encoding: 'utf8' })
  const [header, ...lines] = csv.trim().split('\n').map((l) => l.split(',').map((f) => JSON.parse(f)))
  const get = Object.fromEntries(header.map((h, i) => [h, lines.find((l) => l[0] === 'GET')[i]]))
  return { n: requests, ops_per_s: Number(get.rps), p50_us: Number(get.p50_latency_ms) * 1000, p99_us: Number(get.p99_latency_ms) * 1000 }
}

/** `count` sessions created 64 at a time (the fill is not measured). */
async function fill(store, size, count) {
  const pool = new Array(count)
  let next = 0
  const worker = async () => { while (next < count) { const i = next++; pool[i] = await store.create(i, payload(size, i)) } }
  await Promise.all(Array.from({ length: Math.min(64, count) }, worker))
  return pool
}

function opOf(op, impl, store, pool) {
  const [first, then] = op.split('+')
  if (then) {
    const [read, write] = [opOf(first, impl, store, pool), opOf(then, impl, store, pool)]
    return async (i) => { await read(i); await write(i) }
  }
  const id = (i) => pool[i % pool.length].id
  if (op === 'get') return async (i) => { if ((await store.get(id(i))) == null) throw new Error(`${impl}: lost a session`) }
  if (op === 'save') return (i) => store.save(id(i), i)
  if (op === 'touch') return (i) => store.touch(id(i), i)
  throw new Error(`no op ${op}`)
}

const redis = createClient({ url: redisUrl })
await redis.connect()
const results = []
for (const group of GROUPS) {
  const ops = Object.entries(group.ops).filter(([op]) => selected(`node ${group.backend} ${op}`))
  if (!ops.length) continue
  for (const size of (group.sizes ?? sizes).filter((s) => sizes.includes(s))) {
    const stores = {}
    const pools = {}
    for (const [impl, mod] of Object.entries(group.stores)) {
      if (!ops.some(([, sides]) => sides.some(([s]) => s === impl))) continue
      const tag = `pair-${impl}-${group.backend}-${size}`.replace(/[^a-z0-9]+/gi, '_')
      stores[impl] = await mod.open(group.backend, { ...ctxBase, tag })
      pools[impl] = await fill(stores[impl], size, poolSize)
    }
    for (const [op, spec] of ops) {
      const pair = `node ${group.backend} ${op}`
      for (const inFlight of (group.inFlights ?? inFlights).filter((f) => inFlights.includes(f))) {
        const count = (inFlight === 1 ? n1 : n) * (group.scale ?? 1)
        const sides = spec.filter(([, at]) => !at || at.includes(inFlight)).map(([impl]) => ({
          impl,
          runs: [],
          round: impl === RB
            ? () => redisBenchmarkRound(inFlight, size, Math.max(inFlight === 1 ? 200 : 1000, (inFlight === 1 ? 1 : 5) * count))
            : () => measure(opOf(op, impl, stores[impl], pools[impl]), { n: count, inFlight, warmup: Math.max(5, Math.floor(count / 20)) }),
        }))
        for (let r = 0; r < rounds; r++) for (const s of sides) s.runs.push(await s.round())
        for (const s of sides) {
          const of = (field) => median(s.runs.map((run) => run[field]))
          results.push({
            runner: 'pairs', pair, impl: s.impl, backend: group.backend, op, size, in_flight: inFlight, n: s.runs[0].n,
            rounds: s.runs.map((run) => run.ops_per_s), p50_rounds: s.runs.map((run) => run.p50_us),
            p99_rounds: s.runs.map((run) => run.p99_us), ops_per_s: of('ops_per_s'), p50_us: of('p50_us'), p99_us: of('p99_us'),
          })
        }
        process.stderr.write(`pairs ${pair} ${size}B x${inFlight}: ${sides.map((s) => `${s.impl} ${(median(s.runs.map((x) => x.ops_per_s)) / 1000).toFixed(1)} k`).join(', ')} ops/s (median of ${rounds})\n`)
      }
    }
    for (const store of Object.values(stores)) await store.close()
    await redis.flushDb()
  }
}
await redis.close()
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
