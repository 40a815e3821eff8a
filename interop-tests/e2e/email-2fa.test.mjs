// Email two-factor sign-in of `relay serve` (checklist #129, `AuthFactorTokenRequired`), driven
// by `@atproto/api` as the Bluesky app drives it: `updateEmail{emailAuthFactor}` with an
// `update_email` code to switch it, then `AtpAgent.login` refused with 401
// `AuthFactorTokenRequired` until it passes the mailed code as `authFactorToken`. Codes are read
// from the server's file outbox (lib/outbox.mjs). App passwords skip the second factor.
//
// Skipped with REFERENCE=1: the reference PDS (0.4.217) declares these fields and the error in
// its lexicons but does not act on them (Bluesky's entryway does), and it has no file outbox.
//
// Run through ./run.sh. The steps run in order and share state.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AtpAgent } from '@atproto/api'
import { latestToken } from './lib/outbox.mjs'
import { call, env, expectRefused, makeState, randomSuffix } from './lib/util.mjs'

const skip = process.env.REFERENCE
  ? 'the reference PDS does not implement email 2FA and has no file outbox'
  : false
const { pdsUrl } = skip ? { pdsUrl: '' } : env()
const { state, need } = makeState()
const password = `pw-${randomSuffix(12)}`
const handle = `tfa-${randomSuffix(6)}.test`
const email = `${handle.split('.')[0]}@example.com`

function login(opts) {
  const agent = new AtpAgent({ service: pdsUrl })
  return agent.login({ identifier: handle, password, ...opts }).then(() => agent)
}

/** updateEmail with the current email and the 2FA switch, after requestEmailUpdate's code. */
async function switch2fa(agent, on) {
  const upd = await call('requestEmailUpdate', () => agent.com.atproto.server.requestEmailUpdate())
  assert.equal(upd.data.tokenRequired, true, 'a confirmed email needs an update_email code')
  const token = latestToken(email)
  await call(`updateEmail{emailAuthFactor: ${on}}`, () =>
    agent.com.atproto.server.updateEmail({ email, emailAuthFactor: on, token }),
  )
}

test('email 2FA cannot be enabled before the email is confirmed (checklist #129)', { skip }, async () => {
  const agent = new AtpAgent({ service: pdsUrl })
  await call('createAccount', () => agent.createAccount({ handle, email, password }))
  let s = await call('getSession', () => agent.com.atproto.server.getSession())
  assert.equal(s.data.emailAuthFactor, false)
  await expectRefused(
    'updateEmail{emailAuthFactor: true} with an unconfirmed email',
    () => agent.com.atproto.server.updateEmail({ email, emailAuthFactor: true }),
    { statuses: [400], errors: ['InvalidRequest'] },
  )
  await call('requestEmailConfirmation', () => agent.com.atproto.server.requestEmailConfirmation())
  await call('confirmEmail', () =>
    agent.com.atproto.server.confirmEmail({ email, token: latestToken(email) }),
  )
  s = await call('getSession', () => agent.com.atproto.server.getSession())
  assert.equal(s.data.emailConfirmed, true)
  assert.equal(s.data.emailAuthFactor, false)
  state.agent = agent
})

test('enable email 2FA: getSession reports emailAuthFactor (checklist #129)', { skip }, async () => {
  const { agent } = need('agent')
  await switch2fa(agent, true)
  const s = await call('getSession', () => agent.com.atproto.server.getSession())
  assert.equal(s.data.emailAuthFactor, true)
  assert.equal(s.data.emailConfirmed, true, 'switching keeps the email confirmed')
  state.enabled = true
})

test('login without a code: 401 AuthFactorTokenRequired and a code by email (checklist #129)', { skip }, async () => {
  need('enabled')
  const err = await expectRefused('login without authFactorToken', () => login(), {
    statuses: [401],
    errors: ['AuthFactorTokenRequired'],
  })
  assert.match(err.message, /sign in code has been sent/)
  const code = latestToken(email)
  await expectRefused('login with a wrong code', () => login({ authFactorToken: 'AAAAA-BBBBB' }), {
    statuses: [400],
    errors: ['InvalidToken'],
  })
  const agent = await call('login with the mailed code', () => login({ authFactorToken: code }))
  assert.equal(agent.session.emailAuthFactor, true)
  await call('getSession with the new session', () => agent.com.atproto.server.getSession())
  await expectRefused('login with the used code', () => login({ authFactorToken: code }), {
    statuses: [400],
    errors: ['InvalidToken'],
  })
  state.agent = agent
})

test('app passwords skip email 2FA (checklist #129)', { skip }, async () => {
  const { agent } = need('agent', 'enabled')
  const app = await call('createAppPassword', () =>
    agent.com.atproto.server.createAppPassword({ name: 'e2e 2fa' }),
  )
  const appAgent = new AtpAgent({ service: pdsUrl })
  await call('login with the app password, no code', () =>
    appAgent.login({ identifier: handle, password: app.data.password }),
  )
  assert.ok(appAgent.session.accessJwt)
})

test('disable email 2FA: the password alone logs in again (checklist #129)', { skip }, async () => {
  const { agent } = need('agent', 'enabled')
  await switch2fa(agent, false)
  const fresh = await call('login without a code', () => login())
  assert.equal(fresh.session.emailAuthFactor, false)
  assert.equal(fresh.session.emailConfirmed, true)
})
