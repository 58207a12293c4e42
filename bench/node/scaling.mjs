// get latency as the number of stored sessions grows (10^3, 10^5, 10^6 by default): a store
// whose lookups degrade with size shows it here. One get in flight, random ids.
//
// The target divides a p99 at 10^6 by one at 10^3, and the p99 of one op in flight on a shared
// machine is mostly its noise. So each backend keeps a second store of the smallest count open
// beside the growing one, the two take turns (`--rounds` each, after a warm-up that lets the JIT
// settle), and every row carries both sides' p99 per round: the target reads the median of the
// per-round ratios.
//   node scaling.mjs --redis URL --tmp DIR --out FILE [--counts 1000,100000,1000000] [--n 5000] [--rounds 5]
import fs from 'node:fs'
import path from 'node:path'
import { createClient } from 'redis'
import { arg, measure, median, payload } from './measure.mjs'
import { fillByCreate, fillRedis, fillSqlite } from './fill.mjs'
import { Store } from './omni.mjs'

const counts = arg('counts', '1000,100000,1000000').split(',').map(Number)
const n = Number(arg('n', 5000))
const rounds = Number(arg('rounds', 5))
const data = payload(256)
const redisUrl = arg('redis')
const tmp = arg('tmp')
const results = []

/** A store of `backend` in its own file or key prefix, with the ids it holds. */
async function open(backend, name, client) {
  const file = path.join(tmp, `scaling-${name}.db`)
  fs.rmSync(file, { force: true })
  const prefix = `scale-${name}:`
  const where = { memory: {}, sqlite: { path: file }, redis: { url: redisUrl, keyPrefix: prefix } }[backend]
  const store = await Store.open({ backend, ...where, cleanupIntervalMs: 0 })
  const ids = await fillByCreate(store, 10, data)
  const grow = async (count) => {
    const missing = count - ids.length
    if (missing <= 0) return
    let added = []
    if (backend === 'memory') added = await fillByCreate(store, missing, data)
    if (backend === 'sqlite') added = fillSqlite(file, ids[0], missing)
    if (backend === 'redis') added = await fillRedis(client, prefix, ids[0], missing)
    for (const id of added) ids.push(id) // not push(...added): 10^6 arguments overflow the stack
  }
  // A pseudo-random walk over every stored id, so caches see the whole working set.
  const pick = (i) => ids[(i * 2654435761) % ids.length]
  const get = async (i) => { if (!(await store.get(pick(i)))) throw new Error('lost') }
  const round = (warmup = 0) => measure(get, { n, inFlight: 1, warmup })
  return { grow, round, close: async () => { await store.close(); fs.rmSync(file, { force: true }) } }
}

for (const backend of ['memory', 'sqlite', 'redis']) {
  const client = createClient({ url: redisUrl })
  await client.connect()
  const baseline = await open(backend, 'baseline', client)
  await baseline.grow(counts[0])
  await baseline.round(2 * n)
  const growing = await open(backend, 'growing', client)
  for (const count of counts) {
    const t0 = Date.now()
    await growing.grow(count)
    const fillSecs = (Date.now() - t0) / 1000
    await growing.round(Math.floor(n / 5))
    const mine = []
    const base = []
    for (let r = 0; r < rounds; r++) {
      mine.push(await growing.round())
      base.push(await baseline.round())
    }
    const of = (runs, field) => median(runs.map((run) => run[field]))
    results.push({
      runner: 'node', scenario: 'scaling', impl: 'omnisession', backend, stored: count, fill_s: fillSecs,
      n, ops_per_s: of(mine, 'ops_per_s'), p50_us: of(mine, 'p50_us'), p99_us: of(mine, 'p99_us'),
      baseline_stored: counts[0], p99_rounds: mine.map((run) => run.p99_us), baseline_p99_rounds: base.map((run) => run.p99_us),
    })
    process.stderr.write(`scaling ${backend} ${count}: p99 ${of(mine, 'p99_us').toFixed(0)}us, beside ${counts[0]}: ${of(base, 'p99_us').toFixed(0)}us (fill ${fillSecs}s)\n`)
  }
  await growing.close()
  await baseline.close()
  await client.flushDb()
  await client.close()
}
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
