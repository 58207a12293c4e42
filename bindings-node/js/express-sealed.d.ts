import type { CookieSessionsOptions } from './sealed'

/** `req.session` of cookieSession(): the data as its own properties, and these members. */
export interface CookieSessionData {
  [key: string]: any
  /** No session came with the request (or it was regenerated): sealed once it holds data. */
  readonly isNew: boolean
  /** The data differs from what the client's cookie holds. */
  readonly isChanged: boolean
  /** The session holds data. */
  readonly isPopulated: boolean
  /** Login, express-session's way: a new, empty session (a fresh seal); set the user after it. */
  regenerate(callback?: (err: any) => void): CookieSessionData
  /** Logout: as `req.session = null`, the cookie is cleared. */
  destroy(callback?: (err: any) => void): this
  /** Seals now to report an error early (SESSION_NOT_SERIALIZABLE, SESSION_SIZE_EXCEEDED, SESSION_INVALID); the response seals again. */
  save(callback?: (err: any) => void): this
}

export interface CookieSessionOptions extends CookieSessionsOptions {
  /** The user sealed in; default: passport's `sess.passport.user`, then `sess.userId`. */
  userIdFrom?: (sess: Record<string, any>) => unknown
}

/** Express middleware: sealed cookie sessions in the shape of cookie-session (`req.session`, `req.session = null`, `req.sessionOptions.maxAge`). */
export declare function cookieSession(options: CookieSessionOptions): (req: any, res: any, next: (err?: any) => void) => void
