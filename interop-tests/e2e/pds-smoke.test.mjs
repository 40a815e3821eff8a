// End-to-end smoke flow against a running PDS with clients we did not write: `@atproto/api`
// (AtpAgent) drives every call, `@atproto/repo` verifies the repo CAR and record proofs, and the
// DID document comes from the PLC directory the server registered the account with.
//
// Run through ./run.sh (it starts `relay plc serve` + `relay serve` and sets PDS_URL, PLC_URL).
// The same file runs against the reference PDS (PDS_URL/PLC_URL printed by reference-pds.mjs),
// which is how its expectations were checked.
//
// The steps run in order and share state; a step that needs something an earlier step failed to
// produce FAILS saying so (nothing is skipped). Checklist items: D (accounts, sessions, app
// passwords), E (records), F (blobs), G (sync reads), J-N (identity) of
// /work/shared/spec/conformance-checklist.md.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { verifyRepoCar, verifyRecords } from '@atproto/repo'
import { makePng } from './lib/png.mjs'
import {
  atprotoDidKey,
  call,
  decodeJwt,
  env,
  expectRefused,
  getJson,
  makeState,
  randomSuffix,
} from './lib/util.mjs'

const { pdsUrl, plcUrl } = env()
const { state, need } = makeState()
const password = `pw-${randomSuffix(12)}`
const handle = `e2e-${randomSuffix(6)}.test`
const email = `${handle.split('.')[0]}@example.com`
const png = makePng(16, 16, 7)

/** An unauthenticated XRPC call with a raw bearer token (to test token types). */
async function rawXrpc(method, { token, body, params } = {}) {
  const url = new URL(`/xrpc/${method}`, pdsUrl)
  for (const [k, v] of Object.entries(params ?? {})) url.searchParams.set(k, v)
  const headers = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await res.text()
  let json = null
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: res.status, json, text, headers: res.headers }
}

function expectXrpcRefusal(what, res, statuses) {
  assert.ok(
    statuses.includes(res.status),
    `${what}: expected HTTP ${statuses.join(' or ')}, got ${res.status}: ${res.text.slice(0, 300)}`,
  )
  assert.equal(
    typeof res.json?.error,
    'string',
    `${what}: an XRPC error body {"error": ..., "message": ...} was expected, got ${res.text.slice(0, 300)}`,
  )
}

test('describeServer offers the .test handle domain', async () => {
  const agent = new AtpAgent({ service: pdsUrl })
  const { data } = await call('com.atproto.server.describeServer', () =>
    agent.com.atproto.server.describeServer(),
  )
  assert.ok(
    data.availableUserDomains.includes('.test'),
    `availableUserDomains ${JSON.stringify(data.availableUserDomains)} should include ".test"`,
  )
  assert.match(data.did, /^did:/, 'describeServer.did is a DID')
})

test('createAccount: new did:plc account with a session (access at+jwt, refresh refresh+jwt)', async () => {
  const agent = new AtpAgent({ service: pdsUrl })
  const { data } = await call(`com.atproto.server.createAccount (${handle})`, () =>
    agent.createAccount({ handle, email, password }),
  )
  assert.match(data.did, /^did:plc:[a-z2-7]{24}$/, 'the new account has a did:plc')
  assert.equal(data.handle, handle)
  assert.equal(decodeJwt(data.accessJwt).header.typ, 'at+jwt', 'access token typ')
  assert.equal(decodeJwt(data.refreshJwt).header.typ, 'refresh+jwt', 'refresh token typ')
  assert.equal(decodeJwt(data.accessJwt).payload.sub, data.did, 'access token sub is the DID')
  assert.ok(agent.hasSession, 'AtpAgent holds a session after createAccount')
  Object.assign(state, { did: data.did, createDidDoc: data.didDoc })
})

test('createSession: login by handle, by email and by DID; wrong password refused', async () => {
  const { did } = need('did')
  for (const identifier of [handle, email, did]) {
    const agent = new AtpAgent({ service: pdsUrl })
    const { data } = await call(`login (identifier ${identifier})`, () =>
      agent.login({ identifier, password }),
    )
    assert.equal(data.did, did, `login by ${identifier}: did`)
    assert.equal(data.handle, handle, `login by ${identifier}: handle`)
    if (identifier === handle) state.agent = agent
  }
  await expectRefused(
    'login with a wrong password',
    () => new AtpAgent({ service: pdsUrl }).login({ identifier: handle, password: 'wrong-pass' }),
    { statuses: [401], errors: ['AuthenticationRequired'] },
  )
})

test('refreshSession: new tokens work; access and refresh tokens refused where the other is expected', async () => {
  const { agent, did } = need('agent', 'did')
  const before = { ...agent.session }
  await call('com.atproto.server.refreshSession', () => agent.sessionManager.refreshSession())
  const after = agent.session
  assert.ok(after, 'AtpAgent still has a session after refreshSession')
  assert.notEqual(after.accessJwt, before.accessJwt, 'a new access token')
  assert.notEqual(after.refreshJwt, before.refreshJwt, 'a new refresh token')
  const { data } = await call('getSession with the refreshed access token', () =>
    agent.com.atproto.server.getSession(),
  )
  assert.equal(data.did, did)
  assert.equal(data.handle, handle)

  const withRefresh = await rawXrpc('com.atproto.server.getSession', { token: after.refreshJwt })
  expectXrpcRefusal('getSession with a refresh token', withRefresh, [400])
  assert.equal(withRefresh.json.error, 'InvalidToken', 'getSession with a refresh token: error name')
  // refreshSession is a procedure: POST with no body.
  const withAccess = await fetch(new URL('/xrpc/com.atproto.server.refreshSession', pdsUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${after.accessJwt}` },
  })
  const text = await withAccess.text()
  assert.equal(
    withAccess.status,
    400,
    `refreshSession with an access token: expected 400 InvalidToken, got ${withAccess.status}: ${text.slice(0, 300)}`,
  )
  assert.equal(JSON.parse(text).error, 'InvalidToken', 'refreshSession with an access token: error name')
})

test('uploadBlob: a real PNG', async () => {
  const { agent } = need('agent')
  const { data } = await call('com.atproto.repo.uploadBlob', () =>
    agent.uploadBlob(png, { encoding: 'image/png' }),
  )
  const blob = data.blob
  assert.equal(blob.mimeType, 'image/png')
  assert.equal(blob.size, png.length, 'blob size is the PNG size')
  assert.match(blob.ref.toString(), /^bafkrei[a-z2-7]+$/, 'blob CID is CIDv1 raw sha-256')
  state.blob = blob
})

test('createRecord: a post embedding the uploaded image', async () => {
  const { agent, blob, did } = need('agent', 'blob', 'did')
  const record = {
    $type: 'app.bsky.feed.post',
    text: 'hello from @atproto/api, with a picture',
    createdAt: new Date().toISOString(),
    langs: ['en'],
    embed: {
      $type: 'app.bsky.embed.images',
      images: [{ image: blob, alt: 'a gradient', aspectRatio: { width: 16, height: 16 } }],
    },
  }
  const res = await call('app.bsky.feed.post via com.atproto.repo.createRecord', () =>
    agent.post(record),
  )
  assert.ok(
    res.uri.startsWith(`at://${did}/app.bsky.feed.post/`),
    `post uri ${res.uri} is in our repo`,
  )
  assert.match(res.cid, /^bafyrei[a-z2-7]+$/, 'record CID is dag-cbor sha-256')
  state.post = { uri: res.uri, cid: res.cid, record }
})

test('sync.getBlob: the same bytes with safe headers; listBlobs lists it', async () => {
  const { did, blob } = need('did', 'blob', 'post')
  const cid = blob.ref.toString()
  const url = new URL('/xrpc/com.atproto.sync.getBlob', pdsUrl)
  url.searchParams.set('did', did)
  url.searchParams.set('cid', cid)
  const res = await fetch(url)
  const bytes = Buffer.from(await res.arrayBuffer())
  assert.equal(res.status, 200, `getBlob: HTTP ${res.status}: ${bytes.toString('utf8', 0, 300)}`)
  assert.ok(bytes.equals(png), 'getBlob returns the uploaded bytes')
  assert.equal(res.headers.get('content-type'), 'image/png', 'getBlob Content-Type')
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', 'X-Content-Type-Options')
  assert.ok(res.headers.get('content-security-policy'), 'getBlob sends a Content-Security-Policy')

  const agent = new AtpAgent({ service: pdsUrl })
  const { data } = await call('com.atproto.sync.listBlobs', () =>
    agent.com.atproto.sync.listBlobs({ did }),
  )
  assert.ok(data.cids.includes(cid), `listBlobs ${JSON.stringify(data.cids)} includes ${cid}`)
})

test('like the post (app.bsky.feed.like)', async () => {
  const { agent, post, did } = need('agent', 'post', 'did')
  const res = await call('app.bsky.feed.like via createRecord', () => agent.like(post.uri, post.cid))
  assert.ok(res.uri.startsWith(`at://${did}/app.bsky.feed.like/`), `like uri ${res.uri}`)
  state.like = res
})

test('getRecord and listRecords (limit, cursor, reverse)', async () => {
  const { agent, post, like, did, blob } = need('agent', 'post', 'like', 'did', 'blob')
  const rkey = post.uri.split('/').pop()
  const { data: got } = await call('com.atproto.repo.getRecord (post)', () =>
    agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey }),
  )
  assert.equal(got.uri, post.uri)
  assert.equal(got.cid, post.cid)
  assert.equal(got.value.text, post.record.text)
  assert.equal(
    got.value.embed.images[0].image.ref.toString(),
    blob.ref.toString(),
    'the stored post references the uploaded blob',
  )

  // Getting by handle as repo works too.
  const { data: byHandle } = await call('getRecord with the handle as repo', () =>
    agent.com.atproto.repo.getRecord({ repo: handle, collection: 'app.bsky.feed.post', rkey }),
  )
  assert.equal(byHandle.cid, post.cid)

  const { data: likes } = await call('com.atproto.repo.listRecords (likes)', () =>
    agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.like' }),
  )
  assert.equal(likes.records.length, 1, 'one like listed')
  assert.equal(likes.records[0].uri, like.uri)
  assert.equal(likes.records[0].value.subject.uri, post.uri, 'like subject is the post')

  // Three more posts, then page through all four.
  const uris = [post.uri]
  for (let i = 0; i < 3; i++) {
    const r = await call(`createRecord (post ${i + 2})`, () =>
      agent.post({ text: `post ${i + 2}`, createdAt: new Date().toISOString() }),
    )
    uris.push(r.uri)
  }
  const page1 = await call('listRecords limit 2', () =>
    agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', limit: 2 }),
  )
  assert.equal(page1.data.records.length, 2, 'page 1 has 2 records')
  assert.ok(page1.data.cursor, 'page 1 has a cursor')
  const page2 = await call('listRecords limit 2 with cursor', () =>
    agent.com.atproto.repo.listRecords({
      repo: did,
      collection: 'app.bsky.feed.post',
      limit: 2,
      cursor: page1.data.cursor,
    }),
  )
  assert.equal(page2.data.records.length, 2, 'page 2 has 2 records')
  const listed = [...page1.data.records, ...page2.data.records].map((r) => r.uri)
  assert.deepEqual([...listed].sort(), [...uris].sort(), 'the two pages hold all four posts')
  // Default order is newest first (rkeys descending); reverse=true is oldest first.
  assert.deepEqual(listed, [...uris].reverse(), 'default order: newest first')
  const rev = await call('listRecords reverse=true', () =>
    agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post', reverse: true }),
  )
  assert.deepEqual(
    rev.data.records.map((r) => r.uri),
    uris,
    'reverse=true: oldest first',
  )
  state.postUris = uris
})

test('putRecord (create and update with swapRecord) and a stale swap refused with InvalidSwap', async () => {
  const { agent, did } = need('agent', 'did')
  const put = (record, swapRecord) =>
    agent.com.atproto.repo.putRecord({
      repo: did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record,
      ...(swapRecord ? { swapRecord } : {}),
    })
  const v1 = { $type: 'app.bsky.actor.profile', displayName: 'E2E one', description: 'first' }
  const { data: r1 } = await call('putRecord profile (create)', () => put(v1))
  assert.equal(r1.uri, `at://${did}/app.bsky.actor.profile/self`)
  const v2 = { $type: 'app.bsky.actor.profile', displayName: 'E2E two', description: 'second' }
  const { data: r2 } = await call('putRecord profile (update, swapRecord = current cid)', () =>
    put(v2, r1.cid),
  )
  assert.notEqual(r2.cid, r1.cid, 'the update has a new cid')
  const { data: got } = await call('getRecord profile', () =>
    agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.actor.profile', rkey: 'self' }),
  )
  assert.equal(got.cid, r2.cid)
  assert.equal(got.value.displayName, 'E2E two')
  await expectRefused('putRecord with a stale swapRecord', () => put(v1, r1.cid), {
    statuses: [400],
    errors: ['InvalidSwap'],
  })
  state.profileCid = r2.cid
})

test('deleteRecord: the like is gone (getRecord RecordNotFound, listRecords empty)', async () => {
  const { agent, like, did } = need('agent', 'like', 'did')
  const rkey = like.uri.split('/').pop()
  await call('com.atproto.repo.deleteRecord (like)', () =>
    agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.like', rkey }),
  )
  await expectRefused(
    'getRecord of the deleted like',
    () => agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.like', rkey }),
    { statuses: [400, 404], errors: ['RecordNotFound'] },
  )
  const { data } = await call('listRecords likes after delete', () =>
    agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.like' }),
  )
  assert.equal(data.records.length, 0, 'no likes left')
  state.likeDeleted = true
})

test('app password: create, list, login with it, post; refused for account management', async () => {
  const { agent, did } = need('agent', 'did')
  const name = `e2e-app-${randomSuffix(4)}`
  const { data: created } = await call('com.atproto.server.createAppPassword', () =>
    agent.com.atproto.server.createAppPassword({ name }),
  )
  assert.equal(created.name, name)
  assert.match(created.password, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/, 'app password format')
  const { data: listed } = await call('listAppPasswords', () =>
    agent.com.atproto.server.listAppPasswords(),
  )
  assert.ok(
    listed.passwords.some((p) => p.name === name),
    `listAppPasswords ${JSON.stringify(listed.passwords)} includes ${name}`,
  )

  const appAgent = new AtpAgent({ service: pdsUrl })
  const { data: session } = await call('login with the app password', () =>
    appAgent.login({ identifier: handle, password: created.password }),
  )
  assert.equal(session.did, did)
  const appPost = await call('createRecord from the app-password session', () =>
    appAgent.post({ text: 'posted with an app password', createdAt: new Date().toISOString() }),
  )
  assert.ok(appPost.uri.startsWith(`at://${did}/app.bsky.feed.post/`))
  state.appPostUri = appPost.uri

  await expectRefused(
    'createAppPassword from an app-password session (account management)',
    () => appAgent.com.atproto.server.createAppPassword({ name: `${name}-2` }),
    { statuses: [400], errors: ['InvalidToken'] },
  )
  await expectRefused(
    'deactivateAccount from an app-password session (account management)',
    () => appAgent.com.atproto.server.deactivateAccount({}),
    { statuses: [400], errors: ['InvalidToken'] },
  )
  Object.assign(state, { appAgent, appPassword: created.password, appPasswordName: name })
})

test('app password: an app-password session may list app passwords (as the reference PDS allows)', async () => {
  const { appAgent, appPasswordName } = need('appAgent', 'appPasswordName')
  // The reference checks listAppPasswords with accessStandard: app-password sessions allowed.
  const { data } = await call('listAppPasswords from an app-password session', () =>
    appAgent.com.atproto.server.listAppPasswords(),
  )
  assert.ok(data.passwords.some((p) => p.name === appPasswordName))
})

test('app password: revoked, then its login is refused', async () => {
  const { agent, appPassword, appPasswordName } = need('agent', 'appPassword', 'appPasswordName')
  await call('revokeAppPassword', () =>
    agent.com.atproto.server.revokeAppPassword({ name: appPasswordName }),
  )
  await expectRefused(
    'login with a revoked app password',
    () => new AtpAgent({ service: pdsUrl }).login({ identifier: handle, password: appPassword }),
    { statuses: [401], errors: ['AuthenticationRequired'] },
  )
})

test('identity: resolveHandle, and the DID document from our PLC directory shows our signing key and endpoint', async () => {
  const { did, createDidDoc } = need('did')
  const agent = new AtpAgent({ service: pdsUrl })
  const { data: resolved } = await call('com.atproto.identity.resolveHandle', () =>
    agent.com.atproto.identity.resolveHandle({ handle }),
  )
  assert.equal(resolved.did, did)

  const doc = await getJson(`${plcUrl}/${did}`)
  assert.equal(doc.id, did, 'DID document id')
  assert.ok(
    (doc.alsoKnownAs ?? []).includes(`at://${handle}`),
    `alsoKnownAs ${JSON.stringify(doc.alsoKnownAs)} includes at://${handle}`,
  )
  // Our PLC directory renders the current Multikey form; the reference's old PLC server the
  // legacy one (REFERENCE=1 when running this file against it).
  const didKey = atprotoDidKey(doc, { requireMultikey: process.env.REFERENCE !== '1' })
  const pds = (doc.service ?? []).find((s) => s.id === '#atproto_pds' || s.id === `${did}#atproto_pds`)
  assert.ok(pds, `DID document has an #atproto_pds service: ${JSON.stringify(doc.service)}`)
  assert.equal(pds.type, 'AtprotoPersonalDataServer')
  assert.equal(
    new URL(pds.serviceEndpoint).port,
    new URL(pdsUrl).port,
    `#atproto_pds endpoint ${pds.serviceEndpoint} is this server (${pdsUrl})`,
  )
  const data = await getJson(`${plcUrl}/${did}/data`)
  assert.equal(data.verificationMethods?.atproto, didKey, '/data has the same atproto key')
  assert.ok(data.rotationKeys?.length >= 1, 'the PLC data lists at least one rotation key')
  if (createDidDoc) {
    assert.equal(atprotoDidKey(createDidDoc), didKey, 'createAccount didDoc shows the same key')
  }
  state.didKey = didKey
})

test('sync.getRepo: the CAR verifies with @atproto/repo against the PLC key; getLatestCommit, describeRepo, getRecord proof', async () => {
  const { did, didKey, post, postUris, appPostUri, profileCid } = need(
    'did',
    'didKey',
    'post',
    'postUris',
    'appPostUri',
    'profileCid',
    'likeDeleted',
  )
  const agent = new AtpAgent({ service: pdsUrl })
  const { data: car } = await call('com.atproto.sync.getRepo', () =>
    agent.com.atproto.sync.getRepo({ did }),
  )
  assert.ok(car instanceof Uint8Array && car.length > 0, 'getRepo returns CAR bytes')
  const verified = await call('@atproto/repo verifyRepoCar (signature with the PLC key)', () =>
    verifyRepoCar(car, did, didKey),
  )
  const paths = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
  const expected = [...postUris, appPostUri].map((u) => u.split('/').slice(3).join('/'))
  for (const p of expected) assert.ok(paths.has(p), `the repo holds ${p}`)
  assert.equal(paths.get(post.uri.split('/').slice(3).join('/')), post.cid, 'post cid in the CAR')
  assert.equal(paths.get('app.bsky.actor.profile/self'), profileCid, 'profile cid in the CAR')
  assert.ok(
    ![...paths.keys()].some((p) => p.startsWith('app.bsky.feed.like/')),
    'the deleted like is not in the repo',
  )
  assert.equal(paths.size, expected.length + 1, `record count (${[...paths.keys()].join(', ')})`)

  const { data: latest } = await call('com.atproto.sync.getLatestCommit', () =>
    agent.com.atproto.sync.getLatestCommit({ did }),
  )
  assert.equal(latest.cid, verified.commit.cid.toString(), 'getLatestCommit cid is the CAR root')
  assert.equal(latest.rev, verified.commit.rev, 'getLatestCommit rev is the commit rev')

  const { data: described } = await call('com.atproto.repo.describeRepo', () =>
    agent.com.atproto.repo.describeRepo({ repo: did }),
  )
  assert.equal(described.did, did)
  assert.equal(described.handle, handle)
  assert.equal(described.handleIsCorrect, true, 'describeRepo handleIsCorrect')
  for (const c of ['app.bsky.feed.post', 'app.bsky.actor.profile']) {
    assert.ok(described.collections.includes(c), `describeRepo collections include ${c}`)
  }

  const rkey = post.uri.split('/').pop()
  const { data: proof } = await call('com.atproto.sync.getRecord (proof CAR)', () =>
    agent.com.atproto.sync.getRecord({ did, collection: 'app.bsky.feed.post', rkey }),
  )
  const claims = await call('@atproto/repo verifyRecords (record proof)', () =>
    verifyRecords(proof, did, didKey),
  )
  const claim = claims.find((c) => c.collection === 'app.bsky.feed.post' && c.rkey === rkey)
  assert.ok(claim, 'the proof proves the post')
  assert.equal(claim.record?.text, post.record.text, 'proved record content')
})

test('deleteSession: the refresh token is revoked', async () => {
  const { agent } = need('agent')
  const refreshJwt = agent.session?.refreshJwt
  assert.ok(refreshJwt, 'the agent has a refresh token')
  await call('com.atproto.server.deleteSession (logout)', () => agent.logout())
  const res = await fetch(new URL('/xrpc/com.atproto.server.refreshSession', pdsUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${refreshJwt}` },
  })
  const text = await res.text()
  assert.ok(
    [400, 401].includes(res.status),
    `refreshSession with a revoked refresh token: expected 400 or 401, got ${res.status}: ${text.slice(0, 300)}`,
  )
})
