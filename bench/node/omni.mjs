// The repository's own npm package (the working tree, not a registry release).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
export const { Store, ManualClock, Sealer, generateSessionId } = require('../..')
