//! Email and email-token flows through the real server (issue 4; checklist #100, #102, #111,
//! #129, #131, #132): the codes are read back from the file outbox (`<data_dir>/outbox/`, the
//! default mailer) or from an in-test SMTP sink (the SMTP adapter, over a real TCP socket).
//! Covers success and each token error: wrong, reused, expired, for another purpose.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::common::{TestRelay, temp_dir};
use crate::pds_flow::{basic_auth, call_authorized, create_account, get, ok, post, repo_status};

const PASSWORD: &str = "hunter2-password";
const ADMIN: &str = "admin-secret";

/// A relay with its own PLC directory and an admin password; `ttl` overrides the email-token
/// lifetime.
async fn start(ttl: Option<Duration>, extra: &[(&str, &str)]) -> TestRelay {
    let mut settings = vec![("RELAY_ADMIN_PASSWORD", ADMIN)];
    settings.extend_from_slice(extra);
    TestRelay::start_with(&settings, |c| {
        if let Some(ttl) = ttl {
            c.email_token_ttl = ttl;
        }
    })
    .await
}

/// The outbox files, oldest first: (file name, content).
fn outbox(relay: &TestRelay) -> Vec<(String, String)> {
    let dir = relay
        .state
        .config()
        .data_dir
        .join(relay::mailer::OUTBOX_DIR);
    let mut files: Vec<(String, String)> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".eml"))
            .map(|n| {
                let text = std::fs::read_to_string(dir.join(&n)).unwrap();
                (n, text)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// The `XXXXX-XXXXX` code in an email's text.
pub(crate) fn token_in(text: &str) -> String {
    text.split(|c: char| c.is_whitespace())
        .find(|w| {
            w.len() == 11
                && w.as_bytes()[5] == b'-'
                && w.chars()
                    .enumerate()
                    .all(|(i, c)| i == 5 || c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        })
        .unwrap_or_else(|| panic!("no token in email: {text}"))
        .to_owned()
}

/// The code in the newest outbox email, checking it went to `to`.
pub(crate) fn last_token(relay: &TestRelay, to: &str) -> String {
    let files = outbox(relay);
    let (_, text) = files.last().expect("an email in the outbox");
    assert!(text.contains(&format!("To: {to}")), "{text}");
    token_in(text)
}

/// Requests the `deleteAccount` token of an account (its email is `<handle>@example.com`) and
/// reads it from the outbox: for tests elsewhere that delete accounts.
pub(crate) async fn delete_token(relay: &TestRelay, access: &str, email: &str) -> String {
    let nsid = "com.atproto.server.requestAccountDelete";
    requested_token(relay, nsid, Some(access), json!({}), email).await
}

/// Calls the request method `nsid` (which must succeed) and reads the code it mailed to `to`.
async fn requested_token(
    relay: &TestRelay,
    nsid: &str,
    access: Option<&str>,
    body: Value,
    to: &str,
) -> String {
    ok(post(relay, nsid, access, body).await);
    last_token(relay, to)
}

async fn login(relay: &TestRelay, id: &str, password: &str) -> crate::common::Reply {
    post(
        relay,
        "com.atproto.server.createSession",
        None,
        json!({ "identifier": id, "password": password }),
    )
    .await
}

async fn admin_post(relay: &TestRelay, nsid: &str, body: Value) -> crate::common::Reply {
    let authorization = Some(basic_auth("admin", ADMIN));
    call_authorized(relay, Method::POST, nsid, authorization, Some(body)).await
}

#[tokio::test]
async fn confirm_email_sets_email_confirmed_and_tokens_are_single_use() {
    // Checklist #129: emailConfirmed in createSession/getSession answers.
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let s = ok(login(&relay, "alice.test", PASSWORD).await);
    assert_eq!(s["emailConfirmed"], false);

    ok(post(
        &relay,
        "com.atproto.server.requestEmailConfirmation",
        Some(&alice.access),
        json!({}),
    )
    .await);
    let files = outbox(&relay);
    assert_eq!(files.len(), 1, "one email written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = relay
            .state
            .config()
            .data_dir
            .join(relay::mailer::OUTBOX_DIR);
        let mode = std::fs::metadata(dir.join(&files[0].0))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "outbox files are private");
    }
    let token = last_token(&relay, "alice.test@example.com");

    let confirm = |email: &str, token: &str| json!({ "email": email, "token": token });
    // Wrong token.
    post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        confirm("alice.test@example.com", "AAAAA-BBBBB"),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    // Not the account's email.
    post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        confirm("other@example.com", &token),
    )
    .await
    .assert_xrpc_error(400, "InvalidEmail");
    // The right one, typed in lowercase (codes are case-insensitive).
    ok(post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        confirm("Alice.Test@example.com", &token.to_lowercase()),
    )
    .await);
    let s = ok(get(&relay, "com.atproto.server.getSession", Some(&alice.access)).await);
    assert_eq!(s["emailConfirmed"], true);
    assert_eq!(
        ok(login(&relay, "alice.test", PASSWORD).await)["emailConfirmed"],
        true
    );
    // Reused.
    post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        confirm("alice.test@example.com", &token),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let relay = start(Some(Duration::ZERO), &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let token = requested_token(
        &relay,
        "com.atproto.server.requestEmailConfirmation",
        Some(&alice.access),
        json!({}),
        "alice.test@example.com",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        json!({ "email": "alice.test@example.com", "token": token }),
    )
    .await
    .assert_xrpc_error(400, "ExpiredToken");

    let token = requested_token(
        &relay,
        "com.atproto.server.requestPasswordReset",
        None,
        json!({ "email": "alice.test@example.com" }),
        "alice.test@example.com",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    post(
        &relay,
        "com.atproto.server.resetPassword",
        None,
        json!({ "token": token, "password": "new-password" }),
    )
    .await
    .assert_xrpc_error(400, "ExpiredToken");
}

#[tokio::test]
async fn tokens_only_work_for_their_purpose() {
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let confirm_token = requested_token(
        &relay,
        "com.atproto.server.requestEmailConfirmation",
        Some(&alice.access),
        json!({}),
        "alice.test@example.com",
    )
    .await;
    // A confirm_email code does not reset a password, delete the account or sign PLC ops.
    post(
        &relay,
        "com.atproto.server.resetPassword",
        None,
        json!({ "token": confirm_token, "password": "new-password" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    post(
        &relay,
        "com.atproto.server.deleteAccount",
        None,
        json!({ "did": alice.did, "password": PASSWORD, "token": confirm_token }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    post(
        &relay,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        json!({ "token": confirm_token }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    // ... and a delete_account code does not confirm the email.
    let delete = delete_token(&relay, &alice.access, "alice.test@example.com").await;
    post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        json!({ "email": "alice.test@example.com", "token": delete }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    // The original is still good (failed uses do not consume it).
    ok(post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        json!({ "email": "alice.test@example.com", "token": confirm_token }),
    )
    .await);
}

#[tokio::test]
async fn password_reset_sets_the_password_and_revokes_sessions() {
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let refresh = ok(login(&relay, "alice.test", PASSWORD).await)["refreshJwt"]
        .as_str()
        .unwrap()
        .to_owned();

    // No account enumeration: an unknown email gets the same 200, and no email is sent.
    ok(post(
        &relay,
        "com.atproto.server.requestPasswordReset",
        None,
        json!({ "email": "nobody@example.com" }),
    )
    .await);
    assert!(outbox(&relay).is_empty());

    let token = requested_token(
        &relay,
        "com.atproto.server.requestPasswordReset",
        None,
        json!({ "email": "ALICE.TEST@example.com" }),
        "alice.test@example.com",
    )
    .await;
    post(
        &relay,
        "com.atproto.server.resetPassword",
        None,
        json!({ "token": "ABCDE-23456", "password": "new-password" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    post(
        &relay,
        "com.atproto.server.resetPassword",
        None,
        json!({ "token": token, "password": "" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    ok(post(
        &relay,
        "com.atproto.server.resetPassword",
        None,
        json!({ "token": token, "password": "new-password" }),
    )
    .await);
    // Reused.
    post(
        &relay,
        "com.atproto.server.resetPassword",
        None,
        json!({ "token": token, "password": "third-password" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    // Old password refused, new one works, old refresh tokens revoked (as the reference).
    login(&relay, "alice.test", PASSWORD)
        .await
        .assert_xrpc_error(401, "AuthenticationRequired");
    ok(login(&relay, "alice.test", "new-password").await);
    let r = crate::pds_flow::call(
        &relay,
        axum::http::Method::POST,
        "com.atproto.server.refreshSession",
        Some(&refresh),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let _ = alice;
}

#[tokio::test]
async fn update_email_needs_a_token_once_confirmed() {
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    create_account(&relay, "bob.test").await;
    // Unconfirmed: no token needed.
    let r = ok(post(
        &relay,
        "com.atproto.server.requestEmailUpdate",
        Some(&alice.access),
        json!({}),
    )
    .await);
    assert_eq!(r["tokenRequired"], false);
    assert!(outbox(&relay).is_empty());
    post(
        &relay,
        "com.atproto.server.updateEmail",
        Some(&alice.access),
        json!({ "email": "not-an-email" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    ok(post(
        &relay,
        "com.atproto.server.updateEmail",
        Some(&alice.access),
        json!({ "email": "alice2@example.com" }),
    )
    .await);

    // Confirm the new address.
    let token = requested_token(
        &relay,
        "com.atproto.server.requestEmailConfirmation",
        Some(&alice.access),
        json!({}),
        "alice2@example.com",
    )
    .await;
    ok(post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        json!({ "email": "alice2@example.com", "token": token }),
    )
    .await);

    // Confirmed: tokenRequired, and updateEmail without it gets TokenRequired.
    let r = ok(post(
        &relay,
        "com.atproto.server.requestEmailUpdate",
        Some(&alice.access),
        json!({}),
    )
    .await);
    assert_eq!(r["tokenRequired"], true);
    let token = last_token(&relay, "alice2@example.com");
    post(
        &relay,
        "com.atproto.server.updateEmail",
        Some(&alice.access),
        json!({ "email": "alice3@example.com" }),
    )
    .await
    .assert_xrpc_error(400, "TokenRequired");
    post(
        &relay,
        "com.atproto.server.updateEmail",
        Some(&alice.access),
        json!({ "email": "alice3@example.com", "token": "AAAAA-AAAAA" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    // Taken by bob (case-insensitive): refused, and the token stays usable.
    let msg = post(
        &relay,
        "com.atproto.server.updateEmail",
        Some(&alice.access),
        json!({ "email": "Bob.Test@example.com", "token": token }),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("already in use"), "{msg}");
    ok(post(
        &relay,
        "com.atproto.server.updateEmail",
        Some(&alice.access),
        json!({ "email": "alice3@example.com", "token": token }),
    )
    .await);
    let s = ok(get(&relay, "com.atproto.server.getSession", Some(&alice.access)).await);
    assert_eq!(s["email"], "alice3@example.com");
    assert_eq!(s["emailConfirmed"], false, "a new email starts unconfirmed");
}

#[tokio::test]
async fn delete_account_needs_password_and_token() {
    // Checklist #102 (tombstone after deletion) with the reference's token requirement.
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let body = |password: &str, token: &str| json!({ "did": alice.did, "password": password, "token": token });
    post(
        &relay,
        "com.atproto.server.deleteAccount",
        None,
        body(PASSWORD, "AAAAA-AAAAA"),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    let token = delete_token(&relay, &alice.access, "alice.test@example.com").await;
    post(
        &relay,
        "com.atproto.server.deleteAccount",
        None,
        body("wrong", &token),
    )
    .await
    .assert_xrpc_error(401, "AuthenticationRequired");
    ok(post(
        &relay,
        "com.atproto.server.deleteAccount",
        None,
        body(PASSWORD, &token),
    )
    .await);
    repo_status(&relay, &alice.did)
        .await
        .assert_xrpc_error(400, "RepoNotFound");
}

#[tokio::test]
async fn app_password_sessions_cannot_request_tokens() {
    // Checklist #131: account management refuses app-password sessions.
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let app = ok(post(
        &relay,
        "com.atproto.server.createAppPassword",
        Some(&alice.access),
        json!({ "name": "app" }),
    )
    .await);
    let s = ok(login(&relay, "alice.test", app["password"].as_str().unwrap()).await);
    let access = s["accessJwt"].as_str().unwrap();
    for nsid in [
        "com.atproto.server.requestEmailConfirmation",
        "com.atproto.server.requestEmailUpdate",
        "com.atproto.server.requestAccountDelete",
        "com.atproto.identity.requestPlcOperationSignature",
    ] {
        post(&relay, nsid, Some(access), json!({}))
            .await
            .assert_xrpc_error(400, "InvalidToken");
    }
    assert!(outbox(&relay).is_empty());
}

#[tokio::test]
async fn plc_operation_sign_and_submit() {
    // Checklist #100 (source side of a migration), #111 (submitted to the directory).
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let did: syntax::Did = alice.did.parse().unwrap();

    post(
        &relay,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        json!({}),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    let token = requested_token(
        &relay,
        "com.atproto.identity.requestPlcOperationSignature",
        Some(&alice.access),
        json!({}),
        "alice.test@example.com",
    )
    .await;
    post(
        &relay,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        json!({ "token": "AAAAA-AAAAA" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");
    let aka = json!(["at://alice.test", "https://alice.example.com"]);
    let signed = ok(post(
        &relay,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        json!({ "token": token, "alsoKnownAs": aka }),
    )
    .await);
    let op = signed["operation"].clone();
    assert_eq!(op["type"], "plc_operation");
    assert_eq!(op["alsoKnownAs"], aka);
    assert!(op["prev"].is_string());
    // The token was used up.
    post(
        &relay,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        json!({ "token": token }),
    )
    .await
    .assert_xrpc_error(400, "InvalidToken");

    let before = relay.state.pds().events().latest_seq().await.unwrap();
    ok(post(
        &relay,
        "com.atproto.identity.submitPlcOperation",
        Some(&alice.access),
        json!({ "operation": op }),
    )
    .await);
    let head = relay.state.plc().last_operation(&did).await.unwrap();
    let fields = head.operation().fields().unwrap();
    assert_eq!(
        fields.also_known_as,
        vec!["at://alice.test", "https://alice.example.com"]
    );
    let events = relay
        .state
        .pds()
        .events()
        .events_after(before.unwrap_or(0), 10)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == pds::ports::EventKind::Identity && e.did == did),
        "an #identity event follows the PLC update"
    );

    // An operation that drops this server's rotation key is signed (the caller asked) but
    // refused on submit, as the reference does.
    let token = requested_token(
        &relay,
        "com.atproto.identity.requestPlcOperationSignature",
        Some(&alice.access),
        json!({}),
        "alice.test@example.com",
    )
    .await;
    let other = crypto::Keypair::generate(crypto::Curve::K256)
        .public_key()
        .to_did_key();
    let signed = ok(post(
        &relay,
        "com.atproto.identity.signPlcOperation",
        Some(&alice.access),
        json!({ "token": token, "rotationKeys": [other] }),
    )
    .await);
    let msg = post(
        &relay,
        "com.atproto.identity.submitPlcOperation",
        Some(&alice.access),
        json!({ "operation": signed["operation"] }),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("otation key"), "{msg}");
}

#[tokio::test]
async fn admin_email_methods() {
    // Checklist #132: admin Basic auth.
    let relay = start(None, &[]).await;
    let alice = create_account(&relay, "alice.test").await;
    let bearer = post(
        &relay,
        "com.atproto.admin.sendEmail",
        Some(&alice.access),
        json!({ "recipientDid": alice.did, "content": "hi", "senderDid": alice.did }),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);

    let r = ok(admin_post(
        &relay,
        "com.atproto.admin.sendEmail",
        json!({ "recipientDid": alice.did, "content": "Hello from the operator", "subject": "Notice", "senderDid": "did:plc:operator" }),
    )
    .await);
    assert_eq!(r["sent"], true);
    let (_, text) = outbox(&relay).pop().unwrap();
    assert!(text.contains("Subject: Notice"), "{text}");
    assert!(text.contains("Hello from the operator"), "{text}");
    admin_post(
        &relay,
        "com.atproto.admin.sendEmail",
        json!({ "recipientDid": "did:plc:nobodyhereatall", "content": "x", "senderDid": "did:plc:operator" }),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");

    ok(admin_post(
        &relay,
        "com.atproto.admin.updateAccountEmail",
        json!({ "account": "alice.test", "email": "alice-new@example.com" }),
    )
    .await);
    let s = ok(get(&relay, "com.atproto.server.getSession", Some(&alice.access)).await);
    assert_eq!(s["email"], "alice-new@example.com");

    let refresh = ok(login(&relay, "alice.test", PASSWORD).await)["refreshJwt"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(admin_post(
        &relay,
        "com.atproto.admin.updateAccountPassword",
        json!({ "did": alice.did, "password": "operator-set" }),
    )
    .await);
    login(&relay, "alice.test", PASSWORD)
        .await
        .assert_xrpc_error(401, "AuthenticationRequired");
    ok(login(&relay, "alice.test", "operator-set").await);
    let r = crate::pds_flow::call(
        &relay,
        axum::http::Method::POST,
        "com.atproto.server.refreshSession",
        Some(&refresh),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A tiny SMTP server: accepts everything, sends each message's DATA down the channel.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut data = String::new();
                            loop {
                                line.clear();
                                lines.read_line(&mut line).await.unwrap();
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(&line);
                            }
                            let _ = tx.send(data);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 OK\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn smtp_adapter_delivers_to_a_real_smtp_server() {
    let (port, mut inbox) = smtp_sink().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let relay = start(
        None,
        &[
            ("RELAY_SMTP_URL", url.as_str()),
            ("RELAY_EMAIL_FROM", "pds@example.com"),
        ],
    )
    .await;
    let alice = create_account(&relay, "alice.test").await;
    ok(post(
        &relay,
        "com.atproto.server.requestEmailConfirmation",
        Some(&alice.access),
        json!({}),
    )
    .await);
    let data = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .expect("the SMTP sink got a message")
        .unwrap();
    assert!(data.contains("From: pds@example.com"), "{data}");
    assert!(data.contains("To: alice.test@example.com"), "{data}");
    assert!(outbox(&relay).is_empty(), "SMTP replaces the file outbox");
    let token = token_in(&data);
    ok(post(
        &relay,
        "com.atproto.server.confirmEmail",
        Some(&alice.access),
        json!({ "email": "alice.test@example.com", "token": token }),
    )
    .await);

    // The adapter on its own, too.
    let mailer = relay::mailer::SmtpMailer::new(&url, "pds@example.com".parse().unwrap()).unwrap();
    pds::mailer::Mailer::send(
        &mailer,
        &pds::mailer::Email {
            to: "bob@example.com".into(),
            subject: "Direct".into(),
            text: "direct body".into(),
        },
    )
    .await
    .unwrap();
    let data = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        data.contains("Subject: Direct") && data.contains("direct body"),
        "{data}"
    );
}

#[tokio::test]
async fn bad_smtp_settings_are_config_errors() {
    let dir = temp_dir("email-config");
    for (key, value) in [
        ("RELAY_SMTP_URL", "ftp://example.com"),
        ("RELAY_EMAIL_FROM", "not an address"),
    ] {
        let env = vec![
            (
                "RELAY_DATA_DIR".to_owned(),
                dir.to_string_lossy().into_owned(),
            ),
            (key.to_owned(), value.to_owned()),
        ];
        let err = relay::Config::from_sources(None, env).unwrap_err();
        assert!(!err.to_string().contains("ftp://example.com/"), "{err}");
    }
}
