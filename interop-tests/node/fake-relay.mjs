#!/usr/bin/env node
// Harness self-test only: implements the `relay repo build|verify|inspect` CLI contract
// with @atproto/repo, so `RELAY_BIN=./fake-relay.mjs node --test` checks the test
// harness itself when the Rust binary is not built. It proves nothing about the Rust code.

import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { readCarWithRoot } from '@atproto/repo'
import { buildRepoJs, verifyCarJs } from './lib/jsrepo.mjs'

const [group, cmd, ...rest] = process.argv.slice(2)
const { values, positionals } = parseArgs({
  args: rest,
  allowPositionals: true,
  options: {
    'did-key': { type: 'string' },
    did: { type: 'string' },
    records: { type: 'string' },
    'key-hex': { type: 'string' },
    curve: { type: 'string', default: 'k256' },
    rev: { type: 'string' },
    out: { type: 'string' },
  },
})

try {
  if (group !== 'repo') throw new Error(`unknown command ${group}`)
  if (cmd === 'verify') {
    const car = new Uint8Array(readFileSync(positionals[0]))
    const v = await verifyCarJs(car, { did: values.did, didKey: values['did-key'] })
    const { did, rev, commit, data } = v
    console.log(JSON.stringify({ ok: true, did, rev, commit, data, records: v.records.size }))
  } else if (cmd === 'build') {
    const records = JSON.parse(readFileSync(values.records, 'utf8'))
    const b = await buildRepoJs({
      records,
      curve: values.curve,
      keyHex: values['key-hex'],
      did: values.did,
      rev: values.rev,
    })
    writeFileSync(values.out, b.car)
    console.log(JSON.stringify({ commit: b.commit, data: b.data, rev: b.rev }))
  } else if (cmd === 'inspect') {
    const { root, blocks } = await readCarWithRoot(new Uint8Array(readFileSync(positionals[0])))
    console.log(JSON.stringify({ root: root.toString(), blocks: blocks.size }))
  } else {
    throw new Error(`unknown command repo ${cmd}`)
  }
} catch (err) {
  console.error(`error: ${err.message}`)
  process.exit(1)
}
