//! The relay as a PDS through its HTTP API, against its own local PLC directory: accounts,
//! sessions, app passwords, records, blobs, sync reads, identity and preferences, plus a table
//! of bad requests that must each get the right status and XRPC error name, never a 500
//! (checklist #57-#66, #111, #122, #124-#131, #137, #181-#184, J, Q).

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{Value, json};

use crate::common::{Reply, TestRelay, send};

/// One XRPC call: `GET` with a query string or `POST` with a JSON body.
pub(crate) async fn call(
    relay: &TestRelay,
    method: Method,
    path_and_query: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let authorization = token.map(|token| format!("Bearer {token}"));
    call_authorized(relay, method, path_and_query, authorization, body).await
}

/// [`call`] with any `authorization` header value (or none).
pub(crate) async fn call_authorized(
    relay: &TestRelay,
    method: Method,
    path_and_query: &str,
    authorization: Option<String>,
    body: Option<Value>,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("/xrpc/{path_and_query}"));
    if let Some(authorization) = authorization {
        builder = builder.header("authorization", authorization);
    }
    let body = match body {
        Some(json) => {
            builder = builder.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    send(&relay.app, builder.body(body).unwrap()).await
}

pub(crate) async fn get(relay: &TestRelay, pq: &str, token: Option<&str>) -> Reply {
    call(relay, Method::GET, pq, token, None).await
}

pub(crate) async fn post(relay: &TestRelay, nsid: &str, token: Option<&str>, body: Value) -> Reply {
    call(relay, Method::POST, nsid, token, Some(body)).await
}

/// An HTTP Basic `authorization` header value.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {credentials}")
}

/// `com.atproto.sync.getRepoStatus` of `did`, without a token.
pub(crate) async fn repo_status(relay: &TestRelay, did: &str) -> Reply {
    get(
        relay,
        &format!("com.atproto.sync.getRepoStatus?did={did}"),
        None,
    )
    .await
}

pub(crate) fn ok(reply: Reply) -> Value {
    assert!(
        reply.status.is_success(),
        "{}: {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

pub(crate) struct Account {
    pub(crate) did: String,
    pub(crate) access: String,
    refresh: String,
}

pub(crate) async fn create_account(relay: &TestRelay, handle: &str) -> Account {
    let out = ok(post(
        relay,
        "com.atproto.server.createAccount",
        None,
        json!({ "handle": handle, "email": format!("{handle}@example.com"), "password": "hunter2-password" }),
    )
    .await);
    assert_eq!(out["handle"], handle);
    Account {
        did: out["did"].as_str().unwrap().to_owned(),
        access: out["accessJwt"].as_str().unwrap().to_owned(),
        refresh: out["refreshJwt"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn account_session_and_identity_flow() {
    let relay = TestRelay::start(&[]).await;
    let describe = ok(get(&relay, "com.atproto.server.describeServer", None).await);
    assert_eq!(describe["availableUserDomains"], json!([".test"]));
    assert_eq!(describe["inviteCodeRequired"], false);

    let alice = create_account(&relay, "alice.test").await;
    assert!(alice.did.starts_with("did:plc:"), "{}", alice.did);

    // The local PLC directory serves the DID document with our signing key and PDS endpoint.
    let doc = relay
        .state
        .plc()
        .document(&alice.did.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(doc["alsoKnownAs"], json!(["at://alice.test"]));
    assert_eq!(
        doc["service"][0]["serviceEndpoint"],
        relay.state.config().public_url
    );
    assert!(
        doc["verificationMethod"][0]["publicKeyMultibase"]
            .as_str()
            .unwrap()
            .starts_with('z')
    );

    // Log in by handle, DID and email.
    for identifier in ["alice.test", alice.did.as_str(), "alice.test@example.com"] {
        let s = ok(post(
            &relay,
            "com.atproto.server.createSession",
            None,
            json!({ "identifier": identifier, "password": "hunter2-password" }),
        )
        .await);
        assert_eq!(s["did"], alice.did.as_str());
        assert_eq!(s["active"], true);
    }
    post(
        &relay,
        "com.atproto.server.createSession",
        None,
        json!({ "identifier": "alice.test", "password": "wrong" }),
    )
    .await
    .assert_xrpc_error(401, "AuthenticationRequired");

    let session = ok(get(&relay, "com.atproto.server.getSession", Some(&alice.access)).await);
    assert_eq!(session["handle"], "alice.test");
    assert!(session.get("accessJwt").is_none());

    // Refresh: new tokens; the old refresh token is single-use (checklist #129, #130).
    let refreshed = ok(call(
        &relay,
        Method::POST,
        "com.atproto.server.refreshSession",
        Some(&alice.refresh),
        None,
    )
    .await);
    let new_access = refreshed["accessJwt"].as_str().unwrap().to_owned();
    let new_refresh = refreshed["refreshJwt"].as_str().unwrap().to_owned();
    call(
        &relay,
        Method::POST,
        "com.atproto.server.refreshSession",
        Some(&alice.refresh),
        None,
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    // Token types are not interchangeable.
    get(&relay, "com.atproto.server.getSession", Some(&new_refresh))
        .await
        .assert_xrpc_error(400, "InvalidToken");
    call(
        &relay,
        Method::POST,
        "com.atproto.server.refreshSession",
        Some(&new_access),
        None,
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    ok(call(
        &relay,
        Method::POST,
        "com.atproto.server.deleteSession",
        Some(&new_refresh),
        None,
    )
    .await);
    call(
        &relay,
        Method::POST,
        "com.atproto.server.refreshSession",
        Some(&new_refresh),
        None,
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");

    // The DID credentials this server recommends name the account's handle (checklist #100).
    let creds = ok(get(
        &relay,
        "com.atproto.identity.getRecommendedDidCredentials",
        Some(&alice.access),
    )
    .await);
    assert_eq!(creds["alsoKnownAs"][0], "at://alice.test");
    assert!(creds["verificationMethods"]["atproto"].is_string());
    get(
        &relay,
        "com.atproto.identity.getRecommendedDidCredentials",
        None,
    )
    .await
    .assert_xrpc_error(401, "AuthMissing");

    // Handles resolve locally and through /.well-known/atproto-did (checklist #119).
    let resolved = ok(get(
        &relay,
        "com.atproto.identity.resolveHandle?handle=alice.test",
        None,
    )
    .await);
    assert_eq!(resolved["did"], alice.did.as_str());
    get(
        &relay,
        "com.atproto.identity.resolveHandle?handle=nobody.test",
        None,
    )
    .await
    .assert_xrpc_error(400, "HandleNotFound");
    get(
        &relay,
        "com.atproto.identity.resolveHandle?handle=not_a_handle",
        None,
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    let well_known = send(
        &relay.app,
        Request::get("/.well-known/atproto-did")
            .header("host", "alice.test")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(well_known.status, 200);
    assert_eq!(String::from_utf8_lossy(&well_known.body), alice.did);

    // updateHandle on our domain: stored lowercase, the PLC document follows (checklist #121).
    ok(post(
        &relay,
        "com.atproto.identity.updateHandle",
        Some(&alice.access),
        json!({ "handle": "Alice2.test" }),
    )
    .await);
    let resolved = ok(get(
        &relay,
        "com.atproto.identity.resolveHandle?handle=alice2.test",
        None,
    )
    .await);
    assert_eq!(resolved["did"], alice.did.as_str());
    let doc = relay
        .state
        .plc()
        .document(&alice.did.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(doc["alsoKnownAs"], json!(["at://alice2.test"]));
    ok(post(
        &relay,
        "com.atproto.identity.updateHandle",
        Some(&alice.access),
        json!({ "handle": "alice.test" }),
    )
    .await);

    // App passwords: log in with one; it cannot manage app passwords (checklist #131).
    let app_pw = ok(post(
        &relay,
        "com.atproto.server.createAppPassword",
        Some(&alice.access),
        json!({ "name": "phone" }),
    )
    .await);
    let app_password = app_pw["password"].as_str().unwrap();
    let app_session = ok(post(
        &relay,
        "com.atproto.server.createSession",
        None,
        json!({ "identifier": "alice.test", "password": app_password }),
    )
    .await);
    let app_access = app_session["accessJwt"].as_str().unwrap();
    let listed = ok(get(
        &relay,
        "com.atproto.server.listAppPasswords",
        Some(&alice.access),
    )
    .await);
    assert_eq!(listed["passwords"][0]["name"], "phone");
    assert!(listed["passwords"][0].get("password").is_none());
    let refused = post(
        &relay,
        "com.atproto.server.createAppPassword",
        Some(app_access),
        json!({ "name": "other" }),
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.json());

    // Service auth: protected methods refused, expiry bounded (checklist #137).
    let token = ok(get(
        &relay,
        "com.atproto.server.getServiceAuth?aud=did:web:api.bsky.app%23bsky_appview&lxm=app.bsky.feed.getTimeline",
        Some(&alice.access),
    )
    .await);
    assert_eq!(token["token"].as_str().unwrap().split('.').count(), 3);
    get(
        &relay,
        "com.atproto.server.getServiceAuth?aud=did:web:x.example&lxm=com.atproto.server.updateEmail",
        Some(&alice.access),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    let far = 4_000_000_000i64;
    get(
        &relay,
        &format!("com.atproto.server.getServiceAuth?aud=did:web:x.example&exp={far}"),
        Some(&alice.access),
    )
    .await
    .assert_xrpc_error(400, "BadExpiration");

    // Preferences round-trip.
    ok(post(
        &relay,
        "app.bsky.actor.putPreferences",
        Some(&alice.access),
        json!({ "preferences": [{ "$type": "app.bsky.actor.defs#adultContentPref", "enabled": false }] }),
    )
    .await);
    let prefs = ok(get(&relay, "app.bsky.actor.getPreferences", Some(&alice.access)).await);
    assert_eq!(prefs["preferences"][0]["enabled"], false);

    // Deactivate: sync reads refuse the public; activate again.
    ok(post(
        &relay,
        "com.atproto.server.deactivateAccount",
        Some(&alice.access),
        json!({}),
    )
    .await);
    let status = ok(repo_status(&relay, &alice.did).await);
    assert_eq!(status["active"], false);
    assert_eq!(status["status"], "deactivated");
    get(
        &relay,
        &format!("com.atproto.sync.getLatestCommit?did={}", alice.did),
        None,
    )
    .await
    .assert_xrpc_error(400, "RepoDeactivated");
    ok(get(
        &relay,
        &format!("com.atproto.sync.getLatestCommit?did={}", alice.did),
        Some(&alice.access),
    )
    .await);
    ok(call(
        &relay,
        Method::POST,
        "com.atproto.server.activateAccount",
        Some(&alice.access),
        None,
    )
    .await);
    let status = ok(repo_status(&relay, &alice.did).await);
    assert_eq!(status["active"], true);
    assert!(status["rev"].is_string());

    let check = ok(get(
        &relay,
        "com.atproto.server.checkAccountStatus",
        Some(&alice.access),
    )
    .await);
    assert_eq!(check["activated"], true);

    // Delete the account (the token comes from the file outbox, see email_tokens.rs).
    let token =
        crate::email_tokens::delete_token(&relay, &alice.access, "alice.test@example.com").await;
    ok(post(
        &relay,
        "com.atproto.server.deleteAccount",
        None,
        json!({ "did": alice.did, "password": "hunter2-password", "token": token }),
    )
    .await);
    repo_status(&relay, &alice.did)
        .await
        .assert_xrpc_error(400, "RepoNotFound");
}

#[tokio::test]
async fn records_blobs_and_sync_flow() {
    let relay = TestRelay::start(&[]).await;
    let bob = create_account(&relay, "bob.test").await;
    let token = Some(bob.access.as_str());

    // Upload an image; the blob is temporary until a record references it.
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
    ];
    let upload = send(
        &relay.app,
        Request::post("/xrpc/com.atproto.repo.uploadBlob")
            .header("authorization", format!("Bearer {}", bob.access))
            .header("content-type", "image/png")
            .body(Body::from(png.to_vec()))
            .unwrap(),
    )
    .await;
    let blob = ok(upload)["blob"].clone();
    assert_eq!(blob["$type"], "blob");
    assert_eq!(blob["mimeType"], "image/png");
    let blob_cid = blob["ref"]["$link"].as_str().unwrap().to_owned();
    let listed = ok(get(
        &relay,
        &format!("com.atproto.sync.listBlobs?did={}", bob.did),
        None,
    )
    .await);
    assert_eq!(listed["cids"], json!([]));

    // A post with the image.
    let created = ok(post(
        &relay,
        "com.atproto.repo.createRecord",
        token,
        json!({
            "repo": bob.did,
            "collection": "app.bsky.feed.post",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": "hello",
                "createdAt": "2026-11-23T12:00:00.000Z",
                "embed": {
                    "$type": "app.bsky.embed.images",
                    "images": [{ "alt": "", "image": blob }]
                }
            }
        }),
    )
    .await);
    let uri = created["uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with(&format!("at://{}/app.bsky.feed.post/", bob.did)));
    assert_eq!(created["validationStatus"], "valid");
    let rkey = uri.rsplit('/').next().unwrap().to_owned();
    let listed = ok(get(
        &relay,
        &format!("com.atproto.sync.listBlobs?did={}", bob.did),
        None,
    )
    .await);
    assert_eq!(listed["cids"], json!([blob_cid]));

    let blob_reply = get(
        &relay,
        &format!("com.atproto.sync.getBlob?did={}&cid={blob_cid}", bob.did),
        None,
    )
    .await;
    assert_eq!(blob_reply.status, 200);
    assert_eq!(&blob_reply.body[..], png);
    assert_eq!(blob_reply.headers["content-type"], "image/png");
    assert_eq!(
        blob_reply.headers["content-security-policy"],
        relay::xrpc::BLOB_CSP
    );
    assert_eq!(blob_reply.headers["x-content-type-options"], "nosniff");

    // Reads.
    let got = ok(get(
        &relay,
        &format!(
            "com.atproto.repo.getRecord?repo=bob.test&collection=app.bsky.feed.post&rkey={rkey}"
        ),
        None,
    )
    .await);
    assert_eq!(got["value"]["text"], "hello");
    assert_eq!(got["cid"], created["cid"]);

    // Put with swapRecord: wrong CID -> InvalidSwap (checklist #184); right CID works.
    let profile = json!({ "$type": "app.bsky.actor.profile", "displayName": "Bob" });
    ok(post(
        &relay,
        "com.atproto.repo.putRecord",
        token,
        json!({ "repo": bob.did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": profile, "swapRecord": null }),
    )
    .await);
    post(
        &relay,
        "com.atproto.repo.putRecord",
        token,
        json!({ "repo": bob.did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": profile, "swapRecord": null }),
    )
    .await
    .assert_xrpc_error(400, "InvalidSwap");
    post(
        &relay,
        "com.atproto.repo.putRecord",
        token,
        json!({ "repo": bob.did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": profile, "swapRecord": created["cid"] }),
    )
    .await
    .assert_xrpc_error(400, "InvalidSwap");

    // applyWrites: two likes and a delete of the profile, in one commit.
    let subject = json!({ "uri": uri, "cid": created["cid"] });
    let like = json!({ "$type": "app.bsky.feed.like", "subject": subject, "createdAt": "2026-11-23T12:00:01.000Z" });
    let applied = ok(post(
        &relay,
        "com.atproto.repo.applyWrites",
        token,
        json!({
            "repo": bob.did,
            "writes": [
                { "$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.like", "value": like },
                { "$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.like", "rkey": "3kabcdefghi22", "value": like },
                { "$type": "com.atproto.repo.applyWrites#delete", "collection": "app.bsky.actor.profile", "rkey": "self" }
            ]
        }),
    )
    .await);
    let kinds: Vec<&str> = applied["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["$type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "com.atproto.repo.applyWrites#createResult",
            "com.atproto.repo.applyWrites#createResult",
            "com.atproto.repo.applyWrites#deleteResult"
        ]
    );

    // listRecords pages to exhaustion; the last page has no cursor (checklist #128).
    let page = ok(get(
        &relay,
        &format!(
            "com.atproto.repo.listRecords?repo={}&collection=app.bsky.feed.like&limit=1",
            bob.did
        ),
        None,
    )
    .await);
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    let cursor = page["cursor"].as_str().unwrap();
    let page = ok(get(
        &relay,
        &format!(
            "com.atproto.repo.listRecords?repo={}&collection=app.bsky.feed.like&limit=1&cursor={cursor}",
            bob.did
        ),
        None,
    )
    .await);
    assert_eq!(page["records"].as_array().unwrap().len(), 1);

    let described = ok(get(
        &relay,
        &format!("com.atproto.repo.describeRepo?repo={}", bob.did),
        None,
    )
    .await);
    assert_eq!(described["handle"], "bob.test");
    assert!(
        described["collections"]
            .as_array()
            .unwrap()
            .contains(&json!("app.bsky.feed.like"))
    );

    // Delete a record.
    let reply = post(
        &relay,
        "com.atproto.repo.deleteRecord",
        token,
        json!({ "repo": bob.did, "collection": "app.bsky.feed.like", "rkey": "3kabcdefghi22" }),
    )
    .await;
    let rev_header = reply.headers["atproto-repo-rev"]
        .to_str()
        .unwrap()
        .to_owned();
    let deleted = ok(reply);
    assert_eq!(
        deleted["commit"]["rev"],
        rev_header.as_str(),
        "checklist #67"
    );
    assert!(deleted["commit"]["rev"].is_string());

    // Sync: head, CAR exports, blocks, listRepos.
    let head_rev = deleted["commit"]["rev"].clone();
    let head = ok(get(
        &relay,
        &format!("com.atproto.sync.getLatestCommit?did={}", bob.did),
        None,
    )
    .await);
    assert_eq!(head["rev"], head_rev);
    let old_head = ok(get(
        &relay,
        &format!("com.atproto.sync.getHead?did={}", bob.did),
        None,
    )
    .await);
    assert_eq!(old_head["root"], head["cid"]);
    for pq in [
        format!("com.atproto.sync.getRepo?did={}", bob.did),
        format!("com.atproto.sync.getCheckout?did={}", bob.did),
        format!(
            "com.atproto.sync.getRecord?did={}&collection=app.bsky.feed.post&rkey={rkey}",
            bob.did
        ),
        format!(
            "com.atproto.sync.getBlocks?did={}&cids={}&cids={}",
            bob.did,
            head["cid"].as_str().unwrap(),
            created["cid"].as_str().unwrap()
        ),
    ] {
        let reply = get(&relay, &pq, None).await;
        assert_eq!(
            reply.status,
            200,
            "{pq}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.headers["content-type"], relay::xrpc::CAR_MIME, "{pq}");
        assert!(reply.body.len() > 40, "{pq}");
    }
    let repos = ok(get(&relay, "com.atproto.sync.listRepos", None).await);
    assert_eq!(repos["repos"][0]["did"], bob.did.as_str());
    assert_eq!(repos["repos"][0]["head"], head["cid"]);
    assert!(repos.get("cursor").is_none() || repos["repos"].as_array().unwrap().len() == 1);
}

/// Checklist #62: `listRepos` pages in creation order, as the reference: an account created
/// while a relay is paging through shows up on a later page whatever its DID; the cursor is
/// the reference's `<created_at ms>::<did>`, a malformed one is a 400.
#[tokio::test]
async fn list_repos_pages_in_creation_order() {
    let relay = TestRelay::start(&[]).await;
    let mut created = Vec::new();
    for h in ["alice.test", "bob.test"] {
        created.push(create_account(&relay, h).await.did);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let pq = match &cursor {
            Some(c) => format!("com.atproto.sync.listRepos?limit=1&cursor={c}"),
            None => "com.atproto.sync.listRepos?limit=1".to_owned(),
        };
        let page = ok(get(&relay, &pq, None).await);
        let repos = page["repos"].as_array().unwrap().clone();
        if repos.is_empty() {
            assert!(page.get("cursor").is_none(), "an empty page has no cursor");
            break;
        }
        seen.push(repos[0]["did"].as_str().unwrap().to_owned());
        let c = page["cursor"].as_str().expect("cursor").to_owned();
        let (at, did) = c.split_once("::").expect("<ms>::<did>");
        assert!(
            at.parse::<i64>().is_ok() && did == seen.last().unwrap().as_str(),
            "{c}"
        );
        cursor = Some(c);
        if seen.len() == 1 {
            // Created after the first page was served: must still come.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            created.push(create_account(&relay, "carol.test").await.did);
        }
    }
    assert_eq!(seen, created, "creation order, nobody missed");
    for bad in [
        "nope",
        "12::not-a-did",
        "x::did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let reply = get(
            &relay,
            &format!("com.atproto.sync.listRepos?cursor={bad}"),
            None,
        )
        .await;
        reply.assert_xrpc_error(400, "InvalidRequest");
    }
}

/// Malformed requests: each gets the right status and error name, never a 500.
#[tokio::test]
async fn bad_requests_table() {
    let relay = TestRelay::start(&[
        ("RELAY_BLOB_UPLOAD_LIMIT", "100"),
        ("RELAY_JSON_BODY_LIMIT", "2000"),
    ])
    .await;
    let carol = create_account(&relay, "carol.test").await;
    let t = Some(carol.access.as_str());
    let post_rec = |record: Value| json!({ "repo": carol.did, "collection": "app.bsky.feed.post", "record": record });
    let valid_post = json!({ "$type": "app.bsky.feed.post", "text": "x", "createdAt": "2026-11-23T12:00:00.000Z" });

    let cases: Vec<(&str, Reply, u16, &str)> = vec![
        (
            "no token",
            get(&relay, "com.atproto.server.getSession", None).await,
            401,
            "AuthMissing",
        ),
        (
            "forged token",
            get(&relay, "com.atproto.server.getSession", Some("eyJhbGciOiJIUzI1NiJ9.e30.sig")).await,
            400,
            "InvalidToken",
        ),
        (
            "basic auth for a bearer route",
            call(&relay, Method::GET, "com.atproto.server.getSession", None, None).await,
            401,
            "AuthMissing",
        ),
        (
            "bad DID",
            get(&relay, "com.atproto.sync.getLatestCommit?did=not-a-did", None).await,
            400,
            "InvalidRequest",
        ),
        (
            "unknown DID",
            get(&relay, "com.atproto.sync.getRepo?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", None).await,
            400,
            "RepoNotFound",
        ),
        (
            "missing param",
            get(&relay, "com.atproto.sync.getRepo", None).await,
            400,
            "InvalidRequest",
        ),
        (
            "limit out of range",
            get(&relay, "com.atproto.sync.listRepos?limit=5000", None).await,
            400,
            "InvalidRequest",
        ),
        (
            "bad rkey",
            post(&relay, "com.atproto.repo.putRecord", t, json!({ "repo": carol.did, "collection": "app.bsky.feed.post", "rkey": "a/b", "record": valid_post })).await,
            400,
            "InvalidRequest",
        ),
        (
            "bad collection",
            post(&relay, "com.atproto.repo.createRecord", t, json!({ "repo": carol.did, "collection": "not an nsid", "record": valid_post })).await,
            400,
            "InvalidRequest",
        ),
        (
            "invalid record",
            post(&relay, "com.atproto.repo.createRecord", t, post_rec(json!({ "$type": "app.bsky.feed.post", "text": 5 }))).await,
            400,
            "InvalidRequest",
        ),
        (
            "unknown collection with validate=true",
            post(&relay, "com.atproto.repo.createRecord", t, json!({ "repo": carol.did, "collection": "com.example.thing", "validate": true, "record": { "$type": "com.example.thing" } })).await,
            400,
            "InvalidRequest",
        ),
        (
            "wrong swapCommit",
            post(&relay, "com.atproto.repo.createRecord", t, json!({ "repo": carol.did, "collection": "app.bsky.feed.post", "record": valid_post, "swapCommit": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm" })).await,
            400,
            "InvalidSwap",
        ),
        (
            "bad swapCommit",
            post(&relay, "com.atproto.repo.createRecord", t, json!({ "repo": carol.did, "collection": "app.bsky.feed.post", "record": valid_post, "swapCommit": "nope" })).await,
            400,
            "InvalidRequest",
        ),
        (
            "record missing",
            get(&relay, &format!("com.atproto.repo.getRecord?repo={}&collection=app.bsky.feed.post&rkey=3kabcdefghi22", carol.did), None).await,
            400,
            "RecordNotFound",
        ),
        (
            "unknown applyWrites type",
            post(&relay, "com.atproto.repo.applyWrites", t, json!({ "repo": carol.did, "writes": [{ "$type": "x", "collection": "app.bsky.feed.post" }] })).await,
            400,
            "InvalidRequest",
        ),
        (
            "taken handle",
            post(&relay, "com.atproto.server.createAccount", None, json!({ "handle": "carol.test", "password": "password-2" })).await,
            400,
            "HandleNotAvailable",
        ),
        (
            "handle on another domain",
            post(&relay, "com.atproto.server.createAccount", None, json!({ "handle": "dave.example.com", "password": "password-2" })).await,
            400,
            "UnsupportedDomain",
        ),
        (
            "bring-your-own DID without service auth (checklist #99)",
            post(&relay, "com.atproto.server.createAccount", None, json!({ "handle": "erin.test", "did": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "password": "password-2" })).await,
            401,
            "AuthenticationRequired",
        ),
        (
            "oversized blob",
            send(&relay.app, Request::post("/xrpc/com.atproto.repo.uploadBlob")
                .header("authorization", format!("Bearer {}", carol.access))
                .header("content-type", "application/octet-stream")
                .body(Body::from(vec![0u8; 1000])).unwrap()).await,
            413,
            "PayloadTooLarge",
        ),
        (
            "oversized JSON body",
            post(&relay, "com.atproto.repo.createRecord", t, post_rec(json!({ "$type": "app.bsky.feed.post", "text": "x".repeat(5000), "createdAt": "2026-11-23T12:00:00.000Z" }))).await,
            413,
            "PayloadTooLarge",
        ),
        (
            "wrong HTTP method",
            get(&relay, "com.atproto.server.createSession", None).await,
            400,
            "InvalidRequest",
        ),
    ];
    let n = cases.len();
    for (name, reply, status, error) in cases {
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{name}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["error"], error, "{name}: {body}");
    }
    println!("bad requests: {n} cases");
}

#[tokio::test]
async fn admin_takedown_needs_basic_auth() {
    // checklist #103, #132
    let relay = TestRelay::start(&[("RELAY_ADMIN_PASSWORD", "admin-secret")]).await;
    let dave = create_account(&relay, "dave.test").await;
    let body = json!({
        "subject": { "$type": "com.atproto.admin.defs#repoRef", "did": dave.did },
        "takedown": { "applied": true, "ref": "case-1" }
    });
    let admin_call = |authorization: Option<String>, body: Value| {
        call_authorized(
            &relay,
            Method::POST,
            "com.atproto.admin.updateSubjectStatus",
            authorization,
            Some(body),
        )
    };
    admin_call(None, body.clone())
        .await
        .assert_xrpc_error(401, "AuthMissing");
    admin_call(Some(basic_auth("admin", "wrong")), body.clone())
        .await
        .assert_xrpc_error(401, "AuthenticationRequired");
    admin_call(Some(format!("Bearer {}", dave.access)), body.clone())
        .await
        .assert_xrpc_error(401, "AuthenticationRequired");
    let out = ok(admin_call(Some(basic_auth("admin", "admin-secret")), body).await);
    assert_eq!(out["takedown"]["ref"], "case-1");

    let status = ok(repo_status(&relay, &dave.did).await);
    assert_eq!(status["active"], false);
    assert_eq!(status["status"], "takendown");
    get(
        &relay,
        &format!("com.atproto.sync.getRepo?did={}", dave.did),
        None,
    )
    .await
    .assert_xrpc_error(400, "RepoTakendown");

    // Reverse it.
    let restore = json!({
        "subject": { "$type": "com.atproto.admin.defs#repoRef", "did": dave.did },
        "takedown": { "applied": false }
    });
    ok(admin_call(Some(basic_auth("admin", "admin-secret")), restore).await);
    let status = ok(repo_status(&relay, &dave.did).await);
    assert_eq!(status["active"], true);
}
