//! Accounts beyond the basics, through the HTTP API against the relay's own PLC directory:
//! invite codes (config `invite_required`, admin creation, use, exhaustion, disabling), the
//! admin account methods, and bring-your-own DID `createAccount` (account migration,
//! checklist #99, #100) for did:plc and did:web, with every service-auth refusal and the
//! `activateAccount` DID-document check (checklist #99, #100, #103, #115, #132).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request};
use identity::{Operation, PlcFields};
use serde_json::{Value, json};
use syntax::{Did, Handle};

use crate::common::{Reply, Server, TestRelay, send};
use crate::pds_flow::{basic_auth, call_authorized, get, ok, post};

const ADMIN_PW: &str = "admin-secret-pw";
const CREATE_ACCOUNT: &str = "com.atproto.server.createAccount";

/// An admin (HTTP Basic) XRPC call.
async fn admin(relay: &TestRelay, method: Method, pq: &str, body: Option<Value>) -> Reply {
    call_authorized(relay, method, pq, Some(basic_auth("admin", ADMIN_PW)), body).await
}

/// `createAccount` with optional invite code / DID / bearer token.
async fn create(
    relay: &TestRelay,
    handle: &str,
    invite: Option<&str>,
    did: Option<&str>,
    token: Option<&str>,
) -> Reply {
    let mut body = json!({
        "handle": handle,
        "email": format!("{handle}@example.com"),
        "password": "hunter2-password",
    });
    if let Some(code) = invite {
        body["inviteCode"] = json!(code);
    }
    if let Some(did) = did {
        body["did"] = json!(did);
    }
    post(relay, CREATE_ACCOUNT, token, body).await
}

/// `com.atproto.server.activateAccount` with the account's access token.
async fn activate(relay: &TestRelay, access: &str) -> Reply {
    let nsid = "com.atproto.server.activateAccount";
    post(relay, nsid, Some(access), json!({})).await
}

/// `com.atproto.identity.getRecommendedDidCredentials` with the account's access token.
async fn recommended_credentials(relay: &TestRelay, access: &str) -> Reply {
    let nsid = "com.atproto.identity.getRecommendedDidCredentials";
    get(relay, nsid, Some(access)).await
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// Invites (checklist #132)

#[tokio::test]
async fn invite_codes_gate_account_creation() {
    let relay = TestRelay::start(&[
        ("RELAY_INVITE_REQUIRED", "true"),
        ("RELAY_ADMIN_PASSWORD", ADMIN_PW),
    ])
    .await;
    let describe = ok(get(&relay, "com.atproto.server.describeServer", None).await);
    assert_eq!(describe["inviteCodeRequired"], true);

    create(&relay, "noinvite.test", None, None, None)
        .await
        .assert_xrpc_error(400, "InvalidInviteCode");
    create(&relay, "badinvite.test", Some("nope-nope"), None, None)
        .await
        .assert_xrpc_error(400, "InvalidInviteCode");
    // Creating codes needs admin auth.
    post(
        &relay,
        "com.atproto.server.createInviteCode",
        None,
        json!({"useCount": 1}),
    )
    .await
    .assert_xrpc_error(401, "AuthMissing");

    let code = ok(admin(
        &relay,
        Method::POST,
        "com.atproto.server.createInviteCode",
        Some(json!({"useCount": 1})),
    )
    .await)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(code.starts_with("localhost-"), "{code}");
    let first = ok(create(&relay, "invited.test", Some(&code), None, None).await);
    let first_did = first["did"].as_str().unwrap().to_owned();
    // Used up.
    create(&relay, "second.test", Some(&code), None, None)
        .await
        .assert_xrpc_error(400, "InvalidInviteCode");

    // Codes for an account; the account lists them.
    let made = ok(admin(
        &relay,
        Method::POST,
        "com.atproto.server.createInviteCodes",
        Some(json!({"codeCount": 2, "useCount": 3, "forAccounts": [first_did]})),
    )
    .await);
    assert_eq!(made["codes"][0]["account"], first_did.as_str());
    let theirs: Vec<String> = made["codes"][0]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(theirs.len(), 2);
    let access = first["accessJwt"].as_str().unwrap();
    let listed = ok(get(
        &relay,
        "com.atproto.server.getAccountInviteCodes",
        Some(access),
    )
    .await);
    assert_eq!(listed["codes"].as_array().unwrap().len(), 2);
    assert_eq!(listed["codes"][0]["available"], 3);
    assert_eq!(listed["codes"][0]["createdBy"], "admin");
    let second = ok(create(&relay, "second.test", Some(&theirs[0]), None, None).await);

    // Admin views: all codes, who invited whom.
    let all = ok(admin(
        &relay,
        Method::GET,
        "com.atproto.admin.getInviteCodes?sort=usage",
        None,
    )
    .await);
    let codes = all["codes"].as_array().unwrap();
    assert_eq!(codes.len(), 3);
    assert_eq!(codes[0]["uses"].as_array().unwrap().len(), 1);
    let info = ok(admin(
        &relay,
        Method::GET,
        &format!(
            "com.atproto.admin.getAccountInfo?did={}",
            second["did"].as_str().unwrap()
        ),
        None,
    )
    .await);
    assert_eq!(info["invitedBy"]["code"], theirs[0].as_str());
    assert_eq!(info["invitesDisabled"], false);

    // Disabled codes create nothing; account invites can be switched off and on.
    ok(admin(
        &relay,
        Method::POST,
        "com.atproto.admin.disableInviteCodes",
        Some(json!({"codes": [theirs[1]]})),
    )
    .await);
    create(&relay, "third.test", Some(&theirs[1]), None, None)
        .await
        .assert_xrpc_error(400, "InvalidInviteCode");
    admin(
        &relay,
        Method::POST,
        "com.atproto.admin.disableInviteCodes",
        Some(json!({"accounts": ["admin"]})),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    for (method, want) in [
        ("disableAccountInvites", true),
        ("enableAccountInvites", false),
    ] {
        ok(admin(
            &relay,
            Method::POST,
            &format!("com.atproto.admin.{method}"),
            Some(json!({"account": first_did})),
        )
        .await);
        let info = ok(admin(
            &relay,
            Method::GET,
            &format!("com.atproto.admin.getAccountInfo?did={first_did}"),
            None,
        )
        .await);
        assert_eq!(info["invitesDisabled"], want, "{method}");
    }
    println!("invite flow: 3 refusal kinds, 2 successful invited accounts");
}

#[tokio::test]
async fn invites_not_required_by_default() {
    let relay = TestRelay::start(&[]).await;
    let describe = ok(get(&relay, "com.atproto.server.describeServer", None).await);
    assert_eq!(describe["inviteCodeRequired"], false);
    ok(create(&relay, "free.test", Some("ignored-code"), None, None).await);
    let queue = ok(get(
        &relay,
        "com.atproto.temp.checkSignupQueue",
        Some(
            ok(create(&relay, "queue.test", None, None, None).await)["accessJwt"]
                .as_str()
                .unwrap(),
        ),
    )
    .await);
    assert_eq!(queue["activated"], true);
}

// ---------------------------------------------------------------------------------------------
// Admin account methods (checklist #103, #132)

/// `accountView.emailConfirmedAt`: absent until `confirmEmail`, then when it happened
/// (checklist #132).
#[tokio::test]
async fn admin_account_info_email_confirmed_at_checklist_132() {
    let relay = TestRelay::start(&[("RELAY_ADMIN_PASSWORD", ADMIN_PW)]).await;
    let a = ok(create(&relay, "adm-confirm.test", None, None, None).await);
    let (did, access) = (a["did"].as_str().unwrap(), a["accessJwt"].as_str().unwrap());
    let info_pq = format!("com.atproto.admin.getAccountInfo?did={did}");
    let info = ok(admin(&relay, Method::GET, &info_pq, None).await);
    assert!(info.get("emailConfirmedAt").is_none(), "{info}");

    ok(post(
        &relay,
        "com.atproto.server.requestEmailConfirmation",
        Some(access),
        json!({}),
    )
    .await);
    let outbox = relay
        .state
        .config()
        .data_dir
        .join(relay::mailer::OUTBOX_DIR);
    let mut names: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    let email = std::fs::read_to_string(names.last().unwrap()).unwrap();
    let token = crate::email_tokens::token_in(&email);
    ok(post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(access),
        json!({"email": "adm-confirm.test@example.com", "token": token}),
    )
    .await);
    let info = ok(admin(&relay, Method::GET, &info_pq, None).await);
    let at = info["emailConfirmedAt"].as_str().expect("emailConfirmedAt");
    assert!(at.parse::<syntax::Datetime>().is_ok(), "{at}");
    assert!(at >= info["indexedAt"].as_str().unwrap(), "{info}");
}

#[tokio::test]
async fn admin_account_methods() {
    let relay = TestRelay::start(&[("RELAY_ADMIN_PASSWORD", ADMIN_PW)]).await;
    let a = ok(create(&relay, "adm-alice.test", None, None, None).await);
    let b = ok(create(&relay, "adm-albert.test", None, None, None).await);
    ok(create(&relay, "adm-bob.test", None, None, None).await);
    let a_did = a["did"].as_str().unwrap();
    let b_did = b["did"].as_str().unwrap();

    // No admin auth: refused.
    get(
        &relay,
        &format!("com.atproto.admin.getAccountInfo?did={a_did}"),
        None,
    )
    .await
    .assert_xrpc_error(401, "AuthMissing");
    let info = ok(admin(
        &relay,
        Method::GET,
        &format!("com.atproto.admin.getAccountInfo?did={a_did}"),
        None,
    )
    .await);
    assert_eq!(info["handle"], "adm-alice.test");
    assert_eq!(info["email"], "adm-alice.test@example.com");
    assert!(info["indexedAt"].is_string());
    admin(
        &relay,
        Method::GET,
        "com.atproto.admin.getAccountInfo?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
        None,
    )
    .await
    .assert_xrpc_error(400, "NotFound");
    let infos = ok(admin(
        &relay,
        Method::GET,
        &format!(
            "com.atproto.admin.getAccountInfos?dids={a_did}&dids={b_did}&dids=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
        ),
        None,
    )
    .await);
    assert_eq!(infos["infos"].as_array().unwrap().len(), 2);

    let found = ok(admin(
        &relay,
        Method::GET,
        "com.atproto.admin.searchAccounts?email=ADM-AL",
        None,
    )
    .await);
    let mut handles: Vec<&str> = found["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["handle"].as_str().unwrap())
        .collect();
    handles.sort_unstable();
    assert_eq!(handles, ["adm-albert.test", "adm-alice.test"]);

    // Handle change by the admin: stored, resolvable, in the PLC document.
    ok(admin(
        &relay,
        Method::POST,
        "com.atproto.admin.updateAccountHandle",
        Some(json!({"did": a_did, "handle": "adm-alicia.test"})),
    )
    .await);
    let resolved = ok(get(
        &relay,
        "com.atproto.identity.resolveHandle?handle=adm-alicia.test",
        None,
    )
    .await);
    assert_eq!(resolved["did"], a_did);
    admin(
        &relay,
        Method::POST,
        "com.atproto.admin.updateAccountHandle",
        Some(json!({"did": b_did, "handle": "adm-alicia.test"})),
    )
    .await
    .assert_xrpc_error(400, "HandleNotAvailable");

    // Subject status follows takedowns.
    let status = ok(admin(
        &relay,
        Method::GET,
        &format!("com.atproto.admin.getSubjectStatus?did={b_did}"),
        None,
    )
    .await);
    assert_eq!(status["takedown"]["applied"], false);
    assert_eq!(status["deactivated"]["applied"], false);
    ok(admin(
        &relay,
        Method::POST,
        "com.atproto.admin.updateSubjectStatus",
        Some(json!({
            "subject": {"$type": "com.atproto.admin.defs#repoRef", "did": b_did},
            "takedown": {"applied": true, "ref": "case-1"},
        })),
    )
    .await);
    let status = ok(admin(
        &relay,
        Method::GET,
        &format!("com.atproto.admin.getSubjectStatus?did={b_did}"),
        None,
    )
    .await);
    assert_eq!(
        status["takedown"],
        json!({"applied": true, "ref": "case-1"})
    );
    assert_eq!(status["subject"]["did"], b_did);

    // Admin delete: gone afterwards.
    ok(admin(
        &relay,
        Method::POST,
        "com.atproto.admin.deleteAccount",
        Some(json!({"did": b_did})),
    )
    .await);
    admin(
        &relay,
        Method::GET,
        &format!("com.atproto.admin.getSubjectStatus?did={b_did}"),
        None,
    )
    .await
    .assert_xrpc_error(400, "NotFound");
}

// ---------------------------------------------------------------------------------------------
// Bring-your-own DID (checklist #99, #100)

/// A did:plc on the relay's PLC directory whose only rotation key and signing key is `key`,
/// pointing at some other PDS.
async fn own_plc_did(relay: &TestRelay, key: &crypto::Keypair, handle: &str) -> Did {
    let handle: Handle = handle.parse().unwrap();
    let fields = PlcFields::atproto(
        vec![key.public_key().to_did_key()],
        &key.public_key(),
        &handle,
        "https://old-pds.example.com",
    );
    let op = Operation::genesis(fields).sign(key);
    let did = op.genesis_did().unwrap();
    relay.state.plc().submit(&did, &op).await.unwrap();
    did
}

/// Points `did`'s PLC document at what `getRecommendedDidCredentials` says, signed by `key`.
async fn plc_update_to_recommended(
    relay: &TestRelay,
    did: &Did,
    key: &crypto::Keypair,
    creds: &Value,
) {
    let last = relay.state.plc().last_operation(did).await.unwrap();
    let mut fields = last.operation().fields().unwrap();
    let mut rotation: Vec<String> = creds["rotationKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    rotation.insert(0, key.public_key().to_did_key());
    fields.rotation_keys = rotation;
    let signing =
        crypto::PublicKey::from_did_key(creds["verificationMethods"]["atproto"].as_str().unwrap())
            .unwrap();
    fields.set_atproto_signing_key(&signing);
    fields.set_pds_endpoint(
        creds["services"]["atproto_pds"]["endpoint"]
            .as_str()
            .unwrap(),
    );
    let op = Operation::update(fields, last.cid()).sign(key);
    relay.state.plc().submit(did, &op).await.unwrap();
}

fn service_jwt(key: &crypto::Keypair, iss: &Did, aud: &str, lxm: Option<&str>, exp: i64) -> String {
    let now = now_secs();
    pds::service_auth::sign_service_jwt(key, iss, aud, lxm, now - 5, now + exp)
}

#[tokio::test]
async fn byo_plc_did_refusals_then_migration_activation() {
    let relay = TestRelay::start(&[]).await;
    let aud = relay.state.config().service_did.as_str().to_owned();
    let key = crypto::Keypair::generate(crypto::Curve::K256);
    let other_key = crypto::Keypair::generate(crypto::Curve::K256);
    let did = own_plc_did(&relay, &key, "mig.test").await;
    let other_did = own_plc_did(&relay, &other_key, "other.test").await;
    let unknown: Did = "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz".parse().unwrap();
    let d = did.as_str();

    // Every refusal: (token, expected status, expected error name).
    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no token", None, 401, "AuthenticationRequired"),
        (
            "wrong aud",
            Some(service_jwt(
                &key,
                &did,
                "did:web:elsewhere.test",
                Some(CREATE_ACCOUNT),
                60,
            )),
            401,
            "BadJwtAudience",
        ),
        (
            "wrong lxm",
            Some(service_jwt(
                &key,
                &did,
                &aud,
                Some("com.atproto.repo.createRecord"),
                60,
            )),
            401,
            "BadJwtLexiconMethod",
        ),
        (
            "no lxm",
            Some(service_jwt(&key, &did, &aud, None, 60)),
            401,
            "BadJwtLexiconMethod",
        ),
        (
            "expired",
            Some(service_jwt(&key, &did, &aud, Some(CREATE_ACCOUNT), -10)),
            401,
            "JwtExpired",
        ),
        (
            "signed by another key",
            Some(service_jwt(
                &other_key,
                &did,
                &aud,
                Some(CREATE_ACCOUNT),
                60,
            )),
            401,
            "BadJwtSignature",
        ),
        (
            "valid token of another DID",
            Some(service_jwt(
                &other_key,
                &other_did,
                &aud,
                Some(CREATE_ACCOUNT),
                60,
            )),
            401,
            "AuthenticationRequired",
        ),
        ("garbage token", Some("not.a-jwt".to_owned()), 401, "BadJwt"),
    ];
    for (name, token, status, error) in &cases {
        let reply = create(&relay, "mig.test", None, Some(d), token.as_deref()).await;
        let msg = reply.assert_xrpc_error(*status, error);
        println!("byo did refusal {name}: {error} ({msg})");
    }
    // A DID the directory does not know.
    let reply = create(
        &relay,
        "mig.test",
        None,
        Some(unknown.as_str()),
        Some(&service_jwt(&key, &unknown, &aud, Some(CREATE_ACCOUNT), 60)),
    )
    .await;
    reply.assert_xrpc_error(401, "AuthenticationRequired");
    println!("byo did: {} refusal cases + unresolvable DID", cases.len());

    // Success: deactivated, no PLC genesis, a fresh key offered for the DID document.
    let token = service_jwt(&key, &did, &aud, Some(CREATE_ACCOUNT), 60);
    let created = ok(create(&relay, "mig.test", None, Some(d), Some(&token)).await);
    assert_eq!(created["did"], d);
    let access = created["accessJwt"].as_str().unwrap().to_owned();
    let status = ok(get(
        &relay,
        "com.atproto.server.checkAccountStatus",
        Some(&access),
    )
    .await);
    assert_eq!(status["activated"], false);
    assert_eq!(status["validDid"], false);
    let session = ok(get(&relay, "com.atproto.server.getSession", Some(&access)).await);
    assert_eq!(session["active"], false);
    // The same token again: its jti was used (checklist #136).
    create(&relay, "mig2.test", None, Some(d), Some(&token))
        .await
        .assert_xrpc_error(401, "BadJwt");
    // The same DID twice with a fresh token: refused.
    let fresh = service_jwt(&key, &did, &aud, Some(CREATE_ACCOUNT), 60);
    create(&relay, "mig2.test", None, Some(d), Some(&fresh))
        .await
        .assert_xrpc_error(400, "InvalidRequest");

    // activateAccount refuses while the DID document names the old PDS and key.
    let msg = activate(&relay, &access)
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("rotation key"), "{msg}");

    let creds = ok(recommended_credentials(&relay, &access).await);
    plc_update_to_recommended(&relay, &did, &key, &creds).await;
    ok(activate(&relay, &access).await);
    let status = ok(get(
        &relay,
        "com.atproto.server.checkAccountStatus",
        Some(&access),
    )
    .await);
    assert_eq!(status["activated"], true);
    assert_eq!(status["validDid"], true);
    ok(post(
        &relay,
        "com.atproto.repo.createRecord",
        Some(&access),
        json!({
            "repo": d,
            "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": "moved in", "createdAt": "2024-01-01T00:00:00.000Z"},
        }),
    )
    .await);
}

#[tokio::test]
async fn reserved_signing_key_is_used_by_byo_create_account() {
    let relay = TestRelay::start(&[]).await;
    let aud = relay.state.config().service_did.as_str().to_owned();
    let key = crypto::Keypair::generate(crypto::Curve::K256);
    let did = own_plc_did(&relay, &key, "rsv.test").await;
    let reserved = ok(post(
        &relay,
        "com.atproto.server.reserveSigningKey",
        None,
        json!({"did": did.as_str()}),
    )
    .await);
    let again = ok(post(
        &relay,
        "com.atproto.server.reserveSigningKey",
        None,
        json!({"did": did.as_str()}),
    )
    .await);
    assert_eq!(reserved["signingKey"], again["signingKey"]);
    let token = service_jwt(&key, &did, &aud, Some(CREATE_ACCOUNT), 60);
    let created = ok(create(&relay, "rsv.test", None, Some(did.as_str()), Some(&token)).await);
    let creds = ok(recommended_credentials(&relay, created["accessJwt"].as_str().unwrap()).await);
    assert_eq!(
        creds["verificationMethods"]["atproto"],
        reserved["signingKey"]
    );
}

/// A did:web document server whose document can be changed while it runs.
async fn did_web_host(doc: Arc<Mutex<Value>>) -> Server {
    let app = axum::Router::new().route(
        "/.well-known/did.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.lock().unwrap().clone()) }
        }),
    );
    Server::start(app).await
}

fn web_doc(did: &str, key: &crypto::PublicKey, endpoint: &str) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": ["at://web.test"],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": key.to_multikey(),
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": endpoint,
        }],
    })
}

#[tokio::test]
async fn byo_did_web_account_through_the_ssrf_guarded_client() {
    let relay = TestRelay::start(&[]).await;
    let aud = relay.state.config().service_did.as_str().to_owned();
    let key = crypto::Keypair::generate(crypto::Curve::P256);
    let doc = Arc::new(Mutex::new(Value::Null));
    let host = did_web_host(doc.clone()).await;
    let did: Did = format!("did:web:localhost%3A{}", host.addr.port())
        .parse()
        .unwrap();
    *doc.lock().unwrap() = web_doc(
        did.as_str(),
        &key.public_key(),
        "https://old-pds.example.com",
    );

    // Signed by a key the document does not list: refused.
    let stranger = crypto::Keypair::generate(crypto::Curve::P256);
    create(
        &relay,
        "web.test",
        None,
        Some(did.as_str()),
        Some(&service_jwt(
            &stranger,
            &did,
            &aud,
            Some(CREATE_ACCOUNT),
            60,
        )),
    )
    .await
    .assert_xrpc_error(401, "BadJwtSignature");

    let token = service_jwt(&key, &did, &aud, Some(CREATE_ACCOUNT), 60);
    let created = ok(create(&relay, "web.test", None, Some(did.as_str()), Some(&token)).await);
    let access = created["accessJwt"].as_str().unwrap().to_owned();
    let msg = activate(&relay, &access)
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("service endpoint"), "{msg}");

    // The owner updates the hosted document to the recommended credentials.
    let creds = ok(recommended_credentials(&relay, &access).await);
    let new_key =
        crypto::PublicKey::from_did_key(creds["verificationMethods"]["atproto"].as_str().unwrap())
            .unwrap();
    let endpoint = creds["services"]["atproto_pds"]["endpoint"]
        .as_str()
        .unwrap();
    *doc.lock().unwrap() = web_doc(did.as_str(), &new_key, endpoint);
    ok(activate(&relay, &access).await);
    let session = ok(get(&relay, "com.atproto.server.getSession", Some(&access)).await);
    assert_eq!(session["active"], true);
}

#[tokio::test]
async fn byo_did_web_is_refused_when_the_ssrf_guard_blocks_its_host() {
    let relay = TestRelay::start_guarded(&[]).await;
    let aud = relay.state.config().service_did.as_str().to_owned();
    let key = crypto::Keypair::generate(crypto::Curve::K256);
    let doc = Arc::new(Mutex::new(Value::Null));
    let host = did_web_host(doc.clone()).await;
    let did: Did = format!("did:web:localhost%3A{}", host.addr.port())
        .parse()
        .unwrap();
    *doc.lock().unwrap() = web_doc(
        did.as_str(),
        &key.public_key(),
        "https://old-pds.example.com",
    );
    let token = service_jwt(&key, &did, &aud, Some(CREATE_ACCOUNT), 60);
    create(
        &relay,
        "guarded.test",
        None,
        Some(did.as_str()),
        Some(&token),
    )
    .await
    .assert_xrpc_error(401, "AuthenticationRequired");
}

/// A full migration between two relays sharing one PLC directory (checklist #99, #100, #104):
/// old `getServiceAuth` for `createAccount` -> new `createAccount{did}` -> old `getRepo` ->
/// new import -> PLC update (signed here with the old server's rotation key, as
/// `signPlcOperation` on the old server would) -> new `activateAccount`, old
/// `deactivateAccount`. (`relay/tests/it/import_repo.rs` covers the blobs; the Node e2e
/// `interop-tests/e2e/migration.test.mjs` runs every step with `@atproto/api`.)
#[tokio::test]
async fn account_migration_between_two_relays() {
    let old = TestRelay::start(&[]).await;
    let plc_url = old._plc.url();
    let new = TestRelay::start(&[
        ("RELAY_PLC_URL", plc_url.as_str()),
        ("RELAY_SERVICE_DID", "did:web:newpds.test"),
        ("RELAY_PUBLIC_URL", "https://newpds.test"),
    ])
    .await;
    assert_eq!(new.state.config().plc_url, plc_url);
    let alice = ok(create(&old, "mover.test", None, None, None).await);
    let did: Did = alice["did"].as_str().unwrap().parse().unwrap();
    let old_access = alice["accessJwt"].as_str().unwrap().to_owned();
    let post_uri = ok(post(
        &old,
        "com.atproto.repo.createRecord",
        Some(&old_access),
        json!({
            "repo": did.as_str(),
            "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": "before the move", "createdAt": "2024-01-01T00:00:00.000Z"},
        }),
    )
    .await)["uri"]
        .as_str()
        .unwrap()
        .to_owned();

    // 1. The old server vouches for the DID to the new one.
    let token = ok(get(
        &old,
        &format!("com.atproto.server.getServiceAuth?aud=did:web:newpds.test&lxm={CREATE_ACCOUNT}"),
        Some(&old_access),
    )
    .await)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = ok(create(&new, "mover.test", None, Some(did.as_str()), Some(&token)).await);
    let new_access = created["accessJwt"].as_str().unwrap().to_owned();

    // 2. Repository: exported by the old server, imported by the new one.
    let car = get(&old, &format!("com.atproto.sync.getRepo?did={did}"), None).await;
    assert!(car.status.is_success());
    ok(send(
        &new.app,
        Request::post("/xrpc/com.atproto.repo.importRepo")
            .header("authorization", format!("Bearer {new_access}"))
            .header("content-type", "application/vnd.ipld.car")
            .body(Body::from(car.body.clone()))
            .unwrap(),
    )
    .await);

    // 3. Identity: not yet; then the PLC update the old server's rotation key signs.
    activate(&new, &new_access)
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    let creds = ok(recommended_credentials(&new, &new_access).await);
    plc_update_to_recommended(&new, &did, &old.state.secrets().plc_rotation_key, &creds).await;

    // 4. Switch over.
    ok(activate(&new, &new_access).await);
    ok(post(
        &old,
        "com.atproto.server.deactivateAccount",
        Some(&old_access),
        json!({}),
    )
    .await);
    let status = ok(get(
        &new,
        "com.atproto.server.checkAccountStatus",
        Some(&new_access),
    )
    .await);
    assert_eq!(status["activated"], true);
    assert_eq!(status["validDid"], true);
    assert_eq!(status["indexedRecords"], 1);
    let rkey = post_uri.rsplit('/').next().unwrap();
    let record = ok(get(
        &new,
        &format!("com.atproto.repo.getRecord?repo={did}&collection=app.bsky.feed.post&rkey={rkey}"),
        None,
    )
    .await);
    assert_eq!(record["value"]["text"], "before the move");
    let old_status = ok(get(
        &old,
        "com.atproto.server.checkAccountStatus",
        Some(&old_access),
    )
    .await);
    assert_eq!(old_status["activated"], false);
    assert_eq!(old_status["validDid"], false);
}
