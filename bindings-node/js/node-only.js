'use strict'

// What `omnisession`, `omnisession/express`, `omnisession/fetch` and `omnisession/next` resolve
// to under the Edge runtime's and browsers' export conditions (package.json "exports"): one
// clear error at import, instead of a bundler failing on the native addon and on every napi
// platform package name it cannot find.

throw new Error(
  "omnisession needs the Node.js runtime (it loads a native addon). In middleware, check the cookie with 'omnisession/edge'; " +
    "in a route, page or layout on the Edge runtime, remove `export const runtime = 'edge'` (Node.js is the default).",
)
