// Sealed cookie sessions, head to head: one request's work on a session kept in the cookie is
// to open the value the request brought and seal the one the response sets. omnisession's
// `Sealer` (the core's AES-256-GCM sealer, what CookieSessions and cookieSession run on)
// against iron-session's `unsealData` / `sealData`: the functions its `getIronSession` calls
// around the cookie parsing and serialising, so the lowest and fastest API it has.
//
// A request, on each side: open the value of a pool slot, check it opened, set `counter`, seal
// the session again (its user, creation and expiry kept, as the adapters do on a change of data)
// and put the new value back in the slot, which the next request to that slot opens. The sides
// take turns (A, B, A, B, …) in one process; a target reads the median of the per-round ratios.
// At 64 in flight the requests overlap: iron-session's WebCrypto calls run on libuv's thread
// pool, omnisession's seal and open on the JS thread.
//   node sealed.mjs --out FILE [--n 5000] [--n1 3000] [--rounds 5] [--pool 1000]
//                   [--sizes 256,2048] [--inflight 1,64]
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { sealData, unsealData } from 'iron-session'
import { arg, measure, median, tokenPayload } from './measure.mjs'
import { Sealer } from './omni.mjs'

const n = Number(arg('n', 5000)) // ops per side per round at 64 in flight
const n1 = Number(arg('n1', 3000)) // at 1 in flight
const rounds = Number(arg('rounds', 5))
const poolSize = Number(arg('pool', 1000))
const sizes = arg('sizes', '256,2048').split(',').map(Number)
const inFlights = arg('inflight', '1,64').split(',').map(Number)

const PAIR = 'node sealed cookie'
const COOKIE = 'session'
const TTL_S = 14 * 24 * 3600 // iron-session's default ttl; the same lifetime is sealed on both sides
const MAX_COOKIE = 4096 // name=value, what every browser keeps
// The installed version (its package.json is not in its exports: read from next to its entry).
const ironEntry = createRequire(import.meta.url).resolve('iron-session')
const IRON_VERSION = JSON.parse(fs.readFileSync(path.join(path.dirname(ironEntry), '..', 'package.json'), 'utf8')).version

function sides(size) {
  const sealer = new Sealer({ keys: [{ id: 'bench', key: randomBytes(32) }], cookieName: COOKIE })
  const password = randomBytes(32).toString('hex') // iron-session wants 32 characters at least
  return [
    {
      impl: 'omnisession',
      api: 'Sealer.open + Sealer.seal',
      async fill() {
        const expiresAt = new Date(Date.now() + TTL_S * 1000)
        return Array.from({ length: poolSize }, (_, i) => sealer.seal({ userId: `u-${i}`, data: tokenPayload(size, i), expiresAt }))
      },
      op: (pool) => (i) => {
        const k = i % pool.length
        const { session } = sealer.open(pool[k])
        if (!session) throw new Error('omnisession: a value did not open')
        session.data.counter = i
        pool[k] = sealer.seal({ userId: session.userId, data: session.data, createdAt: session.createdAt, expiresAt: session.expiresAt })
      },
    },
    {
      impl: 'iron-session',
      api: `unsealData + sealData (iron-session ${IRON_VERSION})`,
      async fill() {
        const pool = new Array(poolSize)
        for (let i = 0; i < poolSize; i++) pool[i] = await sealData({ userId: `u-${i}`, ...tokenPayload(size, i) }, { password, ttl: TTL_S })
        return pool
      },
      op: (pool) => async (i) => {
        const k = i % pool.length
        const data = await unsealData(pool[k], { password, ttl: TTL_S })
        if (!data.userId) throw new Error('iron-session: a value did not open') // unsealData gives {} then
        data.counter = i
        pool[k] = await sealData(data, { password, ttl: TTL_S })
      },
    },
  ]
}

const cookieBytes = (pool) => Math.max(...pool.map((v) => `${COOKIE}=${v}`.length))

const results = []
for (const size of sizes) {
  const pair = sides(size)
  for (const s of pair) {
    s.pool = await s.fill()
    const bytes = cookieBytes(s.pool)
    if (bytes > MAX_COOKIE) throw new Error(`${s.impl}: a ${size} B session makes a cookie of ${bytes} bytes (> ${MAX_COOKIE})`)
  }
  // A warm-up of each side before the first round of a size: iron-session's first thousand
  // requests ran up to 25 % slower than the next (the JIT, WebCrypto's thread pool).
  for (const s of pair) await measure(s.op(s.pool), { n: Math.min(n, 1000), inFlight: 1 })
  for (const inFlight of inFlights) {
    const count = inFlight === 1 ? n1 : n
    for (const s of pair) s.runs = []
    for (let r = 0; r < rounds; r++) {
      for (const s of pair) s.runs.push(await measure(s.op(s.pool), { n: count, inFlight, warmup: Math.max(5, Math.floor(count / 20)) }))
    }
    for (const s of pair) {
      const of = (field) => median(s.runs.map((run) => run[field]))
      results.push({
        runner: 'pairs', pair: PAIR, impl: s.impl, api: s.api, backend: 'cookie', op: 'open+seal', size, in_flight: inFlight,
        n: count, cookie_bytes: cookieBytes(s.pool),
        rounds: s.runs.map((run) => run.ops_per_s), p50_rounds: s.runs.map((run) => run.p50_us),
        p99_rounds: s.runs.map((run) => run.p99_us), ops_per_s: of('ops_per_s'), p50_us: of('p50_us'), p99_us: of('p99_us'),
      })
    }
    const [a, b] = pair.map((s) => s.runs.map((run) => run.ops_per_s))
    const ratios = a.map((x, k) => x / b[k]).sort((x, y) => x - y)
    const mid = ratios.length >> 1 // the median as bench/harness/ratios.py takes it (statistics.median)
    const ratio = ratios.length % 2 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2
    process.stderr.write(`${PAIR} ${size}B x${inFlight}: ${pair.map((s) => `${s.impl} ${(median(s.runs.map((x) => x.ops_per_s)) / 1000).toFixed(1)} k`).join(', ')} ops/s; ratio ${ratio.toFixed(2)} (median of ${rounds} rounds)\n`)
  }
}
fs.writeFileSync(arg('out'), JSON.stringify(results, null, 1))
