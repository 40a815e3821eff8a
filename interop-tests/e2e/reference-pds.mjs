#!/usr/bin/env node
// Starts the reference PDS beside ours: `@atproto/dev-env`'s TestNetworkNoAppView, i.e. a PLC
// directory (@did-plc/server, in-memory) and `@atproto/pds` (SQLite, disk blobs) in THIS
// process, with no AppView, no Postgres, no Redis and no internet. Used by bench.sh (and to check
// that pds-smoke.test.mjs expects what the reference does).
//
//   node reference-pds.mjs [--pds-port N] [--plc-port N]
//
// Prints one JSON line on stdout once both answer, then runs until SIGINT/SIGTERM:
//   {"pdsUrl":"http://127.0.0.1:P","plcUrl":"http://127.0.0.1:Q","pid":<this process>,
//    "versions":{"@atproto/pds":"0.4.217",...}}
// The pid is the PDS's (and the PLC's) process, for CPU and RSS readings in /proc.
//
// The packages live in ./reference/ (their own package.json + lock, installed with
// `npm ci --prefix reference`), so the smoke tests' install stays small.
import { createRequire } from 'node:module'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(new URL('./reference/package.json', import.meta.url))

function arg(name, fallback) {
  const i = process.argv.indexOf(name)
  if (i === -1) return fallback
  const v = Number(process.argv[i + 1])
  if (!Number.isInteger(v) || v < 0 || v > 65535) {
    console.error(`${name} needs a port number`)
    process.exit(2)
  }
  return v
}

function version(pkg) {
  try {
    return require(`${pkg}/package.json`).version
  } catch {
    return null
  }
}

let devEnv
try {
  devEnv = require('@atproto/dev-env')
} catch (e) {
  console.error(
    `cannot load @atproto/dev-env from interop-tests/e2e/reference/node_modules (${e.message}).\n` +
      'Install it with: npm ci --prefix interop-tests/e2e/reference (better-sqlite3 compiles with node-gyp)',
  )
  process.exit(1)
}

const pdsPort = arg('--pds-port', 0) || undefined
const plcPort = arg('--plc-port', 0) || undefined
const dir = mkdtempSync(join(tmpdir(), 'reference-pds-'))
for (const sub of ['data', 'blobs', 'blobs-tmp']) mkdirSync(join(dir, sub))

const network = await devEnv.TestNetworkNoAppView.create({
  // Only pass a port when given: dev-env spreads these objects over its defaults, so an
  // explicit `port: undefined` would make the PLC listen on a random port it does not know.
  plc: plcPort ? { port: plcPort } : {},
  pds: {
    ...(pdsPort ? { port: pdsPort } : {}),
    dataDirectory: join(dir, 'data'),
    blobstoreDiskLocation: join(dir, 'blobs'),
    blobstoreDiskTmpLocation: join(dir, 'blobs-tmp'),
  },
})

const loopback = (url) => url.replace('://localhost:', '://127.0.0.1:')
const info = {
  pdsUrl: loopback(network.pds.url),
  plcUrl: loopback(network.plc.url),
  pid: process.pid,
  versions: Object.fromEntries(
    ['@atproto/dev-env', '@atproto/pds', '@did-plc/server'].map((p) => [p, version(p)]),
  ),
}
for (const url of [`${info.pdsUrl}/xrpc/_health`, `${info.plcUrl}/_health`]) {
  const res = await fetch(url)
  if (!res.ok) {
    console.error(`reference: ${url} answered ${res.status}`)
    process.exit(1)
  }
}
console.log(JSON.stringify(info))

let closing = false
async function shutdown() {
  if (closing) return
  closing = true
  try {
    await network.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  }
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)
