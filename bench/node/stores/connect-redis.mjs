// connect-redis over node-redis: the usual Redis store for express-session.
import { RedisStore } from 'connect-redis'
import { createClient } from 'redis'
import { expressAdapter } from './express-shape.mjs'

export async function open(_backend, ctx) {
  const client = createClient({ url: ctx.redisUrl })
  await client.connect()
  const store = new RedisStore({ client, prefix: `cr:${ctx.tag}:` })
  return expressAdapter(store, () => client.close())
}
