#!/usr/bin/env node
// Benchmark of the reference repo engine (@atproto/repo) on the workloads of the Rust
// criterion benches (`cargo bench -p repo`), run on the same machine for comparison:
//
//   mst_build        insert N (key -> record CID) pairs into an empty MST, compute the root CID
//   mst_build_blocks the same, plus serialising every MST node block (what a commit stores)
//   mst_insert_one_cold  one new random key into the N-record tree loaded fresh from the
//                    block store, root CID and new node blocks
//   commit_one       one-record create commit into an N-record repo (signed, K-256), with a
//                    new TID rkey newer than every existing one (as a new post would be)
//   car_export       full-repo CAR export of an N-record repo (com.atproto.sync.getRepo)
//   car_import       CAR import + full verification (block CIDs, signature, MST walk, leaves)
//   diff_1pct        DataDiff of two N-record trees differing in ~1% of keys
//
// Keys: random TID rkeys over 4 collections (seeded PRNG); values: CIDs of small records.
// Usage: node bench-repo.mjs [--records N] [--quick] [--iters K] [--out results.md]

import { writeFileSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import {
  DataDiff,
  MemoryBlockstore,
  MST,
  Repo,
  WriteOpAction,
  concatBytesAsync,
  getFullRepo,
  verifyRepoCar,
} from '@atproto/repo'
import { Secp256k1Keypair } from '@atproto/crypto'
import { TID } from '@atproto/common-web'
import { cidForLex } from '@atproto/lex-cbor'

import { DID, K256_KEY_HEX, REV, prng, randomTids } from './lib/fixtures.mjs'

const { values: opts } = parseArgs({
  options: {
    records: { type: 'string' },
    quick: { type: 'boolean', default: false },
    iters: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (opts.help) {
  console.log('usage: node bench-repo.mjs [--records N] [--quick] [--iters K] [--out results.md]')
  process.exit(0)
}

const N = Number(opts.records ?? (opts.quick ? 5000 : 100000))
const ITERS = Number(opts.iters ?? (opts.quick ? 3 : 5)) // measured runs of the big operations
const COMMITS = opts.quick ? 20 : 50 // measured one-record commits
const WARMUP = 1
if (!Number.isInteger(N) || N < 100) throw new Error('--records must be an integer >= 100')

const loadStart = os.loadavg()
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')

const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow', 'app.bsky.feed.repost']
const smallRecord = (collection, i) => ({
  $type: collection,
  text: `record ${i}`,
  createdAt: '2026-11-23T00:00:00.000Z',
})

const log = (...a) => console.error('#', ...a)

async function measure(name, iters, fn, { warmup = WARMUP } = {}) {
  for (let i = 0; i < warmup; i++) await fn()
  const samples = []
  let extra
  for (let i = 0; i < iters; i++) {
    gc()
    const t0 = performance.now()
    const r = await fn()
    samples.push(performance.now() - t0)
    extra = r
  }
  const sorted = [...samples].sort((a, b) => a - b)
  const res = {
    name,
    iters,
    min_ms: sorted[0],
    median_ms: sorted[Math.floor(sorted.length / 2)],
    mean_ms: samples.reduce((a, b) => a + b, 0) / samples.length,
    max_ms: sorted[sorted.length - 1],
    ...(extra && typeof extra === 'object' ? extra : {}),
  }
  log(`${name}: median ${res.median_ms.toFixed(2)} ms (min ${res.min_ms.toFixed(2)}, n=${iters})`)
  return res
}

// ---- data ----------------------------------------------------------------------------
log(`generating ${N} records`)
const rand = prng(2026)
const INSERTS = 64
const tids = randomTids(rand, N + INSERTS + Math.ceil(N / 100) + 10)
const keys = []
const recordOf = new Map()
let t0 = performance.now()
const entries = []
for (let i = 0; i < N; i++) {
  const collection = COLLECTIONS[rand.int(4)]
  const record = smallRecord(collection, i)
  const key = `${collection}/${tids[i]}`
  keys.push({ collection, rkey: tids[i], record })
  recordOf.set(key, record)
  entries.push([key, await cidForLex(record)])
}
const cidMs = performance.now() - t0
let nextTid = N
const keypair = await Secp256k1Keypair.import(K256_KEY_HEX)
const didKey = keypair.did()

const results = []
results.push({
  name: 'record_cids',
  iters: 1,
  min_ms: cidMs,
  median_ms: cidMs,
  mean_ms: cidMs,
  max_ms: cidMs,
  note: `DAG-CBOR encode + sha256 CID of ${N} small records (setup, not part of mst_build)`,
})

// ---- mst_build ------------------------------------------------------------------------
async function buildMst(storage) {
  let mst = await MST.create(storage)
  for (const [k, v] of entries) mst = await mst.add(k, v)
  const root = await mst.getPointer()
  return { mst, root }
}
results.push(
  await measure('mst_build', ITERS, async () => {
    const { root } = await buildMst(new MemoryBlockstore())
    return { root: root.toString() }
  }),
)
results.push(
  await measure('mst_build_blocks', ITERS, async () => {
    const { mst } = await buildMst(new MemoryBlockstore())
    const { root, blocks } = await mst.getUnstoredBlocks()
    return { root: root.toString(), mst_blocks: blocks.size }
  }),
)

// ---- an N-record repo (setup) ------------------------------------------------------------
log(`building a ${N}-record repo (setup)`)
t0 = performance.now()
const baseStorage = new MemoryBlockstore()
const initWrites = keys.map((k) => ({ action: WriteOpAction.Create, ...k }))
const initCommit = await Repo.formatInitCommit(baseStorage, DID, keypair, initWrites, REV)
let repo = await Repo.createFromCommit(baseStorage, initCommit)
log(`setup: repo built in ${(performance.now() - t0).toFixed(0)} ms, ${baseStorage.blocks.size} blocks`)
const baseCommit = repo.cid
const baseData = repo.commit.data

// ---- car_export ----------------------------------------------------------------------------
let car
results.push(
  await measure('car_export', ITERS, async () => {
    car = await concatBytesAsync(getFullRepo(baseStorage, baseCommit))
    return { car_bytes: car.length }
  }),
)

// ---- car_import (+ verify) -------------------------------------------------------------
results.push(
  await measure('car_import_verify', ITERS, async () => {
    const v = await verifyRepoCar(car, DID, didKey)
    if (v.creates.length !== N) throw new Error(`verified ${v.creates.length} records, want ${N}`)
    return { records: v.creates.length }
  }),
)

// ---- diff_1pct ---------------------------------------------------------------------------
// B = A with ~1% of keys changed: a third added, a third updated, a third deleted.
log('building the 1%-changed tree (setup)')
const changes = Math.max(3, Math.round(N / 100))
let mstB = MST.load(baseStorage, baseData)
const shuffled = entries.map((e) => e[0])
for (let i = shuffled.length - 1; i > 0; i--) {
  const j = rand.int(i + 1)
  ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
}
let adds = 0
let updates = 0
let deletes = 0
for (let i = 0; i < changes; i++) {
  if (i % 3 === 0) {
    const collection = COLLECTIONS[rand.int(4)]
    mstB = await mstB.add(`${collection}/${tids[nextTid++]}`, await cidForLex(smallRecord(collection, N + i)))
    adds++
  } else if (i % 3 === 1) {
    mstB = await mstB.update(shuffled[i], await cidForLex({ ...recordOf.get(shuffled[i]), text: `updated ${i}` }))
    updates++
  } else {
    mstB = await mstB.delete(shuffled[i])
    deletes++
  }
}
const { root: rootB, blocks: blocksB } = await mstB.getUnstoredBlocks()
await baseStorage.putMany(blocksB)
results.push(
  await measure('diff_1pct', ITERS, async () => {
    // Fresh loads: the diff decodes the nodes it needs from the block store.
    const diff = await DataDiff.of(MST.load(baseStorage, rootB), MST.load(baseStorage, baseData))
    const got = [diff.addList().length, diff.updateList().length, diff.deleteList().length]
    if (got[0] !== adds || got[1] !== updates || got[2] !== deletes) {
      throw new Error(`diff found ${got}, expected ${[adds, updates, deletes]}`)
    }
    return { adds, updates, deletes, new_mst_blocks: diff.newMstBlocks.size }
  }),
)

// ---- mst_insert_one_cold ---------------------------------------------------------------
const insertKeys = []
for (let i = 0; i < INSERTS; i++) {
  const collection = COLLECTIONS[rand.int(4)]
  insertKeys.push([`${collection}/${tids[nextTid++]}`, await cidForLex(smallRecord(collection, N + changes + i))])
}
let ins = 0
const insertRes = await measure(
  'mst_insert_one_cold',
  INSERTS - 4,
  async () => {
    const [k, v] = insertKeys[ins++ % INSERTS]
    const tree = await MST.load(baseStorage, baseData).add(k, v)
    const { blocks } = await tree.getUnstoredBlocks()
    return { new_mst_blocks: blocks.size }
  },
  { warmup: 4 },
)
results.push(insertRes)

// ---- commit_one ---------------------------------------------------------------------------
// Each commit applies to the repo produced by the previous one (as a PDS does), with the
// repo reloaded from the block store (no in-memory MST cache carried over).
const blocksWritten = []
const NOW_US = Date.parse('2026-11-23T00:00:00Z') * 1000 // after every fixture TID
let commits = 0
const commitOne = async () => {
  const collection = COLLECTIONS[rand.int(4)]
  const rkey = TID.fromTime(NOW_US + ++commits * 1000, 0).toString()
  const commit = await repo.formatCommit(
    { action: WriteOpAction.Create, collection, rkey, record: smallRecord(collection, N + commits) },
    keypair,
  )
  repo = await repo.applyCommit(commit)
  blocksWritten.push(commit.newBlocks.size)
}
const commitRes = await measure('commit_one', COMMITS, commitOne, { warmup: 5 })
const bw = [...blocksWritten].sort((a, b) => a - b)
commitRes.blocks_written_median = bw[Math.floor(bw.length / 2)]
commitRes.blocks_written_min = bw[0]
commitRes.blocks_written_max = bw[bw.length - 1]
commitRes.note = 'formatCommit (MST update, diff, proofs, sign) + applyCommit (store blocks, reload)'
results.push(commitRes)

// ---- report ---------------------------------------------------------------------------------
const pkg = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version
const env = {
  date: new Date().toISOString().slice(0, 10),
  node: process.version,
  '@atproto/repo': pkg('@atproto/repo'),
  '@atproto/crypto': pkg('@atproto/crypto'),
  cpus: os.cpus().length,
  cpu_model: os.cpus()[0]?.model ?? 'unknown',
  total_mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  records: N,
  iters: ITERS,
  commits: COMMITS,
  peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
  // The machine is shared: a load average above ~0.5 at the start means other work was running.
  loadavg_1m_start: +loadStart[0].toFixed(2),
  loadavg_1m_end: +os.loadavg()[0].toFixed(2),
}

const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3))
const detail = (r) => {
  switch (r.name) {
    case 'mst_build':
      return `${Math.round((N / r.median_ms) * 1000).toLocaleString('en-US')} keys/s`
    case 'mst_build_blocks':
      return `${r.mst_blocks} MST node blocks`
    case 'mst_insert_one_cold':
      return `MST.load + add + getUnstoredBlocks; ${r.new_mst_blocks} new MST blocks (last sample)`
    case 'commit_one':
      return `blocks written: median ${r.blocks_written_median} (min ${r.blocks_written_min}, max ${r.blocks_written_max})`
    case 'car_export':
      return `${(r.car_bytes / 2 ** 20).toFixed(1)} MiB CAR`
    case 'car_import_verify':
      return `${r.records} records verified`
    case 'diff_1pct':
      return `${r.adds} adds, ${r.updates} updates, ${r.deletes} deletes; ${r.new_mst_blocks} new MST blocks`
    default:
      return r.note ?? ''
  }
}
const md = [
  `### @atproto/repo ${env['@atproto/repo']} on Node ${env.node}, ${N.toLocaleString('en-US')} records`,
  '',
  `${env.date}; ${env.cpus} cores (${env.cpu_model}), ${env.total_mem_gib} GiB, ${env.platform}; ` +
    `peak RSS ${env.peak_rss_mib} MiB; load average (1 min) ${env.loadavg_1m_start} at start, ${env.loadavg_1m_end} at end. Big operations: ${WARMUP} warm-up + ${ITERS} runs; commit_one: 5 warm-up + ${COMMITS}.`,
  '',
  '| bench | median ms | min ms | mean ms | max ms | n | notes |',
  '|---|---:|---:|---:|---:|---:|---|',
  ...results.map(
    (r) =>
      `| ${r.name} | ${fmt(r.median_ms)} | ${fmt(r.min_ms)} | ${fmt(r.mean_ms)} | ${fmt(r.max_ms)} | ${r.iters} | ${detail(r)} |`,
  ),
].join('\n')
const json = JSON.stringify({ env, results }, null, 2)

console.log(md)
console.log('\n```json\n' + json + '\n```')
if (opts.out) {
  writeFileSync(opts.out, `${md}\n\n\`\`\`json\n${json}\n\`\`\`\n`)
  log(`wrote ${opts.out}`)
}
