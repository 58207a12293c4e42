import type { Store, StoreOptions } from './index'
import type { CookieKey, CookieSession, CookieSessionsOptions, FetchSession, FetchSessionsOptions } from './fetch'

/** The cookie store of Next.js (`await cookies()` from `next/headers`), as far as sessions use it. */
export interface CookieStore {
  get(name: string): { name: string; value: string } | undefined
  getAll(name?: string): Array<{ name: string; value: string }>
  set(...args: any[]): unknown
}

export interface NextSessionsOptions {
  /** The options of Store.open (allowAnonymous: true for sessions before login): opened on the first request, one store per process. */
  store: StoreOptions
  /** HMAC-SHA256 keys: the first signs, every one verifies (rotation). */
  secret?: CookieKey | CookieKey[]
  /** FetchSessions' cookie options; `secure: false` only in development mode. */
  cookie?: FetchSessionsOptions['cookie']
  maxAgeMs?: number
  rolling?: boolean
  /** Default: NODE_ENV === 'development'. The cookie is `omnisession` without Secure (http on localhost and the LAN); never allowed when NODE_ENV is 'production'. */
  development?: boolean
  /** FetchSessions' `recordIpAddress`: the client's address for a login (off by default: personal data). */
  recordIpAddress?: FetchSessionsOptions['recordIpAddress']
}

/** Sessions sealed in the cookie (CookieSessions): no store; cookie, maxAgeMs, rolling and development as for server-side sessions. */
export interface NextSealedSessionsOptions extends Omit<NextSessionsOptions, 'store' | 'secret' | 'recordIpAddress'> {
  sealed: Pick<CookieSessionsOptions, 'keys' | 'maxCookieBytes' | 'onViolation' | 'logger'>
}

export declare class NextSessions<S extends FetchSession | CookieSession = FetchSession> {
  private constructor()
  /** This request's session: `get(await cookies())`, in Server Components (read only), Server Actions and Route Handlers. */
  get(cookieStore: CookieStore): Promise<S>
  /** Stores the changes and sets the cookie; throws, storing nothing, where cookies are read-only (Server Components). */
  save(session: S): Promise<S>
  /** A new id with the user attached, the old session ended, and the cookie set (sealed: a fresh seal). */
  /** `requestHeaders` (`await headers()`) records the device: User-Agent, and the address with `recordIpAddress`. */
  login(session: S, userId: string | number, requestHeaders?: Headers): Promise<S>
  /** Deletes the session and clears the cookie. */
  logout(session: S): Promise<S>
  /** The process's store, opened if it is not yet (sealed sessions: rejects with CONFIG_INVALID). */
  store(): Promise<Store>
}

/** The sessions of a Next.js app: call once, in a module of yours. Nothing opens until the first request. */
export declare function nextSessions(options: NextSealedSessionsOptions): NextSessions<CookieSession>
export declare function nextSessions(options: NextSessionsOptions): NextSessions
/** Closes every store the Next entry opened in this process (also done on SIGTERM and SIGINT). */
export declare function closeStores(): Promise<void>
