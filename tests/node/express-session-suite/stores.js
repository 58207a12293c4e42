'use strict'
// The omnisession stores of the vendored express-session suite (used by index.js, the suite's
// stand-in for express-session). Store.open is async and express-session's session() is not:
// the root hooks below (mochaHooks, loaded by mocharc.js) keep a pool of opened memory stores
// (allowAnonymous: true) topped up before every test, and close every store at the end.
//
// EXPRESS_SESSION_SUITE_STORE=memory: no omnisession store at all (index.js then gives
// express-session's own MemoryStore), a check of the harness itself.

const OURS = process.env.EXPRESS_SESSION_SUITE_STORE !== 'memory'
// More than one test plus the `before` hooks entered on the way to it ever take (3 + 4).
const POOL_SIZE = 16
const pool = []
const opened = []

async function topUp() {
  if (!OURS) return
  const { Store } = require('omnisession')
  while (pool.length < POOL_SIZE) {
    const store = await Store.open({ backend: 'memory', allowAnonymous: true })
    opened.push(store)
    pool.push(store)
  }
}

async function closeAll() {
  pool.length = 0
  await Promise.all(opened.splice(0).map((store) => store.close()))
}

/** A new OmnisessionStore over an opened omnisession memory Store of its own. */
function omnisessionStore() {
  const store = pool.shift()
  if (!store) throw new Error('express-session suite: no opened omnisession store left (raise POOL_SIZE in stores.js)')
  const { OmnisessionStore } = require('omnisession/express')
  return new OmnisessionStore({ store })
}

module.exports = { OURS, omnisessionStore, mochaHooks: { beforeAll: topUp, beforeEach: topUp, afterAll: closeAll } }
