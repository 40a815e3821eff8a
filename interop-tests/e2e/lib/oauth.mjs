// Shared by the OAuth end-to-end tests: a NodeOAuthClient (`@atproto/oauth-client-node`) set up
// as the `http://localhost` development client against the local stack, with in-memory stores.
import { requestLocalLock } from '@atproto/oauth-client'
import { NodeOAuthClient } from '@atproto/oauth-client-node'

export const redirectUri = 'http://127.0.0.1/callback'
export const scope = 'atproto transition:generic'

function memoryStore() {
  const m = new Map()
  return {
    async get(k) {
      return m.get(k)
    },
    async set(k, v) {
      m.set(k, v)
    },
    async del(k) {
      m.delete(k)
    },
  }
}

/** A client resolving handles through the PDS and DIDs through the local PLC directory. */
export function makeClient({ pdsUrl, plcUrl }) {
  const clientId = `http://localhost?${new URLSearchParams({ redirect_uri: redirectUri, scope })}`
  return new NodeOAuthClient({
    clientMetadata: {
      client_id: clientId,
      redirect_uris: [redirectUri],
      scope,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      dpop_bound_access_tokens: true,
    },
    stateStore: memoryStore(),
    sessionStore: memoryStore(),
    handleResolver: pdsUrl,
    plcDirectoryUrl: plcUrl,
    allowHttp: true,
    requestLock: requestLocalLock,
  })
}
