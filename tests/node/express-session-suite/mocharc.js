'use strict'
// Mocha configuration of the vendored express-session suite (npm run test:express-session),
// upstream's `mocha --require test/support/env --check-leaks --reporter spec test/` with the
// reporter that applies deviations.json and the root hooks that open the omnisession stores.
const path = require('node:path')

const here = (p) => path.join(__dirname, p)

module.exports = {
  spec: [here('spec/cookie.js'), here('spec/session.js')],
  require: [here('spec/support/env.js'), here('stores.js')],
  'check-leaks': true,
  reporter: here('xfail-reporter.js'),
}
