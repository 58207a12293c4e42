#!/usr/bin/env node
'use strict'

// The `omnisession` admin command (docs/cli.md): `npx omnisession …` runs the very command the
// Rust binary and the Python console script run, in the native addon. It writes to this
// process's stdout and stderr itself and returns the exit code.
const native = require('./load-native.js').loadNative()

process.exitCode = native.cliRun(['omnisession', ...process.argv.slice(2)])
