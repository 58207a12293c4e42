// examples/metrics/violations-prom-client.mjs run as a real process: the counters it prints
// are the violations its store raised, one per event, under the right label.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

test('the prom-client example counts each violation under its type', async () => {
  const script = path.join(root, 'examples', 'metrics', 'violations-prom-client.mjs')
  const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd: root, timeout: 30_000 })
  const counters = {}
  for (const [, type, value] of stdout.matchAll(/^omnisession_violations_total\{type="(\w+)"\} (\S+)$/gm)) {
    counters[type] = Number(value)
  }
  assert.deepEqual(counters, {
    size_exceeded: 1,
    not_serializable: 0,
    invalid_session: 0,
    session_limit_exceeded: 2,
    site_mismatch: 0,
    malformed_id: 0,
  })
  assert.match(stdout, /^# TYPE omnisession_violations_total counter$/m)
})
