// Deterministic fixtures shared by the repo cross-check and the benchmark:
// fixed keys, DID and rev, a seeded PRNG, TID record keys, and a record set in
// atproto JSON form (the exact shape written to records.json for `relay repo build`).

import { createHash } from 'node:crypto'
import { TID } from '@atproto/common-web'
import { cidForCbor, cidForRawBytes } from '@atproto/lex-data'

/** Fixed K-256 signing key (sha256 of "relay-interop k256 key A"). */
export const K256_KEY_HEX =
  'c09359d7fb46f958fef13c6fe1afbd105ee6415ac017d727231e279f4b49f77f'
/** A second K-256 key, used to produce commits signed by the wrong key. */
export const K256_OTHER_KEY_HEX =
  '8a3e6032a17a9b1641d70aa42bf702d208c0df3d547874f8c8b9cd0ecb7e8a0c'
/** Fixed P-256 signing key (sha256 of "relay-interop p256 key A"). */
export const P256_KEY_HEX =
  '4eccdab2472a232173981b7f706e4640b774faab2862830a7a5762b5441dd94f'

/** Fixed did:plc (24 base32 characters after the method). */
export const DID = 'did:plc:relayinterop2nodetest234'
/** Fixed commit rev: TID for 2026-11-23T12:00:00Z, clock id 7. */
export const REV = '3n2y3ep2g222b'

/** Collections used by the cross-check record set. */
export const COLLECTIONS = Object.freeze({
  post: 'app.bsky.feed.post',
  like: 'app.bsky.feed.like',
  profile: 'app.bsky.actor.profile',
  misc: 'com.example.interop.misc',
})

/** mulberry32: small, fast, deterministic 32-bit PRNG. Returns floats in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  next.int = (n) => Math.floor(next() * n)
  next.pick = (arr) => arr[Math.floor(next() * arr.length)]
  next.bytes = (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256)
    return out
  }
  return next
}

// 2023-01-01 .. 2026-11-01 in microseconds.
const TID_MIN_US = Date.parse('2023-01-01T00:00:00Z') * 1000
const TID_SPAN_US = (Date.parse('2026-11-01T00:00:00Z') - Date.parse('2023-01-01T00:00:00Z')) * 1000

/** `count` distinct, valid TIDs drawn from `rand` (unordered). */
export function randomTids(rand, count) {
  const seen = new Set()
  const out = []
  while (out.length < count) {
    // Two draws so the microsecond part is not quantised by float precision.
    const us = TID_MIN_US + Math.floor(rand() * (TID_SPAN_US / 1e6)) * 1e6 + rand.int(1e6)
    const tid = TID.fromTime(us, rand.int(1024)).toString()
    if (!seen.has(tid)) {
      seen.add(tid)
      out.push(tid)
    }
  }
  return out
}

/** Base64 (standard alphabet, no padding) as used by atproto JSON `$bytes`. */
export const b64 = (bytes) => Buffer.from(bytes).toString('base64').replace(/=+$/, '')

const sha = (s) => createHash('sha256').update(s).digest()

const TEXTS = [
  'hello world',
  'Grüße aus Köln, ça va? ñandú',
  '日本語のテキストです。絵文字も🦋',
  'مرحبا بالعالم',
  'e\u0301 vs \u00e9 (combining vs precomposed)',
  'family: 👩‍👩‍👧 flag: 🇫🇷 skin: 👍🏽',
  'tabs\tand\nnewlines\r\nand "quotes" and \\backslashes\\',
  'zero\u200bwidth and nbsp\u00a0here',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟘𝟙𝟚 and astral 𐍈',
  'a post with a link https://example.com/path?q=1&r=2#frag',
]

const datetime = (rand) =>
  new Date(Date.parse('2024-01-01T00:00:00Z') + rand.int(86400 * 900) * 1000 + rand.int(1000))
    .toISOString()

const utf8Len = (s) => Buffer.byteLength(s, 'utf8')

/**
 * The cross-check record set: `[{collection, rkey, record}]` in atproto JSON form,
 * deterministic for a given seed, in a shuffled (non-sorted) order.
 *
 * Layout for the default 500: 1 profile (`self`), 250 posts, 150 likes, 99 misc
 * records (a few with non-TID record keys), over 4 collections.
 */
export async function crossCheckRecords({ seed = 42, did = DID } = {}) {
  const rand = prng(seed)
  const blobCid = async (i) => (await cidForRawBytes(sha(`blob ${i}`))).toString()
  const cborCid = async (i) => (await cidForCbor(sha(`cbor ${i}`))).toString()
  const blobRef = async (i, mimeType = 'image/jpeg') => ({
    $type: 'blob',
    ref: { $link: await blobCid(i) },
    mimeType,
    size: 1000 + i * 37,
  })

  const otherKeys = ['a', 'Z', '0', 'self', 'a-b_c.d~e:f', 'zzzzzzzzzzzzzzzzz', '3jzfcijpj2z2a', 'ZZ~~']
  const counts = { post: 250, like: 150, misc: 99 }
  const tids = randomTids(rand, counts.post + counts.like + counts.misc - otherKeys.length)
  const out = []

  out.push({
    collection: COLLECTIONS.profile,
    rkey: 'self',
    record: {
      $type: 'app.bsky.actor.profile',
      displayName: 'Interop ✨ Tëst',
      description: 'multi\nline\tunicode 🦀 profile',
      avatar: await blobRef(1),
      banner: await blobRef(2, 'image/png'),
      createdAt: '2024-01-01T00:00:00.000Z',
    },
  })

  let t = 0
  for (let i = 0; i < counts.post; i++) {
    const text = `${TEXTS[i % TEXTS.length]} #${i}`
    const post = { $type: COLLECTIONS.post, text, createdAt: datetime(rand), langs: ['en'] }
    if (i % 3 === 0) post.langs = ['ja', 'en', 'ar']
    if (i % 4 === 1) {
      post.facets = [
        {
          index: { byteStart: 0, byteEnd: utf8Len(TEXTS[i % TEXTS.length]) },
          features: [{ $type: 'app.bsky.richtext.facet#link', uri: `https://example.com/${i}` }],
        },
      ]
    }
    if (i % 5 === 2) {
      const root = { uri: `at://${did}/app.bsky.feed.post/${tids[0]}`, cid: await cborCid(i) }
      post.reply = { root, parent: { uri: `at://${did}/app.bsky.feed.post/${tids[1]}`, cid: await cborCid(i + 1) } }
    }
    if (i % 7 === 3) {
      post.embed = {
        $type: 'app.bsky.embed.images',
        images: [
          { alt: `image ${i} — ünïcode alt`, image: await blobRef(100 + i), aspectRatio: { width: 1200, height: 800 } },
          { alt: '', image: await blobRef(1000 + i, 'image/png'), aspectRatio: { width: 1, height: 1 } },
        ],
      }
    }
    if (i % 11 === 4) {
      // Extra (open) fields: bytes and a $link inside a post.
      post.interop = { bytes: { $bytes: b64(rand.bytes(1 + (i % 40))) }, link: { $link: await cborCid(5000 + i) } }
    }
    if (i % 13 === 5) post.tags = ['interop', 'テスト', 'ü']
    out.push({ collection: COLLECTIONS.post, rkey: tids[t++], record: post })
  }

  for (let i = 0; i < counts.like; i++) {
    out.push({
      collection: COLLECTIONS.like,
      rkey: tids[t++],
      record: {
        $type: COLLECTIONS.like,
        subject: { uri: `at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/${tids[i]}`, cid: await cborCid(10000 + i) },
        createdAt: datetime(rand),
      },
    })
  }

  // Non-TID record keys (otherKeys) in one collection exercise MST key ordering beyond TIDs.
  const MAX = Number.MAX_SAFE_INTEGER
  for (let i = 0; i < counts.misc; i++) {
    const rkey = i < otherKeys.length ? otherKeys[i] : tids[t++]
    const misc = {
      $type: COLLECTIONS.misc,
      i,
      ints: [0, 1, -1, 23, 24, -24, -25, 255, 256, 65535, 65536, 4294967295, 4294967296, MAX, -MAX],
      bools: [true, false],
      nil: null,
      empty: { s: '', a: [], m: {} },
      // Keys whose DAG-CBOR order (length first, then bytes) differs from JS string order.
      keys: { b: 1, a: 2, aa: 3, ab: 4, 'ä': 5, z: 6, 'é': 7, '~': 8, A: 9, '日本': 10, longer_key: 11 },
      bytes: { $bytes: b64(rand.bytes(i % 9 === 0 ? 0 : 1 + rand.int(64))) },
      link: { $link: await cborCid(20000 + i) },
      blob: await blobRef(30000 + i, 'application/octet-stream'),
      long: 'x'.repeat(250 + i * 3) + TEXTS[i % TEXTS.length],
      nested: { a: { b: { c: { d: { e: { f: { g: [i, { h: 'deep' }] } } } } } } },
      createdAt: datetime(rand),
    }
    out.push({ collection: COLLECTIONS.misc, rkey, record: misc })
  }

  if (t !== tids.length) throw new Error(`fixture bug: used ${t} of ${tids.length} TIDs`)

  // Deterministic Fisher-Yates shuffle: builders must not rely on sorted input.
  for (let i = out.length - 1; i > 0; i--) {
    const j = rand.int(i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}
