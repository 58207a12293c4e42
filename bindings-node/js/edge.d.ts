/** An HMAC key of at least 16 bytes (UTF-8 for a string). */
export type CookieKey = string | Uint8Array

export interface SessionVerifierOptions {
  /** The app's keys (every one verifies); without them only the id's shape is checked. */
  secret?: CookieKey | CookieKey[]
  /** The cookie's name, when the app sets one. */
  cookie?: { name?: string }
  /** As given to omnisession/next; default NODE_ENV === 'development'. */
  development?: boolean
}

/** Checks the session cookie's signature with Web Crypto: for Edge middleware (no store access). */
export declare class SessionVerifier {
  constructor(options?: SessionVerifierOptions)
  /** The id of a cookie value, or null when malformed or signed by no key. */
  verify(value: string): Promise<string | null>
  /** The signed id a request carries, or null. A valid signature does not prove the session still exists. */
  read(source: Request | Headers | string | null | undefined): Promise<string | null>
}
