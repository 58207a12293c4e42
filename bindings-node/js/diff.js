'use strict'
// What changed in a session's data, as a per-key patch: the adapters (express, fetch) save only
// the top-level keys a request changed, so parallel requests that change different keys both win.

function isPlainObject(v) {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Deep equality of a JSON value `a` (from the store) with any value `b`; a non-JSON `b` differs. */
function sameJson(a, b) {
  if (a === null || typeof a !== 'object') return a === b
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || Object.getPrototypeOf(b) !== Array.prototype || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) {
      if (!(i in b) || !sameJson(a[i], b[i])) return false
    }
    return true
  }
  if (!isPlainObject(b)) return false
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]))
}

/** The keys to set (new or changed) and to unset (gone) to turn `before` into `after`. */
function diff(before, after) {
  const set = {}
  const unset = []
  for (const key of Object.keys(after)) {
    if (!Object.prototype.hasOwnProperty.call(before, key) || !sameJson(before[key], after[key])) set[key] = after[key]
  }
  for (const key of Object.keys(before)) {
    if (!Object.prototype.hasOwnProperty.call(after, key)) unset.push(key)
  }
  return { set, unset }
}

module.exports = { diff, isPlainObject }
