// express-session's bundled MemoryStore: the default a user gets without configuring a store.
import session from 'express-session'
import { expressAdapter } from './express-shape.mjs'

export async function open() {
  return expressAdapter(new session.MemoryStore())
}
