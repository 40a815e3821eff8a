//! The few XRPC calls the workloads make (createAccount, createRecord, applyWrites, getRepo,
//! health), over one pooled `reqwest` client (rustls, no proxy), restricted to loopback targets.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::Error;

/// Per-request timeout: generous, since a loaded reference server can take seconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A failed call: an HTTP error status with the start of its body, or a transport error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The server answered with a non-2xx status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The first 300 bytes of the body (lossy UTF-8).
        body: String,
    },
    /// The request did not complete (connect, timeout, reset).
    #[error("transport: {0}")]
    Transport(String),
    /// A 2xx answer whose body is not what the method returns.
    #[error("unexpected response: {0}")]
    Response(String),
}

/// An account session: its DID and access token.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account DID.
    pub did: String,
    /// The account handle.
    pub handle: String,
    /// Bearer token for authenticated calls.
    pub access_jwt: String,
}

/// An XRPC client bound to one loopback server.
#[derive(Debug, Clone)]
pub struct Xrpc {
    http: reqwest::Client,
    base: String,
}

/// Checks that `url` is `http(s)://<loopback>[:port]` and returns it without a trailing slash.
pub fn check_loopback_url(url: &str) -> Result<String, Error> {
    let bad = |reason: &str| Error::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("scheme must be http or https"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    if !loopback {
        return Err(bad(
            "only loopback servers (127.0.0.0/8, ::1, localhost) may be load-tested",
        ));
    }
    if parsed.path() != "/" || parsed.query().is_some() {
        return Err(bad("give the server's base URL, with no path or query"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

async fn read_error(res: reqwest::Response) -> CallError {
    let status = res.status().as_u16();
    let body = res.bytes().await.unwrap_or_default();
    let end = body.len().min(300);
    CallError::Status {
        status,
        body: String::from_utf8_lossy(&body[..end]).into_owned(),
    }
}

fn transport(e: reqwest::Error) -> CallError {
    CallError::Transport(e.to_string())
}

impl Xrpc {
    /// A client for the server at `url` (loopback only, see [`check_loopback_url`]).
    pub fn new(url: &str) -> Result<Xrpc, Error> {
        let base = check_loopback_url(url)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Xrpc { http, base })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, method: &str) -> String {
        format!("{}/xrpc/{method}", self.base)
    }

    async fn post_json(
        &self,
        method: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<reqwest::Response, CallError> {
        let mut req = self.http.post(self.url(method)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.map_err(transport)?;
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(read_error(res).await)
        }
    }

    /// `GET /xrpc/_health`.
    pub async fn health(&self) -> Result<(), CallError> {
        let res = self
            .http
            .get(self.url("_health"))
            .send()
            .await
            .map_err(transport)?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(read_error(res).await)
        }
    }

    /// `com.atproto.server.createAccount` (no invite code).
    pub async fn create_account(
        &self,
        handle: &str,
        email: &str,
        password: &str,
    ) -> Result<Session, CallError> {
        let body = json!({ "handle": handle, "email": email, "password": password });
        let res = self
            .post_json("com.atproto.server.createAccount", None, &body)
            .await?;
        let v: Value = res.json().await.map_err(transport)?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| CallError::Response(format!("createAccount: no {k} in {v}")))
        };
        Ok(Session {
            did: field("did")?,
            handle: field("handle")?,
            access_jwt: field("accessJwt")?,
        })
    }

    /// `com.atproto.repo.createRecord` in the session's repo (body read and dropped).
    pub async fn create_record(
        &self,
        session: &Session,
        collection: &str,
        record: &Value,
    ) -> Result<(), CallError> {
        let body = json!({ "repo": session.did, "collection": collection, "record": record });
        let res = self
            .post_json(
                "com.atproto.repo.createRecord",
                Some(&session.access_jwt),
                &body,
            )
            .await?;
        res.bytes().await.map_err(transport)?;
        Ok(())
    }

    /// `com.atproto.repo.applyWrites` with the given `writes` (already in lexicon form).
    pub async fn apply_writes(&self, session: &Session, writes: &[Value]) -> Result<(), CallError> {
        let body = json!({ "repo": session.did, "writes": writes });
        let res = self
            .post_json(
                "com.atproto.repo.applyWrites",
                Some(&session.access_jwt),
                &body,
            )
            .await?;
        res.bytes().await.map_err(transport)?;
        Ok(())
    }

    /// `com.atproto.sync.getRepo`: the whole body (a CAR).
    pub async fn get_repo(&self, did: &str) -> Result<Vec<u8>, CallError> {
        let res = self
            .http
            .get(self.url("com.atproto.sync.getRepo"))
            .query(&[("did", did)])
            .send()
            .await
            .map_err(transport)?;
        if !res.status().is_success() {
            return Err(read_error(res).await);
        }
        Ok(res.bytes().await.map_err(transport)?.to_vec())
    }
}

/// A random lowercase alphanumeric string of `n` characters.
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// The handle of load-driver account `index`: `lgNNN-xxx.test` (random `xxx` so repeated runs
/// against one server do not collide; the first label stays within the reference's 18).
pub fn account_handle(index: usize, suffix: &str) -> String {
    format!("lg{index:03}-{suffix}.test")
}

/// Creates `count` accounts (`lgNNN-xxx.test`), at most `parallel` at a time.
pub async fn create_accounts(
    xrpc: &Xrpc,
    count: usize,
    parallel: usize,
) -> Result<Vec<Session>, Error> {
    let run = random_suffix(3);
    let password = format!("lg-{}", random_suffix(16));
    let mut sessions = Vec::with_capacity(count);
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(parallel.max(1)) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let xrpc = xrpc.clone();
            let handle = account_handle(i, &run);
            let password = password.clone();
            set.spawn(async move {
                let email = format!("{}@loadgen.invalid", handle.replace('.', "-"));
                let r = xrpc.create_account(&handle, &email, &password).await;
                (i, handle, r)
            });
        }
        let mut got = Vec::new();
        while let Some(joined) = set.join_next().await {
            let (i, handle, r) = joined.map_err(|e| Error::Join(e.to_string()))?;
            let session = r.map_err(|e| Error::Setup {
                what: format!("createAccount {handle}"),
                message: e.to_string(),
            })?;
            got.push((i, session));
        }
        got.sort_by_key(|(i, _)| *i);
        sessions.extend(got.into_iter().map(|(_, s)| s));
    }
    Ok(sessions)
}

/// A small `app.bsky.feed.post` record.
pub fn post_record(text: &str) -> Value {
    json!({
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": crate::time::now_rfc3339(),
    })
}
