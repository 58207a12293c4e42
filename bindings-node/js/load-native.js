'use strict'

// native.js is napi-rs's generated loader (rewritten by every `napi build`): it tries the addon
// built in place (a clone), then the platform package (`omnisession-linux-x64-gnu`, an
// optionalDependency of the published package). When neither loads, its error says only "Cannot
// find native binding" with an npm bug link; this one names the platform, the packages that
// exist and how to build from source, and keeps the loader's error as `cause`.
function loadNative() {
  try {
    return require('./native.js')
  } catch (err) {
    throw noNativeAddon(err)
  }
}

function platformName() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`
  let glibc = null
  try {
    glibc = process.report.getReport().header.glibcVersionRuntime
  } catch {
    // no report: assume glibc, the common case
    glibc = 'unknown'
  }
  return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`
}

function noNativeAddon(cause) {
  // napi-rs target triples -> platform package suffixes, for a clone (no optionalDependencies).
  const TRIPLE_PLATFORMS = {
    'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
    'x86_64-unknown-linux-musl': 'linux-x64-musl',
    'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
    'aarch64-unknown-linux-musl': 'linux-arm64-musl',
    'x86_64-apple-darwin': 'darwin-x64',
    'aarch64-apple-darwin': 'darwin-arm64',
    'x86_64-pc-windows-msvc': 'win32-x64-msvc',
    'aarch64-pc-windows-msvc': 'win32-arm64-msvc',
  }
  let manifest = {}
  try {
    manifest = require('../../package.json')
  } catch {
    // keep the defaults below
  }
  const name = manifest.name || 'omnisession'
  const version = manifest.version || ''
  const packages = Object.keys(manifest.optionalDependencies || {})
  if (packages.length === 0) {
    for (const triple of (manifest.napi && manifest.napi.targets) || []) {
      if (TRIPLE_PLATFORMS[triple]) packages.push(`${name}-${TRIPLE_PLATFORMS[triple]}`)
    }
  }
  const platform = platformName()
  const wanted = `${name}-${platform}`
  const reasons = []
  for (let e = cause; e && reasons.length < 8; e = e.cause) {
    reasons.push(`  - ${String(e.message || e).split('\n')[0]}`)
  }
  const lines = [
    `${name}${version ? ` ${version}` : ''} found no native addon it can load for this platform: ${platform} ` +
      `(Node.js ${process.version}, ${process.platform} ${process.arch}).`,
    `Prebuilt platform packages: ${packages.length ? packages.join(', ') : 'none listed'}.`,
  ]
  if (packages.includes(wanted)) {
    lines.push(
      `${wanted} is the package for this platform and it did not load (the errors below say why). ` +
        'It is an optional dependency: npm leaves it out with --omit=optional / --no-optional, with a lockfile ' +
        'made on another platform, or through https://github.com/npm/cli/issues/4828. ' +
        'Reinstall: rm -rf node_modules package-lock.json && npm install.',
    )
  }
  lines.push(
    'To build from source (Rust 1.89+ and a C compiler): git clone https://github.com/omnisession/omnisession, ' +
      'then `make node` in the clone (or `npm install` there), and `npm install /path/to/the/clone` in your project; ' +
      'or point NAPI_RS_NATIVE_LIBRARY_PATH at a built .node file.',
    'What the loader tried:',
    ...reasons,
  )
  const error = new Error(lines.join('\n'))
  error.code = 'OMNISESSION_NO_NATIVE_ADDON'
  error.platform = platform
  error.packages = packages
  error.cause = cause
  return error
}

module.exports = { loadNative }
