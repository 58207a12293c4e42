'use strict'
// Mocha reporter of the vendored express-session suite: spec-style output, with the deliberate
// deviations of deviations.json as expected failures (mocha has no xfail). A listed test is an
// expected failure when it fails with an error containing its `error` string. The run fails on
// any other failure, on a listed test that passes (the list stays honest) and on a listed title
// that matches no test. EXPRESS_SESSION_SUITE_STORE=memory (express-session's own MemoryStore)
// applies no list: every test must pass.

const Mocha = require('mocha')
const { expectedFailures } = require('./deviations.json')

const { Base } = Mocha.reporters
const C = Mocha.Runner.constants
const LISTED = process.env.EXPRESS_SESSION_SUITE_STORE === 'memory' ? {} : expectedFailures
const log = (...args) => Base.consoleLog(...args)
const color = Base.color

function XfailReporter(runner, options) {
  Base.call(this, runner, options)
  const seen = new Set()
  const expected = new Set() // titles that failed as listed
  let indents = 0
  let n = 0
  const pad = () => '  '.repeat(Math.max(indents - 1, 0))
  const entry = (test) => (test.type === 'test' && Object.hasOwn(LISTED, test.fullTitle()) ? LISTED[test.fullTitle()] : null)
  const errorsOf = (test) => [test.err, ...((test.err && test.err.multiple) || [])]
  const asListed = (test) => errorsOf(test).some((e) => String((e && e.message) || e).includes(entry(test).error))

  runner.on(C.EVENT_SUITE_BEGIN, (suite) => {
    indents++
    if (suite.title) log(color('suite', '%s%s'), pad(), suite.title)
  })
  runner.on(C.EVENT_SUITE_END, () => indents--)
  runner.on(C.EVENT_TEST_PENDING, (test) => log(color('pending', '%s  - %s'), pad(), test.title))
  runner.on(C.EVENT_TEST_PASS, (test) => {
    seen.add(test.fullTitle())
    const note = entry(test) ? color('fail', ' (listed in deviations.json, yet it passed)') : ''
    log(pad() + color('checkmark', '  ' + Base.symbols.ok) + color('pass', ' %s') + note, test.title)
  })
  // Base's own listener (registered first) has already put the error on test.err.
  runner.on(C.EVENT_TEST_FAIL, (test) => {
    seen.add(test.fullTitle())
    if (entry(test) && asListed(test)) {
      if (!expected.has(test.fullTitle())) log(pad() + color('pending', '  ~ %s (expected failure: %s)'), test.title, entry(test).reason)
      expected.add(test.fullTitle())
    } else {
      log(pad() + color('fail', '  %d) %s'), ++n, test.title)
    }
  })

  // Before the epilogue: expected failures leave the failure list, unexpected passes join it.
  runner.prependOnceListener(C.EVENT_RUN_END, () => {
    const kept = this.failures.filter((test) => !(entry(test) && asListed(test)))
    this.stats.failures -= this.failures.length - kept.length
    this.failures = kept
    const grep = String(runner._grep) !== '/.*/'
    for (const title of Object.keys(LISTED)) {
      if (expected.has(title) || this.failures.some((t) => t.fullTitle() === title) || (grep && !seen.has(title))) continue
      const err = new Error(seen.has(title)
        ? 'listed in deviations.json as an expected failure, but it passed: take it off the list'
        : 'listed in deviations.json, but no test has this full title')
      err.stack = 'Error: ' + err.message
      if (seen.has(title)) this.stats.passes--
      this.failures.push({ fullTitle: () => title, titlePath: () => [title], err })
      this.stats.failures++
    }
  })
  runner.once(C.EVENT_RUN_END, () => {
    this.epilogue()
    if (expected.size) log(color('pending', '  %d expected failures (deviations.json)\n'), expected.size)
  })
}

Mocha.utils.inherits(XfailReporter, Base)

/** Mocha's exit code is the count handed on here: the unexpected outcomes only. */
XfailReporter.prototype.done = function done(failures, fn) {
  fn(this.stats.failures)
}

module.exports = XfailReporter
