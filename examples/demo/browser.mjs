// A minimal browser: one cookie jar for every app on 127.0.0.1. Browsers scope cookies by host,
// not by port, so a cookie set by the Express app is sent to the FastAPI app too, and back.
export class Browser {
  #cookies = new Map()

  constructor(name) {
    this.name = name
  }

  cookie(name) {
    return this.#cookies.get(name)
  }

  /** Sends a request with the jar's cookies; applies the Set-Cookie headers of the answer. */
  async request(method, url) {
    const cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await fetch(url, { method, headers: cookie ? { cookie } : {} })
    for (const header of res.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';').map((s) => s.trim())
      const at = pair.indexOf('=')
      const name = pair.slice(0, at)
      const value = pair.slice(at + 1)
      const expired = attributes.some((a) => /^max-age=0$/i.test(a))
      if (value === '' || expired) this.#cookies.delete(name)
      else this.#cookies.set(name, value)
    }
    const body = await res.json()
    return { status: res.status, body }
  }
}
