import omnisession from './index.js'

export const { Store, SessionError, CODES, ManualClock, MemoryBackend, hashSessionId, generateSessionId } = omnisession
export default omnisession
