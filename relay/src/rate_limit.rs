//! Rate limits (checklist #177, #178, #179), shaped like the reference PDS's: a global limit
//! per client IP on every XRPC call, stricter per-route limits (`createSession` per identifier
//! and IP, `createAccount`, password resets, `deleteAccount`, `uploadBlob` per IP;
//! `updateHandle` and the email-request routes per account) and the per-account repository
//! write budget in points (create 3, update 2, delete 1; `applyWrites` sums its writes).
//!
//! Each limit is "N per window", enforced with GCRA from `governor` (the limiter under
//! `tower_governor`): a burst of N, refilled at N per window. `tower_governor`'s layer is not
//! used because several limits need the request body (the `createSession` identifier, the
//! `applyWrites` cost) or the verified account, and the reference's headers differ from its
//! `x-ratelimit-*` ones. Answers over a limit are `429` with XRPC error
//! `RateLimitExceeded`; every limited answer carries the reference's `RateLimit-Limit`,
//! `RateLimit-Remaining`, `RateLimit-Reset` (Unix seconds) and `RateLimit-Policy`
//! (`<limit>;w=<window seconds>`), and a 429 also `Retry-After`.
//!
//! The client IP is the socket's peer address, or, behind a trusted reverse proxy, the
//! configured header (`x-forwarded-for`: its last entry, the address the proxy saw). Limits are
//! off unless `rate_limits.enabled` is set, as in the reference (`PDS_RATE_LIMITS_ENABLED`);
//! any single limit can be changed or switched off (an empty list) in the config.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::Deserialize;

use crate::error::ApiError;
use crate::server::AppState;

/// One limit: `points` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Points (requests, or write points) allowed per window.
    pub points: u32,
    /// The window.
    pub window: Duration,
}

impl Limit {
    const fn new(points: u32, window_secs: u64) -> Limit {
        Limit {
            points,
            window: Duration::from_secs(window_secs),
        }
    }
}

impl FromStr for Limit {
    type Err = String;

    /// Parses `N/<duration>`, e.g. `30/5m`, `300/1d`, `5000/1h`.
    fn from_str(s: &str) -> Result<Limit, String> {
        let (n, w) = s
            .split_once('/')
            .ok_or_else(|| format!("expected N/<window> such as 30/5m, got {s:?}"))?;
        let points: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad point count in {s:?}"))?;
        let window = firehose::parse_duration(w)?;
        if points == 0 || window.is_zero() {
            return Err(format!("{s:?}: points and window must be positive"));
        }
        Ok(Limit { points, window })
    }
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// The rate-limit configuration (`[rate_limits]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Whether limits are enforced at all (default off, as in the reference).
    pub enabled: bool,
    /// Header holding the client IP, set by a trusted reverse proxy (e.g. `x-forwarded-for`,
    /// `x-real-ip`); `None`: the socket's peer address.
    pub ip_header: Option<HeaderName>,
    /// Client IPs never limited (for example a migration tool's host).
    pub bypass_ips: Vec<IpAddr>,
    /// A shared secret: requests whose `x-ratelimit-bypass` header equals it are never
    /// limited, as the reference's `PDS_RATE_LIMIT_BYPASS_KEY` (for trusted tools such as a
    /// migration service, checklist #179). Compared in constant time, never logged.
    pub bypass_key: Option<crate::config::Secret>,
    /// Every XRPC call, per IP (reference: 3000 per 5 minutes).
    pub global: Vec<Limit>,
    /// `createSession`, per identifier and IP (30 per 5 minutes, 300 per day).
    pub create_session: Vec<Limit>,
    /// `createAccount`, per IP (100 per 5 minutes).
    pub create_account: Vec<Limit>,
    /// `deleteAccount`, per IP (50 per 5 minutes).
    pub delete_account: Vec<Limit>,
    /// `resetPassword`, per IP (50 per 5 minutes).
    pub reset_password: Vec<Limit>,
    /// `requestPasswordReset`, per IP (15 per hour, 50 per day).
    pub request_password_reset: Vec<Limit>,
    /// `requestEmailConfirmation`, `requestEmailUpdate`, `requestAccountDelete`, each per
    /// account (5 per hour, 15 per day).
    pub email_requests: Vec<Limit>,
    /// `updateHandle`, per account (10 per 5 minutes, 50 per day).
    pub update_handle: Vec<Limit>,
    /// `uploadBlob`, per IP (1000 per day).
    pub upload_blob: Vec<Limit>,
    /// Repository writes in points per account, shared by `createRecord` (3), `putRecord`
    /// (2), `deleteRecord` (1) and `applyWrites` (3/2/1 per write): 5000 per hour, 35000 per
    /// day.
    pub repo_write: Vec<Limit>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: false,
            ip_header: None,
            bypass_ips: Vec::new(),
            bypass_key: None,
            global: vec![Limit::new(3000, 5 * MINUTE)],
            create_session: vec![Limit::new(30, 5 * MINUTE), Limit::new(300, DAY)],
            create_account: vec![Limit::new(100, 5 * MINUTE)],
            delete_account: vec![Limit::new(50, 5 * MINUTE)],
            reset_password: vec![Limit::new(50, 5 * MINUTE)],
            request_password_reset: vec![Limit::new(15, HOUR), Limit::new(50, DAY)],
            email_requests: vec![Limit::new(5, HOUR), Limit::new(15, DAY)],
            update_handle: vec![Limit::new(10, 5 * MINUTE), Limit::new(50, DAY)],
            upload_blob: vec![Limit::new(1000, DAY)],
            repo_write: vec![Limit::new(5000, HOUR), Limit::new(35000, DAY)],
        }
    }
}

/// The file layer of [`RateLimitSettings`]: every field optional; limits as `"N/<window>"`
/// lists (an empty list switches that limit off).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    /// See [`RateLimitSettings::enabled`].
    pub enabled: Option<bool>,
    /// See [`RateLimitSettings::ip_header`].
    pub ip_header: Option<String>,
    /// See [`RateLimitSettings::bypass_ips`].
    pub bypass_ips: Option<Vec<IpAddr>>,
    /// See [`RateLimitSettings::bypass_key`].
    pub bypass_key: Option<String>,
    global: Option<Vec<String>>,
    create_session: Option<Vec<String>>,
    create_account: Option<Vec<String>>,
    delete_account: Option<Vec<String>>,
    reset_password: Option<Vec<String>>,
    request_password_reset: Option<Vec<String>>,
    email_requests: Option<Vec<String>>,
    update_handle: Option<Vec<String>>,
    upload_blob: Option<Vec<String>>,
    repo_write: Option<Vec<String>>,
}

impl RawRateLimits {
    /// Validates and fills in defaults.
    pub fn build(self) -> Result<RateLimitSettings, String> {
        let d = RateLimitSettings::default();
        let limits = |raw: Option<Vec<String>>, default: Vec<Limit>, name: &str| match raw {
            None => Ok(default),
            Some(v) => v
                .iter()
                .map(|s| s.parse::<Limit>().map_err(|e| format!("{name}: {e}")))
                .collect(),
        };
        let ip_header = match self.ip_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) => Some(
                HeaderName::from_str(&h.to_ascii_lowercase())
                    .map_err(|_| format!("ip_header: bad header name {h:?}"))?,
            ),
        };
        Ok(RateLimitSettings {
            enabled: self.enabled.unwrap_or(d.enabled),
            ip_header,
            bypass_ips: self.bypass_ips.unwrap_or_default(),
            bypass_key: match self.bypass_key {
                Some(k) if k.trim().is_empty() => None,
                Some(k) if k.len() < 16 => {
                    return Err("bypass_key: use at least 16 characters".to_owned());
                }
                Some(k) => Some(crate::config::Secret::new(k)),
                None => None,
            },
            global: limits(self.global, d.global, "global")?,
            create_session: limits(self.create_session, d.create_session, "create_session")?,
            create_account: limits(self.create_account, d.create_account, "create_account")?,
            delete_account: limits(self.delete_account, d.delete_account, "delete_account")?,
            reset_password: limits(self.reset_password, d.reset_password, "reset_password")?,
            request_password_reset: limits(
                self.request_password_reset,
                d.request_password_reset,
                "request_password_reset",
            )?,
            email_requests: limits(self.email_requests, d.email_requests, "email_requests")?,
            update_handle: limits(self.update_handle, d.update_handle, "update_handle")?,
            upload_blob: limits(self.upload_blob, d.upload_blob, "upload_blob")?,
            repo_write: limits(self.repo_write, d.repo_write, "repo_write")?,
        })
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Where a limit was after one request: what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy)]
struct Status {
    limit: Limit,
    remaining: u32,
    /// Until the bucket is full again (on success) or until the request would pass (429).
    reset_in: Duration,
}

/// A set of limits applied together (e.g. per 5 minutes and per day).
struct Group {
    limiters: Vec<(Limit, Keyed)>,
}

impl Group {
    fn new(limits: &[Limit]) -> Option<Arc<Group>> {
        let limiters: Vec<(Limit, Keyed)> = limits
            .iter()
            .filter_map(|l| {
                let burst = NonZeroU32::new(l.points)?;
                let quota = Quota::with_period(l.window / l.points)?.allow_burst(burst);
                Some((
                    *l,
                    RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
                ))
            })
            .collect();
        (!limiters.is_empty()).then(|| Arc::new(Group { limiters }))
    }

    /// Takes `points` from every limit. `Ok`: the most constrained status; `Err`: the first
    /// limit exceeded.
    fn check(&self, key: &str, points: u32) -> Result<Option<Status>, Status> {
        let n = NonZeroU32::new(points.max(1)).unwrap_or(NonZeroU32::MIN);
        let key = key.to_owned();
        let mut lowest: Option<Status> = None;
        for (limit, limiter) in &self.limiters {
            let per_point = limit.window / limit.points;
            match limiter.check_key_n(&key, n) {
                Ok(Ok(snapshot)) => {
                    let remaining = snapshot.remaining_burst_capacity();
                    let status = Status {
                        limit: *limit,
                        remaining,
                        reset_in: per_point * (limit.points - remaining.min(limit.points)),
                    };
                    if lowest.is_none_or(|l| status.remaining < l.remaining) {
                        lowest = Some(status);
                    }
                }
                Ok(Err(not_until)) => {
                    let now = limiter.clock().now();
                    return Err(Status {
                        limit: *limit,
                        remaining: 0,
                        reset_in: not_until.wait_time_from(now) + per_point * (n.get() - 1),
                    });
                }
                Err(_) => {
                    return Err(Status {
                        limit: *limit,
                        remaining: 0,
                        reset_in: limit.window,
                    });
                }
            }
        }
        Ok(lowest)
    }

    fn retain_recent(&self) {
        for (_, l) in &self.limiters {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// How a route's key is made.
#[derive(Clone, Copy)]
enum KeyBy {
    /// The client IP.
    Ip,
    /// `createSession`'s identifier and the client IP (as the reference).
    IdentifierAndIp,
    /// The account of a valid access token (requests without one are not limited here; the
    /// handler refuses them).
    Account,
}

/// How many points a request costs.
#[derive(Clone, Copy)]
enum Cost {
    One,
    Fixed(u32),
    /// `applyWrites`: 3 per create, 2 per update, 1 per delete.
    ApplyWrites,
}

struct Route {
    group: Arc<Group>,
    key: KeyBy,
    cost: Cost,
}

/// The limiters of a running server (build once with [`RateLimits::new`]).
pub struct RateLimits {
    settings: RateLimitSettings,
    global: Option<Arc<Group>>,
    routes: HashMap<&'static str, Route>,
    all: Vec<Arc<Group>>,
    requests: AtomicU64,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Idle keys are dropped every this many requests.
const CLEANUP_EVERY: u64 = 8192;

impl RateLimits {
    /// Builds the limiters from the settings.
    pub fn new(settings: &RateLimitSettings) -> RateLimits {
        let mut routes = HashMap::new();
        let mut all = Vec::new();
        let s = settings;
        let mut add = |nsids: &[&'static str], limits: &[Limit], key: KeyBy, cost: Cost| {
            // Routes listed together share one budget (the repo write points); otherwise each
            // route gets its own group.
            let shared = matches!(cost, Cost::Fixed(_) | Cost::ApplyWrites);
            let mut group = None;
            for nsid in nsids {
                let g = if shared {
                    group.get_or_insert_with(|| Group::new(limits)).clone()
                } else {
                    Group::new(limits)
                };
                if let Some(g) = g {
                    all.push(g.clone());
                    let cost = match (*nsid, cost) {
                        ("com.atproto.repo.createRecord", Cost::Fixed(_)) => Cost::Fixed(3),
                        ("com.atproto.repo.putRecord", Cost::Fixed(_)) => Cost::Fixed(2),
                        ("com.atproto.repo.deleteRecord", Cost::Fixed(_)) => Cost::Fixed(1),
                        (_, c) => c,
                    };
                    routes.insert(
                        *nsid,
                        Route {
                            group: g,
                            key,
                            cost,
                        },
                    );
                }
            }
        };
        add(
            &["com.atproto.server.createSession"],
            &s.create_session,
            KeyBy::IdentifierAndIp,
            Cost::One,
        );
        add(
            &["com.atproto.server.createAccount"],
            &s.create_account,
            KeyBy::Ip,
            Cost::One,
        );
        add(
            &["com.atproto.server.deleteAccount"],
            &s.delete_account,
            KeyBy::Ip,
            Cost::One,
        );
        add(
            &["com.atproto.server.resetPassword"],
            &s.reset_password,
            KeyBy::Ip,
            Cost::One,
        );
        add(
            &["com.atproto.server.requestPasswordReset"],
            &s.request_password_reset,
            KeyBy::Ip,
            Cost::One,
        );
        add(
            &[
                "com.atproto.server.requestEmailConfirmation",
                "com.atproto.server.requestEmailUpdate",
                "com.atproto.server.requestAccountDelete",
            ],
            &s.email_requests,
            KeyBy::Account,
            Cost::One,
        );
        add(
            &["com.atproto.identity.updateHandle"],
            &s.update_handle,
            KeyBy::Account,
            Cost::One,
        );
        add(
            &["com.atproto.repo.uploadBlob"],
            &s.upload_blob,
            KeyBy::Ip,
            Cost::One,
        );
        add(
            &[
                "com.atproto.repo.createRecord",
                "com.atproto.repo.putRecord",
                "com.atproto.repo.deleteRecord",
            ],
            &s.repo_write,
            KeyBy::Account,
            Cost::Fixed(0),
        );
        // applyWrites shares the write budget with the single-record routes.
        if let Some(shared) = routes
            .get("com.atproto.repo.createRecord")
            .map(|r| r.group.clone())
        {
            routes.insert(
                "com.atproto.repo.applyWrites",
                Route {
                    group: shared,
                    key: KeyBy::Account,
                    cost: Cost::ApplyWrites,
                },
            );
        }
        let global = Group::new(&s.global);
        all.extend(global.clone());
        RateLimits {
            settings: settings.clone(),
            global,
            routes,
            all,
            requests: AtomicU64::new(0),
        }
    }

    /// The client IP of a request (see the module docs).
    fn client_ip(&self, req: &Request) -> IpAddr {
        if let Some(name) = &self.settings.ip_header
            && let Some(ip) = header_ip(req.headers(), name)
        {
            return ip;
        }
        req.extensions()
            .get::<ConnectInfo<crate::net::Peer>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.addr.ip())
    }
}

fn header_ip(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    // Several header lines count as one comma-separated list; the last entry is the one the
    // trusted proxy added.
    let last = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|s| !s.is_empty())?;
    last.parse::<IpAddr>()
        .ok()
        .or_else(|| last.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn set_headers(headers: &mut HeaderMap, s: &Status) {
    let reset = (unix_now() + s.reset_in).as_secs();
    let pairs = [
        ("ratelimit-limit", s.limit.points.to_string()),
        ("ratelimit-reset", reset.to_string()),
        ("ratelimit-remaining", s.remaining.to_string()),
        (
            "ratelimit-policy",
            format!("{};w={}", s.limit.points, s.limit.window.as_secs()),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

fn exceeded(s: &Status) -> Response {
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
        "Rate Limit Exceeded",
    )
    .into_response();
    set_headers(resp.headers_mut(), s);
    let retry = s.reset_in.as_secs().max(1);
    if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The account a request's token names: a legacy session token (`Bearer`), or an OAuth
/// access token (`DPoP`; only its signature is checked here, the proof is checked once by the
/// handler).
fn account_of(app: &AppState, req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return app
            .pds()
            .verify_access_token(token.trim())
            .ok()
            .map(|auth| auth.did.as_str().to_owned());
    }
    let token = value.strip_prefix("DPoP ")?;
    app.pds()
        .oauth_access_subject(token.trim())
        .map(|did| did.as_str().to_owned())
}

/// A form body's fields as a JSON object (the OAuth sign-in form's `identifier`).
fn form_fields(bytes: &[u8]) -> Option<serde_json::Value> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    Some(serde_json::Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    ))
}

fn apply_writes_points(body: &serde_json::Value) -> u32 {
    let Some(writes) = body.get("writes").and_then(|w| w.as_array()) else {
        return 1;
    };
    writes
        .iter()
        .map(
            |w| match w.get("$type").and_then(|t| t.as_str()).unwrap_or("") {
                "com.atproto.repo.applyWrites#create" => 3,
                "com.atproto.repo.applyWrites#update" => 2,
                _ => 1,
            },
        )
        .sum::<u32>()
        .max(1)
}

/// Whether `req` carries the configured bypass key in `x-ratelimit-bypass`.
fn has_bypass_key(settings: &RateLimitSettings, req: &Request) -> bool {
    let (Some(key), Some(sent)) = (
        settings.bypass_key.as_ref(),
        req.headers().get("x-ratelimit-bypass"),
    ) else {
        return false;
    };
    crate::auth::constant_time_eq(sent.as_bytes(), key.expose().as_bytes())
}

/// The middleware (installed by [`crate::server::app`] when limits are enabled).
pub async fn rate_limit(
    State((app, limits)): State<(AppState, Arc<RateLimits>)>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    // OAuth: every endpoint counts against the global per-IP limit; the sign-in form also
    // against `createSession`'s per-identifier budget, so it is no way around it.
    let nsid = if let Some(nsid) = path.strip_prefix("/xrpc/") {
        nsid.to_owned()
    } else if path == "/oauth/authorize" && req.method() == axum::http::Method::POST {
        "com.atproto.server.createSession".to_owned()
    } else if path.starts_with("/oauth/") {
        String::new()
    } else {
        return next.run(req).await;
    };
    let ip = limits.client_ip(&req);
    if limits.settings.bypass_ips.contains(&ip) || has_bypass_key(&limits.settings, &req) {
        return next.run(req).await;
    }
    if limits.requests.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
        for g in &limits.all {
            g.retain_recent();
        }
    }
    let ip_key = ip.to_string();
    let mut shown = None;
    if let Some(global) = &limits.global {
        match global.check(&ip_key, 1) {
            Ok(s) => shown = s,
            Err(s) => return exceeded(&s),
        }
    }
    let mut req = req;
    if let Some(route) = limits.routes.get(nsid.as_str()) {
        let mut body_json = None;
        if matches!(route.key, KeyBy::IdentifierAndIp) || matches!(route.cost, Cost::ApplyWrites) {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, app.config().json_body_limit).await {
                Ok(b) => b,
                Err(_) => {
                    return ApiError::payload_too_large("request entity too large").into_response();
                }
            };
            body_json = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .or_else(|| form_fields(&bytes));
            req = Request::from_parts(parts, Body::from(bytes));
        }
        let key = match route.key {
            KeyBy::Ip => Some(ip_key),
            KeyBy::IdentifierAndIp => {
                let id = body_json
                    .as_ref()
                    .and_then(|b| b.get("identifier"))
                    .and_then(|i| i.as_str())
                    .unwrap_or("")
                    .to_lowercase();
                Some(format!("{id}-{ip_key}"))
            }
            KeyBy::Account => account_of(&app, &req),
        };
        if let Some(key) = key {
            let points = match route.cost {
                Cost::One => 1,
                Cost::Fixed(n) => n,
                Cost::ApplyWrites => body_json.as_ref().map_or(1, apply_writes_points),
            };
            match route.group.check(&key, points) {
                Ok(Some(s)) => shown = Some(s),
                Ok(None) => {}
                Err(s) => return exceeded(&s),
            }
        }
    }
    let mut resp = next.run(req).await;
    if let Some(s) = shown {
        set_headers(resp.headers_mut(), &s);
    }
    resp
}
