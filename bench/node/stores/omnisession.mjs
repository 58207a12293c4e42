// omnisession through its Node binding, imported from this repository (not from the registry),
// so the bench always measures the working tree.
import path from 'node:path'
import { Store } from '../omni.mjs'

export async function open(backend, ctx) {
  const options = { backend, cleanupIntervalMs: 0 }
  if (backend === 'sqlite') options.path = path.join(ctx.tmp, `omni-${ctx.tag}.db`)
  if (backend === 'redis') Object.assign(options, { url: ctx.redisUrl, keyPrefix: `omni:${ctx.tag}:` })
  const store = await Store.open(options)
  return {
    async create(i, data) {
      const s = await store.create({ userId: `u-${i}`, data })
      return { id: s.id, user: `u-${i}` }
    },
    get: (id) => store.get(id),
    save: (id, i) => store.patch(id, { set: { counter: i } }),
    touch: (id) => store.touch(id),
    rotate: (id) => store.rotate(id),
    deleteByUserId: (user) => store.deleteByUserId(user),
    close: () => store.close(),
    store,
  }
}
