// The @atproto/repo side of the cross-check: build a repo from atproto-JSON records
// with the reference implementation, export it as a CAR, and read + verify a CAR
// (signature, CIDs of every block, MST shape, record contents).

import {
  MemoryBlockstore,
  MST,
  Repo,
  WriteOpAction,
  concatBytesAsync,
  getFullRepo,
  readCar,
  readCarWithRoot,
  signCommit,
  mstUtil,
  verifyRepoCar,
  writeCarStream,
} from '@atproto/repo'
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { jsonToLex } from '@atproto/lex-json'
import { cidForLex, encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor } from '@atproto/lex-data'

/** Import a private key given as hex for `curve` ('k256' | 'p256'). */
export async function keypairFor(curve, keyHex) {
  if (curve === 'k256') return Secp256k1Keypair.import(keyHex)
  if (curve === 'p256') return P256Keypair.import(keyHex)
  throw new Error(`unknown curve ${curve}`)
}

/** `did:key` of the public key for a hex private key. */
export async function didKeyFor(curve, keyHex) {
  return (await keypairFor(curve, keyHex)).did()
}

/** atproto JSON record -> Lex value (CIDs, bytes), strictly (no silently-kept bad $link/$bytes). */
export const recordToLex = (json) => jsonToLex(json, { strict: true })

/** `collection/rkey` MST key. */
export const dataKey = (r) => `${r.collection}/${r.rkey}`

/**
 * Build a repo with @atproto/repo: one signed commit holding every record, with the
 * given rev (`Repo.formatInitCommit` takes a rev override). Returns the CAR bytes
 * (as `com.atproto.sync.getRepo` would serve them) and the CIDs.
 */
export async function buildRepoJs({ records, curve = 'k256', keyHex, did, rev }) {
  const keypair = await keypairFor(curve, keyHex)
  const storage = new MemoryBlockstore()
  const writes = records.map((r) => ({
    action: WriteOpAction.Create,
    collection: r.collection,
    rkey: r.rkey,
    record: recordToLex(r.record),
  }))
  const commit = await Repo.formatInitCommit(storage, did, keypair, writes, rev)
  const repo = await Repo.createFromCommit(storage, commit)
  const car = await concatBytesAsync(getFullRepo(storage, repo.cid))
  return {
    car,
    commit: repo.cid.toString(),
    data: repo.commit.data.toString(),
    rev: repo.commit.rev,
    did: repo.did,
    repo,
  }
}

/** Record CIDs computed by the reference for the input records: `Map<dataKey, cidString>`. */
export async function expectedRecordCids(records) {
  const out = new Map()
  for (const r of records) out.set(dataKey(r), (await cidForLex(recordToLex(r.record))).toString())
  return out
}

/**
 * Read and verify a repo CAR with @atproto/repo.
 *
 * Throws if any check fails: block CIDs match their bytes (readCar), the commit is
 * signed by `didKey` and names `did` (verifyRepoCar), every MST node and leaf is
 * present, and the MST is canonical (rebuilding it from its own leaves gives the
 * same root). Returns the commit fields and the records (`Map<dataKey, {cid, record}>`).
 */
export async function verifyCarJs(car, { did, didKey }) {
  const verified = await verifyRepoCar(car, did, didKey)
  const { root, blocks } = await readCarWithRoot(car)
  const storage = new MemoryBlockstore(blocks)
  const repo = await Repo.load(storage, root)

  const records = new Map()
  const leaves = []
  for await (const { collection, rkey, cid, record } of repo.walkRecords()) {
    records.set(`${collection}/${rkey}`, { cid: cid.toString(), record })
    leaves.push([`${collection}/${rkey}`, cid])
  }
  if (records.size !== verified.creates.length) {
    throw new Error(`walkRecords found ${records.size} records, verifyRepoCar ${verified.creates.length}`)
  }

  // Canonical shape: the same leaves inserted into an empty MST give the same root.
  let rebuilt = await MST.create(new MemoryBlockstore())
  for (const [key, cid] of leaves) rebuilt = await rebuilt.add(key, cid)
  const rebuiltRoot = (await rebuilt.getPointer()).toString()
  if (rebuiltRoot !== repo.commit.data.toString()) {
    throw new Error(`MST not canonical: commit.data ${repo.commit.data} but leaves rebuild to ${rebuiltRoot}`)
  }

  return {
    commit: root.toString(),
    data: repo.commit.data.toString(),
    rev: repo.commit.rev,
    did: repo.did,
    version: repo.commit.version,
    prev: repo.commit.prev,
    sig: repo.commit.sig,
    records,
  }
}

/**
 * Corrupt one byte of one record block inside a CAR, keeping the CBOR well formed:
 * the low bit of an ASCII letter inside `needle` (a string value of that record)
 * is flipped. Returns a new buffer; the block's CID no longer matches its bytes.
 */
export async function flipRecordByte(car, recordCid, needle) {
  const { blocks } = await readCar(car)
  const entry = blocks.entries().find((e) => e.cid.toString() === recordCid)
  if (!entry) throw new Error(`record block ${recordCid} not in CAR`)
  const buf = Buffer.from(car)
  const blockAt = buf.indexOf(Buffer.from(entry.bytes))
  if (blockAt < 0) throw new Error('record bytes not found verbatim in CAR')
  const needleAt = Buffer.from(entry.bytes).indexOf(Buffer.from(needle, 'utf8'))
  if (needleAt < 0) throw new Error(`"${needle}" not found in record block`)
  const pos = blockAt + needleAt
  if (!/[a-zA-Z]/.test(String.fromCharCode(buf[pos]))) throw new Error('needle must start with an ASCII letter')
  buf[pos] ^= 0x01
  return new Uint8Array(buf)
}

/**
 * Hand-craft a correctly signed repo CAR whose MST is ONE flat node holding `leaves`
 * (`[[key, recordLex]]`) in the order given, with correct prefix compression. When a key
 * belongs above layer 0, or the order is not sorted, the tree is not the canonical MST:
 * every CID and the signature are valid, only the tree shape is wrong (checklist #47).
 * Returns { car, data, canonicalData } (canonicalData: the root of the proper MST).
 */
export async function craftFlatMstCar({ leaves, curve = 'k256', keyHex, did, rev }) {
  const keypair = await keypairFor(curve, keyHex)
  const blocks = []
  const entries = []
  let prev = ''
  let canonical = await MST.create(new MemoryBlockstore())
  for (const [key, record] of leaves) {
    const bytes = cborEncode(record)
    const cid = await cidForCbor(bytes)
    blocks.push({ cid, bytes })
    const p = mstUtil.countPrefixLen(prev, key)
    entries.push({ p, k: new TextEncoder().encode(key.slice(p)), v: cid, t: null })
    prev = key
    canonical = await canonical.add(key, cid)
  }
  const nodeBytes = cborEncode({ l: null, e: entries })
  const data = await cidForCbor(nodeBytes)
  blocks.push({ cid: data, bytes: nodeBytes })
  const commit = await signCommit({ did, version: 3, rev, prev: null, data }, keypair)
  const commitBytes = cborEncode(commit)
  const root = await cidForCbor(commitBytes)
  async function* gen() {
    yield { cid: root, bytes: commitBytes }
    yield* blocks
  }
  const car = await concatBytesAsync(writeCarStream(root, gen()))
  return { car, data: data.toString(), canonicalData: (await canonical.getPointer()).toString() }
}

/** MST layer of a key: leading zero bits of sha256(key), divided by 2 (checklist #42). */
export const keyLayer = (key) => mstUtil.leadingZerosOnHash(key)
