// The cells a Node target divides, measured head to head: the sides of a pair take turns
// (A, B, A, B, …) on the same warm process, so a slow spell of this shared machine lands on
// every side, and a target reads the median of the per-round ratios. workloads.mjs measures
// each store once, one after the other, which is what the full matrix needs but what the noise
// of a shared 2-core machine can swing by ±40 %.
//   node pairs.mjs --redis URL --tmp DIR --out FILE [--n 20000] [--rounds 9] [--pool 10000]
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createClient } from 'redis'
import { arg, measure, median, payload } from './measure.mjs'
import * as omni from './stores/omnisession.mjs'
import * as memoryStore from './stores/express-memory.mjs'
import * as connectRedis from './stores/connect-redis.mjs'

const SIZE = 1024
const IN_FLIGHT = 64
const n = Number(arg('n', 20000))
const rounds = Number(arg('rounds', 9))
const poolSize = Number(arg('pool', 10000))
const redisUrl = arg('redis')
const ctxBase = { redisUrl, tmp: arg('tmp') }

const PAIRS = [
  { pair: 'node memory get', sides: [['omnisession', 'memory', omni], ['express-session MemoryStore', 'memory', memoryStore]] },
  { pair: 'node redis get', sides: [['omnisession', 'redis', omni], ['connect-redis', 'redis', connectRedis], ['redis-benchmark', 'redis', null]] },
]

/** One round of `redis-benchmark -c 64` GET on a value of SIZE bytes (SET first writes it). */
function redisBenchmarkRound() {
  const { hostname, port } = new URL(redisUrl)
  const requests = String(Math.max(1000, 5 * n))
  const csv = execFileSync('redis-benchmark', ['-h', hostname, '-p', port, '-c', String(IN_FLIGHT), '-n', requests,
    '-d', String(SIZE), '-t', 'set,get', '--csv'], { encoding: 'utf8' })
  const [header, ...lines] = csv.trim().split('\n').map((l) => l.split(',').map((f) => JSON.parse(f)))
  const get = Object.fromEntries(header.map((h, i) => [h, lines.find((l) => l[0] === 'GET')[i]]))
  return { n: Number(requests), ops_per_s: Number(get.rps), p50_us: Number(get.p50_latency_ms) * 1000, p99_us: Number(get.p99_latency_ms) * 1000 }
}

async function side(impl, backend, mod) {
  if (!mod) return { impl, backend, round: redisBenchmarkRound, close: async () => {} }
  const tag = `pair-${impl}-${backend}`.replace(/[^a-z0-9]+/gi, '_')
  const store = await mod.open(backend, { ...ctxBase, tag })
  const pool = []
  for (let i = 0; i < poolSize; i++) pool.push(await store.create(i, payload(SIZE, i)))
  const get = async (i) => { if ((await store.get(pool[i % poolSize].id)) == null) throw new Error(`${impl}: lost a session`) }
  return { impl, backend, round: () => measure(get, { n, inFlight: IN_FLIGHT, warmup: Math.floor(n / 20) }), close: () => store.close() }
}

const redis = createClient({ url: redisUrl })
await redis.connect()
const results = []
for (const { pair, sides: spec } of PAIRS) {
  const sides = []
  for (const [impl, backend, mod] of spec) sides.push({ ...(await side(impl, backend, mod)), runs: [] })
  for (let r = 0; r < rounds; r++) for (const s of sides) s.runs.push(await s.round())
  for (const s of sides) {
    await s.close()
    const of = (field) => median(s.runs.map((run) => run[field]))
    results.push({
      runner: 'pairs', pair, impl: s.impl, backend: s.backend, op: 'get', size: SIZE, in_flight: IN_FLIGHT,
      n: s.runs[0].n, rounds: s.runs.map((run) => run.ops_per_s), ops_per_s: of('ops_per_s'), p50_us: of('p50_us'), p99_us: of('p99_us'),
    })
    process.stderr.write(`pairs ${pair}: ${s.impl} median ${of('ops_per_s').toFixed(0)} ops/s over ${rounds} rounds\n`)
  }
  await redis.flushDb()
}
await redis.quit()
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
