//! OAuth through the relay's HTTP API (checklist section O), with a client written here: the
//! `http://localhost` development client (virtual metadata, no fetch), DPoP proofs made with
//! our crypto crate, PKCE. The whole flow (PAR, the sign-in page, code, token, XRPC with a
//! DPoP-bound token, refresh, revocation) and each refusal on the way.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto::{Curve, Keypair};
use serde_json::{Value, json};

use crate::common::{Reply, TestRelay, send};
use crate::pds_flow::create_account;

const ORIGIN: &str = "http://localhost:2583";
const REDIRECT: &str = "http://127.0.0.1/cb";

fn client_id() -> String {
    format!(
        "http://localhost?{}",
        serde_urlencoded::to_string([
            ("redirect_uri", REDIRECT),
            ("scope", "atproto transition:generic")
        ])
        .unwrap()
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A client's DPoP key and the server nonce it last saw.
struct Dpop {
    key: Keypair,
    nonce: Option<String>,
    n: u32,
}

impl Dpop {
    fn new() -> Dpop {
        Dpop {
            key: Keypair::generate(Curve::P256),
            nonce: None,
            n: 0,
        }
    }

    fn proof(&mut self, method: &str, path: &str, access_token: Option<&str>) -> String {
        self.n += 1;
        let header =
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.public_key().to_jwk()});
        let mut claims = json!({"jti": format!("p-{}-{}", self.n, now()), "htm": method, "htu": format!("{ORIGIN}{path}"), "iat": now()});
        if let Some(n) = &self.nonce {
            claims["nonce"] = json!(n);
        }
        if let Some(t) = access_token {
            claims["ath"] = json!(oauth::dpop::access_token_hash(t));
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn saw(&mut self, reply: &Reply) {
        if let Some(n) = reply.headers.get("dpop-nonce") {
            self.nonce = Some(n.to_str().unwrap().to_owned());
        }
    }
}

async fn post_form(
    relay: &TestRelay,
    path: &str,
    dpop: Option<String>,
    form: &[(&str, &str)],
) -> Reply {
    let mut builder =
        Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(p) = dpop {
        builder = builder.header("dpop", p);
    }
    let body = serde_urlencoded::to_string(form).unwrap();
    send(&relay.app, builder.body(Body::from(body)).unwrap()).await
}

/// A PKCE verifier per request (a challenge may be used once a day).
fn verifier_for(state: &str) -> String {
    format!("verifier-{state}-{}", "v".repeat(40))
}

/// PAR for `state` (its verifier is [`verifier_for`]); the nonce the reply carries is kept.
async fn push(relay: &TestRelay, dpop: &mut Dpop, state: &str, extra: &[(&str, &str)]) -> Reply {
    let cid = client_id();
    let challenge = oauth::pkce::s256_challenge(&verifier_for(state));
    let mut form = vec![
        ("client_id", cid.as_str()),
        ("response_type", "code"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", state),
        ("redirect_uri", REDIRECT),
        ("scope", "atproto transition:generic"),
    ];
    form.extend_from_slice(extra);
    let proof = dpop.proof("POST", "/oauth/par", None);
    let reply = post_form(relay, "/oauth/par", Some(proof), &form).await;
    dpop.saw(&reply);
    reply
}

/// Signs in on the page; returns the redirect's query parameters.
async fn approve(relay: &TestRelay, request_uri: &str, password: &str) -> Reply {
    let cid = client_id();
    post_form(
        relay,
        "/oauth/authorize",
        None,
        &[
            ("client_id", cid.as_str()),
            ("request_uri", request_uri),
            ("identifier", "alice.test"),
            ("password", password),
            ("decision", "approve"),
        ],
    )
    .await
}

fn redirect_params(reply: &Reply) -> Vec<(String, String)> {
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let location = reply.headers.get("location").unwrap().to_str().unwrap();
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, REDIRECT);
    serde_urlencoded::from_str(query).unwrap()
}

fn get_param<'a>(params: &'a [(String, String)], k: &str) -> &'a str {
    &params.iter().find(|(n, _)| n == k).unwrap().1
}

async fn token(relay: &TestRelay, dpop: &mut Dpop, form: &[(&str, &str)]) -> Reply {
    let cid = client_id();
    let mut f = vec![("client_id", cid.as_str())];
    f.extend_from_slice(form);
    let proof = dpop.proof("POST", "/oauth/token", None);
    let reply = post_form(relay, "/oauth/token", Some(proof), &f).await;
    dpop.saw(&reply);
    reply
}

/// The whole flow up to tokens, for `alice.test`.
async fn sign_in(relay: &TestRelay, dpop: &mut Dpop, state: &str) -> Value {
    let first = push(relay, dpop, state, &[]).await;
    assert_eq!(first.status, StatusCode::BAD_REQUEST);
    assert_eq!(first.json()["error"], "use_dpop_nonce");
    let pushed = push(relay, dpop, state, &[]).await;
    assert_eq!(
        pushed.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&pushed.body)
    );
    let request_uri = pushed.json()["request_uri"].as_str().unwrap().to_owned();
    let params = redirect_params(&approve(relay, &request_uri, "hunter2-password").await);
    let code = get_param(&params, "code").to_owned();
    let verifier = verifier_for(state);
    let reply = token(
        relay,
        dpop,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let mut out = reply.json();
    out["code"] = json!(code);
    out["verifier"] = json!(verifier);
    out
}

async fn xrpc(
    relay: &TestRelay,
    dpop: &mut Dpop,
    method: Method,
    nsid: &str,
    access: &str,
    body: Option<Value>,
) -> Reply {
    let path = format!("/xrpc/{nsid}");
    let proof = dpop.proof(method.as_str(), &path, Some(access));
    let mut builder = Request::builder()
        .method(method)
        .uri(&path)
        .header("authorization", format!("DPoP {access}"))
        .header("dpop", proof);
    let body = match body {
        Some(b) => {
            builder = builder.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let reply = send(&relay.app, builder.body(body).unwrap()).await;
    dpop.saw(&reply);
    reply
}

#[tokio::test]
async fn checklist_143_146_discovery_documents_are_served() {
    let relay = TestRelay::start(&[]).await;
    let reply = send(
        &relay.app,
        crate::common::get("/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert_eq!(doc["issuer"], ORIGIN);
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        format!("{ORIGIN}/oauth/par")
    );
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    let reply = send(
        &relay.app,
        crate::common::get("/.well-known/oauth-protected-resource"),
    )
    .await;
    assert_eq!(reply.json()["authorization_servers"], json!([ORIGIN]));
    let reply = send(&relay.app, crate::common::get("/oauth/jwks")).await;
    assert_eq!(reply.json()["keys"][0]["crv"], "P-256");
    assert!(reply.json()["keys"][0].get("d").is_none());
}

#[tokio::test]
async fn checklist_151_161_the_whole_flow() {
    let relay = TestRelay::start(&[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let mut dpop = Dpop::new();

    // PAR: no proof, then no nonce (#157), then accepted.
    let cid = client_id();
    let no_proof = post_form(&relay, "/oauth/par", None, &[("client_id", cid.as_str())]).await;
    assert_eq!(no_proof.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_proof.json()["error"], "invalid_dpop_proof");
    let tokens = sign_in(&relay, &mut dpop, "st-1").await;
    assert_eq!(tokens["token_type"], "DPoP");
    assert_eq!(tokens["sub"], alice.did.as_str());
    assert_eq!(tokens["scope"], "atproto transition:generic");
    assert!(tokens["expires_in"].as_i64().unwrap() <= 15 * 60);
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // XRPC with the DPoP-bound token (#155): a write goes through.
    let created = xrpc(&relay, &mut dpop, Method::POST, "com.atproto.repo.createRecord", &access, Some(json!({
        "repo": alice.did, "collection": "app.bsky.feed.post",
        "record": {"$type": "app.bsky.feed.post", "text": "via oauth", "createdAt": "2026-01-01T00:00:00.000Z"}
    }))).await;
    assert_eq!(
        created.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert!(
        created.headers.contains_key("dpop-nonce"),
        "DPoP-Nonce on every DPoP response (#156)"
    );
    let session = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(session.json()["did"], alice.did.as_str());
    // No `transition:email`: no email (#165); the password session sees it.
    assert!(session.json().get("email").is_none(), "{}", session.json());
    let own =
        crate::pds_flow::get(&relay, "com.atproto.server.getSession", Some(&alice.access)).await;
    assert_eq!(own.json()["email"], "alice.test@example.com");

    // The same token as Bearer: 401 (#155).
    let bearer = crate::pds_flow::get(&relay, "com.atproto.server.getSession", Some(&access)).await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
    // A proof by another key: 401.
    let mut thief = Dpop::new();
    thief.nonce = dpop.nonce.clone();
    let stolen = xrpc(
        &relay,
        &mut thief,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(stolen.status, StatusCode::UNAUTHORIZED);
    // No nonce: 401 use_dpop_nonce with the challenge header (#157).
    let mut stale = Dpop {
        key: dpop.key.clone(),
        nonce: None,
        n: 1000,
    };
    let no_nonce = xrpc(
        &relay,
        &mut stale,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(no_nonce.status, StatusCode::UNAUTHORIZED);
    let challenge = no_nonce
        .headers
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("DPoP") && challenge.contains("use_dpop_nonce"),
        "{challenge}"
    );
    // A nonce the server never issued (or one long stale): the same answer.
    let mut forged = Dpop {
        key: dpop.key.clone(),
        nonce: Some("AAAAAAAAAAAAAAAAAAAAAA".into()),
        n: 2000,
    };
    let bad_nonce = xrpc(
        &relay,
        &mut forged,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(bad_nonce.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad_nonce.json()["error"], "use_dpop_nonce");
    // A replayed proof: refused (#158).
    let path = "/xrpc/com.atproto.server.getSession";
    let proof = dpop.proof("GET", path, Some(&access));
    for expect in [StatusCode::OK, StatusCode::UNAUTHORIZED] {
        let req = Request::get(path)
            .header("authorization", format!("DPoP {access}"))
            .header("dpop", proof.clone())
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&relay.app, req).await.status, expect);
    }
    // App-password-level access only: account management is refused.
    let app_pw = xrpc(
        &relay,
        &mut dpop,
        Method::POST,
        "com.atproto.server.createAppPassword",
        &access,
        Some(json!({"name": "x"})),
    )
    .await;
    assert!(app_pw.status.is_client_error(), "{}", app_pw.status);

    // Refresh rotates (#162); the old refresh token used again revokes the session.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let rotated = token(
        &relay,
        &mut dpop,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        rotated.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&rotated.body)
    );
    let rotated = rotated.json();
    assert_ne!(rotated["refresh_token"], refresh.as_str());
    assert_eq!(rotated["sub"], alice.did.as_str());
    let new_access = rotated["access_token"].as_str().unwrap().to_owned();
    let ok = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &new_access,
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    // Refreshing with another DPoP key fails and does not burn the token.
    let mut other = Dpop::new();
    let _ = token(
        &relay,
        &mut other,
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    let wrong_key = token(
        &relay,
        &mut other,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rotated["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(wrong_key.json()["error"], "invalid_grant");
    let reused = token(
        &relay,
        &mut dpop,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(reused.json()["error"], "invalid_grant");
    let revoked = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &new_access,
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn checklist_151_153_154_authorization_rules() {
    let relay = TestRelay::start(&[]).await;
    create_account(&relay, "alice.test").await;
    let mut dpop = Dpop::new();

    // The authorization endpoint without PAR is refused (#151).
    let direct = send(
        &relay.app,
        crate::common::get("/oauth/authorize?response_type=code&client_id=x"),
    )
    .await;
    assert_eq!(direct.status, StatusCode::BAD_REQUEST);

    let first = push(&relay, &mut dpop, "st-a", &[]).await;
    assert_eq!(first.json()["error"], "use_dpop_nonce");
    let pushed = push(&relay, &mut dpop, "st-a", &[]).await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let request_uri = pushed.json()["request_uri"].as_str().unwrap().to_owned();
    // The same code_challenge again: refused (#153).
    let again = push(&relay, &mut dpop, "st-a", &[]).await;
    assert_eq!(again.json()["error"], "invalid_request");

    // The page shows the full client_id, escaped (#163).
    let cid = client_id();
    let page = send(
        &relay.app,
        crate::common::get(&format!(
            "/oauth/authorize?{}",
            serde_urlencoded::to_string([
                ("client_id", cid.as_str()),
                ("request_uri", request_uri.as_str())
            ])
            .unwrap()
        )),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&amp;scope="),
        "{html}"
    );
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");

    // A wrong password: the page again, with the error; the request stays usable.
    let wrong = approve(&relay, &request_uri, "not-the-password").await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&wrong.body).contains("Invalid identifier or password"));
    let params = redirect_params(&approve(&relay, &request_uri, "hunter2-password").await);
    assert_eq!(get_param(&params, "state"), "st-a");
    assert_eq!(get_param(&params, "iss"), ORIGIN);
    let code = get_param(&params, "code").to_owned();
    // The request is spent.
    let spent = approve(&relay, &request_uri, "hunter2-password").await;
    assert_eq!(spent.status, StatusCode::BAD_REQUEST);

    // Wrong verifier, then the code is gone (single use, #153).
    let bad = token(
        &relay,
        &mut dpop,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            ),
        ],
    )
    .await;
    assert_eq!(bad.json()["error"], "invalid_grant");
    let right = verifier_for("st-a");
    let after = token(
        &relay,
        &mut dpop,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &right),
        ],
    )
    .await;
    assert_eq!(after.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn checklist_153_a_reused_code_revokes_its_tokens() {
    let relay = TestRelay::start(&[]).await;
    create_account(&relay, "alice.test").await;
    let mut dpop = Dpop::new();
    let tokens = sign_in(&relay, &mut dpop, "st-r").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let code = tokens["code"].as_str().unwrap().to_owned();
    let verifier = tokens["verifier"].as_str().unwrap().to_owned();
    let ok = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let reused = token(
        &relay,
        &mut dpop,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(reused.json()["error"], "invalid_grant");
    let revoked = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revocation_and_denial() {
    let relay = TestRelay::start(&[]).await;
    create_account(&relay, "alice.test").await;
    let mut dpop = Dpop::new();
    let tokens = sign_in(&relay, &mut dpop, "st-v").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let revoke = post_form(
        &relay,
        "/oauth/revoke",
        None,
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(revoke.status, StatusCode::OK);
    let gone = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);

    // Deny: back to the client with access_denied and the state.
    let pushed = push(&relay, &mut dpop, "st-d2", &[("login_hint", "alice.test")]).await;
    assert_eq!(
        pushed.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&pushed.body)
    );
    let request_uri = pushed.json()["request_uri"].as_str().unwrap().to_owned();
    let cid = client_id();
    let denied = post_form(
        &relay,
        "/oauth/authorize",
        None,
        &[
            ("client_id", cid.as_str()),
            ("request_uri", request_uri.as_str()),
            ("decision", "deny"),
        ],
    )
    .await;
    let params = redirect_params(&denied);
    assert_eq!(get_param(&params, "error"), "access_denied");
    assert_eq!(get_param(&params, "state"), "st-d2");
}

/// CORS on the metadata, PAR and token endpoints (#152): a browser app's preflight passes
/// with the DPoP header allowed, and `DPoP-Nonce` is readable by scripts.
#[tokio::test]
async fn checklist_152_cors_on_oauth_endpoints() {
    let relay = TestRelay::start(&[]).await;
    for path in [
        "/oauth/par",
        "/oauth/token",
        "/oauth/revoke",
        "/.well-known/oauth-authorization-server",
    ] {
        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "dpop,content-type")
            .body(Body::empty())
            .unwrap();
        let reply = send(&relay.app, preflight).await;
        assert!(reply.status.is_success(), "{path}: {}", reply.status);
        assert_eq!(
            reply.headers.get("access-control-allow-origin").unwrap(),
            "*",
            "{path}"
        );
        let allowed = reply
            .headers
            .get("access-control-allow-headers")
            .unwrap()
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("dpop"), "{path}: {allowed}");
    }
    let mut dpop = Dpop::new();
    let proof = dpop.proof("POST", "/oauth/par", None);
    let req = Request::post("/oauth/par")
        .header("origin", "https://app.example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", proof)
        .body(Body::from("client_id=x"))
        .unwrap();
    let reply = send(&relay.app, req).await;
    assert_eq!(reply.json()["error"], "use_dpop_nonce");
    assert!(reply.headers.contains_key("dpop-nonce"));
    let exposed = reply
        .headers
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("dpop-nonce") && exposed.contains("www-authenticate"),
        "{exposed}"
    );
}

// ---------------------------------------------------------------------------------------------
// A discoverable, confidential client: its metadata served over real TLS on loopback under a
// public-looking name (the test root in `tests/fixtures/tls`, trusted by this test's client
// only), `private_key_jwt` authentication, and the removal of its key.

const CONF_ID: &str = "https://app.wk.example.com/client-metadata.json";
const CONF_REDIRECT: &str = "https://app.wk.example.com/cb";

/// The confidential client's metadata document, as the test server serves it now.
static CONF_META: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

fn conf_metadata(keys: &[(&Keypair, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(k, kid)| {
            let mut j = k.public_key().to_jwk();
            j["kid"] = json!(kid);
            j
        })
        .collect();
    json!({
        "client_id": CONF_ID,
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": [CONF_REDIRECT],
        "scope": "atproto transition:generic",
        "dpop_bound_access_tokens": true,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": {"keys": keys},
    })
    .to_string()
}

fn client_answer(host: &str, path: &str) -> crate::common::Answer {
    let json_ct = || vec!["content-type: application/json".to_owned()];
    match (host, path) {
        ("app.wk.example.com", "/client-metadata.json") => {
            (200, json_ct(), CONF_META.lock().unwrap().clone())
        }
        ("moved.wk.example.com", "/client-metadata.json") => {
            (302, vec![format!("location: {CONF_ID}")], String::new())
        }
        // A document claiming to be another client.
        ("other.wk.example.com", "/client-metadata.json") => {
            (200, json_ct(), CONF_META.lock().unwrap().clone())
        }
        _ => (404, vec![], "not found".to_owned()),
    }
}

fn assertion(key: &Keypair, kid: &str, jti: &str) -> String {
    let header = json!({"alg": "ES256", "kid": kid});
    let claims = json!({"iss": CONF_ID, "sub": CONF_ID, "aud": ORIGIN, "jti": jti, "iat": now()});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()))
    )
}

async fn conf_post(relay: &TestRelay, dpop: &mut Dpop, path: &str, form: &[(&str, &str)]) -> Reply {
    let proof = dpop.proof("POST", path, None);
    let reply = post_form(relay, path, Some(proof), form).await;
    dpop.saw(&reply);
    reply
}

#[tokio::test]
async fn checklist_147_160_confidential_client_and_its_key() {
    let server = crate::common::https_server(client_answer).await;
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/ca.pem"
    ))
    .unwrap();
    let pins = [
        ("app.wk.example.com", server),
        ("moved.wk.example.com", server),
        ("other.wk.example.com", server),
    ];
    let http = relay::ssrf::SafeClient::new_pinned(
        relay::ssrf::OutboundPolicy {
            allow_private: true,
        },
        &pins,
        Some(&ca),
    )
    .unwrap();
    let base = TestRelay::start(&[]).await;
    let state = base.state.with_http(http);
    let relay = TestRelay {
        app: relay::app(state.clone()),
        state,
        _plc: base._plc,
    };
    create_account(&relay, "alice.test").await;

    let k1 = Keypair::generate(Curve::P256);
    *CONF_META.lock().unwrap() = conf_metadata(&[(&k1, "k1")]);
    let mut dpop = Dpop::new();
    let challenge = oauth::pkce::s256_challenge(&verifier_for("conf"));
    let par = |client: &'static str, assertion: Option<String>| {
        let mut form = vec![
            ("client_id".to_owned(), client.to_owned()),
            ("response_type".to_owned(), "code".to_owned()),
            ("code_challenge".to_owned(), challenge.clone()),
            ("code_challenge_method".to_owned(), "S256".to_owned()),
            ("state".to_owned(), "st-c".to_owned()),
            ("redirect_uri".to_owned(), CONF_REDIRECT.to_owned()),
            ("scope".to_owned(), "atproto transition:generic".to_owned()),
        ];
        if let Some(a) = assertion {
            form.push((
                "client_assertion_type".to_owned(),
                oauth::client_auth::JWT_BEARER.to_owned(),
            ));
            form.push(("client_assertion".to_owned(), a));
        }
        form
    };
    let send_par = |relay: &TestRelay, dpop: &mut Dpop, form: Vec<(String, String)>| {
        let proof = dpop.proof("POST", "/oauth/par", None);
        let body = serde_urlencoded::to_string(&form).unwrap();
        let req = Request::post("/oauth/par")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", proof)
            .body(Body::from(body))
            .unwrap();
        let app = relay.app.clone();
        async move { send(&app, req).await }
    };

    // Nonce first.
    let r = send_par(&relay, &mut dpop, par(CONF_ID, None)).await;
    dpop.saw(&r);
    // Metadata that redirects, or names another client: refused (#147).
    let r = send_par(
        &relay,
        &mut dpop,
        par("https://moved.wk.example.com/client-metadata.json", None),
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_client_metadata", "{}", r.json());
    let r = send_par(
        &relay,
        &mut dpop,
        par("https://other.wk.example.com/client-metadata.json", None),
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_client_metadata", "{}", r.json());
    // No assertion, a foreign key, then a good one; the same assertion twice is refused.
    let r = send_par(&relay, &mut dpop, par(CONF_ID, None)).await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );
    let stranger = Keypair::generate(Curve::P256);
    let r = send_par(
        &relay,
        &mut dpop,
        par(CONF_ID, Some(assertion(&stranger, "k1", "a-0"))),
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_client");
    let good = assertion(&k1, "k1", "a-1");
    let r = send_par(&relay, &mut dpop, par(CONF_ID, Some(good.clone()))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json());
    let request_uri = r.json()["request_uri"].as_str().unwrap().to_owned();
    let r = send_par(&relay, &mut dpop, par(CONF_ID, Some(good))).await;
    assert_eq!(r.json()["error"], "invalid_client", "a replayed assertion");

    // Sign in, then the code with a fresh assertion.
    let approved = post_form(
        &relay,
        "/oauth/authorize",
        None,
        &[
            ("client_id", CONF_ID),
            ("request_uri", request_uri.as_str()),
            ("identifier", "alice.test"),
            ("password", "hunter2-password"),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let location = approved
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let (base_uri, query) = location.split_once('?').unwrap();
    assert_eq!(base_uri, CONF_REDIRECT);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let code = get_param(&params, "code").to_owned();
    let verifier = verifier_for("conf");
    let a2 = assertion(&k1, "k1", "a-2");
    let tokens = conf_post(
        &relay,
        &mut dpop,
        "/oauth/token",
        &[
            ("client_id", CONF_ID),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CONF_REDIRECT),
            ("code_verifier", &verifier),
            ("client_assertion_type", oauth::client_auth::JWT_BEARER),
            ("client_assertion", &a2),
        ],
    )
    .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.json());
    let tokens = tokens.json();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let ok = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);

    // The client rotates its key: k1 leaves the key set. Refreshing (with k2) ends the session
    // that was bound to k1, and its access token stops working (#160).
    let k2 = Keypair::generate(Curve::P256);
    *CONF_META.lock().unwrap() = conf_metadata(&[(&k2, "k2")]);
    let a3 = assertion(&k2, "k2", "a-3");
    let refreshed = conf_post(
        &relay,
        &mut dpop,
        "/oauth/token",
        &[
            ("client_id", CONF_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_assertion_type", oauth::client_auth::JWT_BEARER),
            ("client_assertion", &a3),
        ],
    )
    .await;
    assert_eq!(
        refreshed.json()["error"],
        "invalid_grant",
        "{}",
        refreshed.json()
    );
    let gone = xrpc(
        &relay,
        &mut dpop,
        Method::GET,
        "com.atproto.server.getSession",
        &access,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

/// Email two-factor sign-in holds on the OAuth page too (checklist #129): the password alone
/// mails a code and asks for it; a wrong code is refused; the right one signs in.
#[tokio::test]
async fn checklist_129_oauth_sign_in_asks_for_the_emailed_code() {
    let relay = TestRelay::start(&[]).await;
    crate::email_2fa::alice_with_2fa(&relay).await;
    let mut dpop = Dpop::new();
    let _ = push(&relay, &mut dpop, "st-2fa", &[]).await;
    let pushed = push(&relay, &mut dpop, "st-2fa", &[]).await;
    assert_eq!(pushed.status, StatusCode::CREATED);
    let request_uri = pushed.json()["request_uri"].as_str().unwrap().to_owned();
    let cid = client_id();
    let attempt = |code: Option<&str>| {
        let mut form = vec![
            ("client_id", cid.as_str()),
            ("request_uri", request_uri.as_str()),
            ("identifier", "alice.test"),
            ("password", "hunter2-password"),
            ("decision", "approve"),
        ];
        if let Some(c) = code {
            form.push(("code", c));
        }
        let body = serde_urlencoded::to_string(&form).unwrap();
        let req = Request::post("/oauth/authorize")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let app = relay.app.clone();
        async move { send(&app, req).await }
    };
    let first = attempt(None).await;
    assert_eq!(first.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&first.body).into_owned();
    assert!(
        html.contains("emailed you a sign-in code") && html.contains(r#"name="code""#),
        "{html}"
    );
    let code = crate::email_2fa::newest_code(&relay);
    let wrong = attempt(Some("AAAAA-BBBBB")).await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&wrong.body).contains("wrong or has expired"));
    let ok = attempt(Some(&code)).await;
    let params = redirect_params(&ok);
    assert_eq!(get_param(&params, "state"), "st-2fa");
}

/// Writes with an OAuth token count against the account's repository write budget, as
/// session tokens' do (checklist #178): 10 points, 3 creates fit, the fourth does not.
#[tokio::test]
async fn checklist_178_oauth_writes_count_against_the_account_budget() {
    let relay = crate::rate_limits::relay_with(
        "rate_limits.enabled = true\nrate_limits.repo_write = [\"10/1h\"]",
    )
    .await;
    let alice = create_account(&relay, "alice.test").await;
    let mut dpop = Dpop::new();
    let tokens = sign_in(&relay, &mut dpop, "st-budget").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let post = |i: u32| {
        json!({
            "repo": alice.did, "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": format!("post {i}"), "createdAt": "2026-01-01T00:00:00.000Z"}
        })
    };
    for i in 0..3 {
        let r = xrpc(
            &relay,
            &mut dpop,
            Method::POST,
            "com.atproto.repo.createRecord",
            &access,
            Some(post(i)),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "write {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let r = xrpc(
        &relay,
        &mut dpop,
        Method::POST,
        "com.atproto.repo.createRecord",
        &access,
        Some(post(3)),
    )
    .await;
    assert_eq!(
        r.status.as_u16(),
        429,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}
