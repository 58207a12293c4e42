// Violation events as Prometheus metrics (Node): onViolation increments a prom-client Counter
// labelled by `type`. Trips two controls on a memory store, then prints the /metrics text.
import client from 'prom-client'
import { Store } from 'omnisession'

// Every type docs/design.md defines, set to 0 up front: a series that exists before its first
// violation lets rate() and alerts see the first increase.
const TYPES = ['size_exceeded', 'not_serializable', 'invalid_session', 'session_limit_exceeded', 'site_mismatch', 'malformed_id']

const registry = new client.Registry()
const violations = new client.Counter({
  name: 'omnisession_violations_total',
  help: 'Session policy violations reported by omnisession, by type.',
  labelNames: ['type'],
  registers: [registry],
})
for (const type of TYPES) violations.inc({ type }, 0)

let received = 0
const store = await Store.open({
  maxSessionSize: 1024,
  maxSessionsPerUser: 1,
  // Keep the callback cheap: it runs on the event loop, queued after the operation.
  onViolation: (event) => {
    violations.inc({ type: event.type })
    received++
  },
})

// 1 × size_exceeded: a session over 1024 bytes is refused before anything is stored.
try {
  await store.create({ userId: 'alice', data: { note: 'x'.repeat(2000) } })
} catch (err) {
  if (err.code !== 'SESSION_SIZE_EXCEEDED') throw err
}
// 2 × session_limit_exceeded: one session per user, so each new login evicts the previous one.
for (let i = 0; i < 3; i++) await store.create({ userId: 'bob' })

// Events reach the callback asynchronously: wait for the three this script caused.
const deadline = Date.now() + 2000
while (received < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
await store.close()

// What a GET /metrics handler would answer: res.set('Content-Type', registry.contentType).
process.stdout.write(await registry.metrics())
