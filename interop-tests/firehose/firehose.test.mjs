// com.atproto.sync.subscribeRepos of `relay serve`, checked by code we did not write:
//   - @atproto/sync's Firehose with signature and MST-proof verification ON, resolving DIDs
//     through our local PLC directory (an @atproto/identity IdResolver with plcUrl);
//   - every raw frame decoded strictly with cborg + @ipld/dag-cbor (header/body, canonical
//     bytes), seqs checked on the raw frames (the Firehose class drops empty commits);
//   - every #commit's inductive proof checked with @atproto/repo's MST: applying the inverse
//     of the ops to the tree in `blocks` gives `prevData` (sync 1.1, checklist #83);
//   - a reconnect with a cursor gets exactly the missed events, raw and through the Firehose
//     (MemoryRunner startCursor: the getCursor option of @atproto/sync 0.1.40 is broken).
// Run through ./run.sh (starts `relay plc serve` + `relay serve`, sets PDS_URL and PLC_URL).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { IdResolver } from '@atproto/identity'
import { MST, MemoryBlockstore, readCarWithRoot } from '@atproto/repo'
import { Firehose, MemoryRunner } from '@atproto/sync'
import * as dagCbor from '@ipld/dag-cbor'
import { latestToken } from '../e2e/lib/outbox.mjs'
import { RawSubscriber, subscribeUrl, waitForSeq, waitUntil } from './lib/frames.mjs'

const pdsUrl = (process.env.PDS_URL ?? '').replace(/\/$/, '')
const plcUrl = (process.env.PLC_URL ?? '').replace(/\/$/, '')
if (!pdsUrl || !plcUrl) {
  throw new Error('PDS_URL and PLC_URL must be set: run through interop-tests/firehose/run.sh')
}
const service = pdsUrl.replace(/^http/, 'ws')
const PASSWORD = 'firehose-test-password'
const now = () => new Date().toISOString()

/** A Firehose (verification on) that records what it delivers and every error. */
function verifyingFirehose(opts = {}) {
  const seen = { events: [], errors: [] }
  const firehose = new Firehose({
    idResolver: new IdResolver({ plcUrl }),
    service,
    // Handles under .test do not resolve (no DNS here): the handle check is the client's
    // business, not the stream's. DIDs, keys and proofs are all verified.
    unauthenticatedHandles: true,
    handleEvent: async (evt) => {
      seen.events.push(evt)
    },
    onError: (err) => {
      seen.errors.push(err)
    },
    ...opts,
  })
  firehose.start()
  return { firehose, seen }
}

async function account(handle) {
  const agent = new AtpAgent({ service: pdsUrl })
  await agent.createAccount({ handle, email: `${handle}@example.com`, password: PASSWORD })
  return agent
}

function post(agent, text) {
  return agent.com.atproto.repo.createRecord({
    repo: agent.session.did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text, createdAt: now() },
  })
}

/** Checks a #commit as a relay does: CAR root, ops shape, since/prevData chain, inversion. */
async function checkCommit(frame, chains) {
  const b = frame.body
  const keys = Object.keys(b).sort()
  const want = ['blobs', 'blocks', 'commit', 'ops', 'rebase', 'repo', 'rev', 'seq', 'since', 'time', 'tooBig']
  if ('prevData' in b) want.push('prevData')
  assert.deepEqual(keys, want.sort(), '#commit field set (checklist #82)')
  assert.equal(b.rebase, false)
  assert.equal(b.tooBig, false)
  assert.deepEqual(b.blobs, [])
  const car = await readCarWithRoot(b.blocks)
  assert.equal(car.root.toString(), b.commit.toString(), 'CAR root is the commit')
  const commit = dagCbor.decode(car.blocks.get(car.root))
  assert.equal(commit.rev, b.rev)
  assert.equal(commit.did, b.repo)
  const prev = chains.get(b.repo)
  if (prev) {
    assert.equal(b.since, prev.rev, 'since = previous rev')
    assert.equal(b.prevData?.toString(), prev.data, 'prevData = previous data')
  }
  for (const op of b.ops) {
    assert.ok(['create', 'update', 'delete'].includes(op.action), op.action)
    if (op.action === 'create') assert.ok(op.cid && !('prev' in op), 'create: cid, no prev')
    if (op.action === 'update') assert.ok(op.cid && op.prev, 'update: cid and prev')
    if (op.action === 'delete') assert.ok(op.cid === null && op.prev, 'delete: null cid, prev')
  }
  if (b.prevData) {
    // Invert the ops on the new tree, using only the blocks of the event.
    let mst = MST.load(new MemoryBlockstore(car.blocks), commit.data)
    for (const op of [...b.ops].reverse()) {
      if (op.action === 'create') mst = await mst.delete(op.path)
      else if (op.action === 'update') mst = await mst.update(op.path, op.prev)
      else mst = await mst.add(op.path, op.prev)
    }
    const root = await mst.getPointer()
    assert.equal(root.toString(), b.prevData.toString(), 'ops inverted give prevData (#83)')
  }
  chains.set(b.repo, { rev: b.rev, data: commit.data.toString() })
}

function assertConsecutive(seqs, what) {
  for (let i = 1; i < seqs.length; i++) {
    assert.equal(seqs[i], seqs[i - 1] + 1, `${what}: gap or duplicate at ${seqs[i - 1]} -> ${seqs[i]}`)
  }
}

/** The seqs the Firehose class is expected to deliver: everything but commits without ops. */
function deliverable(frames) {
  return frames
    .filter((f) => f.op === 1 && f.t !== '#info' && !(f.t === '#commit' && f.body.ops.length === 0))
    .map((f) => f.body.seq)
}

function firehoseSeqs(events) {
  return [...new Set(events.map((e) => e.seq))]
}

test('subscribeRepos: live stream verified by @atproto/sync, then cursor replay', async (t) => {
  // Phase 1: live subscribers connected before anything happens.
  const raw = new RawSubscriber(pdsUrl)
  await raw.opened
  const live = verifyingFirehose()
  await new Promise((r) => setTimeout(r, 300))

  const alice = await account('alice.test')
  const bob = await account('bob.test')
  const carol = await account('carol.test')
  const a1 = await post(alice, 'hello from alice')
  const a2 = await post(alice, 'second')
  await post(bob, 'hello from bob')
  await alice.com.atproto.repo.putRecord({
    repo: alice.session.did,
    collection: 'app.bsky.feed.post',
    rkey: a2.data.uri.split('/').pop(),
    record: { $type: 'app.bsky.feed.post', text: 'second, edited', createdAt: now() },
  })
  await carol.com.atproto.repo.applyWrites({
    repo: carol.session.did,
    writes: [
      {
        $type: 'com.atproto.repo.applyWrites#create',
        collection: 'app.bsky.feed.like',
        value: { $type: 'app.bsky.feed.like', subject: { uri: a1.data.uri, cid: a1.data.cid }, createdAt: now() },
      },
      {
        $type: 'com.atproto.repo.applyWrites#create',
        collection: 'app.bsky.graph.follow',
        value: { $type: 'app.bsky.graph.follow', subject: alice.session.did, createdAt: now() },
      },
    ],
  })
  await alice.com.atproto.repo.deleteRecord({
    repo: alice.session.did,
    collection: 'app.bsky.feed.post',
    rkey: a1.data.uri.split('/').pop(),
  })
  await alice.com.atproto.identity.updateHandle({ handle: 'alice2.test' })
  await bob.com.atproto.server.deactivateAccount({})
  await bob.com.atproto.server.activateAccount()
  const marker = await post(bob, 'end of phase 1')

  const isMarker = (f) => f.t === '#commit' && f.body.rev === marker.data.commit.rev
  await waitUntil('the phase-1 marker commit on the raw stream', () => raw.frames.some(isMarker))
  const markerSeq = raw.frames.find(isMarker).body.seq
  await waitUntil('the phase-1 marker through the Firehose', () =>
    live.seen.events.some((e) => e.seq === markerSeq),
  )
  assert.deepEqual(raw.errors, [], 'every raw frame decodes per the spec')
  const seqs = raw.seqs()
  assertConsecutive(seqs, 'live raw stream')
  const kinds = raw.frames.map((f) => f.t)
  assert.deepEqual(kinds.slice(0, 4), ['#identity', '#account', '#commit', '#sync'], 'account creation')
  assert.ok(kinds.every((k) => ['#identity', '#account', '#commit', '#sync'].includes(k)), kinds.join())
  // checklist #94: `time` with millisecond precision, as the reference's toISOString().
  for (const f of raw.frames) {
    assert.match(f.body.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `${f.t} ${f.body.seq} time`)
  }
  // checklist #89, #101, #104: bob's deactivation, then activation emits #account (active),
  // #identity and a #sync of the current head, in that order, as the reference.
  const bobDid = bob.session.did
  const bobFrames = raw.frames.filter((f) => (f.body.did ?? f.body.repo) === bobDid)
  const deact = bobFrames.findIndex((f) => f.t === '#account' && f.body.status === 'deactivated')
  assert.ok(deact >= 0, 'deactivation #account')
  const reactivation = bobFrames.slice(deact + 1, deact + 4)
  assert.deepEqual(reactivation.map((f) => f.t), ['#account', '#identity', '#sync'], 'reactivation events')
  assert.deepEqual([reactivation[0].body.active, reactivation[0].body.status], [true, undefined])
  assert.equal(reactivation[1].body.handle, 'bob.test')
  const lastBobCommit = bobFrames.slice(0, deact).filter((f) => f.t === '#commit').at(-1)
  assert.equal(reactivation[2].body.rev, lastBobCommit.body.rev, '#sync carries the current head')
  const syncCar = await readCarWithRoot(reactivation[2].body.blocks)
  assert.equal(syncCar.root.toString(), lastBobCommit.body.commit.toString(), '#sync root is the head commit')

  const chains = new Map()
  let commits = 0
  for (const f of raw.frames.filter((f) => f.t === '#commit')) {
    await checkCommit(f, chains)
    commits++
  }
  t.diagnostic(`phase 1: ${raw.frames.length} raw frames (${commits} commits verified and inverted)`)

  // The Firehose (signatures + MST proofs verified) delivered every event, in order, no errors.
  const errors = live.seen.errors.map((e) => `${e.message}: ${e.cause?.message ?? ''}`)
  assert.deepEqual(errors, [], 'no Firehose validation, parse or verification errors')
  const got = firehoseSeqs(live.seen.events)
  assert.deepEqual(got, deliverable(raw.frames), 'the Firehose saw every (non-empty) event in order')
  const byType = {}
  for (const e of live.seen.events) byType[e.event] = (byType[e.event] ?? 0) + 1
  t.diagnostic(`Firehose events: ${JSON.stringify(byType)}`)
  for (const ev of ['create', 'update', 'delete', 'identity', 'account', 'sync']) {
    assert.ok(byType[ev] > 0, `Firehose delivered ${ev} events`)
  }
  const handleFrame = raw.frames.find((f) => f.t === '#identity' && f.body.handle === 'alice2.test')
  assert.ok(handleFrame, 'updateHandle emitted #identity with the new handle')
  const handleEvt = live.seen.events.find((e) => e.seq === handleFrame.body.seq)
  assert.ok(handleEvt?.didDocument, 'identity event resolved through the local PLC')

  // Phase 2: both subscribers go away; writes happen; carol deletes her account.
  const lastSeen = raw.lastSeq()
  await raw.close()
  await live.firehose.destroy()
  await post(alice, 'missed one')
  await post(alice, 'missed two')
  // deleteAccount needs the emailed code (read from the server's outbox, PDS_OUTBOX_DIR).
  await carol.com.atproto.server.requestAccountDelete()
  await carol.com.atproto.server.deleteAccount({
    did: carol.session.did,
    password: PASSWORD,
    token: latestToken('carol.test@example.com'),
  })
  const dave = await account('dave.test')

  // Reconnect with the cursor: exactly the missed events (raw), then live.
  const replay = new RawSubscriber(pdsUrl, lastSeen)
  await replay.opened
  const fromCursor = verifyingFirehose({ runner: new MemoryRunner({ startCursor: lastSeen }) })
  await waitUntil('the missed events', () => replay.frames.length >= 7)
  const after = await post(dave, 'after the reconnect')
  const isAfter = (f) => f.t === '#commit' && f.body.rev === after.data.commit.rev
  await waitUntil('the live event after the replay', () => replay.frames.some(isAfter))
  assert.deepEqual(replay.errors, [])
  const rseqs = replay.seqs()
  assert.equal(rseqs[0], lastSeen + 1, 'the first replayed event follows the cursor')
  assertConsecutive(rseqs, 'replay + live')
  assert.deepEqual(
    replay.frames.map((f) => f.t),
    ['#commit', '#commit', '#account', '#identity', '#account', '#commit', '#sync', '#commit'],
    'missed: two commits, the deletion tombstone, dave created; then live',
  )
  const tomb = replay.frames[2].body
  assert.deepEqual([tomb.did, tomb.active, tomb.status], [carol.session.did, false, 'deleted'])
  for (const f of replay.frames.filter((f) => f.t === '#commit')) await checkCommit(f, chains)

  await waitUntil('the Firehose with startCursor to catch up', () =>
    fromCursor.seen.events.some((e) => e.seq === rseqs[rseqs.length - 1]),
  )
  assert.deepEqual(fromCursor.seen.errors.map((e) => e.message), [])
  assert.deepEqual(
    firehoseSeqs(fromCursor.seen.events).sort((a, b) => a - b),
    deliverable(replay.frames),
    'the Firehose resumed from the cursor with exactly the missed events',
  )
  await replay.close()
  await fromCursor.firehose.destroy()

  // A whole-window replay (cursor=0) has only carol's tombstone left of her history.
  const all = new RawSubscriber(pdsUrl, 0)
  await all.opened
  await waitUntil('the whole window', () => all.lastSeq() === rseqs[rseqs.length - 1])
  const carols = all.frames.filter((f) => (f.body.did ?? f.body.repo) === carol.session.did)
  assert.deepEqual(carols.map((f) => [f.t, f.body.status]), [['#account', 'deleted']])
  await all.close()
})

test('subscribeRepos: a cursor in the future gets FutureCursor, then the socket closes', async () => {
  const probe = new RawSubscriber(pdsUrl, 0)
  await probe.opened
  await waitUntil('some events', () => probe.frames.length > 0)
  const head = Math.max(...probe.seqs())
  await probe.close()
  const sub = new RawSubscriber(pdsUrl, head + 1000)
  await sub.opened
  const code = await sub.closed
  assert.deepEqual(sub.errors, [])
  assert.equal(sub.frames.length, 1)
  assert.equal(sub.frames[0].op, -1)
  assert.equal(sub.frames[0].body.error, 'FutureCursor')
  assert.ok(typeof code === 'number')
})

test('subscribeRepos: plain HTTP GET gets 426, POST 405 (XRPC JSON)', async () => {
  const url = subscribeUrl(pdsUrl).replace(/^ws/, 'http')
  const get = await fetch(url)
  assert.equal(get.status, 426)
  assert.equal((await get.json()).error, 'InvalidRequest')
  const post = await fetch(url, { method: 'POST' })
  assert.equal(post.status, 405)
})
