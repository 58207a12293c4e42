// get latency as the number of stored sessions grows (10^3, 10^5, 10^6 by default): a store
// whose lookups degrade with size shows it here. One get in flight, random ids.
//   node scaling.mjs --redis URL --tmp DIR --out FILE [--counts 1000,100000,1000000] [--n 5000]
import fs from 'node:fs'
import path from 'node:path'
import { createClient } from 'redis'
import { arg, measure, payload } from './measure.mjs'
import { fillByCreate, fillRedis, fillSqlite } from './fill.mjs'
import { Store } from './omni.mjs'

const counts = arg('counts', '1000,100000,1000000').split(',').map(Number)
const n = Number(arg('n', 5000))
const data = payload(256)
const redisUrl = arg('redis')
const tmp = arg('tmp')
const results = []

for (const backend of ['memory', 'sqlite', 'redis']) {
  const file = path.join(tmp, 'scaling.db')
  fs.rmSync(file, { force: true })
  const prefix = 'scale:'
  const where = { memory: {}, sqlite: { path: file }, redis: { url: redisUrl, keyPrefix: prefix } }[backend]
  const store = await Store.open({ backend, ...where, cleanupIntervalMs: 0 })
  const client = createClient({ url: redisUrl })
  await client.connect()
  let ids = await fillByCreate(store, 10, data)
  for (const count of counts) {
    const t0 = Date.now()
    const missing = count - ids.length
    if (backend === 'memory') ids = ids.concat(await fillByCreate(store, missing, data))
    if (backend === 'sqlite') ids = ids.concat(fillSqlite(file, ids[0], missing))
    if (backend === 'redis') ids = ids.concat(await fillRedis(client, prefix, ids[0], missing))
    const fillSecs = (Date.now() - t0) / 1000
    // A pseudo-random walk over every stored id, so caches see the whole working set.
    const pick = (i) => ids[(i * 2654435761) % ids.length]
    const r = await measure(async (i) => { if (!(await store.get(pick(i)))) throw new Error('lost') }, { n, inFlight: 1, warmup: 200 })
    results.push({ runner: 'node', scenario: 'scaling', impl: 'omnisession', backend, stored: count, fill_s: fillSecs, ...r })
    process.stderr.write(`scaling ${backend} ${count}: p99 ${r.p99_us.toFixed(0)}us (fill ${fillSecs}s)\n`)
  }
  await store.close()
  await client.flushDb()
  await client.quit()
  fs.rmSync(file, { force: true })
}
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
