'use strict'
// The suite's `require('../session/cookie')` (spec/ stands for express-session's test/):
// express-session's own Cookie, unchanged.
module.exports = require('express-session/session/cookie')
