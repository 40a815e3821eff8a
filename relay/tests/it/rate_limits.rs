//! Rate limits (checklist #177, #178, #179): 429 `RateLimitExceeded` with the reference's
//! `RateLimit-*` headers for `createSession` (per identifier and IP), the global per-IP limit
//! (client IP from a trusted proxy header), `createAccount`, and the per-account repo write
//! points; limits off by default and when disabled. Also the describeServer links and contact
//! from config.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use relay::secrets::Secrets;
use relay::{AppState, Config};
use serde_json::json;

use crate::common::{Reply, Server, TestRelay, send, temp_dir};
use crate::pds_flow::{create_account, get, ok, post};

/// A relay whose config file is `toml` (plus the test settings as environment).
pub(crate) async fn relay_with(toml: &str) -> TestRelay {
    let plc = Server::start(relay::plc_directory::router(Arc::new(
        relay::plc_directory::PlcDirectory::in_memory(),
    )))
    .await;
    let dir = temp_dir("relay-rate-limits");
    let env = vec![
        ("RELAY_ALLOW_PRIVATE_OUTBOUND".to_owned(), "true".to_owned()),
        (
            "RELAY_DATA_DIR".to_owned(),
            dir.to_string_lossy().into_owned(),
        ),
        ("RELAY_PLC_URL".to_owned(), plc.url()),
        (
            "RELAY_SERVICE_HANDLE_DOMAINS".to_owned(),
            ".test".to_owned(),
        ),
    ];
    let config = Config::from_sources(Some(toml), env).unwrap();
    let state = AppState::open_with(config, Secrets::ephemeral(), |c| {
        c.password_cost = pds::PasswordCost::InsecureFastForTests;
    })
    .await
    .unwrap();
    TestRelay {
        app: relay::app(state.clone()),
        state,
        _plc: plc,
    }
}

fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn login(relay: &TestRelay, identifier: &str) -> Reply {
    post(
        relay,
        "com.atproto.server.createSession",
        None,
        json!({ "identifier": identifier, "password": "hunter2-password" }),
    )
    .await
}

#[tokio::test]
async fn checklist_177_179_create_session_30_per_5_minutes_then_429_with_headers() {
    let relay = relay_with("rate_limits.enabled = true").await;
    create_account(&relay, "alice.test").await;
    for i in 0..30u32 {
        let r = login(&relay, "alice.test").await;
        assert!(r.status.is_success(), "attempt {i}: {}", r.status);
        assert_eq!(header(&r, "ratelimit-limit"), "30");
        assert_eq!(header(&r, "ratelimit-remaining"), (29 - i).to_string());
        assert_eq!(header(&r, "ratelimit-policy"), "30;w=300");
    }
    let r = login(&relay, "alice.test").await;
    r.assert_xrpc_error(429, "RateLimitExceeded");
    assert_eq!(header(&r, "ratelimit-limit"), "30");
    assert_eq!(header(&r, "ratelimit-remaining"), "0");
    assert_eq!(header(&r, "ratelimit-policy"), "30;w=300");
    let reset: u64 = header(&r, "ratelimit-reset").parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset > now && reset <= now + 301, "reset {reset} now {now}");
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=300).contains(&retry));
    // The key is identifier + IP: another identifier still gets in (or fails on its own).
    let other = login(&relay, "bob.test").await;
    assert_ne!(other.status.as_u16(), 429);
}

#[tokio::test]
async fn checklist_179_global_limit_per_client_ip_from_trusted_proxy_header() {
    let relay = relay_with(
        "rate_limits.enabled = true\n\
         rate_limits.ip_header = \"x-forwarded-for\"\n\
         rate_limits.global = [\"5/5m\"]\n\
         rate_limits.bypass_ips = [\"10.9.9.9\"]",
    )
    .await;
    let req = |ip: &str| {
        Request::get("/xrpc/com.atproto.server.describeServer")
            .header("x-forwarded-for", format!("203.0.113.7, {ip}"))
            .body(Body::empty())
            .unwrap()
    };
    for i in 0..5u32 {
        let r = send(&relay.app, req("198.51.100.1")).await;
        assert!(r.status.is_success(), "request {i}");
        assert_eq!(header(&r, "ratelimit-remaining"), (4 - i).to_string());
    }
    send(&relay.app, req("198.51.100.1"))
        .await
        .assert_xrpc_error(429, "RateLimitExceeded");
    // The last entry (what the proxy saw) is the key; the spoofable first one is not.
    let r = send(&relay.app, req("198.51.100.2")).await;
    assert!(r.status.is_success());
    // Bypassed IPs are never limited.
    for _ in 0..8 {
        let r = send(&relay.app, req("10.9.9.9")).await;
        assert!(r.status.is_success());
        assert!(r.headers.get("ratelimit-limit").is_none());
    }
    // Non-XRPC paths are not limited.
    let r = send(
        &relay.app,
        Request::get("/.well-known/atproto-did")
            .header("x-forwarded-for", "198.51.100.1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_ne!(r.status.as_u16(), 429);
}

#[tokio::test]
async fn checklist_179_bypass_key_header_skips_the_limits() {
    let relay = relay_with(
        "rate_limits.enabled = true\n\
         rate_limits.global = [\"3/5m\"]\n\
         rate_limits.bypass_key = \"migration-tool-secret-0123\"",
    )
    .await;
    let req = |key: Option<&str>| {
        let mut b = Request::get("/xrpc/com.atproto.server.describeServer");
        if let Some(k) = key {
            b = b.header("x-ratelimit-bypass", k);
        }
        b.body(Body::empty()).unwrap()
    };
    for _ in 0..3 {
        assert!(send(&relay.app, req(None)).await.status.is_success());
    }
    send(&relay.app, req(None))
        .await
        .assert_xrpc_error(429, "RateLimitExceeded");
    // A wrong key is no key.
    send(&relay.app, req(Some("migration-tool-secret-0124")))
        .await
        .assert_xrpc_error(429, "RateLimitExceeded");
    for _ in 0..5 {
        let r = send(&relay.app, req(Some("migration-tool-secret-0123"))).await;
        assert!(r.status.is_success());
        assert!(r.headers.get("ratelimit-limit").is_none());
    }
    // Too short a key is refused at start-up.
    let mut raw = relay::rate_limit::RawRateLimits::default();
    raw.bypass_key = Some("short".to_owned());
    assert!(raw.build().is_err());
}

#[tokio::test]
async fn checklist_179_create_account_limit_per_ip() {
    let relay =
        relay_with("rate_limits.enabled = true\nrate_limits.create_account = [\"2/5m\"]").await;
    create_account(&relay, "acct1.test").await;
    create_account(&relay, "acct2.test").await;
    post(
        &relay,
        "com.atproto.server.createAccount",
        None,
        json!({ "handle": "acct3.test", "email": "acct3@example.com", "password": "hunter2-password" }),
    )
    .await
    .assert_xrpc_error(429, "RateLimitExceeded");
}

#[tokio::test]
async fn checklist_178_repo_write_points_per_account() {
    let relay =
        relay_with("rate_limits.enabled = true\nrate_limits.repo_write = [\"10/1h\"]").await;
    let alice = create_account(&relay, "alice.test").await;
    let bob = create_account(&relay, "bob.test").await;
    let create = |repo: String| {
        json!({ "repo": repo, "collection": "app.bsky.feed.post",
                "record": { "text": "hi", "createdAt": "2026-11-23T12:00:00.000Z" } })
    };
    // 3 creates = 9 points.
    let mut last = None;
    for _ in 0..3 {
        let r = post(
            &relay,
            "com.atproto.repo.createRecord",
            Some(&alice.access),
            create(alice.did.clone()),
        )
        .await;
        assert_eq!(header(&r, "ratelimit-limit"), "10");
        last = Some(ok(r));
    }
    assert_eq!(
        header(
            &post(
                &relay,
                "com.atproto.repo.createRecord",
                Some(&alice.access),
                create(alice.did.clone())
            )
            .await,
            "ratelimit-remaining"
        ),
        "0"
    );
    let uri = last.unwrap()["uri"].as_str().unwrap().to_owned();
    let rkey = uri.rsplit('/').next().unwrap().to_owned();
    // A fourth create (3 points) does not fit in the 1 left; a delete (1 point) does.
    post(
        &relay,
        "com.atproto.repo.createRecord",
        Some(&alice.access),
        create(alice.did.clone()),
    )
    .await
    .assert_xrpc_error(429, "RateLimitExceeded");
    // applyWrites costs the sum of its writes (here 3 + 1 = 4 > 0 left).
    post(
        &relay,
        "com.atproto.repo.applyWrites",
        Some(&alice.access),
        json!({ "repo": alice.did, "writes": [
            { "$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post",
              "value": { "text": "x", "createdAt": "2026-11-23T12:00:00.000Z" } },
            { "$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.feed.post",
              "rkey": rkey } ] }),
    )
    .await
    .assert_xrpc_error(429, "RateLimitExceeded");
    // Another account has its own budget.
    ok(post(
        &relay,
        "com.atproto.repo.createRecord",
        Some(&bob.access),
        create(bob.did.clone()),
    )
    .await);
}

#[tokio::test]
async fn checklist_177_limits_off_by_default_and_when_disabled() {
    for toml in [
        "",
        "rate_limits.enabled = false\nrate_limits.create_session = [\"1/5m\"]",
    ] {
        let relay = relay_with(toml).await;
        create_account(&relay, "alice.test").await;
        for _ in 0..35 {
            let r = login(&relay, "alice.test").await;
            assert!(r.status.is_success());
            assert!(r.headers.get("ratelimit-limit").is_none());
        }
    }
}

#[test]
fn rate_limit_config_parses_and_rejects_bad_limits() {
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    };
    let c = Config::from_sources(
        Some("rate_limits.global = [\"100/1m\", \"1000/1d\"]\nrate_limits.upload_blob = []"),
        env(&[
            ("RELAY_RATE_LIMITS_ENABLED", "true"),
            ("RELAY_RATE_LIMITS_IP_HEADER", "X-Real-IP"),
        ]),
    )
    .unwrap();
    assert!(c.rate_limits.enabled);
    assert_eq!(
        c.rate_limits.ip_header.as_ref().unwrap().as_str(),
        "x-real-ip"
    );
    assert_eq!(c.rate_limits.global.len(), 2);
    assert_eq!(c.rate_limits.global[1].points, 1000);
    assert!(c.rate_limits.upload_blob.is_empty());
    assert_eq!(c.rate_limits.repo_write[0].points, 5000);
    for bad in [
        "rate_limits.global = [\"0/5m\"]",
        "rate_limits.global = [\"5\"]",
        "rate_limits.global = [\"5/xyz\"]",
        "rate_limits.nope = true",
    ] {
        assert!(Config::from_sources(Some(bad), env(&[])).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn describe_server_links_and_contact_from_config() {
    let relay = relay_with(
        "privacy_policy_url = \"https://pds.example.com/privacy\"\n\
         terms_of_service_url = \"https://pds.example.com/tos\"\n\
         contact_email = \"admin@pds.example.com\"",
    )
    .await;
    let out = ok(get(&relay, "com.atproto.server.describeServer", None).await);
    assert_eq!(
        out["links"]["privacyPolicy"],
        "https://pds.example.com/privacy"
    );
    assert_eq!(
        out["links"]["termsOfService"],
        "https://pds.example.com/tos"
    );
    assert_eq!(out["contact"]["email"], "admin@pds.example.com");
    assert!(Config::from_sources(Some("privacy_policy_url = \"ftp://x\""), Vec::new()).is_err());
}

/// One row of the per-route table: the config key, the method, and whether the limit is per
/// account (the caller's access token) rather than per IP.
struct RouteLimit {
    key: &'static str,
    method: &'static str,
    per_account: bool,
}

#[tokio::test]
async fn checklist_179_every_route_limit_is_config_driven() {
    // Each limit set to 1 per 5 minutes: the second call of the route is refused, whatever
    // the first call's own outcome (the limiter counts attempts, as the reference does).
    let table = [
        RouteLimit {
            key: "delete_account",
            method: "com.atproto.server.deleteAccount",
            per_account: false,
        },
        RouteLimit {
            key: "reset_password",
            method: "com.atproto.server.resetPassword",
            per_account: false,
        },
        RouteLimit {
            key: "request_password_reset",
            method: "com.atproto.server.requestPasswordReset",
            per_account: false,
        },
        RouteLimit {
            key: "upload_blob",
            method: "com.atproto.repo.uploadBlob",
            per_account: false,
        },
        RouteLimit {
            key: "update_handle",
            method: "com.atproto.identity.updateHandle",
            per_account: true,
        },
        RouteLimit {
            key: "email_requests",
            method: "com.atproto.server.requestEmailConfirmation",
            per_account: true,
        },
    ];
    let toml = std::iter::once("rate_limits.enabled = true".to_owned())
        .chain(
            table
                .iter()
                .map(|r| format!("rate_limits.{} = [\"1/5m\"]", r.key)),
        )
        .collect::<Vec<_>>()
        .join("\n");
    let relay = relay_with(&toml).await;
    let alice = create_account(&relay, "alice.test").await;
    let bob = create_account(&relay, "bob.test").await;
    for row in &table {
        let first = post(&relay, row.method, Some(&alice.access), json!({})).await;
        assert_ne!(first.status.as_u16(), 429, "{}: first call", row.key);
        post(&relay, row.method, Some(&alice.access), json!({}))
            .await
            .assert_xrpc_error(429, "RateLimitExceeded");
        // Per-account limits leave another account alone; per-IP limits do not (same IP).
        let other = post(&relay, row.method, Some(&bob.access), json!({})).await;
        assert_eq!(
            other.status.as_u16() == 429,
            !row.per_account,
            "{}: another account's call",
            row.key
        );
        println!("rate limit {} on {}: 2nd call refused", row.key, row.method);
    }
    println!("per-route limits: {} routes", table.len());
}

/// Checklist #179 over real sockets: a per-IP limit counts each client by the address of its
/// TCP connection (the listener's `ConnectInfo<Peer>`), so one client at its limit does not
/// hold back another. Clients from 127.0.0.1 and 127.0.0.2 (both loopback on Linux).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn checklist_179_per_ip_limit_counts_the_connection_address() {
    let relay =
        relay_with("rate_limits.enabled = true\nrate_limits.create_account = [\"1/5m\"]").await;
    let server = Server::start(relay.app.clone()).await;
    let client = |ip: &str| {
        reqwest::Client::builder()
            .local_address(Some(ip.parse().unwrap()))
            .build()
            .unwrap()
    };
    let create = |client: reqwest::Client, handle: &'static str| {
        let url = format!("{}/xrpc/com.atproto.server.createAccount", server.url());
        async move {
            client
                .post(url)
                .json(
                    &json!({ "handle": handle, "email": format!("{handle}@example.com"),
                               "password": "hunter2-password" }),
                )
                .send()
                .await
                .unwrap()
        }
    };
    let (a, b) = (client("127.0.0.1"), client("127.0.0.2"));
    assert!(create(a.clone(), "ipa1.test").await.status().is_success());
    let limited = create(a.clone(), "ipa2.test").await;
    assert_eq!(limited.status().as_u16(), 429);
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "RateLimitExceeded");
    assert!(
        create(b.clone(), "ipb1.test").await.status().is_success(),
        "another address has its own budget"
    );
    assert_eq!(create(b, "ipb2.test").await.status().as_u16(), 429);
    server.stop().await;
}

/// The OAuth sign-in form shares `createSession`'s per-identifier budget: it is no way around
/// the password-guessing limit (checklist #177).
#[tokio::test]
async fn checklist_177_oauth_sign_in_counts_against_create_session() {
    let relay =
        relay_with("rate_limits.enabled = true\nrate_limits.create_session = [\"2/5m\"]").await;
    create_account(&relay, "alice.test").await;
    for _ in 0..2 {
        assert!(login(&relay, "alice.test").await.status.is_success());
    }
    let form = "client_id=http%3A%2F%2Flocalhost&request_uri=x&identifier=alice.test&password=guess&decision=approve";
    let request = Request::post("/oauth/authorize")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let r = send(&relay.app, request).await;
    assert_eq!(
        r.status.as_u16(),
        429,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // Another identifier is not held back by alice's budget.
    let other = form.replace("alice.test", "bob.test");
    let request = Request::post("/oauth/authorize")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(other))
        .unwrap();
    assert_ne!(send(&relay.app, request).await.status.as_u16(), 429);
}
