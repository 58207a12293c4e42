import type { SessionData, Store } from './index'

/** An HMAC key of at least 16 bytes (UTF-8 for a string). */
export type CookieKey = string | Uint8Array

export interface FetchSessionsOptions {
  /** Opened with allowAnonymous: true for sessions that exist before login. */
  store: Store
  /** HMAC-SHA256 keys: the first signs, every one verifies (rotation). Without: the plain id. */
  secret?: CookieKey | CookieKey[]
  /** The session cookie; defaults: `__Host-omnisession`, Path=/, Secure, HttpOnly, SameSite=Lax. */
  cookie?: {
    name?: string
    path?: string
    domain?: string | null
    secure?: boolean
    httpOnly?: boolean
    sameSite?: 'Strict' | 'Lax' | 'None' | 'strict' | 'lax' | 'none'
  }
  /** A session's lifetime, server-side, and the cookie's Max-Age; default: the store's defaultTtlMs and a browser-session cookie. */
  maxAgeMs?: number
  /** Every request renews the lifetime (a sliding read, one write per half window) and re-sends the cookie; needs maxAgeMs. */
  rolling?: boolean
  /**
   * The client's address, recorded on a new or signed-in session (personal data: off by
   * default). The Fetch API carries none: return what your runtime or trusted proxy gives.
   * The User-Agent is always recorded.
   */
  recordIpAddress?: false | ((request: Request | Headers) => string | null | undefined)
}

/** One request's session. */
export declare class FetchSession {
  private constructor()
  /** null until the session is stored. */
  readonly id: string | null
  readonly userId: string | null
  /** Mutate freely; commit writes the changed keys. */
  data: SessionData
  /** Not stored yet: commit creates it once it holds data. */
  readonly isNew: boolean
  /** Logged out, or ended by another request meanwhile. */
  readonly destroyed: boolean
  /** This session's lifetime, `ms` from its next write (server expiry and cookie Max-Age; 0 = now). */
  setExpiry(ms: number): void
}

export declare class FetchSessions {
  constructor(options: FetchSessionsOptions)
  /** A bad cookie (tampered, oversized, unknown or ended id) is no session, never an error. */
  load(request: Request | Headers): Promise<FetchSession>
  /** One core login: a new id, the user, this request's changes; data is carried only from an anonymous or the same user's session. */
  login(session: FetchSession, userId: string | number, request?: Request | Headers): Promise<FetchSession>
  /** Deletes the session now; commit clears the cookie. */
  logout(session: FetchSession): Promise<FetchSession>
  /** Saves the changes and sets the cookie; resolves to the Response to return. */
  commit<T extends Response | Headers>(session: FetchSession, target: T): Promise<T>
}

export { CookieSession, CookieSessions, type CookieSessionsOptions } from './sealed'
