import next from './next.js'

export const { nextSessions, NextSessions, closeStores } = next
export default next
