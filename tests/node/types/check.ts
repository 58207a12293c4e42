// Type-level drift check, run by tests/node/types.test.mjs with tsc: the hand-written public
// declarations (index.d.ts) against the ones napi generates from the Rust source (native.d.ts).
import type { ManualClock as NativeClock, MemoryBackend as NativeMemory, NativeStore } from '../../../bindings-node/js/native'
import {
  CODES,
  ManualClock,
  MemoryBackend,
  SessionError,
  Store,
  generateSessionId,
  hashSessionId,
  type CustomBackend,
  type ErrorCode,
  type Session,
  type StoreOptions,
  type ViolationEvent,
} from 'omnisession'
import { OmnisessionStore, genid } from 'omnisession/express'
import { FetchSessions } from 'omnisession/fetch'

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

// What a native operation resolves to: an operation made of sessions, ready at once, returns
// true (written for the public Store to decode) or null, instead of a Promise.
// A synchronous operation (idAtRest, which needs no backend) is the same on both.
type Settled<R> = R extends Promise<infer T> ? T : never
type Public<S> = {
  [K in keyof S]: S[K] extends (...args: infer A) => infer R ? ([R] extends [string] ? S[K] : (...args: A) => Promise<Settled<R>>) : S[K]
}

// The native operations; `get` is a function bound to the store (bindings-node/src/bound.rs).
type NativeOps = Omit<NativeStore, 'boundGet'> & { get: ReturnType<NativeStore['boundGet']> }

// The public Store has exactly the native operations, each with the same signature.
export const sameOperations: Same<keyof Store, keyof NativeOps> = true
export const sameSignatures: Same<Pick<Store, keyof NativeOps>, Public<Pick<NativeOps, keyof NativeOps>>> = true
export const sameClock: Same<ManualClock, NativeClock> = true
export const sameMemory: Same<MemoryBackend, NativeMemory> = true
export const sharedMemory: StoreOptions = { backend: new MemoryBackend() }
export const sameOpen: Same<Awaited<ReturnType<typeof NativeStore.open>>, NativeStore> = true

// A realistic use of the public types.
export async function usage(): Promise<void> {
  const events: ViolationEvent[] = []
  const backend: CustomBackend = {
    get: async () => null,
    set: async () => {},
    delete: () => {},
  }
  const options: StoreOptions = {
    backend,
    maxSessionsPerUser: 0,
    defaultTtlMs: 60_000,
    evictionPolicy: 'lru',
    onViolation: (e) => {
      events.push(e)
    },
    clock: new ManualClock(0),
  }
  const store = await Store.open(options)
  const s: Session = await store.create({ userId: 'u1', data: { cart: [1, 'two', { three: null }] } })
  const at: Date = s.createdAt
  const expires: Date | null = s.expiresAt
  const again = await store.get(s.id)
  if (again !== null) await store.update({ ...again, data: { ...again.data, n: 1 } })
  await store.patch(s.id, { set: { k: true }, unset: ['cart'] })
  const page = await store.list({ limit: 10 })
  const next: string | null = page.cursor
  const n: number = await store.count()
  try {
    await store.touch(generateSessionId())
  } catch (e) {
    if (e instanceof SessionError) {
      const code: ErrorCode = e.code
      const details: Record<string, unknown> = e.details
      void [code, details]
    }
  }
  const hash: string = hashSessionId(s.id)
  const codes: readonly ErrorCode[] = CODES
  new OmnisessionStore({ store, userIdFrom: (sess) => sess.userId })
  const sid: string = genid()
  const sessions = new FetchSessions({ store, secret: ['a'.repeat(16)], cookie: { name: 'sid', sameSite: 'Strict' }, maxAgeMs: 3_600_000, rolling: true })
  const loaded = await sessions.load(new Request('https://example.test/'))
  loaded.data.n = 1
  loaded.setExpiry(300_000)
  await sessions.login(loaded, 'u1')
  const response: Response = await sessions.commit(loaded, new Response(null))
  await store.close()
  void [at, expires, next, n, hash, codes, sid, response, events]

  // @ts-expect-error ids are strings
  await store.get(42)
  // @ts-expect-error a Date is not JSON data
  await store.create({ userId: 'u1', data: { when: new Date() } })
  // @ts-expect-error durations are named ...Ms
  await Store.open({ defaultTtl: 5 })
  // @ts-expect-error the cookie's name is cookie.name
  new FetchSessions({ store, cookieName: 'sid' })
}
