// Drift checks between the declarations and the native module: tsc compares the hand-written
// public types (index.d.ts) with those napi generates from the Rust source (native.d.ts), and
// the runtime prototypes are compared with both.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ManualClock, Store } from 'omnisession'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const require = createRequire(import.meta.url)
const native = require('../../bindings-node/js/native.js')

function methods(proto) {
  return Object.getOwnPropertyNames(proto)
    .filter((n) => n !== 'constructor')
    .sort()
}

/** The instance members a `declare class` of a .d.ts lists (statics excluded). */
function declared(file, className) {
  const text = readFileSync(path.join(ROOT, 'bindings-node/js', file), 'utf8')
  const body = text.match(new RegExp(`export declare class ${className}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`))
  assert.ok(body, `${className} not declared in ${file}`)
  return [...body[1].matchAll(/^\s{2}(?!static\b|private\b|constructor\b)(\w+)\(/gm)].map((m) => m[1]).sort()
}

test('tsc: index.d.ts and the generated native.d.ts declare the same operations and signatures', () => {
  const tsc = require.resolve('typescript/bin/tsc')
  const run = spawnSync(process.execPath, [tsc, '-p', 'tests/node/types/tsconfig.json'], { cwd: ROOT, encoding: 'utf8' })
  assert.equal(run.status, 0, run.stdout + run.stderr)
})

test('the runtime matches the declarations', () => {
  const nativeOps = declared('native.d.ts', 'NativeStore')
  assert.deepEqual(methods(native.NativeStore.prototype), nativeOps, 'native.d.ts against the binary')
  // `get` is a function the native store hands out, bound to it (bindings-node/src/bound.rs).
  const ops = nativeOps.map((op) => (op === 'boundGet' ? 'get' : op)).sort()
  assert.ok(ops.length >= 14 && ops.includes('get'), ops.join(','))
  assert.deepEqual(methods(Store.prototype), ops, 'the public Store against the native one')
  assert.deepEqual(declared('index.d.ts', 'Store'), ops, 'index.d.ts against native.d.ts')
  assert.deepEqual(methods(ManualClock.prototype), declared('native.d.ts', 'ManualClock'))
  assert.deepEqual(declared('index.d.ts', 'ManualClock'), declared('native.d.ts', 'ManualClock'))
  for (const fn of ['hashSessionId', 'generateSessionId', 'registerHost']) {
    assert.equal(typeof native[fn], 'function', fn)
    assert.match(readFileSync(path.join(ROOT, 'bindings-node/js/native.d.ts'), 'utf8'), new RegExp(`export declare function ${fn}\\(`))
  }
})
