// Helpers shared by the end-to-end tests: environment, readable XRPC failures, step chaining.
import assert from 'node:assert/strict'
import { formatDidKey, multibaseToBytes } from '@atproto/crypto'

/** The server under test (run.sh sets both). */
export function env() {
  const pdsUrl = process.env.PDS_URL
  const plcUrl = process.env.PLC_URL
  if (!pdsUrl || !plcUrl) {
    throw new Error(
      'PDS_URL and PLC_URL must be set: run the tests through interop-tests/e2e/run.sh, ' +
        'which starts `relay plc serve` and `relay serve` and sets them',
    )
  }
  return { pdsUrl: pdsUrl.replace(/\/$/, ''), plcUrl: plcUrl.replace(/\/$/, '') }
}

/** Describes an XRPC (or other) failure in one line: method, status, error name, message. */
export function describeError(e) {
  if (e && typeof e === 'object' && 'status' in e) {
    return `HTTP ${e.status} ${e.error ?? ''}: ${e.message}`
  }
  return String(e?.stack ?? e)
}

/** Runs `fn`; on failure, rethrows with what was being done and what the server answered. */
export async function call(what, fn) {
  try {
    return await fn()
  } catch (e) {
    const err = new Error(`${what} failed: ${describeError(e)}`)
    err.cause = e
    throw err
  }
}

/**
 * Expects `fn` to be refused by the server with a 4xx status (never 2xx, never 5xx). `statuses`
 * and `errors` (arrays, optional) narrow what is accepted. Returns the error.
 */
export async function expectRefused(what, fn, { statuses, errors } = {}) {
  let result
  try {
    result = await fn()
  } catch (e) {
    const status = e?.status
    assert.ok(
      typeof status === 'number' && status >= 400 && status < 500,
      `${what}: expected a 4xx XRPC error, got ${describeError(e)}`,
    )
    if (statuses) {
      assert.ok(
        statuses.includes(status),
        `${what}: expected HTTP ${statuses.join(' or ')}, got ${describeError(e)}`,
      )
    }
    if (errors) {
      assert.ok(
        errors.includes(e.error),
        `${what}: expected error ${errors.join(' or ')}, got ${describeError(e)}`,
      )
    }
    return e
  }
  assert.fail(`${what}: expected the server to refuse, but it answered ${JSON.stringify(result?.data ?? result)?.slice(0, 300)}`)
}

/**
 * Shared state between the ordered steps of one test file. `need(...keys)` fails a step with a
 * clear message when an earlier step that provides a key failed (a failure, never a skip).
 */
export function makeState() {
  const state = {}
  return {
    state,
    need(...keys) {
      const missing = keys.filter((k) => state[k] === undefined)
      if (missing.length) {
        throw new Error(
          `cannot run this step: it needs ${missing.join(', ')} from an earlier step that failed`,
        )
      }
      return state
    },
  }
}

/** Decodes a JWT's header and payload (no verification: we only look at typ, scope, sub). */
export function decodeJwt(jwt) {
  const [h, p] = jwt.split('.')
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'))
  return { header: dec(h), payload: dec(p) }
}

/** A random lowercase suffix for handles (a-z0-9). */
export function randomSuffix(n = 6) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  let s = ''
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)]
  return s
}

/** GET a URL and parse JSON, failing with the status and body text when not 200. */
export async function getJson(url) {
  const res = await fetch(url)
  const text = await res.text()
  assert.equal(res.status, 200, `GET ${url}: HTTP ${res.status}: ${text.slice(0, 300)}`)
  try {
    return JSON.parse(text)
  } catch {
    assert.fail(`GET ${url}: not JSON: ${text.slice(0, 300)}`)
  }
}

/**
 * The did:key of a DID document's `#atproto` verification method. Current documents use
 * `Multikey` (publicKeyMultibase carries the multicodec prefix); older PLC servers, such as the
 * reference dev-env's @did-plc/server 0.0.1, render the legacy `EcdsaSecp256k1VerificationKey2019`
 * / `EcdsaSecp256r1VerificationKey2019` form (bare compressed key), also accepted here.
 * `opts.requireMultikey` insists on the current form.
 */
export function atprotoDidKey(doc, { requireMultikey = false } = {}) {
  const vm = (doc.verificationMethod ?? []).find(
    (m) => m.id === '#atproto' || m.id === `${doc.id}#atproto`,
  )
  assert.ok(vm, `DID document has no #atproto verification method: ${JSON.stringify(doc)}`)
  assert.ok(vm.publicKeyMultibase?.startsWith('z'), 'publicKeyMultibase is base58btc (z...)')
  if (vm.type === 'Multikey') return `did:key:${vm.publicKeyMultibase}`
  assert.ok(!requireMultikey, `the #atproto verification method type is ${vm.type}, expected Multikey`)
  const legacy = {
    EcdsaSecp256k1VerificationKey2019: 'ES256K',
    EcdsaSecp256r1VerificationKey2019: 'ES256',
  }[vm.type]
  assert.ok(legacy, `unknown verification method type ${vm.type}`)
  return formatDidKey(legacy, multibaseToBytes(vm.publicKeyMultibase))
}
