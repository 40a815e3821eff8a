//! Email two-factor sign-in through the real server (checklist #129, `AuthFactorTokenRequired`):
//! `updateEmail{emailAuthFactor}` switches it (confirmed email only), sessions report
//! `emailAuthFactor`, and `createSession` with the account password then needs the sign-in code
//! it mails to the file outbox (`<data_dir>/outbox/`). App passwords skip the second factor.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Reply, TestRelay};
use crate::email_tokens::token_in;
use crate::pds_flow::{Account, create_account, get, ok, post};

const PASSWORD: &str = "hunter2-password";
const HANDLE: &str = "alice.test";
const EMAIL: &str = "alice.test@example.com";

/// The texts of the outbox emails to `to`, oldest first.
fn mail_to(relay: &TestRelay, to: &str) -> Vec<String> {
    let dir = relay
        .state
        .config()
        .data_dir
        .join(relay::mailer::OUTBOX_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .filter(|text| text.contains(&format!("To: {to}")))
        .collect()
}

/// The code in the newest email to [`EMAIL`].
pub(crate) fn newest_code(relay: &TestRelay) -> String {
    token_in(mail_to(relay, EMAIL).last().expect("an email to alice"))
}

/// `createSession` for alice with `password` and an optional sign-in code.
async fn login(relay: &TestRelay, password: &str, code: Option<&str>) -> Reply {
    let mut body = json!({ "identifier": HANDLE, "password": password });
    if let Some(code) = code {
        body["authFactorToken"] = code.into();
    }
    post(relay, "com.atproto.server.createSession", None, body).await
}

async fn session(relay: &TestRelay, access: &str) -> Value {
    ok(get(relay, "com.atproto.server.getSession", Some(access)).await)
}

/// Confirms alice's email (requestEmailConfirmation -> code -> confirmEmail).
async fn confirm_email(relay: &TestRelay, alice: &Account) {
    let access = Some(alice.access.as_str());
    let nsid = "com.atproto.server.requestEmailConfirmation";
    ok(post(relay, nsid, access, json!({})).await);
    let token = newest_code(relay);
    let body = json!({ "email": EMAIL, "token": token });
    ok(post(relay, "com.atproto.server.confirmEmail", access, body).await);
}

/// `updateEmail` to `email` with the switch `on`, with an `update_email` code when the current
/// email is confirmed (as the Bluesky app does: requestEmailUpdate first).
async fn update_email(relay: &TestRelay, alice: &Account, email: &str, on: Option<bool>) -> Reply {
    let access = Some(alice.access.as_str());
    let upd = ok(post(
        relay,
        "com.atproto.server.requestEmailUpdate",
        access,
        json!({}),
    )
    .await);
    let mut body = json!({ "email": email });
    if upd["tokenRequired"] == true {
        body["token"] = newest_code(relay).into();
    }
    if let Some(on) = on {
        body["emailAuthFactor"] = on.into();
    }
    post(relay, "com.atproto.server.updateEmail", access, body).await
}

/// Alice with a confirmed email and email two-factor sign-in on.
pub(crate) async fn alice_with_2fa(relay: &TestRelay) -> Account {
    let alice = create_account(relay, HANDLE).await;
    confirm_email(relay, &alice).await;
    ok(update_email(relay, &alice, EMAIL, Some(true)).await);
    alice
}

#[tokio::test]
async fn checklist_129_email_2fa_needs_a_confirmed_email() {
    let relay = TestRelay::start(&[]).await;
    let alice = create_account(&relay, HANDLE).await;
    let s = session(&relay, &alice.access).await;
    assert_eq!(s["emailAuthFactor"], false, "{s}");
    let created = ok(login(&relay, PASSWORD, None).await);
    assert_eq!(created["emailAuthFactor"], false, "{created}");

    // Unconfirmed email: refused, nothing changes.
    let msg = update_email(&relay, &alice, EMAIL, Some(true))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("Confirm"), "{msg}");
    assert_eq!(
        session(&relay, &alice.access).await["emailAuthFactor"],
        false
    );
    ok(login(&relay, PASSWORD, None).await);

    // Confirmed, but switching on together with a new (unconfirmed) email: refused too.
    confirm_email(&relay, &alice).await;
    update_email(&relay, &alice, "new@example.com", Some(true))
        .await
        .assert_xrpc_error(400, "InvalidRequest");
    let s = session(&relay, &alice.access).await;
    assert_eq!(
        (&s["email"], &s["emailAuthFactor"]),
        (&json!(EMAIL), &json!(false))
    );
}

#[tokio::test]
async fn checklist_129_email_2fa_sign_in_needs_the_mailed_code_once() {
    let relay = TestRelay::start(&[]).await;
    let alice = alice_with_2fa(&relay).await;
    let s = session(&relay, &alice.access).await;
    assert_eq!(s["emailAuthFactor"], true, "{s}");
    assert_eq!(
        s["emailConfirmed"], true,
        "switching keeps the confirmation: {s}"
    );

    // A wrong password is refused as always, and mails nothing.
    let before = mail_to(&relay, EMAIL).len();
    login(&relay, "wrong-password", None)
        .await
        .assert_xrpc_error(401, "AuthenticationRequired");
    assert_eq!(mail_to(&relay, EMAIL).len(), before);

    // The right password without a code: 401 AuthFactorTokenRequired, and a code is mailed.
    let msg = login(&relay, PASSWORD, None)
        .await
        .assert_xrpc_error(401, "AuthFactorTokenRequired");
    assert_eq!(msg, "A sign in code has been sent to your email address");
    let mails = mail_to(&relay, EMAIL);
    assert_eq!(mails.len(), before + 1, "one sign-in email");
    assert!(mails[before].contains("Sign in code"), "{}", mails[before]);
    let code = newest_code(&relay);

    // A wrong code (and a code without the password) is refused.
    login(&relay, PASSWORD, Some("AAAAA-BBBBB"))
        .await
        .assert_xrpc_error(400, "InvalidToken");
    login(&relay, "wrong-password", Some(&code))
        .await
        .assert_xrpc_error(401, "AuthenticationRequired");

    // The right code logs in (any case), once.
    let s = ok(login(&relay, PASSWORD, Some(&code.to_lowercase())).await);
    assert!(s["accessJwt"].is_string());
    assert_eq!(s["emailAuthFactor"], true, "{s}");
    login(&relay, PASSWORD, Some(&code))
        .await
        .assert_xrpc_error(400, "InvalidToken");

    // A new attempt replaces the previous code.
    login(&relay, PASSWORD, None)
        .await
        .assert_xrpc_error(401, "AuthFactorTokenRequired");
    let first = newest_code(&relay);
    login(&relay, PASSWORD, None)
        .await
        .assert_xrpc_error(401, "AuthFactorTokenRequired");
    let second = newest_code(&relay);
    if first != second {
        login(&relay, PASSWORD, Some(&first))
            .await
            .assert_xrpc_error(400, "InvalidToken");
    }
    ok(login(&relay, PASSWORD, Some(&second)).await);
}

#[tokio::test]
async fn checklist_129_email_2fa_app_passwords_skip_it_and_it_can_be_switched_off() {
    let relay = TestRelay::start(&[]).await;
    let alice = alice_with_2fa(&relay).await;
    let app = ok(post(
        &relay,
        "com.atproto.server.createAppPassword",
        Some(&alice.access),
        json!({ "name": "client" }),
    )
    .await);
    let app_password = app["password"].as_str().unwrap();
    let before = mail_to(&relay, EMAIL).len();
    let s = ok(login(&relay, app_password, None).await);
    assert!(s["accessJwt"].is_string(), "{s}");
    assert_eq!(mail_to(&relay, EMAIL).len(), before, "no code mailed");

    // Switched off (with an update_email code): the password alone logs in again, and the
    // email stays confirmed.
    ok(update_email(&relay, &alice, EMAIL, Some(false)).await);
    let s = ok(login(&relay, PASSWORD, None).await);
    assert_eq!(s["emailAuthFactor"], false, "{s}");
    assert_eq!(s["emailConfirmed"], true, "{s}");
}

#[tokio::test]
async fn checklist_129_email_2fa_goes_off_when_the_email_changes() {
    let relay = TestRelay::start(&[]).await;
    let alice = alice_with_2fa(&relay).await;
    ok(update_email(&relay, &alice, "new@example.com", None).await);
    let s = session(&relay, &alice.access).await;
    assert_eq!(s["emailConfirmed"], false, "{s}");
    assert_eq!(s["emailAuthFactor"], false, "{s}");
    ok(login(&relay, PASSWORD, None).await);
}

#[tokio::test]
async fn checklist_129_email_2fa_expired_codes_are_refused() {
    let ttl = Duration::from_secs(2);
    let relay = TestRelay::start_with(&[], |c| c.email_token_ttl = ttl).await;
    alice_with_2fa(&relay).await;
    login(&relay, PASSWORD, None)
        .await
        .assert_xrpc_error(401, "AuthFactorTokenRequired");
    let code = newest_code(&relay);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    login(&relay, PASSWORD, Some(&code))
        .await
        .assert_xrpc_error(400, "ExpiredToken");
}
