import omnisession from './index.js'

export const { Store, SessionError, CODES, ManualClock, MemoryBackend, Sealer, SeedsOpener, hashSessionId, generateSessionId } = omnisession
export default omnisession
