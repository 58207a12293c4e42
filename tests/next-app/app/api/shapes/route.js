// Every shape a user may hand load/commit in a real Next request, and what each gives.
import { cookies, headers } from 'next/headers'
import { FetchSessions } from 'omnisession/fetch'
import { sessions } from '../../../lib/session.js'

const attempt = async (run) => {
  try {
    return await run()
  } catch (err) {
    return `${err.name}: ${err.message}`
  }
}

export async function GET(request) {
  const store = await sessions.store()
  const fetchSessions = new FetchSessions({ store, secret: process.env.SESSION_SECRET })
  const before = await store.count()
  const fresh = await fetchSessions.load(request)
  fresh.data.x = 1
  return Response.json({
    getPromise: await attempt(() => sessions.get(cookies())),
    getHeaders: await attempt(async () => sessions.get(await headers())),
    loadRequest: (await fetchSessions.load(request)).userId,
    loadHeaders: (await fetchSessions.load(await headers())).userId,
    loadCookies: (await fetchSessions.load(await cookies())).userId,
    loadObject: await attempt(() => fetchSessions.load({ cookie: 'x' })),
    commitHeaders: await attempt(async () => fetchSessions.commit(fresh, await headers())),
    stored: (await store.count()) - before,
  })
}
