// Bytes of resident memory per stored 1 KiB session in the memory backend: RSS before and after
// creating `count` sessions, garbage collected both times (run with --expose-gc), in a fresh
// process so nothing else has warmed the heap.
//   node --expose-gc rss.mjs --out FILE [--count 100000]
import fs from 'node:fs'
import { arg, payload } from './measure.mjs'
import { fillByCreate } from './fill.mjs'
import { Store } from './omni.mjs'

const count = Number(arg('count', 100000))
const data = payload(1024)
const store = await Store.open({ backend: 'memory', cleanupIntervalMs: 0 })
await fillByCreate(store, 100, data) // first allocations of the runtime and its shards
const settle = async () => { for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)) } }
await settle()
const before = process.memoryUsage().rss
await fillByCreate(store, count, data)
await settle()
const after = process.memoryUsage().rss
const [one] = (await store.list({ limit: 1 })).sessions
const jsonBytes = Buffer.byteLength(JSON.stringify(one))
const result = { runner: 'node', scenario: 'rss', impl: 'omnisession', backend: 'memory', count, session_json_bytes: jsonBytes, bytes_per_session: (after - before) / count }
process.stderr.write(`rss: ${result.bytes_per_session.toFixed(0)} bytes per session (JSON ~${jsonBytes} B)\n`)
fs.writeFileSync(arg('out'), JSON.stringify([result], null, 1))
