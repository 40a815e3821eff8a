//! Bad input gives the right error kind, never a panic: one table per area (checklist #26,
//! #31, #123, #181-#184).

use pds::{CreateAccount, ErrorKind};
use syntax::AtIdentifier;

use crate::harness::{create_account, expect_kind, json_value, map, nsid, post, rkey, test_pds};

#[tokio::test]
async fn create_account_bad_handles_emails_passwords() {
    let t = test_pds().await;
    create_account(&t, "taken").await;
    let cases: &[(&str, Option<&str>, Option<&str>, ErrorKind)] = &[
        ("not a handle", None, Some("pw"), ErrorKind::InvalidHandle),
        ("alice.local", None, Some("pw"), ErrorKind::InvalidHandle),
        ("alice.onion", None, Some("pw"), ErrorKind::InvalidHandle),
        (
            "alice.example.com",
            None,
            Some("pw"),
            ErrorKind::UnsupportedDomain,
        ),
        ("admin.test", None, Some("pw"), ErrorKind::InvalidHandle),
        ("ab.test", None, Some("pw"), ErrorKind::InvalidHandle),
        (
            "a-very-long-handle-name.test",
            None,
            Some("pw"),
            ErrorKind::InvalidHandle,
        ),
        ("sub.alice.test", None, Some("pw"), ErrorKind::InvalidHandle),
        (
            "taken.test",
            None,
            Some("pw"),
            ErrorKind::HandleNotAvailable,
        ),
        (
            "TAKEN.test",
            None,
            Some("pw"),
            ErrorKind::HandleNotAvailable,
        ),
        (
            "fresh.test",
            Some("not-an-email"),
            Some("pw"),
            ErrorKind::InvalidRequest,
        ),
        (
            "fresh.test",
            Some("taken@example.com"),
            Some("pw"),
            ErrorKind::InvalidRequest,
        ),
        ("fresh.test", None, Some(""), ErrorKind::InvalidPassword),
    ];
    for (handle, email, password, want) in cases {
        let got = t
            .pds
            .create_account(CreateAccount {
                handle: (*handle).to_owned(),
                email: email.map(str::to_owned),
                password: password.map(str::to_owned),
                ..CreateAccount::default()
            })
            .await
            .expect_err(handle);
        assert_eq!(got.kind(), *want, "{handle} {email:?}: {got}");
    }
    let long = "x".repeat(300);
    expect_kind(
        t.pds
            .create_account(CreateAccount {
                handle: "fresh.test".to_owned(),
                password: Some(long),
                ..CreateAccount::default()
            })
            .await,
        ErrorKind::InvalidPassword,
        "long password",
    );
    expect_kind(
        t.pds
            .create_account(CreateAccount {
                handle: "fresh.test".to_owned(),
                recovery_key: Some("nope".to_owned()),
                ..CreateAccount::default()
            })
            .await,
        ErrorKind::InvalidRequest,
        "recovery key",
    );
    println!("bad_input/create_account: {} cases", cases.len() + 2);
}

/// name, collection, rkey, record, validate, expected error.
type RecordCase = (
    &'static str,
    syntax::Nsid,
    Option<syntax::RecordKey>,
    data_model::Value,
    Option<bool>,
    ErrorKind,
);

#[tokio::test]
async fn bad_records() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let bob = create_account(&t, "bob").await;
    let too_long = "x".repeat(3001);
    let cases: Vec<RecordCase> = vec![
        (
            "not a map",
            nsid("app.bsky.feed.post"),
            None,
            data_model::Value::Integer(1),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "$type mismatch",
            nsid("app.bsky.feed.post"),
            None,
            json_value(
                serde_json::json!({"$type": "app.bsky.feed.like", "text": "x", "createdAt": "2026-11-23T12:00:00.000Z"}),
            ),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "$type not a string",
            nsid("app.bsky.feed.post"),
            None,
            map(&[("$type", data_model::Value::Integer(3))]),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "missing required field",
            nsid("app.bsky.feed.post"),
            None,
            json_value(serde_json::json!({"text": "x"})),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "text too long",
            nsid("app.bsky.feed.post"),
            None,
            post(&too_long),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "bad datetime",
            nsid("app.bsky.feed.post"),
            None,
            json_value(serde_json::json!({"text": "x", "createdAt": "yesterday"})),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "unknown collection, validate=true",
            nsid("com.example.unknown"),
            None,
            json_value(serde_json::json!({"a": 1})),
            Some(true),
            ErrorKind::InvalidRequest,
        ),
        (
            "profile rkey must be self (checklist #31)",
            nsid("app.bsky.actor.profile"),
            Some(rkey("foo")),
            json_value(serde_json::json!({})),
            None,
            ErrorKind::InvalidRequest,
        ),
        (
            "post rkey must be a tid",
            nsid("app.bsky.feed.post"),
            Some(rkey("not-a-tid")),
            post("x"),
            None,
            ErrorKind::InvalidRequest,
        ),
    ];
    for (name, collection, rk, value, validate, want) in &cases {
        let got = t
            .pds
            .create_record(
                &alice.auth,
                alice.repo(),
                collection.clone(),
                rk.clone(),
                value.clone(),
                *validate,
                None,
            )
            .await
            .expect_err(name);
        assert_eq!(got.kind(), *want, "{name}: {got}");
    }
    // Someone else's repo.
    expect_kind(
        t.pds
            .create_record(
                &alice.auth,
                bob.repo(),
                nsid("app.bsky.feed.post"),
                None,
                post("x"),
                None,
                None,
            )
            .await,
        ErrorKind::AuthRequired,
        "other repo",
    );
    // Unknown repo.
    let nobody: AtIdentifier = "nobody.test".parse().expect("handle");
    expect_kind(
        t.pds
            .get_record(&nobody, &nsid("app.bsky.feed.post"), &rkey("x"), None, None)
            .await,
        ErrorKind::RepoNotFound,
        "no repo",
    );
    expect_kind(
        t.pds
            .get_record(
                &alice.repo(),
                &nsid("app.bsky.feed.post"),
                &rkey("x"),
                None,
                None,
            )
            .await,
        ErrorKind::RecordNotFound,
        "no record",
    );
    expect_kind(
        t.pds
            .list_records(
                &alice.repo(),
                &nsid("app.bsky.feed.post"),
                None,
                Some("bad/cursor"),
                false,
                None,
            )
            .await,
        ErrorKind::InvalidRequest,
        "cursor",
    );
    // Too many writes.
    let writes = (0..201)
        .map(|_| pds::Write::Create {
            collection: nsid("com.example.x"),
            rkey: None,
            value: json_value(serde_json::json!({})),
        })
        .collect();
    expect_kind(
        t.pds
            .apply_writes(
                &alice.auth,
                pds::ApplyWrites {
                    repo: alice.repo(),
                    validate: None,
                    writes,
                    swap_commit: None,
                },
            )
            .await,
        ErrorKind::InvalidRequest,
        "too many",
    );
    expect_kind(
        t.pds
            .apply_writes(
                &alice.auth,
                pds::ApplyWrites {
                    repo: alice.repo(),
                    validate: None,
                    writes: vec![],
                    swap_commit: None,
                },
            )
            .await,
        ErrorKind::InvalidRequest,
        "none",
    );
    // The repository is untouched by all of that: only the first commit.
    let car = t
        .pds
        .get_repo(&alice.did, None, None)
        .await
        .expect("getRepo");
    let v = repo::repo::verify_car(car.as_slice(), &Default::default()).expect("verifies");
    assert_eq!(v.record_count, 0);
    println!("bad_input/records: {} cases", cases.len() + 7);
}

#[tokio::test]
async fn bad_tokens() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let forged = {
        let mut parts: Vec<String> = alice.access_jwt.split('.').map(str::to_owned).collect();
        parts[2] = "AAAA".to_owned();
        parts.join(".")
    };
    let cases: &[(&str, &str)] = &[
        ("empty", ""),
        ("garbage", "abc"),
        ("refresh as access", &alice.refresh_jwt),
        ("forged signature", &forged),
    ];
    for (name, token) in cases {
        let got = t.pds.verify_access_token(token).expect_err(name);
        assert_eq!(got.kind(), ErrorKind::InvalidToken, "{name}");
    }
    expect_kind(
        t.pds.refresh_session("abc").await,
        ErrorKind::InvalidToken,
        "garbage",
    );
    println!("bad_input/tokens: {} cases", cases.len() + 1);
}
