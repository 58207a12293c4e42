// Filling a store with 10^5..10^6 sessions through create() one at a time takes minutes on
// SQLite and Redis, so those are filled by cloning a record omnisession itself wrote: same
// bytes, same columns, new random ids. Memory has no outside door and is filled through create().
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generateSessionId } from './omni.mjs'

export async function fillByCreate(store, count, data, extra = {}) {
  let next = 0
  const ids = []
  const worker = async () => {
    while (next < count) {
      next++
      ids.push((await store.create({ userId: `u-${next % 1000}`, data, ...extra })).id)
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  return ids
}

/**
 * Inserts `count` copies of the row of `templateId` into omnisession's SQLite file. It runs in a
 * child process: better-sqlite3 and omnisession each bundle their own SQLite, and two copies of
 * SQLite on one file in one process break each other's POSIX locks (a closed descriptor drops the
 * other's locks), which corrupts the database (sqlite.org/howtocorrupt.html, 2.2.1).
 */
export function fillSqlite(file, templateId, count) {
  const ids = Array.from({ length: count }, generateSessionId)
  const list = `${file}.ids`
  fs.writeFileSync(list, ids.join('\n'))
  execFileSync(process.execPath, [fileURLToPath(new URL('./fill-sqlite.mjs', import.meta.url)), file, templateId, list], { stdio: 'inherit' })
  fs.rmSync(list)
  return ids
}

/** SETs `count` copies of the record at `{prefix}{templateId}`, with its expiry, pipelined. */
export async function fillRedis(client, prefix, templateId, count) {
  const record = await client.get(prefix + templateId)
  const expireAt = Number(await client.pExpireTime(prefix + templateId))
  const ids = []
  for (let done = 0; done < count; done += 10000) {
    const batch = client.multi()
    for (let j = 0; j < Math.min(10000, count - done); j++) {
      const id = generateSessionId()
      batch.set(prefix + id, record.replace(templateId, id), { expiration: { type: 'PXAT', value: expireAt } })
      ids.push(id)
    }
    await batch.execAsPipeline()
  }
  return ids
}
