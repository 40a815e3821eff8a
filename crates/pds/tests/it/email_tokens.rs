//! Email tokens at the use-case and storage level (issue 4; the HTTP flows are in
//! `relay/tests/it/email_tokens.rs`): codes are stored only as keyed hashes, a new request
//! replaces the previous code, concurrent uses of one code succeed exactly once, and the
//! account's deletion removes its codes (ON DELETE CASCADE). Also the store contract of
//! `EmailTokenStore` (unknown account, email conflicts).

use pds::ErrorKind;
use pds::ports::{Conflict, EmailTokenRow, EmailTokenStore, StoreError, TokenPurpose};

use crate::harness::{TestPds, create_account, expect_kind, test_pds};

/// The code in the newest email sent.
fn last_code(t: &TestPds) -> String {
    let mail = t.mailer.sent().pop().expect("an email");
    mail.text
        .split_whitespace()
        .find(|w| w.len() == 11 && w.as_bytes()[5] == b'-')
        .expect("a code")
        .to_owned()
}

#[tokio::test]
async fn codes_are_stored_hashed_and_replaced_by_new_requests() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    t.pds
        .request_email_confirmation(&alice.auth)
        .await
        .expect("request");
    let first = last_code(&t);
    let row = t
        .store
        .email_token(&alice.did, TokenPurpose::ConfirmEmail)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(row.token_hash.len(), 32, "an HMAC-SHA256");
    assert_ne!(row.token_hash, first.as_bytes(), "never the code itself");
    let debug = format!("{row:?}");
    assert!(debug.contains("<redacted>"), "{debug}");

    t.pds
        .request_email_confirmation(&alice.auth)
        .await
        .expect("request again");
    let second = last_code(&t);
    expect_kind(
        t.pds
            .confirm_email(&alice.auth, "alice@example.com", &first)
            .await,
        ErrorKind::InvalidToken,
        "replaced",
    );
    t.pds
        .confirm_email(&alice.auth, "alice@example.com", &second)
        .await
        .expect("the new code works");
    assert!(t.pds.email_confirmed(&alice.did).await.expect("read"));
    // The email itself never shows the code in Debug.
    let mail = t.mailer.sent().pop().expect("mail");
    assert!(!format!("{mail:?}").contains(&second));
}

#[tokio::test]
async fn concurrent_uses_of_one_code_succeed_once() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    for round in 0..5 {
        t.pds
            .request_password_reset("alice@example.com")
            .await
            .expect("request");
        let code = last_code(&t);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let pds = t.pds.clone();
                let code = code.clone();
                tokio::spawn(
                    async move { pds.reset_password(&code, &format!("pw-{round}-{i}")).await },
                )
            })
            .collect();
        let mut ok = 0;
        for task in tasks {
            match task.await.expect("join") {
                Ok(()) => ok += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidToken, "{e:?}"),
            }
        }
        assert_eq!(ok, 1, "round {round}: exactly one reset");
    }
    let _ = alice;
}

#[tokio::test]
async fn deleting_the_account_removes_its_codes() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    t.pds
        .request_plc_operation_signature(&alice.auth)
        .await
        .expect("request");
    t.pds
        .request_email_confirmation(&alice.auth)
        .await
        .expect("request");
    t.pds
        .admin_delete_account(&alice.did)
        .await
        .expect("delete");
    for purpose in TokenPurpose::ALL {
        assert!(
            t.store
                .email_token(&alice.did, purpose)
                .await
                .expect("read")
                .is_none(),
            "{purpose:?}"
        );
    }
}

#[tokio::test]
async fn store_contract() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    create_account(&t, "bob").await;
    let nobody: syntax::Did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".parse().expect("did");
    let row = |did: &syntax::Did| EmailTokenRow {
        did: did.clone(),
        purpose: TokenPurpose::UpdateEmail,
        token_hash: vec![7; 32],
        requested_at: 1,
    };
    assert!(matches!(
        t.store.put_email_token(row(&nobody)).await,
        Err(StoreError::NotFound)
    ));
    t.store.put_email_token(row(&alice.did)).await.expect("put");
    let found = t
        .store
        .email_token_by_hash(TokenPurpose::UpdateEmail, &[7; 32])
        .await
        .expect("by hash")
        .expect("found");
    assert_eq!(found.did, alice.did);
    assert!(
        t.store
            .email_token_by_hash(TokenPurpose::ResetPassword, &[7; 32])
            .await
            .expect("by hash")
            .is_none(),
        "purpose is part of the key"
    );
    assert!(
        !t.store
            .take_email_token(&alice.did, TokenPurpose::UpdateEmail, &[8; 32])
            .await
            .expect("take"),
        "another hash takes nothing"
    );
    assert!(
        t.store
            .take_email_token(&alice.did, TokenPurpose::UpdateEmail, &[7; 32])
            .await
            .expect("take")
    );
    assert!(
        !t.store
            .take_email_token(&alice.did, TokenPurpose::UpdateEmail, &[7; 32])
            .await
            .expect("take")
    );

    // Email changes: unique case-insensitively; a change clears confirmation and tokens.
    assert!(matches!(
        t.store.update_email(&alice.did, "BOB@example.com").await,
        Err(StoreError::Conflict(Conflict::Email))
    ));
    t.store
        .set_email_confirmed(&alice.did, 5)
        .await
        .expect("confirm");
    t.store.put_email_token(row(&alice.did)).await.expect("put");
    t.store
        .update_email(&alice.did, "alice2@example.com")
        .await
        .expect("update");
    assert_eq!(
        t.store.email_confirmed_at(&alice.did).await.expect("read"),
        None
    );
    assert!(
        t.store
            .email_token(&alice.did, TokenPurpose::UpdateEmail)
            .await
            .expect("read")
            .is_none()
    );
    assert!(matches!(
        t.store.update_email(&nobody, "x@example.com").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        t.store.set_email_confirmed(&nobody, 1).await,
        Err(StoreError::NotFound)
    ));
}
