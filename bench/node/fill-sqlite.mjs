// Child process of fill.mjs: node fill-sqlite.mjs FILE TEMPLATE_ID IDS_FILE (one id a line).
import Database from 'better-sqlite3'
import fs from 'node:fs'

const [file, templateId, list] = process.argv.slice(2)
const ids = fs.readFileSync(list, 'utf8').split('\n').filter(Boolean)
const db = new Database(file)
db.pragma('busy_timeout = 10000')
const row = db.prepare('SELECT * FROM sessions WHERE id = ?').get(templateId)
const insert = db.prepare('INSERT INTO sessions (id, site, user_id, created_ms, accessed_ms, expires_ms, record) VALUES (?, ?, ?, ?, ?, ?, ?)')
const batch = db.transaction((slice) => {
  for (const id of slice) insert.run(id, row.site, row.user_id, row.created_ms, row.accessed_ms, row.expires_ms, row.record.replace(templateId, id))
})
// Batches keep each write transaction short, as writers sharing a live file need.
for (let at = 0; at < ids.length; at += 50000) batch(ids.slice(at, at + 50000))
db.close()
