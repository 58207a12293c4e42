// Stores in short-lived worker_threads: each worker opens a store, does some operations,
// closes it and exits. napi may shut the tokio runtime down with the last env and start
// another with the next one, so a handle or thread kept across envs shows up here as a crash,
// a hang, or a thread count that grows with the number of workers.
//
//   node tests/reliability/node_workers.mjs --sequential 100 --concurrent 100 --parallel 4
//
// The script re-runs itself with --expose-gc: exited workers' envs are freed by collections.
//
// Prints the figures and a JSON summary (last line); exits 1 on any failed worker, or when
// the process has more threads after the runs than after the warm-up (or, with
// --max-growth P, RSS grown by P percent or more).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'

if (typeof globalThis.gc !== 'function') {
  const child = spawnSync(process.execPath, ['--expose-gc', ...process.argv.slice(1)], { stdio: 'inherit' })
  process.exit(child.status ?? 1)
}

const { values: args } = parseArgs({
  options: {
    sequential: { type: 'string', default: '100' },
    concurrent: { type: 'string', default: '100' },
    parallel: { type: 'string', default: '4' },
    ops: { type: 'string', default: '200' },
    // RSS is reported, and enforced only when asked: Node's own workers leave a few MiB per
    // hundred behind (see --control), so a fixed bound would measure Node, not the addon.
    'max-growth': { type: 'string', default: 'Infinity' },
    // Workers that never load the addon: what Node's own workers cost, to compare RSS with.
    control: { type: 'boolean', default: false },
  },
})
const SEQUENTIAL = Number(args.sequential)
const CONCURRENT = Number(args.concurrent)
const PARALLEL = Number(args.parallel)
const OPS = Number(args.ops)
const MAX_GROWTH = Number(args['max-growth'])
const WARMUP = 5

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { Store } = require('omnisession')
;(async () => {
  const store = await Store.open({ ...workerData.options, onViolation: () => {} })
  let ops = 0
  for (let i = 0; i < workerData.ops / 5; i++) {
    const s = await store.create({ userId: 'w' + (i % 10), data: { i, from: workerData.name } })
    const got = await store.get(s.id)
    if (!got || got.data.i !== i) throw new Error('read back ' + JSON.stringify(got))
    await store.patch(s.id, { set: { n: i } })
    await store.touch(s.id)
    await store.delete(s.id)
    ops += 5
  }
  await store.get('malformed!')
  await store.close()
  const closed = await store.count().then(() => 'open', (e) => e.code)
  if (closed !== 'STORE_CLOSED') throw new Error('after close: ' + closed)
  parentPort.postMessage({ ops })
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack) }))
`

const CONTROL_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
;(async () => {
  const records = new Map()
  for (let i = 0; i < workerData.ops / 5; i++) {
    records.set('k' + i, JSON.stringify({ i, from: workerData.name }))
    await new Promise((r) => setImmediate(r))
  }
  parentPort.postMessage({ ops: 0 })
})()
`

/** Resolves to {ops} or {error}; never rejects, so one failure does not hide the others. */
function runWorker(name, options) {
  return new Promise((resolve) => {
    const worker = new Worker(args.control ? CONTROL_SOURCE : WORKER_SOURCE, { eval: true, workerData: { name, options, ops: OPS } })
    let message = null
    let error = null
    worker.on('message', (m) => (message = m))
    worker.on('error', (e) => (error = String(e && e.stack)))
    worker.on('exit', (code) => {
      if (error) resolve({ error })
      else if (code !== 0) resolve({ error: `exit code ${code}` })
      else if (!message) resolve({ error: 'no result' })
      else resolve(message)
    })
  })
}

function threads() {
  return readdirSync('/proc/self/task').length
}

async function settled() {
  // Exited workers' threads and runtime threads go away asynchronously; give them time,
  // then read after a collection (worker envs are freed by the GC of their objects too).
  await new Promise((r) => setTimeout(r, 500))
  globalThis.gc()
  await new Promise((r) => setTimeout(r, 200))
  return { threads: threads(), rss: process.memoryUsage().rss / 1024 / 1024 }
}

const dir = mkdtempSync(path.join(tmpdir(), 'omnisession-workers-'))
const backends = [{ backend: 'memory' }, { backend: 'sqlite', path: path.join(dir, 'w.db') }]
const failures = []
let ops = 0
let runs = 0
const started = performance.now()
try {
  const record = (r, name) => {
    runs += 1
    if (r.error) failures.push(`${name}: ${r.error}`)
    else ops += r.ops
  }
  const concurrently = async (prefix, count) => {
    for (let i = 0; i < count; i += PARALLEL) {
      const batch = []
      for (let j = i; j < Math.min(count, i + PARALLEL); j++) batch.push(runWorker(`${prefix}${j}`, backends[j % 2]).then((r) => record(r, `${prefix}${j}`)))
      await Promise.all(batch)
    }
  }
  const initial = { threads: threads() }
  // A few workers first, alone and side by side: the first ones load the addon and start
  // pools that then stay, and PARALLEL live isolates set the allocator's high-water mark.
  for (let i = 0; i < WARMUP; i++) record(await runWorker(`warm${i}`, backends[i % 2]), `warm${i}`)
  await concurrently('warmpar', 2 * PARALLEL)
  const warm = await settled()

  for (let i = 0; i < SEQUENTIAL; i++) record(await runWorker(`seq${i}`, backends[i % 2]), `seq${i}`)
  const afterSequential = await settled()

  await concurrently('par', CONCURRENT)
  const afterConcurrent = await settled()

  const growth = ((afterConcurrent.rss - warm.rss) / warm.rss) * 100
  const threadLeak = afterConcurrent.threads - warm.threads
  const summary = {
    runs,
    crashes: failures.length,
    ops,
    threads: { initial: initial.threads, afterWarmup: warm.threads, afterSequential: afterSequential.threads, afterConcurrent: afterConcurrent.threads },
    rssWarmMiB: Math.round(warm.rss * 10) / 10,
    rssAfterSequentialMiB: Math.round(afterSequential.rss * 10) / 10,
    rssEndMiB: Math.round(afterConcurrent.rss * 10) / 10,
    growthPct: Math.round(growth * 100) / 100,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  }
  console.log(
    `node workers${args.control ? ' (control, no addon)' : ''}: runs=${runs} (${WARMUP + 2 * PARALLEL} warm-up, ${SEQUENTIAL} sequential, ${CONCURRENT} by ${PARALLEL}) crashes=${failures.length} ops=${ops} ` +
      `threads=${initial.threads}/${warm.threads}/${afterSequential.threads}/${afterConcurrent.threads} (start/warm/seq/end) ` +
      `rss=${summary.rssWarmMiB}->${summary.rssAfterSequentialMiB}->${summary.rssEndMiB} MiB growth=${summary.growthPct}% time=${summary.seconds}s`,
  )
  for (const f of failures.slice(0, 3)) console.error(f)
  console.log(JSON.stringify(summary))
  process.exitCode = failures.length || threadLeak > 0 || !(growth < MAX_GROWTH) ? 1 : 0
} finally {
  rmSync(dir, { recursive: true, force: true })
}
