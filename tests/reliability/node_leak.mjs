// Memory growth of long-running Node processes: many store operations on one store, RSS
// compared after a warm-up and at the end. A leak in the addon (a handle, a buffer, a
// promise or a callback never freed per call) grows RSS with the number of calls; allocator
// and JIT warm-up do not, which is why the baseline is taken after the warm-up, not at start.
//
//   node tests/reliability/node_leak.mjs --ops 1000000   # per backend
//   node tests/reliability/node_leak.mjs --ops 100000 --backends memory
//
// The script re-runs itself with --expose-gc (readings after a full collection) and a fixed
// young generation: V8 grows its semi-spaces (up to 16 MiB) under allocation pressure,
// whenever it likes, which moves RSS by 8 MiB or more with no object retained.
//
// Prints one line of figures per backend and a JSON summary (last line); exits 1 when the
// growth of any backend is over --max-growth percent (default 10), 2 on a usage error.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Store } from 'omnisession'

const { values: args } = parseArgs({
  options: {
    ops: { type: 'string', default: '1000000' },
    backends: { type: 'string', default: 'memory,sqlite' },
    'max-growth': { type: 'string', default: '10' },
    // Share of the operations run before the baseline is taken.
    warmup: { type: 'string', default: '0.1' },
    concurrency: { type: 'string', default: '32' },
    resident: { type: 'string', default: '1000' },
  },
})

const NODE_FLAGS = ['--expose-gc', '--min-semi-space-size=2', '--max-semi-space-size=2']
if (typeof globalThis.gc !== 'function') {
  const child = spawnSync(process.execPath, [...NODE_FLAGS, ...process.argv.slice(1)], { stdio: 'inherit' })
  process.exit(child.status ?? 1)
}

const OPS = Number(args.ops)
const MAX_GROWTH = Number(args['max-growth'])
const WARMUP = Number(args.warmup)
const LANES = Number(args.concurrency)
const RESIDENT = Number(args.resident)
const MiB = 1024 * 1024

async function settledRss() {
  // Two collections with turns of the event loop in between, so objects freed by finalizers
  // of the first one (napi references) are gone before the second and the reading.
  for (let i = 0; i < 2; i++) {
    globalThis.gc()
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setTimeout(r, 20))
  }
  const m = process.memoryUsage()
  return { rss: m.rss / MiB, heap: m.heapUsed / MiB, heapTotal: m.heapTotal / MiB, external: m.external / MiB }
}

function storeOptions(backend, dir) {
  // Tombstones of deleted ids are state, not a leak: a short TTL and sweep keep their number
  // steady, so the figure measures the per-call cost only.
  const common = { tombstoneTtlMs: 1000, cleanupIntervalMs: 1000, onViolation: () => {} }
  if (backend === 'sqlite') return { ...common, backend, path: path.join(dir, 'leak.db') }
  return { ...common, backend }
}

async function run(backend) {
  const dir = mkdtempSync(path.join(tmpdir(), 'omnisession-leak-'))
  const store = await Store.open(storeOptions(backend, dir))
  try {
    // Sessions that live through the run (touched and patched), so the store is never empty.
    const resident = []
    for (let i = 0; i < RESIDENT; i++) resident.push((await store.create({ userId: `r${i % 50}`, data: { i } })).id)

    let ops = 0
    let errors = 0
    let cycle = 0
    const warmupOps = Math.floor(OPS * WARMUP)
    let baseline = null
    const samples = []
    const started = performance.now()
    let warmedAt = started

    // One cycle = 8 operations: create, get, patch, touch and delete of a short-lived session,
    // touch, get and patch of a resident one. Fixed key sets keep the data size constant.
    async function oneCycle(n) {
      const s = await store.create({ userId: `u${n % 100}`, data: { n, tags: ['a', 'b'], blob: 'x'.repeat(64) } })
      const got = await store.get(s.id)
      if (got === null || got.data.n !== n) throw new Error(`read back ${JSON.stringify(got)}`)
      await store.patch(s.id, { set: { step: n % 7 }, unset: ['tags'] })
      await store.touch(s.id)
      await store.delete(s.id)
      const r = resident[n % resident.length]
      await store.touch(r)
      await store.get(r)
      await store.patch(r, { set: { [`k${n % 10}`]: n } })
      return 8
    }

    async function guarded(n) {
      try {
        // Not `ops += await …`: that reads `ops` before the await and loses other lanes' counts.
        const done = await oneCycle(n)
        ops += done
      } catch (err) {
        errors += 1
        ops += 1
        if (errors <= 3) console.error(`${backend}: ${err.code ?? ''} ${err.message}`)
      }
    }

    // Rounds of LANES concurrent cycles; readings are taken between rounds, with nothing in
    // flight, so a reading never counts the buffers of pending calls.
    let nextSample = OPS / 10
    while (ops < OPS) {
      await Promise.all(Array.from({ length: LANES }, () => guarded(cycle++)))
      if (baseline === null && ops >= warmupOps) {
        baseline = { ...(await settledRss()), ops }
        warmedAt = performance.now()
      }
      if (baseline !== null && ops >= nextSample) {
        const m = await settledRss()
        samples.push(`${round(m.rss)}/${round(m.heapTotal)}`)
        nextSample += OPS / 10
      }
    }
    const end = await settledRss()
    const seconds = (performance.now() - started) / 1000
    const growth = ((end.rss - baseline.rss) / baseline.rss) * 100
    return {
      backend,
      ops,
      errors,
      baselineOps: baseline.ops,
      rssBeforeMiB: round(baseline.rss),
      rssAfterMiB: round(end.rss),
      growthPct: round(growth, 2),
      heapBeforeMiB: round(baseline.heap),
      heapAfterMiB: round(end.heap),
      rssSamplesMiB: samples,
      seconds: round(seconds),
      opsPerSec: Math.round(ops / seconds),
      measuredSeconds: round((performance.now() - warmedAt) / 1000),
    }
  } finally {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function round(x, digits = 1) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

const results = []
for (const backend of args.backends.split(',')) {
  const r = await run(backend)
  results.push(r)
  console.log(
    `node ${r.backend}: ops=${r.ops} errors=${r.errors} rss(after ${r.baselineOps} ops)=${r.rssBeforeMiB} MiB ` +
      `rss(end)=${r.rssAfterMiB} MiB growth=${r.growthPct}% heap=${r.heapBeforeMiB}->${r.heapAfterMiB} MiB ` +
      `time=${r.seconds}s (${r.opsPerSec} ops/s) samples=${r.rssSamplesMiB.join(',')}`,
  )
}
const failed = results.filter((r) => r.errors > 0 || !(r.growthPct < MAX_GROWTH))
console.log(JSON.stringify({ maxGrowthPct: MAX_GROWTH, results }))
process.exit(failed.length ? 1 : 0)
