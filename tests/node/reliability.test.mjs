// Short versions of the reliability runs (tests/reliability/): memory growth over many
// operations, and stores in short-lived worker threads. The full sizes run in
// `make reliability`; these keep a leak or a worker crash from reaching it unnoticed.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** Runs a script of tests/reliability; resolves to {code, signal, stdout, stderr, summary}. */
function runScript(file, args, nodeFlags = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, path.join(ROOT, 'tests/reliability', file), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      const last = stdout.trim().split('\n').at(-1) ?? ''
      let summary = null
      try {
        summary = JSON.parse(last)
      } catch {}
      resolve({ code, signal, stdout, stderr, summary })
    })
  })
}

test('100k operations on memory and 20k on SQLite grow RSS by less than 10% after the warm-up', { timeout: 600_000 }, async () => {
  for (const [backend, ops] of [['memory', 100_000], ['sqlite', 20_000]]) {
    // A third of the run as warm-up: short runs have a later allocator plateau to reach.
    const r = await runScript('node_leak.mjs', ['--ops', String(ops), '--backends', backend, '--warmup', '0.3'])
    assert.ok(r.summary, `no summary\n${r.stdout}\n${r.stderr}`)
    const [result] = r.summary.results
    assert.equal(result.errors, 0, r.stderr)
    assert.ok(result.ops >= ops)
    assert.ok(result.growthPct < 10, r.stdout)
    assert.equal(r.code, 0, r.stdout + r.stderr)
  }
})

test('workers that open, use and close a store exit cleanly, alone and side by side, leaking no thread', { timeout: 600_000 }, async () => {
  const r = await runScript('node_workers.mjs', ['--sequential', '20', '--concurrent', '12', '--parallel', '4', '--ops', '100'])
  assert.ok(r.summary, `no summary\n${r.stdout}\n${r.stderr}`)
  assert.equal(r.summary.crashes, 0, r.stderr)
  assert.equal(r.summary.runs, 13 + 20 + 12)
  assert.ok(r.summary.threads.afterConcurrent <= r.summary.threads.afterWarmup, r.stdout)
  assert.equal(r.signal, null)
  assert.equal(r.code, 0, r.stdout + r.stderr)
})
