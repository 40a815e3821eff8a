//! Conformance cases for [`AuthFactorStore`] (feature `testsuite`), the email two-factor switch
//! of checklist #129: off for a new account, on and off, per account, unknown accounts, and
//! gone with the account. Run like `testsuite::cases`, on a fresh store per case.

use std::sync::Arc;

use super::testsuite::{Case, CaseFuture};
use super::testsuite_account_admin::{AdminStore, did, make_account};
use super::*;

/// A store implementing [`AccountStore`] (to make accounts) and [`AuthFactorStore`].
pub trait TwoFactorStore: AdminStore + AuthFactorStore {}

impl<T> TwoFactorStore for T where T: AdminStore + AuthFactorStore {}

/// Every case, for a fresh store each.
pub fn cases<S: TwoFactorStore>() -> Vec<Case<S>> {
    vec![
        Case {
            name: "email_auth_factor_switch",
            run: |s| -> CaseFuture { Box::pin(email_auth_factor_switch(s)) },
        },
        Case {
            name: "email_auth_factor_unknown_and_deleted_accounts",
            run: |s| -> CaseFuture { Box::pin(email_auth_factor_unknown_and_deleted_accounts(s)) },
        },
    ]
}

async fn email_auth_factor_switch<S: TwoFactorStore>(s: Arc<S>) {
    make_account(&*s, 1, Some("one@example.com")).await;
    make_account(&*s, 2, Some("two@example.com")).await;
    assert!(
        !s.email_auth_factor(&did(1)).await.expect("get"),
        "off by default"
    );
    s.set_email_auth_factor(&did(1), true).await.expect("on");
    assert!(s.email_auth_factor(&did(1)).await.expect("get"));
    assert!(
        !s.email_auth_factor(&did(2)).await.expect("get"),
        "per account"
    );
    s.set_email_auth_factor(&did(1), true)
        .await
        .expect("on again");
    assert!(s.email_auth_factor(&did(1)).await.expect("get"));
    s.set_email_auth_factor(&did(1), false).await.expect("off");
    assert!(!s.email_auth_factor(&did(1)).await.expect("get"));
}

async fn email_auth_factor_unknown_and_deleted_accounts<S: TwoFactorStore>(s: Arc<S>) {
    assert!(!s.email_auth_factor(&did(9)).await.expect("get"));
    let err = s
        .set_email_auth_factor(&did(9), true)
        .await
        .expect_err("unknown account");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    make_account(&*s, 1, None).await;
    s.set_email_auth_factor(&did(1), true).await.expect("on");
    let tombstone = NewEvent {
        did: did(1),
        kind: EventKind::Account,
        event: vec![0xa0],
        created_at: 2_000,
    };
    s.delete_account(&did(1), tombstone).await.expect("delete");
    assert!(
        !s.email_auth_factor(&did(1)).await.expect("get"),
        "gone with the account"
    );
}
