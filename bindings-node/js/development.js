'use strict'

// Development mode of omnisession/next and omnisession/edge, in one place so that the app and its
// middleware agree on the cookie's name. Pure JavaScript: the Edge entry loads it too.

const { SessionError } = require('./errors.js')

function configError(message) {
  return new SessionError('CONFIG_INVALID', `CONFIG_INVALID: ${message}`, { option: 'development' })
}

/**
 * Whether development mode is on: `option` when the app states it, else NODE_ENV says. It can
 * never be on in production, whatever the app says, so it cannot weaken a deployed cookie.
 */
function developmentMode(option) {
  const env = typeof process === 'undefined' ? undefined : process.env.NODE_ENV
  if (option === undefined) return env === 'development'
  if (typeof option !== 'boolean') throw configError('development must be a boolean')
  if (option && env === 'production') {
    throw configError('development mode cannot be on when NODE_ENV is "production"')
  }
  return option
}

/**
 * The cookie options development mode changes: production keeps cookie.js's `__Host-` name with
 * Secure; development drops both, as browsers refuse a Secure cookie over http on a LAN address.
 */
function cookieDefaults(development) {
  return development ? { name: 'omnisession', secure: false } : {}
}

module.exports = { developmentMode, cookieDefaults }
