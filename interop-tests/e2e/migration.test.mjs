// Account migration between two of our relays sharing one PLC directory, driven by
// `@atproto/api` through the official account-migration steps (guides/account-migration;
// checklist #99, #100, #101, #66 of /work/shared/spec/conformance-checklist.md):
//
//   old: createAccount + a post with an image + preferences; login; getServiceAuth(aud = new
//        server's DID, lxm = createAccount)
//   new: createAccount{did} with that token (starts deactivated); login
//   repo: old getRepo -> new importRepo
//   blobs: new listMissingBlobs -> old getBlob -> new uploadBlob
//   preferences: old getPreferences -> new putPreferences
//   identity: new getRecommendedDidCredentials; old requestPlcOperationSignature (the token is
//        read from the old relay's email outbox, <data dir>/outbox/*.eml) + signPlcOperation;
//        new submitPlcOperation
//   switch: new activateAccount; old deactivateAccount
//   then: the PLC directory names the new server; the post and its image are readable from the
//        new relay; a new post works there; @atproto/repo verifies the new getRepo CAR.
//
// The "old" relay is the one run.sh started (PDS_URL, its data dir under STACK_TMP); the "new"
// one is started here from RELAY_BIN with another port and data dir, and killed at the end.
// Without RELAY_BIN (e.g. against the reference PDS) the file is skipped: it needs two relays.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { Secp256k1Keypair } from '@atproto/crypto'
import { verifyRepoCar } from '@atproto/repo'
import { makePng } from './lib/png.mjs'
import { atprotoDidKey, call, env, getJson, makeState, randomSuffix } from './lib/util.mjs'

const relayBin = process.env.RELAY_BIN
const skip = relayBin ? false : 'needs RELAY_BIN (two relays); run through ./run.sh'
const { pdsUrl: oldUrl, plcUrl } = skip ? { pdsUrl: '', plcUrl: '' } : env()
const oldDataDir = process.env.STACK_TMP ? path.join(process.env.STACK_TMP, 'data') : undefined
// lib/stack.sh may export the outbox directly; else it is <data dir>/outbox.
const oldOutbox = process.env.PDS_OUTBOX_DIR ?? (oldDataDir && path.join(oldDataDir, 'outbox'))
const { state, need } = makeState()
const password = `pw-${randomSuffix(12)}`
const handle = `mover-${randomSuffix(6)}.test`
const email = `${handle.split('.')[0]}@example.com`
const png = makePng(8, 8, 3)
const CREATE_ACCOUNT = 'com.atproto.server.createAccount'

let newRelay // { child, url, dataDir, log }

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function waitHealthy(url, child, log) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) {
      throw new Error(`the second relay exited (${child.exitCode}) before answering: ${log.join('').slice(-2000)}`)
    }
    try {
      const res = await fetch(`${url}/xrpc/_health`)
      if (res.ok) return
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`the second relay did not answer ${url} within 30 s: ${log.join('').slice(-2000)}`)
}

/** Starts `relay serve` as stack.sh does (same PLC directory), another port and data dir. */
async function startNewRelay() {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const dataDir = await mkdtemp(path.join(process.env.STACK_TMP ?? tmpdir(), 'data-new-'))
  const childEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('RELAY_') || k === 'RELAY_BIN'),
  )
  Object.assign(childEnv, {
    RUST_LOG: process.env.STACK_RUST_LOG ?? 'warn',
    RELAY_DATA_DIR: dataDir,
    RELAY_BIND: '127.0.0.1',
    RELAY_PORT: String(port),
    RELAY_HOSTNAME: 'localhost',
    RELAY_PUBLIC_URL: url,
    RELAY_SERVICE_HANDLE_DOMAINS: '.test',
    RELAY_PLC_URL: plcUrl,
    RELAY_ALLOW_PRIVATE_OUTBOUND: 'true',
    RELAY_APPVIEW_DID: '',
  })
  const child = spawn(relayBin, ['serve'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = []
  child.stdout.on('data', (d) => log.push(String(d)))
  child.stderr.on('data', (d) => log.push(String(d)))
  await waitHealthy(url, child, log)
  return { child, url, dataDir, log }
}

/** The newest `.eml` in the old relay's outbox addressed to `to`, newer than `since` (names). */
async function waitForEmail(to, since) {
  assert.ok(oldOutbox, 'neither PDS_OUTBOX_DIR nor STACK_TMP is set: cannot find the old relay email outbox')
  const dir = oldOutbox
  for (let i = 0; i < 100; i++) {
    let names = []
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.eml') && !since.has(n)).sort()
    } catch {}
    for (const name of names.reverse()) {
      const text = await readFile(path.join(dir, name), 'utf8')
      if (new RegExp(`^To:.*${to.replace(/[.+]/g, '\\$&')}`, 'mi').test(text)) return text
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`no email to ${to} appeared in ${dir}`)
}

async function outboxNames() {
  try {
    return new Set(await readdir(oldOutbox))
  } catch {
    return new Set()
  }
}

/** The `XXXXX-XXXXX` token in an email (body as 7bit, quoted-printable or base64). */
function tokenFromEmail(eml) {
  const split = eml.indexOf('\r\n\r\n') >= 0 ? eml.indexOf('\r\n\r\n') : eml.indexOf('\n\n')
  const headers = eml.slice(0, split)
  let body = eml.slice(split).trim()
  if (/^Content-Transfer-Encoding:\s*base64/im.test(headers)) {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
  } else if (/^Content-Transfer-Encoding:\s*quoted-printable/im.test(headers)) {
    body = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))
  }
  const m = body.match(/\b[A-Z2-7]{5}-[A-Z2-7]{5}\b/)
  assert.ok(m, `no XXXXX-XXXXX token in the email: ${body.slice(0, 500)}`)
  return m[0]
}

/** The update `signPlcOperation` would build, signed with the old relay's rotation key. */
async function signWithOldRotationKey(did, creds) {
  assert.ok(oldDataDir, 'STACK_TMP is not set: cannot read the old relay secrets file')
  const secrets = await readFile(path.join(oldDataDir, 'secrets.toml'), 'utf8')
  const hex = secrets.match(/^plc_rotation_key\s*=\s*"([0-9a-f]{64})"/m)?.[1]
  assert.ok(hex, 'plc_rotation_key in the old relay secrets.toml')
  const key = await Secp256k1Keypair.import(hex)
  const audit = await getJson(`${plcUrl}/${did}/log/audit`)
  const unsigned = {
    type: 'plc_operation',
    rotationKeys: creds.rotationKeys,
    verificationMethods: creds.verificationMethods,
    alsoKnownAs: creds.alsoKnownAs,
    services: creds.services,
    prev: audit.at(-1).cid,
  }
  // @atproto/lex-cbor comes with @atproto/repo; loaded only on this path.
  const { cborEncode } = await import('@atproto/lex-cbor')
  const sig = Buffer.from(await key.sign(cborEncode(unsigned))).toString('base64url')
  return { ...unsigned, sig }
}

before(async () => {
  if (skip) return
  newRelay = await startNewRelay()
})

after(async () => {
  if (!newRelay) return
  newRelay.child.kill('SIGTERM')
  await new Promise((r) => {
    if (newRelay.child.exitCode !== null) return r()
    newRelay.child.once('exit', r)
    setTimeout(r, 5000)
  })
})

test('old relay: account with a post embedding an image, and preferences (checklist #100)', { skip }, async () => {
  const oldAgent = new AtpAgent({ service: oldUrl })
  await call('old createAccount', () => oldAgent.createAccount({ handle, email, password }))
  const did = oldAgent.session.did
  const { data: up } = await call('old uploadBlob', () => oldAgent.uploadBlob(png, { encoding: 'image/png' }))
  const post = await call('old post with an image', () =>
    oldAgent.post({
      text: 'moving house',
      embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'a square', image: up.blob }] },
    }),
  )
  await call('old putPreferences', () =>
    oldAgent.app.bsky.actor.putPreferences({
      preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }],
    }),
  )
  // A fresh login, as a migrating client would start.
  const login = new AtpAgent({ service: oldUrl })
  await call('old login', () => login.login({ identifier: handle, password }))
  Object.assign(state, { did, oldAgent: login, post, blobCid: up.blob.ref.toString() })
})

test('new relay: createAccount{did} authorised by the old server (checklist #99), then login', { skip }, async () => {
  const { did, oldAgent } = need('did', 'oldAgent')
  const newAgent = new AtpAgent({ service: newRelay.url })
  const { data: desc } = await call('new describeServer', () => newAgent.com.atproto.server.describeServer())
  const { data: auth } = await call('old getServiceAuth(aud=new, lxm=createAccount)', () =>
    oldAgent.com.atproto.server.getServiceAuth({ aud: desc.did, lxm: CREATE_ACCOUNT }),
  )
  await call('new createAccount{did} with the service-auth token', () =>
    newAgent.com.atproto.server.createAccount(
      { did, handle, email, password },
      { headers: { authorization: `Bearer ${auth.token}` }, encoding: 'application/json' },
    ),
  )
  await call('new login', () => newAgent.login({ identifier: handle, password }))
  assert.equal(newAgent.session.did, did)
  const { data: status } = await call('new checkAccountStatus', () =>
    newAgent.com.atproto.server.checkAccountStatus(),
  )
  assert.equal(status.activated, false, 'a migrating account starts deactivated')
  assert.equal(status.validDid, false, 'the DID still points at the old server')
  state.newAgent = newAgent
})

test('repo: old getRepo -> new importRepo (checklist #100)', { skip }, async () => {
  const { did, oldAgent, newAgent } = need('did', 'oldAgent', 'newAgent')
  const { data: car } = await call('old getRepo', () => oldAgent.com.atproto.sync.getRepo({ did }))
  await call('new importRepo', () =>
    newAgent.com.atproto.repo.importRepo(car, { encoding: 'application/vnd.ipld.car' }),
  )
  const { data: status } = await call('new checkAccountStatus', () =>
    newAgent.com.atproto.server.checkAccountStatus(),
  )
  assert.equal(status.indexedRecords, 1, `the post is indexed: ${JSON.stringify(status)}`)
  assert.equal(status.expectedBlobs, 1)
  assert.equal(status.importedBlobs, 0)
  state.imported = true
})

test('blobs: new listMissingBlobs -> old getBlob -> new uploadBlob, while deactivated (checklist #66, #100)', { skip }, async () => {
  const { did, oldAgent, newAgent, blobCid, post } = need('did', 'oldAgent', 'newAgent', 'blobCid', 'post', 'imported')
  const { data: missing } = await call('new listMissingBlobs', () =>
    newAgent.com.atproto.repo.listMissingBlobs({}),
  )
  assert.deepEqual(
    missing.blobs.map((b) => [b.cid, b.recordUri]),
    [[blobCid, post.uri]],
  )
  let cursor
  for (;;) {
    const { data: page } = await newAgent.com.atproto.repo.listMissingBlobs({ cursor, limit: 100 })
    for (const { cid } of page.blobs) {
      const { data: bytes, headers } = await call(`old getBlob ${cid}`, () =>
        oldAgent.com.atproto.sync.getBlob({ did, cid }),
      )
      await call(`new uploadBlob ${cid}`, () =>
        newAgent.com.atproto.repo.uploadBlob(bytes, { encoding: headers['content-type'] }),
      )
    }
    cursor = page.cursor
    if (!cursor) break
  }
  const { data: after } = await newAgent.com.atproto.repo.listMissingBlobs({})
  assert.deepEqual(after.blobs, [], 'nothing missing after the uploads')
  const { data: status } = await newAgent.com.atproto.server.checkAccountStatus()
  assert.equal(status.importedBlobs, 1)
  state.blobsDone = true
})

test('preferences: old getPreferences -> new putPreferences', { skip }, async () => {
  const { oldAgent, newAgent } = need('oldAgent', 'newAgent')
  const { data: prefs } = await call('old getPreferences', () => oldAgent.app.bsky.actor.getPreferences())
  assert.ok(prefs.preferences.length > 0, 'the old account has preferences')
  await call('new putPreferences', () => newAgent.app.bsky.actor.putPreferences(prefs))
  const { data: copied } = await call('new getPreferences', () => newAgent.app.bsky.actor.getPreferences())
  assert.deepEqual(copied.preferences, prefs.preferences)
})

test('identity: recommended credentials, old signs the PLC operation, new submits it (checklist #100)', { skip }, async (t) => {
  const { did, oldAgent, newAgent } = need('did', 'oldAgent', 'newAgent', 'blobsDone')
  const { data: creds } = await call('new getRecommendedDidCredentials', () =>
    newAgent.com.atproto.identity.getRecommendedDidCredentials(),
  )
  assert.equal(creds.services.atproto_pds.endpoint, newRelay.url)
  const before = await outboxNames()
  let operation
  try {
    await oldAgent.com.atproto.identity.requestPlcOperationSignature()
  } catch (e) {
    if (e?.status !== 501) throw new Error(`old requestPlcOperationSignature failed: HTTP ${e?.status} ${e?.error}: ${e?.message}`)
    // A relay built without the email flows: sign as signPlcOperation would, with the old
    // relay's PLC rotation key from its secrets file.
    t.diagnostic('old relay has no requestPlcOperationSignature (501): signing with its rotation key directly')
    operation = await signWithOldRotationKey(did, creds)
  }
  if (operation === undefined) {
    const eml = await waitForEmail(email, before)
    const token = tokenFromEmail(eml)
    const { data } = await call('old signPlcOperation with the emailed token', () =>
      oldAgent.com.atproto.identity.signPlcOperation({ token, ...creds }),
    )
    operation = data.operation
  }
  t.diagnostic(`PLC operation signed by the old relay, prev ${operation.prev}`)
  await call('new submitPlcOperation', () =>
    newAgent.com.atproto.identity.submitPlcOperation({ operation }),
  )
  const doc = await getJson(`${plcUrl}/${did}`)
  const pds = doc.service.find((s) => s.id === '#atproto_pds' || s.id === `${did}#atproto_pds`)
  assert.equal(pds?.serviceEndpoint, newRelay.url, 'the PLC directory names the new server')
  assert.equal(atprotoDidKey(doc), creds.verificationMethods.atproto, 'new signing key in the DID document')
  state.didKey = creds.verificationMethods.atproto
})

test('switch: new activateAccount, old deactivateAccount (checklist #101)', { skip }, async () => {
  const { oldAgent, newAgent } = need('oldAgent', 'newAgent', 'didKey')
  await call('new activateAccount', () => newAgent.com.atproto.server.activateAccount())
  await call('old deactivateAccount', () => oldAgent.com.atproto.server.deactivateAccount({}))
  const { data: n } = await newAgent.com.atproto.server.checkAccountStatus()
  assert.equal(n.activated, true)
  assert.equal(n.validDid, true)
  const { data: o } = await oldAgent.com.atproto.server.checkAccountStatus()
  assert.equal(o.activated, false)
  assert.equal(o.validDid, false)
  state.switched = true
})

test('after the move: the post and image are public on the new relay, new posts work, the CAR verifies (checklist #100)', { skip }, async () => {
  const { did, didKey, post, blobCid, newAgent } = need('did', 'didKey', 'post', 'blobCid', 'newAgent', 'switched')
  const { data: desc } = await newAgent.com.atproto.repo.describeRepo({ repo: did })
  assert.equal(desc.handle, handle)
  assert.equal(desc.handleIsCorrect, true)
  const anon = new AtpAgent({ service: newRelay.url })
  const rkey = post.uri.split('/').pop()
  const { data: rec } = await call('new getRecord (public)', () =>
    anon.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey }),
  )
  assert.equal(rec.value.text, 'moving house')
  assert.equal(rec.cid, post.cid)
  assert.equal(rec.value.embed.images[0].image.ref.toString(), blobCid)
  const { data: bytes } = await call('new getBlob (public)', () =>
    anon.com.atproto.sync.getBlob({ did, cid: blobCid }),
  )
  assert.deepEqual(Buffer.from(bytes), Buffer.from(png))
  const fresh = await call('new post after the move', () => newAgent.post({ text: 'hello from the new house' }))
  const { data: car } = await call('new getRepo', () => anon.com.atproto.sync.getRepo({ did }))
  const verified = await call('@atproto/repo verifyRepoCar with the new signing key', () =>
    verifyRepoCar(car, did, didKey),
  )
  const paths = new Set(verified.creates.map((c) => `${c.collection}/${c.rkey}`))
  assert.ok(paths.has(`app.bsky.feed.post/${rkey}`), 'the migrated post is in the new repo')
  assert.ok(paths.has(`app.bsky.feed.post/${fresh.uri.split('/').pop()}`), 'the new post is in the new repo')
  // The old relay no longer serves the repository publicly (checklist #66).
  const oldAnon = new AtpAgent({ service: oldUrl })
  await assert.rejects(oldAnon.com.atproto.sync.getRepo({ did }), (e) => e?.status === 400)
})
