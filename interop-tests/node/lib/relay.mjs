// Thin wrapper over the Rust CLI (`relay repo build|verify|inspect`): locates the
// binary (RELAY_BIN, else ../../target/debug/relay), runs it, parses its JSON stdout.

import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

/** Path of the relay binary: $RELAY_BIN, or target/debug/relay of this workspace. */
export const RELAY_BIN = process.env.RELAY_BIN
  ? path.resolve(process.env.RELAY_BIN)
  : path.resolve(here, '../../../target/debug/relay')

/** Throws a clear error when the relay binary is missing (tests must fail, not skip). */
export function requireRelay() {
  if (!existsSync(RELAY_BIN) || !statSync(RELAY_BIN).isFile()) {
    throw new Error(
      `relay binary not found at ${RELAY_BIN}: build it with \`cargo build -p relay\` ` +
        '(or set RELAY_BIN to its path; CI sets CARGO_TARGET_DIR, so pass RELAY_BIN=$CARGO_TARGET_DIR/debug/relay)',
    )
  }
  return RELAY_BIN
}

/** Run `relay ...args`; returns {status, stdout, stderr, json} (json: parsed stdout or null). */
export function runRelay(args) {
  const bin = requireRelay()
  const res = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  if (res.error) throw res.error
  let json = null
  try {
    json = JSON.parse(res.stdout)
  } catch {
    json = null
  }
  return { status: res.status, signal: res.signal, stdout: res.stdout, stderr: res.stderr, json }
}

const describe = (args, r) =>
  `\`relay ${args.join(' ')}\` exited with ${r.status ?? r.signal}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`

/** Run a command that must succeed and print one JSON object; returns it. */
export function relayJson(args) {
  const r = runRelay(args)
  if (r.status !== 0) throw new Error(describe(args, r))
  if (r.json === null || typeof r.json !== 'object') {
    throw new Error(`expected JSON on stdout from ${describe(args, r)}`)
  }
  return r.json
}

/** Run a command that must FAIL (non-zero exit); returns the result for inspection. */
export function relayMustFail(args) {
  const r = runRelay(args)
  if (r.status === 0) throw new Error(`expected failure, but ${describe(args, r)}`)
  if (r.signal) throw new Error(`relay crashed instead of rejecting: ${describe(args, r)}`)
  // 101 is Rust's exit code for a panic: bad input must be a clean error, not a panic.
  if (r.status === 101) throw new Error(`relay panicked instead of rejecting: ${describe(args, r)}`)
  return r
}

/** `relay repo verify <car> [--did-key k] [--did d]` -> {ok, did, rev, commit, data, records}. */
export const verifyArgs = (carPath, { didKey, did } = {}) => [
  'repo',
  'verify',
  carPath,
  ...(didKey ? ['--did-key', didKey] : []),
  ...(did ? ['--did', did] : []),
]

/** `relay repo build ...` -> {commit, data, rev}. */
export const buildArgs = ({ recordsPath, keyHex, curve, did, rev, out }) => [
  'repo',
  'build',
  '--records',
  recordsPath,
  '--key-hex',
  keyHex,
  '--curve',
  curve,
  '--did',
  did,
  '--rev',
  rev,
  '--out',
  out,
]
