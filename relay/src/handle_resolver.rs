//! [`NetHandleResolver`]: the network half of handle resolution (`identity::HandleResolver`):
//! DNS TXT `_atproto.<handle>` through hickory-resolver, and `https://<handle>/.well-known/
//! atproto-did` through the SSRF-guarded client (checklist #116-#118).
//!
//! The interpretation (the `did=` prefix, conflicting records, DNS before HTTPS, the
//! bidirectional check) is `identity::resolve_handle`'s; this file only fetches. Well-known
//! fetches are HTTPS only, follow at most [`crate::ssrf::MAX_REDIRECTS`] redirects, and read at
//! most `identity::MAX_WELL_KNOWN_BODY` bytes.
//!
//! DNS goes to the system resolvers, or to one configured nameserver
//! ([`NetHandleResolver::with_nameserver`], config `dns_nameserver`: a local resolver, or a
//! test's loopback responder).

use hickory_resolver::TokioResolver;
use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use identity::{BoxFuture, HandleResolver, LookupError, MAX_WELL_KNOWN_BODY};
use syntax::Handle;

use crate::ssrf::SafeClient;

/// Resolves handles over real DNS and HTTPS.
pub struct NetHandleResolver {
    dns: TokioResolver,
    http: SafeClient,
}

impl std::fmt::Debug for NetHandleResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetHandleResolver").finish_non_exhaustive()
    }
}

impl NetHandleResolver {
    /// A resolver using the system DNS configuration (`/etc/resolv.conf`), or Cloudflare's
    /// public resolvers when there is none, and `http` for well-known fetches.
    pub fn new(http: SafeClient) -> NetHandleResolver {
        let dns = match TokioResolver::builder_tokio() {
            Ok(builder) => builder.build(),
            Err(e) => {
                tracing::warn!(error = %e, "no system DNS configuration; using public resolvers");
                TokioResolver::builder_with_config(
                    ResolverConfig::cloudflare(),
                    TokioConnectionProvider::default(),
                )
                .build()
            }
        };
        NetHandleResolver { dns, http }
    }

    /// A resolver asking only `nameserver` (UDP, falling back to TCP for truncated answers),
    /// without a cache, and `http` for well-known fetches.
    pub fn with_nameserver(http: SafeClient, nameserver: SocketAddr) -> NetHandleResolver {
        let mut config = ResolverConfig::new();
        config.add_name_server(NameServerConfig::new(nameserver, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(nameserver, Protocol::Tcp));
        let mut builder =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        builder.options_mut().cache_size = 0;
        NetHandleResolver {
            dns: builder.build(),
            http,
        }
    }
}

impl HandleResolver for NetHandleResolver {
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupError>> {
        Box::pin(async move {
            match self.dns.txt_lookup(name).await {
                Ok(lookup) => Ok(lookup
                    .iter()
                    .map(|txt| {
                        txt.txt_data()
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>()
                    })
                    .collect()),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Err(LookupError::NotFound),
                Err(e) => Err(LookupError::Failed(e.to_string())),
            }
        })
    }

    fn fetch_well_known<'a>(
        &'a self,
        handle: &'a Handle,
    ) -> BoxFuture<'a, Result<Vec<u8>, LookupError>> {
        Box::pin(async move {
            let url = identity::well_known_url(handle);
            let request = self
                .http
                .get(&url)
                .map_err(|e| LookupError::Failed(e.to_string()))?;
            let mut response = request
                .send()
                .await
                .map_err(|e| LookupError::Failed(crate::error::source_chain(&e)))?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Err(LookupError::NotFound);
            }
            if !response.status().is_success() {
                return Err(LookupError::Failed(format!("HTTP {}", response.status())));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| LookupError::Failed(crate::error::source_chain(&e)))?
            {
                if body.len() + chunk.len() > MAX_WELL_KNOWN_BODY {
                    return Err(LookupError::Failed("well-known body too large".to_owned()));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        })
    }
}
