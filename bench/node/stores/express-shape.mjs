// What an express-session store is handed: the session object with its cookie. Shared by the
// peers that speak the express-session Store API (MemoryStore, connect-redis).
import crypto from 'node:crypto'

export const DAY_MS = 24 * 3600 * 1000

export function sessionObject(data) {
  return { cookie: { originalMaxAge: DAY_MS, expires: new Date(Date.now() + DAY_MS).toISOString(), httpOnly: true, path: '/' }, ...data }
}

// express-session's default genid is uid-safe(24): 32 base64url characters.
export const sid = () => crypto.randomBytes(24).toString('base64url')

export const call = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))))

/** Adapts any express-session Store; rotate and deleteByUserId have no Store API, so are absent. */
export function expressAdapter(store, close = async () => {}) {
  const held = new Map() // the in-request copy express-session keeps and saves back whole
  return {
    async create(i, data) {
      const id = sid()
      const sess = sessionObject({ ...data, userId: `u-${i}` })
      await call((cb) => store.set(id, sess, cb))
      held.set(id, sess)
      return { id, user: `u-${i}` }
    },
    get: (id) => call((cb) => store.get(id, cb)),
    save(id, i) {
      const sess = held.get(id)
      sess.counter = i
      return call((cb) => store.set(id, sess, cb))
    },
    touch: (id) => call((cb) => store.touch(id, held.get(id), cb)),
    close,
  }
}
