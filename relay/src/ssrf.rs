//! SSRF guard for every outbound HTTP fetch (proxying, PLC, DID and handle resolution):
//! refuse targets on loopback, private, link-local, unique-local, CGNAT, multicast, documentation
//! and other special-purpose addresses, including cloud metadata endpoints, unless the
//! `allow_private_outbound` flag is set (tests, local networks) (checklist #142).
//!
//! The guard is enforced where the connection is made, not only on the URL: [`SafeClient`] is a
//! `reqwest` client whose DNS resolver drops forbidden addresses (so a public name that resolves
//! to `127.0.0.1` is refused), whose redirect policy re-checks every hop, and whose request
//! builders check literal-IP URLs before sending (reqwest does not call the resolver for those).
//! IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Most redirects an outbound fetch follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why an outbound fetch was refused.
#[derive(Debug, thiserror::Error)]
pub enum SsrfError {
    /// The URL does not parse.
    #[error("invalid URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// The parse error.
        message: String,
    },
    /// Not `http` or `https`, or no host.
    #[error("refusing to fetch {url:?}: only http(s) URLs with a host are allowed")]
    Scheme {
        /// The URL.
        url: String,
    },
    /// The target address is private, loopback or otherwise special-purpose.
    #[error("refusing to connect to {host} ({ip}): not a public address")]
    Forbidden {
        /// The host name or literal.
        host: String,
        /// The refused address.
        ip: IpAddr,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver error.
        source: std::io::Error,
    },
    /// The host name resolved to no address (or only to forbidden ones).
    #[error("{host} has no public address")]
    NoAddress {
        /// The host name.
        host: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// True if `ip` must not be reached by an outbound fetch from a public server.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    const RANGES: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", incl. 0.0.0.0
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // carrier-grade NAT
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, incl. 169.254.169.254 cloud metadata
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, incl. 255.255.255.255
    ];
    RANGES.iter().any(|&(net, prefix)| in_v4(ip, net, prefix))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let seg = ip.segments();
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        // NAT64 well-known prefix: the last 32 bits are the IPv4 target.
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        return is_forbidden_v4(v4);
    }
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        // 6to4: bits 16..48 are the IPv4 address.
        let v4 = Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        );
        return is_forbidden_v4(v4);
    }
    const RANGES: &[([u16; 8], u32)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 128),         // unspecified ::
        ([0, 0, 0, 0, 0, 0, 0, 1], 128),         // loopback ::1
        ([0, 0, 0, 0, 0, 0, 0, 0], 96),          // IPv4-compatible (deprecated)
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),  // local-use NAT64
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),      // discard-only
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),     // IETF protocol assignments (Teredo, ...)
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),      // unique local, incl. fd00:ec2::254 (metadata)
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),     // link-local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),     // site-local (deprecated)
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),      // multicast
    ];
    RANGES.iter().any(|&(net, prefix)| in_v6(ip, net, prefix))
}

/// The outbound policy: whether private targets are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Allow loopback and private targets (the `allow_private_outbound` config flag).
    pub allow_private: bool,
}

impl OutboundPolicy {
    /// The production policy: public addresses only.
    pub const PUBLIC_ONLY: OutboundPolicy = OutboundPolicy {
        allow_private: false,
    };

    /// Checks one address.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), SsrfError> {
        if !self.allow_private && is_forbidden(ip) {
            return Err(SsrfError::Forbidden {
                host: host.to_owned(),
                ip,
            });
        }
        Ok(())
    }

    /// Parses and checks a URL: `http`/`https` with a host; a literal IP host must be allowed.
    /// Host names are checked when they are resolved ([`OutboundPolicy::resolve`]).
    pub fn check_url(&self, url: &str) -> Result<Url, SsrfError> {
        let parsed = Url::parse(url).map_err(|e| SsrfError::InvalidUrl {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
        self.check_parsed_url(&parsed)?;
        Ok(parsed)
    }

    /// [`OutboundPolicy::check_url`] for an already parsed URL.
    pub fn check_parsed_url(&self, url: &Url) -> Result<(), SsrfError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SsrfError::Scheme {
                url: url.to_string(),
            });
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(&ip.to_string(), IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(&ip.to_string(), IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(SsrfError::Scheme {
                url: url.to_string(),
            }),
        }
    }

    /// Resolves `host` and returns its allowed addresses (with `port`); errors if none is left.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| SsrfError::Resolve {
                host: host.to_owned(),
                source,
            })?;
        let mut allowed = Vec::new();
        let mut refused = None;
        for addr in addrs {
            match self.check_ip(host, addr.ip()) {
                Ok(()) => allowed.push(addr),
                Err(e) => refused = Some(e),
            }
        }
        if allowed.is_empty() {
            return Err(refused.unwrap_or(SsrfError::NoAddress {
                host: host.to_owned(),
            }));
        }
        Ok(allowed)
    }
}

/// A DNS resolver for reqwest that drops forbidden addresses.
#[derive(Debug, Clone)]
struct GuardedResolver {
    policy: OutboundPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str(), 0).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client that can only reach what the [`OutboundPolicy`] allows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SafeClient {
    client: reqwest::Client,
    /// The same client without redirects, for fetches that must take the first answer as it
    /// is (OAuth client metadata: a redirect is an error, checklist #147).
    no_redirects: reqwest::Client,
    policy: OutboundPolicy,
}

impl SafeClient {
    /// Builds a client with the given policy, a 30 s overall timeout and a 10 s connect timeout.
    pub fn new(policy: OutboundPolicy) -> Result<SafeClient, SsrfError> {
        let client = SafeClient::builder(policy)
            .build()
            .map_err(SsrfError::Client)?;
        let no_redirects = SafeClient::builder(policy)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SsrfError::Client)?;
        Ok(SafeClient {
            client,
            no_redirects,
            policy,
        })
    }

    /// [`SafeClient::new`], plus host names pinned to socket addresses (port included: a
    /// URL's own port is then ignored) and optionally one more trusted root certificate (PEM).
    /// For tests that serve HTTPS on loopback under a public-looking name; pinned addresses are
    /// checked against the policy like resolved ones.
    #[doc(hidden)]
    pub fn new_pinned(
        policy: OutboundPolicy,
        pins: &[(&str, SocketAddr)],
        extra_root_pem: Option<&[u8]>,
    ) -> Result<SafeClient, SsrfError> {
        let build = |redirects: bool| -> Result<reqwest::Client, SsrfError> {
            let mut builder = SafeClient::builder(policy);
            if !redirects {
                builder = builder.redirect(reqwest::redirect::Policy::none());
            }
            if let Some(pem) = extra_root_pem {
                builder = builder.add_root_certificate(
                    reqwest::Certificate::from_pem(pem).map_err(SsrfError::Client)?,
                );
            }
            for (host, addr) in pins {
                policy.check_ip(host, addr.ip())?;
                builder = builder.resolve(host, *addr);
            }
            builder.build().map_err(SsrfError::Client)
        };
        Ok(SafeClient {
            client: build(true)?,
            no_redirects: build(false)?,
            policy,
        })
    }

    /// The client's settings: the guarded resolver, redirects re-checked against the policy
    /// (at most [`MAX_REDIRECTS`]), no proxy, timeouts and the user agent.
    fn builder(policy: OutboundPolicy) -> reqwest::ClientBuilder {
        let redirect_policy = policy;
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                match redirect_policy.check_parsed_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("relay/", env!("CARGO_PKG_VERSION")))
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> OutboundPolicy {
        self.policy
    }

    /// A request to `url` after checking it against the policy.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, SsrfError> {
        let url = self.policy.check_url(url)?;
        Ok(self.client.request(method, url))
    }

    /// A `GET` request to `url` after checking it against the policy.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, SsrfError> {
        self.request(reqwest::Method::GET, url)
    }

    /// A `GET` request to `url` after checking it against the policy, that does not follow
    /// redirects (a 3xx is the response).
    pub fn get_no_redirects(&self, url: &str) -> Result<reqwest::RequestBuilder, SsrfError> {
        let url = self.policy.check_url(url)?;
        Ok(self.no_redirects.get(url))
    }

    /// A `POST` request to `url` after checking it against the policy.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, SsrfError> {
        self.request(reqwest::Method::POST, url)
    }
}
