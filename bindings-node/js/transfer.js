'use strict'

// Builds the sessions the native module writes (bindings-node/src/transfer/mod.rs has the layout)
// into two buffers this env shares with it: numbers, and the UTF-8 of every string. Objects
// made here are plain objects and arrays, as JSON.parse would make them; the JIT compiles
// this once for every session shape. Building them here rather than through Node-API made a
// memory get of a 1 KiB session 1.6-1.8x faster (bench/README.md).

const RESULT_ONE = 1
const RESULT_MANY = 2
const RESULT_PAGE = 3

const OBJECT = 1
const ARRAY = 2
const STRING = 3
const NUMBER = 4
const TRUE = 5
const FALSE = 6
const NULL = 7

const KEY = 1
const NEW_KEY = 2
const TEXT_KEY = 3

let layout = new Float64Array(0)
let bytes = Buffer.alloc(0)
let at = 0
// Buffer's own decoders (what buf.toString(encoding, start, end) ends in; undocumented, so
// toString stands in should a Node lack them). Latin-1 is a plain copy, right for a result
// whose every string is ASCII (the header says so) and cheaper than decoding UTF-8: 127 against
// 168 ns for a 960-byte string, 70 against 75-90 ns for short ones.
const utf8 = Buffer.prototype.utf8Slice ?? function utf8(start, end) { return this.toString('utf8', start, end) }
const latin1 = Buffer.prototype.latin1Slice ?? function latin1(start, end) { return this.toString('latin1', start, end) }
let slice = utf8
// Data keys by the index the native side gave them: internalized once, used as they are
// (10-15 % on a memory get of a 1 KiB session against every key sent and made as text).
const keys = []

function useLayout(numbers, strings) {
  layout = new Float64Array(numbers)
  bytes = Buffer.from(strings)
}

/**
 * Decodes the result the native side has just written. `asked`: the id a get was called with,
 * which is its session's id (the core checks every record it reads against its key), so that
 * string is reused instead of being made again from the bytes.
 */
function decode(asked) {
  slice = layout[1] === 1 ? latin1 : utf8
  at = 2
  switch (layout[0]) {
    case RESULT_ONE:
      return session(asked)
    case RESULT_MANY:
      return sessions()
    case RESULT_PAGE: {
      const list = sessions()
      return { sessions: list, cursor: string() }
    }
    default:
      throw new Error(`omnisession: unknown result layout ${layout[0]}`)
  }
}

/** A native result: settled at once (true: written, to decode now; null), or a Promise. */
function settled(result, asked) {
  if (result === true) return Promise.resolve(decode(asked))
  return result === null ? Promise.resolve(null) : result
}

function sessions() {
  const n = layout[at++]
  const list = []
  for (let i = 0; i < n; i++) list.push(session())
  return list
}

function string() {
  const start = layout[at]
  const end = layout[at + 1]
  at += 2
  if (start < 0) return null
  if (start === end) return ''
  return slice.call(bytes, start, end)
}

function date(ms) {
  return Number.isNaN(ms) ? null : new Date(ms)
}

// One object literal: V8 gives every session the same shape in one step.
function session(asked) {
  let id = asked
  if (id === undefined) id = string()
  else at += 2
  const userId = string()
  const siteId = string()
  const organizationId = string()
  const createdAt = new Date(layout[at])
  const updatedAt = new Date(layout[at + 1])
  const lastAccessedAt = new Date(layout[at + 2])
  const expiresAt = date(layout[at + 3])
  at += 4
  const ipAddress = string()
  const userAgent = string()
  const version = layout[at++]
  const data = value()
  return { id, userId, siteId, organizationId, data, createdAt, updatedAt, lastAccessedAt, expiresAt, ipAddress, userAgent, version }
}

function value() {
  switch (layout[at++]) {
    case OBJECT:
      return object()
    case ARRAY: {
      const n = layout[at++]
      const items = []
      for (let i = 0; i < n; i++) items.push(value())
      return items
    }
    case STRING:
      return string()
    case NUMBER:
      return layout[at++]
    case TRUE:
      return true
    case FALSE:
      return false
    case NULL:
      return null
    default:
      throw new Error(`omnisession: unknown value layout ${layout[at - 1]}`)
  }
}

function object() {
  const n = layout[at++]
  const out = {}
  for (let i = 0; i < n; i++) {
    const name = key()
    define(out, name, value())
  }
  return out
}

function define(out, name, v) {
  if (name === '__proto__') {
    // An own property, as JSON.parse makes it; assigning would set the prototype.
    Object.defineProperty(out, name, { value: v, writable: true, enumerable: true, configurable: true })
  } else {
    out[name] = v
  }
}

function key() {
  switch (layout[at++]) {
    case KEY:
      return keys[layout[at++]]
    case NEW_KEY: {
      const index = layout[at++]
      keys[index] = internalize(string())
      return keys[index]
    }
    case TEXT_KEY:
      return string()
    default:
      throw new Error(`omnisession: unknown key layout ${layout[at - 1]}`)
  }
}

// A property name as V8 keeps it (internalized), so later objects use it without a lookup.
function internalize(name) {
  return Object.keys({ [name]: 0 })[0]
}

module.exports = { decode, settled, useLayout }
