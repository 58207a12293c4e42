import type { SessionData, Store } from './index'

export interface FetchSessionsOptions {
  /** Opened with allowAnonymous: true for sessions that exist before login. */
  store: Store
  /** HMAC-SHA256 keys (16+ characters): the first signs, every one verifies. */
  secret?: string | string[]
  /** Default `__Host-omnisession`. */
  cookieName?: string
  cookie?: { secure?: boolean; httpOnly?: boolean; sameSite?: 'Strict' | 'Lax' | 'None'; path?: string; domain?: string }
  /** Cookie Max-Age and the lifetime of new sessions. */
  maxAgeMs?: number
  /** Touch the session and re-send the cookie on every commit. */
  rolling?: boolean
}

/** One request's session. */
export declare class FetchSession {
  private constructor()
  /** null until the session is stored. */
  readonly id: string | null
  readonly userId: string | null
  /** Mutate freely; commit writes the changed keys. */
  data: SessionData
  readonly isNew: boolean
  readonly destroyed: boolean
}

export declare class FetchSessions {
  constructor(options: FetchSessionsOptions)
  load(request: Request | Headers): Promise<FetchSession>
  /** New id (fixation defence) and the user; this request's changes are kept. */
  login(session: FetchSession, userId: string | number): Promise<FetchSession>
  /** Deletes the session now. */
  logout(session: FetchSession): Promise<FetchSession>
  /** Saves the changes and sets the cookie; resolves to the Response to return. */
  commit<T extends Response | Headers>(session: FetchSession, target: T): Promise<T>
}
