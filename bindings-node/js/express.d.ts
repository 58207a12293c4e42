import type { Store } from './index'

/** The parts of express-session's Store this adapter implements. */
export declare class OmnisessionStore {
  /**
   * An express-session store over an omnisession Store (opened with allowAnonymous: true
   * unless every session has a user). A save of the session the request loaded is a per-key
   * patch, any other an upsert; the cookie's expiry is the server's. Login is
   * `req.session.regenerate` then the user (`userIdFrom`, default passport's).
   */
  constructor(options: {
    store: Store
    userIdFrom?: (sess: Record<string, any>) => unknown
    /** Record `req.ip` (Express's `trust proxy` rules) on the sessions it creates; default false (personal data). The User-Agent is always recorded. */
    recordIpAddress?: boolean
  })
  get(sid: string, callback: (err: any, session?: Record<string, any> | null) => void): void
  set(sid: string, session: Record<string, any>, callback?: (err?: any) => void): void
  touch(sid: string, session: Record<string, any>, callback?: (err?: any) => void): void
  destroy(sid: string, callback?: (err?: any) => void): void
  length(callback: (err: any, length?: number) => void): void
  clear(callback?: (err?: any) => void): void
  /** As MemoryStore#all: an object keyed by session id. */
  all(callback: (err: any, sessions?: Record<string, Record<string, any>>) => void): void
  createSession(req: any, session: Record<string, any>): any
  regenerate(req: any, callback: (err?: any) => void): void
  load(sid: string, callback: (err: any, session?: any) => void): void
  on(event: string, listener: (...args: any[]) => void): this
}

/** express-session's `genid`: omnisession ids. */
export declare function genid(req?: unknown): string
/** `sess.passport.user`, then `sess.userId`. */
export declare function defaultUserIdFrom(sess: Record<string, any>): unknown

export { cookieSession, type CookieSessionData, type CookieSessionOptions } from './express-sealed'
