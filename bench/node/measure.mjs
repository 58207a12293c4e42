// Runs `op(i)` for i = 0..n-1 with `inFlight` calls outstanding at once and reports throughput
// and latency percentiles. Every runner (Node, Python, Go, Rust) reports the same fields so the
// driver can put them side by side.
import { performance } from 'node:perf_hooks'

export async function measure(op, { n, inFlight, warmup = 0 }) {
  // Warm-up calls use indices past n so that ops consuming an id (rotate, deleteByUserId) never
  // see one twice; callers size their fixtures as n + warmup.
  for (let i = 0; i < warmup; i++) await op(n + i)
  const lat = new Float64Array(n)
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      const t0 = performance.now()
      await op(i)
      lat[i] = performance.now() - t0
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker))
  const secs = (performance.now() - t0) / 1000
  lat.sort()
  const pct = (p) => lat[Math.min(n - 1, Math.floor(p * n))] * 1000
  return { n, ops_per_s: n / secs, p50_us: pct(0.5), p99_us: pct(0.99) }
}

/** The middle value (the upper one of an even count): what a run of alternating rounds reports. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** Session data whose JSON is about `size` bytes, the same shape in every runner. */
export function payload(size, i = 0) {
  return { user: `user-${i}`, cart: [1, 2, 3], blob: 'x'.repeat(Math.max(0, size - 64)) }
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Session data whose JSON is about `size` bytes, shaped as `payload` but with a blob of
 *  pseudo-random base62 text (ids, tokens) instead of a run of `x`: what a cookie carries, and
 *  what does not compress to nothing (Django's signed_cookies compresses before it signs). The
 *  same generator as bench/python/measure.py's, so both runners seal the same bytes. */
export function tokenPayload(size, i = 0) {
  let x = ((i + 1) * 7919) & 0x7fffffff
  let blob = ''
  for (let k = Math.max(0, size - 64); k > 0; k--) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
    blob += BASE62[(x >>> 16) % 62]
  }
  return { user: `user-${i}`, cart: [1, 2, 3], blob }
}

export function arg(name, fallback) {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 ? process.argv[at + 1] : fallback
}
