// A small express-session-style store on better-sqlite3 (synchronous, in the event loop thread),
// with the same durability settings as omnisession's SQLite backend (WAL, synchronous=NORMAL)
// and a user_id column so that deleteByUserId has something to compare against.
import Database from 'better-sqlite3'
import path from 'node:path'
import { DAY_MS, sid, sessionObject } from './express-shape.mjs'

export async function open(_backend, ctx) {
  const db = new Database(path.join(ctx.tmp, `bsq-${ctx.tag}.db`))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec(`CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, user_id TEXT, sess TEXT NOT NULL, expires INTEGER NOT NULL);
           CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
           CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);`)
  const q = {
    get: db.prepare('SELECT sess FROM sessions WHERE sid = ? AND expires > ?'),
    set: db.prepare('INSERT OR REPLACE INTO sessions (sid, user_id, sess, expires) VALUES (?, ?, ?, ?)'),
    touch: db.prepare('UPDATE sessions SET expires = ? WHERE sid = ?'),
    move: db.prepare('UPDATE sessions SET sid = ? WHERE sid = ?'),
    byUser: db.prepare('DELETE FROM sessions WHERE user_id = ?'),
  }
  const held = new Map()
  return {
    async create(i, data) {
      const id = sid()
      const sess = sessionObject({ ...data, userId: `u-${i}` })
      q.set.run(id, `u-${i}`, JSON.stringify(sess), Date.now() + DAY_MS)
      held.set(id, sess)
      return { id, user: `u-${i}` }
    },
    async get(id) {
      const row = q.get.get(id, Date.now())
      return row ? JSON.parse(row.sess) : null
    },
    async save(id, i) {
      const sess = held.get(id)
      sess.counter = i
      q.set.run(id, sess.userId, JSON.stringify(sess), Date.now() + DAY_MS)
    },
    async touch(id) { q.touch.run(Date.now() + DAY_MS, id) },
    async rotate(id) { q.move.run(sid(), id) },
    async deleteByUserId(user) { return q.byUser.run(user).changes },
    async close() { db.close() },
  }
}
