'use strict'

// An express-session Store over omnisession. A save is a per-key patch against the snapshot
// taken when the request loaded the session, so two parallel requests that change different
// keys both keep their change, and a session destroyed meanwhile (logout) stays destroyed:
// the core answers SESSION_NOT_FOUND and this adapter never falls back to an overwrite.

const session = require('express-session')
const { SessionError, generateSessionId } = require('./index.js')
const { diff, isPlainObject } = require('./diff.js')

/** Snapshot of what a request loaded: express-session's Session object → {userId, data}. */
const SNAPSHOTS = new WeakMap()

/** Codes that mean "the session is gone": the write is dropped, nothing is re-created. */
const GONE = new Set(['SESSION_NOT_FOUND', 'SESSION_EXPIRED'])

/** express-session's `genid`: omnisession ids (32 random bytes, base64url). */
function genid() {
  return generateSessionId()
}

/** Default owner of a session: passport's `sess.passport.user`, then `sess.userId`. */
function defaultUserIdFrom(sess) {
  const passportUser = sess.passport && typeof sess.passport === 'object' ? sess.passport.user : undefined
  if (passportUser !== undefined && passportUser !== null) return passportUser
  return sess.userId
}

/** The data of an express-session session: its own keys, the cookie in its JSON form. */
function dataOf(sess) {
  const data = {}
  for (const key of Object.keys(sess)) {
    data[key] = key === 'cookie' ? JSON.parse(JSON.stringify(sess.cookie)) : sess[key]
  }
  return data
}

function snapshotOf(s) {
  return { userId: s.userId, data: structuredClone(s.data) }
}

/** Calls an express-session callback outside the promise chain (a throwing callback is not a rejection). */
function settle(promise, cb) {
  const done = typeof cb === 'function' ? cb : () => {}
  promise.then(
    (value) => process.nextTick(done, null, value),
    (err) => process.nextTick(done, err),
  )
}

class OmnisessionStore extends session.Store {
  #store
  #userIdFrom

  /**
   * @param {{store: import('./index').Store, userIdFrom?: (sess: object) => unknown}} options
   * The store should be opened with `allowAnonymous: true` unless every session has a user.
   */
  constructor(options) {
    super()
    const { store, userIdFrom = defaultUserIdFrom } = options || {}
    if (!store || typeof store.patch !== 'function') {
      throw new SessionError('CONFIG_INVALID', 'CONFIG_INVALID: OmnisessionStore needs {store} (from Store.open)', { option: 'store' })
    }
    if (typeof userIdFrom !== 'function') {
      throw new SessionError('CONFIG_INVALID', 'CONFIG_INVALID: userIdFrom must be a function', { option: 'userIdFrom' })
    }
    this.#store = store
    this.#userIdFrom = userIdFrom
  }

  get(sid, cb) {
    settle(
      this.#store.get(sid).then((s) => {
        if (!s) return null
        const sess = structuredClone(s.data)
        if (!isPlainObject(sess.cookie)) sess.cookie = { originalMaxAge: null, httpOnly: true, path: '/' }
        SNAPSHOTS.set(sess, snapshotOf(s))
        return sess
      }),
      cb,
    )
  }

  // express-session copies what `get` returned into a Session object: the snapshot follows.
  createSession(req, sess) {
    const snapshot = SNAPSHOTS.get(sess)
    const created = super.createSession(req, sess)
    if (snapshot) SNAPSHOTS.set(created, snapshot)
    return created
  }

  set(sid, sess, cb) {
    settle(this.#save(sid, sess), cb)
  }

  touch(sid, sess, cb) {
    settle(
      this.#store.touch(sid).then(
        () => undefined,
        (err) => {
          if (!GONE.has(err && err.code)) throw err
        },
      ),
      cb,
    )
  }

  destroy(sid, cb) {
    settle(this.#store.delete(sid), cb)
  }

  length(cb) {
    settle(this.#store.count(), cb)
  }

  clear(cb) {
    settle(
      this.#store.clear().then(() => undefined),
      cb,
    )
  }

  all(cb) {
    settle(this.#all(), cb)
  }

  async #all() {
    const out = {}
    let cursor = null
    do {
      const page = await this.#store.list(cursor === null ? {} : { cursor })
      for (const s of page.sessions) out[s.id] = s.data
      cursor = page.cursor
    } while (cursor !== null)
    return out
  }

  async #save(sid, sess) {
    const data = dataOf(sess)
    const owner = this.#userIdFrom(sess)
    const userId = owner === undefined || owner === null ? null : owner
    const snapshot = SNAPSHOTS.get(sess)
    let saved
    if (!snapshot) {
      // A session this request did not load is new: create it, never overwrite (an existing
      // or recently deleted id is SESSION_CONFLICT).
      const maxAge = sess.cookie && typeof sess.cookie.maxAge === 'number' ? sess.cookie.maxAge : null
      saved = await this.#store.create({
        id: sid,
        data,
        ...(userId === null ? {} : { userId }),
        ...(maxAge !== null && maxAge > 0 ? { ttlMs: Math.ceil(maxAge) } : {}),
      })
    } else {
      try {
        saved = await this.#write(sid, snapshot, data, userId)
      } catch (err) {
        if (GONE.has(err && err.code)) return // destroyed (logout) or expired meanwhile: dropped
        throw err
      }
    }
    // A second save in the same request diffs against what this request wrote (not against
    // the stored data, which may hold other requests' changes this request must not undo).
    SNAPSHOTS.set(sess, { userId: saved.userId, data: structuredClone(data) })
  }

  async #write(sid, snapshot, data, userId) {
    const { set, unset } = diff(snapshot.data, data)
    if (userId !== null && String(userId) !== snapshot.userId) {
      // A user logs in on this session: attach the user (whole-record update guarded by the
      // version), with this request's changes applied on the current data.
      for (let attempt = 0; ; attempt++) {
        const current = await this.#store.get(sid)
        if (!current) {
          throw new SessionError('SESSION_NOT_FOUND', 'SESSION_NOT_FOUND: no such session', {})
        }
        const merged = { ...current.data, ...set }
        for (const key of unset) delete merged[key]
        try {
          return await this.#store.update({ id: sid, userId, data: merged, version: current.version })
        } catch (err) {
          if (!(err && err.code === 'SESSION_CONFLICT') || attempt >= 4) throw err
        }
      }
    }
    if (Object.keys(set).length === 0 && unset.length === 0) return this.#store.touch(sid)
    return this.#store.patch(sid, { set, unset })
  }
}

module.exports = { OmnisessionStore, genid, defaultUserIdFrom }
