// The shared vectors of tests/conformance (format: tests/conformance/README.md), run through
// the Node API against memory, SQLite, file and a real Redis.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ManualClock, MemoryBackend, SessionError, Store, hashSessionId } from 'omnisession'
import { removeDir, settle, startRedis, tempDir } from './helpers.mjs'

const VECTORS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../conformance')
const START_MS = 1_893_456_000_000 // 2030-01-01T00:00:00Z

/** Canonical option names → Node names (durations in ms gain the `Ms` suffix). */
const DURATIONS = new Set(['default_ttl', 'max_lifetime', 'idle_timeout', 'cleanup_interval', 'tombstone_ttl', 'wait_timeout'])
function nodeName(name) {
  // A name that is not canonical (camelCase) stands for a wrong-convention name: in Node that
  // is the snake_case form.
  if (/[A-Z]/.test(name)) return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  const camel = name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
  return DURATIONS.has(name) ? `${camel}Ms` : camel
}
function nodeOptions(canonical) {
  return Object.fromEntries(Object.entries(canonical).map(([k, v]) => [nodeName(k), v]))
}

// The codes that say the session has ended: every error met is checked against them.
const GONE = new Set(JSON.parse(readFileSync(path.join(VECTORS, 'error_codes.json'), 'utf8')).gone_codes)

const files = readdirSync(VECTORS)
  // cookies.json and adapters.json are the cookie modules' and the adapters' specs, with runners of their own.
  .filter((f) => f.endsWith('.json') && !['schema.json', 'cookies.json', 'adapters.json'].includes(f))
  .sort()

let redis = null
let caseNumber = 0

const BACKENDS = {
  memory: () => ({ options: { backend: new MemoryBackend() }, done() {} }),
  sqlite: () => {
    const dir = tempDir()
    return { options: { backend: 'sqlite', path: path.join(dir, 'sessions.db') }, done: () => removeDir(dir) }
  },
  file: () => {
    const dir = tempDir()
    return { options: { backend: 'file', path: path.join(dir, 'sessions') }, done: () => removeDir(dir) }
  },
  redis: () => ({
    options: { backend: 'redis', url: redis.url, keyPrefix: `nodeconf${process.pid}-${++caseNumber}:` },
    done() {},
  }),
}

/** Replaces "$name" by bound ids and expands {"$repeat": s, "times": n}. */
function resolve(value, bound) {
  if (typeof value === 'string' && value.startsWith('$') && Object.hasOwn(bound, value.slice(1))) return bound[value.slice(1)]
  if (Array.isArray(value)) return value.map((v) => resolve(v, bound))
  if (value && typeof value === 'object') {
    if (typeof value.$repeat === 'string' && typeof value.times === 'number') return value.$repeat.repeat(value.times)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, bound)]))
  }
  return value
}

/** The wire's timestamp form: RFC 3339, UTC, fraction without trailing zeros. */
function wireTime(date) {
  if (date === null) return null
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_, f) => (f ? `.${f}Z` : 'Z'))
}

function canonical(s) {
  return {
    id: s.id,
    user_id: s.userId,
    site_id: s.siteId,
    organization_id: s.organizationId,
    data: s.data,
    created_at: wireTime(s.createdAt),
    updated_at: wireTime(s.updatedAt),
    last_accessed_at: wireTime(s.lastAccessedAt),
    expires_at: wireTime(s.expiresAt),
    ip_address: s.ipAddress,
    user_agent: s.userAgent,
    version: s.version,
  }
}

function pick(args, names) {
  const out = {}
  for (const [from, to] of names) if (Object.hasOwn(args, from)) out[to] = args[from]
  return out
}

/** A write's new expiry: `ttl_ms`, or `expires_at` (RFC 3339, null = never) as a Date. */
function expiry(args) {
  const out = pick(args, [['ttl_ms', 'ttlMs']])
  if (Object.hasOwn(args, 'expires_at')) out.expiresAt = args.expires_at === null ? null : new Date(args.expires_at)
  return out
}

async function call(store, op, args) {
  switch (op) {
    case 'create':
      return canonical(
        await store.create(
          {
            ...pick(args, [['user_id', 'userId'], ['data', 'data'], ['id', 'id'], ['ip_address', 'ipAddress'], ['user_agent', 'userAgent'], ['organization_id', 'organizationId']]),
            ...expiry(args),
          },
        ),
      )
    case 'get': {
      const s = await store.get(args.id ?? '')
      return s === null ? null : canonical(s)
    }
    case 'update':
    case 'upsert':
      return canonical(
        await store[op]({
          id: args.id ?? '',
          data: args.data ?? {},
          ...pick(args, [['user_id', 'userId'], ['version', 'version'], ['ip_address', 'ipAddress'], ['user_agent', 'userAgent'], ['organization_id', 'organizationId']]),
          ...expiry(args),
        }),
      )
    case 'patch':
      return canonical(
        await store.patch(args.id ?? '', {
          ...pick(args, [['set', 'set'], ['unset', 'unset'], ['version', 'version'], ['user_id', 'userId']]),
          ...expiry(args),
        }),
      )
    case 'touch': {
      const e = expiry(args)
      return canonical(await (Object.keys(e).length > 0 ? store.touch(args.id ?? '', e) : store.touch(args.id ?? '')))
    }
    case 'get_sliding': {
      const s = await store.getSliding(args.id ?? '', args.rolling_ms)
      return s === null ? null : canonical(s)
    }
    case 'login':
      return canonical(
        await store.login({
          userId: args.user_id ?? '',
          ...pick(args, [['from', 'from'], ['set', 'set'], ['unset', 'unset']]),
          ...expiry(args),
        }),
      )
    case 'rotate':
      return canonical(await store.rotate(args.id ?? ''))
    case 'delete':
      await store.delete(args.id ?? '')
      return null
    case 'delete_by_user_id':
      return store.deleteByUserId(args.user_id ?? '')
    case 'list_by_user_id':
      return (await store.listByUserId(args.user_id ?? '')).map(canonical)
    case 'list': {
      const page = await store.list(pick(args, [['cursor', 'cursor'], ['limit', 'limit']]))
      return { count: page.sessions.length, has_more: page.cursor !== null }
    }
    case 'list_all': {
      const ids = []
      let cursor = null
      do {
        const page = await store.list({ cursor, ...pick(args, [['limit', 'limit']]) })
        ids.push(...page.sessions.map((s) => s.id))
        cursor = page.cursor
      } while (cursor !== null)
      return ids
    }
    case 'count':
      return store.count()
    case 'clear':
      return store.clear()
    case 'cleanup':
      return store.cleanup()
    case 'close':
      await store.close()
      return null
    default:
      throw new Error(`unknown op ${op}`)
  }
}

function subset(want, got, at) {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    assert.ok(got !== null && typeof got === 'object', `${at}: want an object, got ${JSON.stringify(got)}`)
    for (const [k, v] of Object.entries(want)) {
      assert.ok(Object.hasOwn(got, k), `${at}.${k} missing in ${JSON.stringify(got)}`)
      subset(v, got[k], `${at}.${k}`)
    }
    return
  }
  assert.deepStrictEqual(got, want, at)
}

/** Each field given is compared exactly (data as a whole object). */
function sessionFields(want, got, at) {
  if (want === null || typeof want !== 'object') return assert.deepStrictEqual(got, want, at)
  assert.ok(got !== null, `${at}: want a session, got null`)
  for (const [k, v] of Object.entries(want)) {
    assert.ok(Object.hasOwn(got, k), `${at}.${k} missing`)
    assert.deepStrictEqual(got[k], v, `${at}.${k}`)
  }
}

function compareResult(op, want, got) {
  switch (op) {
    case 'list_by_user_id':
      if (want.ids) assert.deepStrictEqual(got.map((s) => s.id), want.ids, 'ids')
      if (want.sessions) {
        assert.equal(got.length, want.sessions.length, 'number of sessions')
        want.sessions.forEach((w, i) => sessionFields(w, got[i], `session ${i}`))
      }
      return
    case 'list_all':
      assert.equal(new Set(got).size, got.length, `an id appeared twice across pages: ${got}`)
      assert.deepStrictEqual(new Set(got), new Set(want.ids), 'ids')
      return
    case 'create':
    case 'get':
    case 'get_sliding':
    case 'update':
    case 'upsert':
    case 'login':
    case 'patch':
    case 'touch':
    case 'rotate':
      return sessionFields(want, got, 'result')
    default:
      return subset(want, got, 'result')
  }
}

function checkOutcome(step, outcome, expect) {
  if (step.error !== undefined) {
    assert.ok(outcome.error, `expected ${step.error}, got ${JSON.stringify(outcome.value)}`)
    assert.ok(outcome.error instanceof SessionError, `not a SessionError: ${outcome.error}`)
    assert.equal(outcome.error.code, step.error, outcome.error.message)
    assert.equal(outcome.error.gone, GONE.has(step.error), `gone of ${step.error}`)
    const want = { ...(step.details ?? {}) }
    if (typeof want.option === 'string') want.option = nodeName(want.option)
    subset(want, outcome.error.details, 'details')
    return
  }
  if (outcome.error) throw outcome.error
  if (expect !== undefined) compareResult(step.op, expect, outcome.value)
}

function compareViolations(got, want, bound) {
  const events = got.map((e) => ({
    type: e.type,
    session_id_hash: e.sessionIdHash,
    user_id: e.userId,
    site_id: e.siteId,
    size: e.size,
    limit: e.limit,
    message: e.message,
  }))
  assert.equal(events.length, want.length, `want ${want.length} violations, got ${JSON.stringify(events)}`)
  want.forEach((w, i) => {
    const { session, ...rest } = w
    if (session !== undefined) {
      const hash = session === null ? null : hashSessionId(resolve(session, bound))
      assert.equal(events[i].session_id_hash, hash, `violation ${i}: session`)
    }
    subset(rest, events[i], `violation ${i}`)
  })
}

async function runCase(kind, testCase) {
  const backend = BACKENDS[kind]()
  const clock = new ManualClock(START_MS)
  const stores = []
  try {
    for (const [name, spec] of Object.entries(testCase.stores ?? { main: {} })) {
      const seen = []
      const options = { cleanupIntervalMs: 0, ...nodeOptions(spec), ...backend.options, clock, onViolation: (e) => seen.push(e) }
      stores.push({ name, store: await Store.open(options), seen })
    }
    const bound = {}
    const pickStore = (step) => (step.store === undefined ? stores[0] : stores.find((s) => s.name === step.store))
    for (const [i, step] of testCase.steps.entries()) {
      const label = `step ${i} (${step.op})`
      const args = resolve(step.args ?? {}, bound)
      const expect = step.expect === undefined ? undefined : resolve(step.expect, bound)
      try {
        if (step.op === 'advance') {
          clock.advance(args.ms)
          continue
        }
        if (step.op === 'violations') {
          const s = pickStore(step)
          await settle(() => s.seen.length >= (step.expect || []).length)
          compareViolations(s.seen.splice(0), step.expect, bound)
          continue
        }
        if (step.op === 'open') {
          const given = nodeOptions(args.options)
          const namesBackend = ['backend', 'path', 'url', 'urls', 'cluster', 'tlsCa', 'tlsCert', 'tlsKey'].some((k) => Object.hasOwn(given, k))
          const options =
            step.error !== undefined && namesBackend
              ? { cleanupIntervalMs: 0, ...given, clock }
              : { cleanupIntervalMs: 0, ...given, ...backend.options, ...pick(given, [['keyPrefix', 'keyPrefix']]), clock }
          let outcome
          try {
            const store = await Store.open(options)
            await store.close()
            outcome = { value: null }
          } catch (error) {
            outcome = { error }
          }
          checkOutcome(step, outcome, undefined)
          continue
        }
        const s = pickStore(step)
        let outcome
        try {
          outcome = { value: await call(s.store, step.op, args) }
        } catch (error) {
          outcome = { error }
        }
        if (!outcome.error && step.bind) bound[step.bind] = outcome.value.id
        checkOutcome(step, outcome, expect)
      } catch (err) {
        err.message = `${label}: ${err.message}`
        throw err
      }
    }
  } finally {
    for (const { store } of stores) await store.close()
    backend.done()
  }
}

before(async () => {
  redis = await startRedis()
})

after(async () => {
  await redis.stop()
})

test('vector files are present', () => {
  assert.ok(files.length > 0, `no vectors in ${VECTORS}`)
})

for (const kind of Object.keys(BACKENDS)) {
  describe(`conformance on ${kind}`, () => {
    for (const file of files) {
      const doc = JSON.parse(readFileSync(path.join(VECTORS, file), 'utf8'))
      for (const testCase of doc.cases) {
        test(`${file} / ${testCase.name}`, () => runCase(kind, testCase))
      }
    }
  })
}
