// omnisession/edge (Web Crypto, no addon) against the cookie vectors SessionCookie passes, and
// the export conditions that turn every Node entry into one clear error on the Edge runtime.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { SessionVerifier } from 'omnisession/edge'
import { SessionCookie } from '../../bindings-node/js/cookie.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const VECTORS = JSON.parse(readFileSync(path.join(ROOT, 'tests/conformance/cookies.json'), 'utf8'))

function text(value) {
  if (value && typeof value === 'object' && typeof value.$repeat === 'string') return value.$repeat.repeat(value.times)
  if (value && typeof value === 'object' && Array.isArray(value.$concat)) return value.$concat.map(text).join('')
  return value
}
const verifier = ({ name, secret }) => new SessionVerifier({ secret, cookie: { name } })

describe('cookies.json, as SessionCookie', () => {
  for (const c of VECTORS.verify) test(`verify / ${c.name}`, async () => assert.equal(await verifier(c.options).verify(text(c.value)), text(c.expect)))
  for (const c of VECTORS.read) {
    test(`read / ${c.name}`, async () => {
      const header = text(c.header)
      assert.equal(await verifier(c.options).read(typeof header === 'string' ? header : null), typeof header === 'string' ? text(c.expect) : null)
    })
  }
})

test('reads what SessionCookie signs, through rotation, from a Request', async () => {
  const id = 'Zt3vQ8mK1pX9wLr2Yb7Hc4Nf6Sd0Ja5Ue_Gi-Ok8TqW'
  const value = new SessionCookie({ secret: 'the-new-key-0123456789' }).sign(id)
  const request = new Request('https://example.test/', { headers: { cookie: `a=1; __Host-omnisession=${value}` } })
  assert.equal(await new SessionVerifier({ secret: ['another-key-0123456', 'the-new-key-0123456789'] }).read(request), id)
  assert.equal(await new SessionVerifier({ secret: 'another-key-0123456' }).read(request), null)
  assert.throws(() => new SessionVerifier({ secret: 'short' }), (e) => e.code === 'CONFIG_INVALID')
})

test('the Node entries under the Edge conditions: one error that names the Node runtime', () => {
  for (const entry of ['omnisession', 'omnisession/fetch', 'omnisession/next', 'omnisession/express']) {
    for (const condition of ['edge-light', 'worker']) {
      assert.throws(
        () => execFileSync(process.execPath, ['--conditions', condition, '--input-type=module', '-e', `await import('${entry}')`], { cwd: ROOT, stdio: 'pipe' }),
        (err) => /omnisession needs the Node\.js runtime/.test(err.stderr.toString()),
        `${entry} under ${condition}`,
      )
    }
  }
  const edge = execFileSync(process.execPath, ['--conditions', 'edge-light', '--input-type=module', '-e', "import('omnisession/edge').then((m) => console.log(typeof m.SessionVerifier))"], { cwd: ROOT })
  assert.equal(edge.toString().trim(), 'function')
})
