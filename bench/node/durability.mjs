// What `waitReplicas` costs: a login (create) and a logout (delete), each resolved only once a
// replica has it, against the same writes acknowledged by the master alone. Both sides are
// omnisession on one master with one replica in sync (bench/harness/redis_server.py starts
// them for this scenario alone), taking turns in one process; 1 KiB sessions.
//   node durability.mjs --redis URL --out FILE [--n 5000] [--n1 2000] [--rounds 5]
//                       [--inflight 1,64]
import fs from 'node:fs'
import { arg, measure, median, payload } from './measure.mjs'
import { Store } from './omni.mjs'

const url = arg('redis')
const n = Number(arg('n', 5000)) // ops per side per round at 64 in flight
const n1 = Number(arg('n1', 2000)) // at 1 in flight
const rounds = Number(arg('rounds', 5))
const inFlights = arg('inflight', '1,64').split(',').map(Number)
const PAIR = 'node redis wait_replicas'
const SIZE = 1024

const sides = await Promise.all(
  [
    { impl: 'omnisession', api: 'create, delete (acknowledged by the master)', waitReplicas: 0 },
    { impl: 'omnisession waitReplicas 1', api: 'create, delete (WAIT 1 500)', waitReplicas: 1 },
  ].map(async (s) => ({
    ...s,
    store: await Store.open({
      backend: 'redis',
      url,
      keyPrefix: `durability-${s.waitReplicas}:`,
      cleanupIntervalMs: 0,
      waitReplicas: s.waitReplicas,
    }),
  })),
)

const ops = {
  // A login: a new session for one of 1,000 users (no per-user limit).
  create: (s, ids) => async (i) => {
    ids.push((await s.store.create({ userId: `u-${i % 1000}`, data: payload(SIZE, i) })).id)
  },
  // A logout of a session the create cells made.
  delete: (s, ids) => async () => {
    await s.store.delete(ids.pop())
  },
}

const results = []
for (const inFlight of inFlights) {
  const count = inFlight === 1 ? n1 : n
  for (const op of Object.keys(ops)) {
    for (const s of sides) {
      s.runs = []
      s.ids ??= []
    }
    for (let r = 0; r < rounds; r++) {
      for (const s of sides) {
        if (op === 'delete' && s.ids.length < count + 100) {
          // Enough sessions to log out, made outside the timed run.
          await measure(ops.create(s, s.ids), { n: count + 100 - s.ids.length, inFlight: 64 })
        }
        s.runs.push(await measure(ops[op](s, s.ids), { n: count, inFlight, warmup: op === 'delete' ? 0 : 20 }))
      }
    }
    for (const s of sides) {
      const of = (field) => median(s.runs.map((run) => run[field]))
      results.push({
        runner: 'pairs', pair: `${PAIR} ${op}`, impl: s.impl, api: s.api, backend: 'redis', op, size: SIZE, in_flight: inFlight,
        n: count, rounds: s.runs.map((run) => run.ops_per_s), p50_rounds: s.runs.map((run) => run.p50_us),
        p99_rounds: s.runs.map((run) => run.p99_us), ops_per_s: of('ops_per_s'), p50_us: of('p50_us'), p99_us: of('p99_us'),
      })
    }
    const [a, b] = sides.map((s) => s.runs.map((run) => run.ops_per_s))
    const ratios = a.map((x, k) => b[k] / x).sort((x, y) => x - y)
    process.stderr.write(`${PAIR} ${op} x${inFlight}: ${sides.map((s) => `${s.impl} ${(median(s.runs.map((x) => x.ops_per_s)) / 1000).toFixed(2)} k`).join(', ')} ops/s; with÷without ${median(ratios).toFixed(2)}\n`)
  }
}
for (const s of sides) await s.store.close()
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
