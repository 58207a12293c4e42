import fetchSessions from './fetch.js'

export const { FetchSessions, FetchSession } = fetchSessions
export default fetchSessions
