// The OAuth sign-in page in a real browser: headless Chromium (Debian's `chromium`, driven by
// `playwright-core`; no browser download) opens the authorization URL that
// `@atproto/oauth-client-node` made, a user types the handle and password and clicks, and the
// browser is sent back to the client's redirect URI with the code, which the client redeems
// (checklist #154, #163). Also: the page shows the full client_id, a wrong password keeps the
// user on the page, and "Deny" sends the browser back with `access_denied`.
//
// Chromium: $CHROMIUM_PATH or /usr/bin/chromium (.ci/run installs Debian's package). Without
// it the test is skipped with the reason, except under CI=true, where it fails.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { test } from 'node:test'
import { Agent, AtpAgent } from '@atproto/api'
import { chromium } from 'playwright-core'
import { makeClient, redirectUri } from './lib/oauth.mjs'
import { env, randomSuffix } from './lib/util.mjs'

const { pdsUrl, plcUrl } = env()
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const haveChromium = existsSync(executablePath)
const skip =
  !haveChromium && process.env.CI !== 'true'
    ? `no Chromium at ${executablePath} (install Debian's chromium or set CHROMIUM_PATH)`
    : false

/** Opens `url` in a fresh page; resolves the first navigation to the redirect URI. */
async function openAuthorization(browser, url) {
  const page = await browser.newPage()
  let resolveCallback
  const callback = new Promise((r) => (resolveCallback = r))
  // Nothing listens on the client's loopback redirect URI: answer it in the browser.
  await page.route(`${redirectUri}**`, (route) => {
    resolveCallback(new URL(route.request().url()))
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'back in the app' })
  })
  const response = await page.goto(url.toString())
  assert.equal(response.status(), 200)
  return { page, callback }
}

test('the sign-in page works in headless Chromium', { skip }, async () => {
  assert.ok(haveChromium, `CI needs Chromium at ${executablePath}`)
  const password = `pw-${randomSuffix(12)}`
  const handle = `web-${randomSuffix(6)}.test`
  const admin = new AtpAgent({ service: pdsUrl })
  await admin.createAccount({ handle, password, email: `${handle.split('.')[0]}@example.com` })
  const did = admin.session.did

  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
  try {
    const client = makeClient({ pdsUrl, plcUrl })
    const url = await client.authorize(handle)
    const { page, callback } = await openAuthorization(browser, url)
    const body = await page.textContent('body')
    assert.ok(body.includes(url.searchParams.get('client_id')), 'the full client_id is shown')
    // The handle is prefilled from the login hint; a wrong password keeps the user here.
    assert.equal(await page.inputValue('#identifier'), handle)
    await page.fill('#password', 'not-the-password')
    await page.click('button[value="approve"]')
    await page.waitForSelector('[role="alert"]')
    assert.match(await page.textContent('[role="alert"]'), /Invalid identifier or password/)
    await page.fill('#password', password)
    await page.click('button[value="approve"]')
    const back = await callback
    assert.equal(back.searchParams.get('iss'), new URL(pdsUrl).origin)
    const { session } = await client.callback(back.searchParams)
    assert.equal(session.did, did)
    const me = await new Agent(session).com.atproto.server.getSession()
    assert.equal(me.data.did, did)

    // Deny: back to the app with access_denied.
    const url2 = await client.authorize(handle)
    const second = await openAuthorization(browser, url2)
    await second.page.click('button[value="deny"]')
    const denied = await second.callback
    assert.equal(denied.searchParams.get('error'), 'access_denied')
    await assert.rejects(() => client.callback(denied.searchParams))
  } finally {
    await browser.close()
  }
})
