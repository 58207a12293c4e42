// A Node service for the interop suite. argv[2]: store options as JSON, snake_case, durations
// as `*_ms`. Then one operation per stdin line, `[op, ...args]` with snake_case names; one JSON
// line back for each: sessions in the wire form, errors as {"error": code}.
// `["all", [op, ...]]` runs its operations concurrently and answers with the list of results.
import { createInterface } from 'node:readline'
import { Store, SessionError } from 'omnisession'

const ZERO_TIME = '0001-01-01T00:00:00Z'

const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
// Top level only: data keys are the caller's and must reach the store as they are.
const camelKeys = (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [camel(k), v]))
const isPlain = (v) => typeof v === 'object' && v !== null && !Array.isArray(v)

function stamp(at) {
  if (!(at instanceof Date)) throw new TypeError(`a timestamp is not a Date: ${at}`)
  return at.toISOString().replace(/(\.\d*?)0+Z$/, '$1Z').replace('.Z', 'Z')
}

// The record as the core writes it: same names, order and omissions.
function wire(s) {
  const w = { id: s.id, user_id: s.userId ?? '' }
  if (s.siteId !== '') w.site_id = s.siteId
  if (s.organizationId !== null) w.organization_id = s.organizationId
  if (Object.keys(s.data).length > 0) w.data = s.data
  w.created_at = stamp(s.createdAt)
  w.updated_at = stamp(s.updatedAt)
  w.last_accessed_at = stamp(s.lastAccessedAt)
  w.expires_at = s.expiresAt === null ? ZERO_TIME : stamp(s.expiresAt)
  if (s.ipAddress !== '') w.ip_address = s.ipAddress
  if (s.userAgent !== '') w.user_agent = s.userAgent
  w.version = s.version
  return w
}

function output(value) {
  if (value === undefined || value === null || typeof value === 'number') return value ?? null
  if (Array.isArray(value)) return value.map(wire)
  if (Array.isArray(value.sessions)) return { sessions: value.sessions.map(wire), cursor: value.cursor }
  return wire(value)
}

async function answer(store, [op, ...args]) {
  try {
    if (op === 'all') return await Promise.all(args[0].map((each) => answer(store, each)))
    const result = await store[camel(op)](...args.map((a) => (isPlain(a) ? camelKeys(a) : a)))
    return output(result)
  } catch (err) {
    return { error: err instanceof SessionError ? err.code : `${err.name}: ${err.message}` }
  }
}

let store
try {
  store = await Store.open(camelKeys(JSON.parse(process.argv[2])))
  console.log(JSON.stringify({ ready: true }))
} catch (err) {
  console.log(JSON.stringify({ error: err.code ?? String(err) }))
  process.exit(1)
}
// A value with no JSON form (a BigInt, say) is an answer too: the driver's assertion shows it.
function encode(result) {
  try {
    return JSON.stringify(result)
  } catch (err) {
    return JSON.stringify({ error: `${err.name}: ${err.message}` })
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  console.log(encode(await answer(store, JSON.parse(line))))
}
await store.close()
