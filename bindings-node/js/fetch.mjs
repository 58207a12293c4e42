import fetchSessions from './fetch.js'

export const { FetchSessions, FetchSession, CookieSessions, CookieSession } = fetchSessions
export default fetchSessions
