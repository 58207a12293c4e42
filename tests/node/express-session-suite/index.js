'use strict'
// Stands in for express-session's package root in the vendored suite (spec/*.js require '../',
// as upstream's test/*.js do). It is express-session 1.19.0 itself, except that every store the
// suite does not write itself is an OmnisessionStore over a fresh omnisession memory Store
// (stores.js): the default store of every session() (genid left as the test gives it) and every
// `new session.MemoryStore()` (those tests watch the store: length, all, get, set, clear, touch,
// expiry). The suite's own SyncStore and SmartStore stay theirs.

const expressSession = require('express-session')
const { OURS, omnisessionStore } = require('./stores.js')

function session(options) {
  const opts = options || {}
  return expressSession(OURS && !opts.store ? { ...opts, store: omnisessionStore() } : opts)
}

// `new session.MemoryStore()` in the suite: a constructor returning an object yields that object.
function MemoryStore() {
  return OURS ? omnisessionStore() : new expressSession.MemoryStore()
}

session.Store = expressSession.Store
session.Cookie = expressSession.Cookie
session.Session = expressSession.Session
session.MemoryStore = MemoryStore

module.exports = session
