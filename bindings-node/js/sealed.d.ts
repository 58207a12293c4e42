import type { Logger, SealKeyInput, SessionData, ViolationEvent } from './index'

/** The options of CookieSessions (omnisession/fetch) and cookieSession (omnisession/express). */
export interface CookieSessionsOptions {
  /** AES-256 keys, 32 bytes each: the first seals, every one opens (rotation: put the new key first). */
  keys: SealKeyInput[]
  /** The session cookie; defaults: `__Host-omnisession`, Path=/, Secure, HttpOnly, SameSite=Lax. Values are bound to its name. */
  cookie?: {
    name?: string
    path?: string
    domain?: string | null
    secure?: boolean
    httpOnly?: boolean
    sameSite?: 'Strict' | 'Lax' | 'None' | 'strict' | 'lax' | 'none'
  }
  /** The lifetime sealed into a session and the cookie's Max-Age; default: 24 h sealed in and a browser-session cookie. */
  maxAgeMs?: number
  /** Every response re-seals the session with a renewed lifetime; needs maxAgeMs. */
  rolling?: boolean
  /** The limit on `name=value` in bytes (default 4096): a bigger session is SESSION_SIZE_EXCEEDED, a bigger cookie no session. */
  maxCookieBytes?: number
  /** The core's cookie_malformed, cookie_tampered, cookie_expired, cookie_oversized and cookie_duplicated events; a throw or rejection is logged and ignored. */
  onViolation?: (event: ViolationEvent) => void | Promise<void>
  logger?: Logger
}

/** One request's sealed session. */
export declare class CookieSession {
  private constructor()
  readonly userId: string | null
  /** Mutate freely (plain JSON); commit seals it when it changed. */
  data: SessionData
  /** Not sealed yet: commit seals it once it holds data or a user. */
  readonly isNew: boolean
  /** Logged out in this request. */
  readonly destroyed: boolean
  /** When the session was first sealed (a login starts a new one); null while new. */
  readonly createdAt: Date | null
  /** The expiry sealed in the client's cookie; null while new. */
  readonly expiresAt: Date | null
  /** This session's lifetime, `ms` from its next seal (sealed expiry and cookie Max-Age; 0 = now). */
  setExpiry(ms: number): void
}

/** Sessions sealed into the cookie (AES-256-GCM, by the core): the load/login/logout/commit of FetchSessions, no store. */
export declare class CookieSessions {
  constructor(options: CookieSessionsOptions)
  /** A value that does not open (malformed, tampered, expired, oversized, sent twice) is no session, never an error: a violation event, and commit clears the cookie. */
  load(request: Request | Headers): Promise<CookieSession>
  /** A fresh seal (new nonce) with the user and this request's changes; data is carried only from an anonymous or the same user's session. */
  login(session: CookieSession, userId: string | number): Promise<CookieSession>
  /** commit clears the cookie. */
  logout(session: CookieSession): Promise<CookieSession>
  /** Seals the session when it changed (or rolls) and sets the cookie; resolves to the Response to return. */
  commit<T extends Response | Headers>(session: CookieSession, target: T): Promise<T>
}
