// OAuth against a running PDS with the client we did not write: `@atproto/oauth-client-node`
// (NodeOAuthClient) as the `http://localhost` development client. It resolves the handle through
// the PDS, the DID through the PLC directory, discovers the authorization server from the PDS's
// protected-resource document, pushes the request with DPoP (its nonce round trip included),
// and, after the sign-in page answered, exchanges the code and makes DPoP-bound XRPC calls
// through `@atproto/api`'s Agent. The test plays the user's browser by posting the page's form;
// oauth-browser.test.mjs drives the same page in headless Chromium. Checklist section O.
//
// Run through ./run.sh (it starts `relay plc serve` + `relay serve` and sets PDS_URL, PLC_URL).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Agent, AtpAgent } from '@atproto/api'
import { env, randomSuffix } from './lib/util.mjs'
import { makeClient, redirectUri, scope } from './lib/oauth.mjs'

const { pdsUrl, plcUrl } = env()
const password = `pw-${randomSuffix(12)}`
const handle = `oauth-${randomSuffix(6)}.test`

/** Plays the browser: opens the authorization URL, signs in, returns the callback params. */
async function signInAsUser(authorizeUrl, pw) {
  const page = await fetch(authorizeUrl)
  const html = await page.text()
  assert.equal(page.status, 200, `authorization page: ${html.slice(0, 300)}`)
  const clientId = authorizeUrl.searchParams.get('client_id')
  const requestUri = authorizeUrl.searchParams.get('request_uri')
  assert.ok(html.includes('name="request_uri"'), 'the page has the sign-in form')
  const form = new URLSearchParams({
    client_id: clientId,
    request_uri: requestUri,
    identifier: handle,
    password: pw,
    decision: 'approve',
  })
  const res = await fetch(new URL('/oauth/authorize', authorizeUrl), {
    method: 'POST',
    body: form,
    redirect: 'manual',
  })
  return res
}

test('oauth-client-node signs in, calls XRPC with DPoP, refreshes and signs out', async () => {
  const admin = new AtpAgent({ service: pdsUrl })
  await admin.createAccount({ handle, password, email: `${handle.split('.')[0]}@example.com` })
  const did = admin.session.did

  const client = makeClient({ pdsUrl, plcUrl })
  const authorizeUrl = await client.authorize(handle, { scope })
  assert.equal(authorizeUrl.origin, new URL(pdsUrl).origin, 'the PDS is its own authorization server')

  // A wrong password keeps the user on the page.
  const wrong = await signInAsUser(authorizeUrl, 'not-the-password')
  assert.equal(wrong.status, 200)
  assert.match(await wrong.text(), /Invalid identifier or password/)

  const res = await signInAsUser(authorizeUrl, password)
  assert.equal(res.status, 303, await res.text())
  const location = new URL(res.headers.get('location'))
  assert.equal(`${location.origin}${location.pathname}`, redirectUri)
  const { session } = await client.callback(location.searchParams)
  assert.equal(session.did, did)

  const agent = new Agent(session)
  const created = await agent.com.atproto.repo.createRecord({
    repo: did,
    collection: 'app.bsky.feed.post',
    record: { $type: 'app.bsky.feed.post', text: 'posted over OAuth', createdAt: new Date().toISOString() },
  })
  assert.ok(created.data.uri.startsWith(`at://${did}/app.bsky.feed.post/`))
  const got = await agent.com.atproto.repo.getRecord({
    repo: did,
    collection: 'app.bsky.feed.post',
    rkey: created.data.uri.split('/').pop(),
  })
  assert.equal(got.data.value.text, 'posted over OAuth')
  const me = await agent.com.atproto.server.getSession()
  assert.equal(me.data.did, did)

  // The library refreshes (rotating the refresh token) and keeps working.
  const restored = await client.restore(did, true)
  const again = await new Agent(restored).com.atproto.server.getSession()
  assert.equal(again.data.did, did)

  // Sign out revokes; the old session no longer works.
  await restored.signOut()
  await assert.rejects(() => new Agent(restored).com.atproto.server.getSession())
})
