'use strict'

// Who owns an express session, for both Express adapters (the store's and cookieSession):
// passport's `sess.passport.user`, then `sess.userId`. An app with another convention passes
// its own `userIdFrom`.

/** Default owner of a session: passport's `sess.passport.user`, then `sess.userId`. */
function defaultUserIdFrom(sess) {
  const passportUser = sess.passport && typeof sess.passport === 'object' ? sess.passport.user : undefined
  if (passportUser !== undefined && passportUser !== null) return passportUser
  return sess.userId
}

module.exports = { defaultUserIdFrom }
