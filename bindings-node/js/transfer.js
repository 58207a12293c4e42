'use strict'

// Builds the sessions the native module writes (bindings-node/src/transfer/mod.rs has the layout)
// into two buffers this env shares with it: numbers, and the UTF-8 of every string. Objects
// made here are plain objects and arrays, as JSON.parse would make them; the JIT compiles
// this once for every session shape.

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
const SHAPE = 8
const NEW_SHAPE = 9

const KEY = 1
const NEW_KEY = 2
const TEXT_KEY = 3

let layout = new Float64Array(0)
let bytes = Buffer.alloc(0)
let at = 0
// Buffer's own decoders (what buf.toString(encoding, start, end) ends in; undocumented, so
// toString stands in should a Node lack them): Latin-1 is a plain copy, right for a result
// whose every string is ASCII.
const utf8 = Buffer.prototype.utf8Slice ?? function utf8(start, end) { return this.toString('utf8', start, end) }
const latin1 = Buffer.prototype.latin1Slice ?? function latin1(start, end) { return this.toString('latin1', start, end) }
let slice = utf8
let ascii = false
// Data keys by the index the native side gave them: internalized once, used as they are.
const keys = []
// Builders of objects by the index of their shape (their keys, in order).
const shapes = []

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
  ascii = layout[1] === 1
  slice = ascii ? latin1 : utf8
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
  return ascii && end - start <= SHORT ? shortAscii(start, end) : slice.call(bytes, start, end)
}

// A short ASCII string is made here from its bytes, in one String.fromCharCode call: a call
// into C++ (Buffer's slice) costs more than that, and so does joining pieces (9 characters:
// 38 ns in one call, 78 ns in pieces of 4, 143 ns through latin1Slice).
const SHORT = 12
const char = String.fromCharCode

function shortAscii(start, end) {
  const b = bytes
  const i = start
  switch (end - start) {
    case 1: return char(b[i])
    case 2: return char(b[i], b[i + 1])
    case 3: return char(b[i], b[i + 1], b[i + 2])
    case 4: return char(b[i], b[i + 1], b[i + 2], b[i + 3])
    case 5: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4])
    case 6: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5])
    case 7: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6])
    case 8: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7])
    case 9: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7], b[i + 8])
    case 10: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7], b[i + 8], b[i + 9])
    case 11: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7], b[i + 8], b[i + 9], b[i + 10])
    default: return char(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7], b[i + 8], b[i + 9], b[i + 10], b[i + 11])
  }
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
    case SHAPE:
      return shapes[layout[at++]](value)
    case NEW_SHAPE: {
      const index = layout[at++]
      const names = []
      for (let i = layout[at++]; i > 0; i--) names.push(key())
      shapes[index] = builder(names)
      return shapes[index](value)
    }
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

// An object of a shape is made by an object literal of its own, from code generated once per
// shape: V8 then makes it in one step, with its final layout, where `object()` adds keys one
// at a time through a store every shape shares (a tenth of a memory get of 1 KiB). Where code
// cannot be generated (--disallow-code-generation-from-strings), or a key is `__proto__`
// (which a literal would take as the prototype), the shape is built key by key: the native
// side counts a shape as known once sent, so it must have a builder whatever happens.
function builder(names) {
  if (!names.includes('__proto__')) {
    const literal = names.map((name) => `${JSON.stringify(name)}: value()`).join(', ')
    try {
      return new Function('value', `return { ${literal} }`)
    } catch {
      // No code generation here: key by key, below.
    }
  }
  return function build(value) {
    const out = {}
    for (const name of names) define(out, name, value())
    return out
  }
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
