// Email and token account flows of `relay serve`, driven by `@atproto/api` (AtpAgent), with the
// one-time codes read from the server's file outbox (PDS_OUTBOX_DIR, set by lib/stack.sh; the
// default mailer when no smtp_url is configured). Issue 4; checklist #100 (source side of a
// migration: requestPlcOperationSignature -> signPlcOperation -> submitPlcOperation), #111 (the
// operation reaches the PLC directory), #129 (emailConfirmed in sessions).
//
// Run through ./run.sh. The steps run in order and share state (a step that needs what an
// earlier one failed to produce fails saying so).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { latestToken } from './lib/outbox.mjs'
import { call, env, expectRefused, getJson, makeState, randomSuffix } from './lib/util.mjs'

const { pdsUrl, plcUrl } = env()
const { state, need } = makeState()
const password = `pw-${randomSuffix(12)}`
const newPassword = `pw2-${randomSuffix(12)}`
const handle = `mail-${randomSuffix(6)}.test`
const email = `${handle.split('.')[0]}@example.com`

test('createAccount with an email; emailConfirmed starts false (checklist #129)', async () => {
  const agent = new AtpAgent({ service: pdsUrl })
  await call('createAccount', () => agent.createAccount({ handle, email, password }))
  const s = await call('getSession', () => agent.com.atproto.server.getSession())
  assert.equal(s.data.email, email)
  assert.equal(s.data.emailConfirmed, false)
  state.agent = agent
  state.did = agent.session.did
})

test('requestEmailConfirmation -> code from the outbox -> confirmEmail -> emailConfirmed', async () => {
  const { agent } = need('agent')
  await call('requestEmailConfirmation', () =>
    agent.com.atproto.server.requestEmailConfirmation(),
  )
  const token = latestToken(email)
  assert.match(token, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/)
  await expectRefused(
    'confirmEmail with a wrong code',
    () => agent.com.atproto.server.confirmEmail({ email, token: 'AAAAA-AAAAA' }),
    { statuses: [400], errors: ['InvalidToken'] },
  )
  await call('confirmEmail', () => agent.com.atproto.server.confirmEmail({ email, token }))
  const s = await call('getSession', () => agent.com.atproto.server.getSession())
  assert.equal(s.data.emailConfirmed, true)
  await expectRefused(
    'confirmEmail with a used code',
    () => agent.com.atproto.server.confirmEmail({ email, token }),
    { statuses: [400], errors: ['InvalidToken'] },
  )
  // A confirmed email makes requestEmailUpdate ask for a code.
  const upd = await call('requestEmailUpdate', () =>
    agent.com.atproto.server.requestEmailUpdate(),
  )
  assert.equal(upd.data.tokenRequired, true)
})

test('requestPasswordReset -> resetPassword -> login with the new password', async () => {
  need('agent')
  const anon = new AtpAgent({ service: pdsUrl })
  await call('requestPasswordReset', () =>
    anon.com.atproto.server.requestPasswordReset({ email }),
  )
  const token = latestToken(email)
  await call('resetPassword', () =>
    anon.com.atproto.server.resetPassword({ token, password: newPassword }),
  )
  await expectRefused(
    'login with the old password',
    () => new AtpAgent({ service: pdsUrl }).login({ identifier: handle, password }),
    { statuses: [401] },
  )
  const fresh = new AtpAgent({ service: pdsUrl })
  await call('login with the new password', () =>
    fresh.login({ identifier: handle, password: newPassword }),
  )
  assert.equal(fresh.session.emailConfirmed, true)
  await expectRefused(
    'resetPassword with a used code',
    () => anon.com.atproto.server.resetPassword({ token, password: 'another-one' }),
    { statuses: [400], errors: ['InvalidToken'] },
  )
  state.fresh = fresh
})

test('requestPlcOperationSignature -> signPlcOperation -> submitPlcOperation (checklist #100, #111)', async () => {
  const { fresh, did } = need('fresh', 'did')
  await call('requestPlcOperationSignature', () =>
    fresh.com.atproto.identity.requestPlcOperationSignature(),
  )
  const token = latestToken(email)
  const alsoKnownAs = [`at://${handle}`, `https://example.com/${handle}`]
  const signed = await call('signPlcOperation', () =>
    fresh.com.atproto.identity.signPlcOperation({ token, alsoKnownAs }),
  )
  const op = signed.data.operation
  assert.equal(op.type, 'plc_operation')
  assert.deepEqual(op.alsoKnownAs, alsoKnownAs)
  assert.equal(typeof op.sig, 'string')
  await call('submitPlcOperation', () =>
    fresh.com.atproto.identity.submitPlcOperation({ operation: op }),
  )
  const data = await getJson(`${plcUrl}/${did}/data`)
  assert.deepEqual(data.alsoKnownAs, alsoKnownAs)
  // The DID document still names this PDS: the account keeps working.
  const doc = await getJson(`${plcUrl}/${did}`)
  assert.ok(
    doc.service.some((s) => s.id.endsWith('#atproto_pds') && s.serviceEndpoint === pdsUrl),
    JSON.stringify(doc.service),
  )
  await call('createRecord after the PLC update', () =>
    fresh.com.atproto.repo.createRecord({
      repo: did,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'still here', createdAt: new Date().toISOString() },
    }),
  )
})

test('requestAccountDelete -> deleteAccount with the code', async () => {
  const { fresh, did } = need('fresh', 'did')
  await expectRefused(
    'deleteAccount without a valid code',
    () =>
      fresh.com.atproto.server.deleteAccount({ did, password: newPassword, token: 'AAAAA-AAAAA' }),
    { statuses: [400], errors: ['InvalidToken'] },
  )
  await call('requestAccountDelete', () => fresh.com.atproto.server.requestAccountDelete())
  const token = latestToken(email)
  await call('deleteAccount', () =>
    fresh.com.atproto.server.deleteAccount({ did, password: newPassword, token }),
  )
  await expectRefused(
    'getRepoStatus after deletion',
    () => new AtpAgent({ service: pdsUrl }).com.atproto.sync.getRepoStatus({ did }),
    { statuses: [400, 404] },
  )
})
