// Raw subscribeRepos frames, decoded and checked with code we did not write (cborg with
// @ipld/dag-cbor's strict decode options), plus a raw WebSocket subscriber that keeps every frame.
import assert from 'node:assert/strict'
import * as cborg from 'cborg'
import * as dagCbor from '@ipld/dag-cbor'
import WebSocket from 'ws'

/**
 * Decodes one frame: header then body, two DAG-CBOR objects and nothing after them (checklist
 * #71). Checks the header shape, that no body has `$type` (#72), and that both objects are in
 * canonical form (re-encoding gives the same bytes).
 */
export function decodeFrame(bytes) {
  const buf = new Uint8Array(bytes)
  const [header, rest] = cborg.decodeFirst(buf, dagCbor.decodeOptions)
  const body = dagCbor.decode(rest) // throws on trailing bytes
  const keys = Object.keys(header).sort()
  if (header.op === 1) {
    assert.deepEqual(keys, ['op', 't'], 'message header is {op, t}')
    assert.equal(typeof header.t, 'string')
  } else {
    assert.equal(header.op, -1, `header op ${header.op}`)
    assert.deepEqual(keys, ['op'], 'error header is {op}')
    assert.equal(typeof body.error, 'string', 'error body has error')
  }
  assert.ok(body && typeof body === 'object' && !Array.isArray(body), 'body is a map')
  assert.ok(!('$type' in body), 'no $type in bodies')
  const again = new Uint8Array([...dagCbor.encode(header), ...dagCbor.encode(body)])
  assert.deepEqual(again, buf, 'frame bytes are canonical DAG-CBOR')
  return { op: header.op, t: header.t, body, size: buf.length }
}

/** The subscribeRepos URL of `pdsUrl` (http -> ws) with an optional cursor. */
export function subscribeUrl(pdsUrl, cursor) {
  const base = pdsUrl.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos'
  return cursor === undefined ? base : `${base}?cursor=${cursor}`
}

/** A raw subscriber: every frame decoded (and checked) in arrival order. */
export class RawSubscriber {
  constructor(pdsUrl, cursor) {
    this.frames = []
    this.errors = []
    this.ws = new WebSocket(subscribeUrl(pdsUrl, cursor))
    this.ws.binaryType = 'nodebuffer'
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve)
      this.ws.once('error', reject)
    })
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve(code)))
    this.ws.on('message', (data, isBinary) => {
      try {
        assert.ok(isBinary, 'frames are binary messages')
        this.frames.push(decodeFrame(data))
      } catch (e) {
        this.errors.push(e)
      }
    })
  }

  /** Frames with a seq, as the seqs. */
  seqs() {
    return this.frames.filter((f) => f.op === 1 && f.t !== '#info').map((f) => f.body.seq)
  }

  lastSeq() {
    const s = this.seqs()
    return s.length ? s[s.length - 1] : undefined
  }

  async close() {
    this.ws.close()
    await this.closed
  }
}

/** Polls `pred` every 50 ms until it is true or `ms` pass (then fails with `what`). */
export async function waitUntil(what, pred, ms = 15000) {
  const deadline = Date.now() + ms
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until `sub` has received every event up to `seq`. */
export function waitForSeq(sub, seq, ms) {
  return waitUntil(`seq ${seq} (have ${sub.lastSeq()})`, () => (sub.lastSeq() ?? 0) >= seq, ms)
}
