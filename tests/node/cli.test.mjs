// The `omnisession` admin command as the npm package ships it: `npx omnisession` (the package's
// `bin`) runs the core's command in the addon, against a store this process wrote.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Store } from 'omnisession'
import { removeDir, tempDir } from './helpers.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const dir = tempDir('omnisession-cli-')
after(() => removeDir(dir))

function run(command, args) {
  const done = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
  return { code: done.status, stdout: done.stdout, stderr: done.stderr }
}

// id::fingerprint: the first 20 hex characters of SHA-256("omnisession-fingerprint\0" + id).
const fingerprint = (id) => createHash('sha256').update(`omnisession-fingerprint\0${id}`).digest('hex').slice(0, 20)

test('npx omnisession --help prints the usage and exits 0', () => {
  const r = run('npx', ['--no-install', 'omnisession', '--help'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /Usage: omnisession/)
  assert.match(r.stdout, /migrate/)
})

test('the bin lists a user\'s sessions by id hash, never by id, and exits with its codes', async () => {
  const file = path.join(dir, 'sessions.db')
  const store = await Store.open({ backend: 'sqlite', path: file })
  const session = await store.create({ userId: 'alice', data: { cart: [] }, userAgent: 'node-test' })
  await store.close()
  const bin = path.join(ROOT, 'bindings-node/js/cli.js')
  const listed = run(process.execPath, [bin, 'list', '--user', 'alice', '--url', `sqlite://${file}`, '--json'])
  assert.equal(listed.code, 0, listed.stderr)
  const doc = JSON.parse(listed.stdout)
  assert.equal(doc.sessions.length, 1)
  assert.equal(doc.sessions[0].id_hash, fingerprint(session.id))
  assert.equal(doc.sessions[0].user_agent, 'node-test')
  assert.ok(!listed.stdout.includes(session.id) && !listed.stderr.includes(session.id))
  const refused = run(process.execPath, [bin, 'revoke', '--user', 'alice', '--url', `sqlite://${file}`])
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /--yes/)
  const missing = run(process.execPath, [bin, 'check', '--url', `sqlite://${path.join(dir, 'none.db')}`])
  assert.equal(missing.code, 2)
  assert.match(missing.stderr, /CONFIG_INVALID/)
})
