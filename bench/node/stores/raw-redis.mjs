// node-redis with no session logic at all: GET + JSON.parse, SET PX, PEXPIRE, RENAME. What a
// hand-rolled store costs at best, the floor a session store adds its controls on top of.
import { createClient } from 'redis'
import { DAY_MS, sid, sessionObject } from './express-shape.mjs'

export async function open(_backend, ctx) {
  const client = createClient({ url: ctx.redisUrl })
  await client.connect()
  const key = (id) => `raw:${ctx.tag}:${id}`
  const held = new Map()
  return {
    async create(i, data) {
      const id = sid()
      const sess = sessionObject({ ...data, userId: `u-${i}` })
      await client.set(key(id), JSON.stringify(sess), { expiration: { type: 'PX', value: DAY_MS } })
      held.set(id, sess)
      return { id, user: `u-${i}` }
    },
    async get(id) {
      const raw = await client.get(key(id))
      return raw === null ? null : JSON.parse(raw)
    },
    save(id, i) {
      const sess = held.get(id)
      sess.counter = i
      return client.set(key(id), JSON.stringify(sess), { expiration: { type: 'PX', value: DAY_MS } })
    },
    touch: (id) => client.pExpire(key(id), DAY_MS),
    rotate: (id) => client.rename(key(id), key(sid())),
    close: () => client.close(),
  }
}
