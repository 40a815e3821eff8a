//! Conformance cases for [`AccountAdminStore`] (feature `testsuite`): invite codes and their
//! atomic use, listing order and keyset paging, disabling, per-account invite switches, email
//! search and reserved keys. Run like `testsuite::cases`, on a fresh store per case.

use std::collections::BTreeMap;
use std::sync::Arc;

use data_model::Value;
use repo::blockstore::BlockMap;
use syntax::{Did, Tid};

use super::testsuite::{Case, CaseFuture};
use super::*;

/// A store implementing [`AccountStore`] (to make accounts) and [`AccountAdminStore`].
pub trait AdminStore: AccountStore + AccountAdminStore + 'static {}

impl<T> AdminStore for T where T: AccountStore + AccountAdminStore + 'static {}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$(Case { name: stringify!($name), run: |s| -> CaseFuture { Box::pin($name(s)) } }),*]
    };
}

/// Every case, for a fresh store each.
pub fn cases<S: AdminStore>() -> Vec<Case<S>> {
    cases![
        invite_codes_create_and_use,
        invite_codes_list_and_page,
        invite_codes_disable,
        invites_disabled_switch,
        search_accounts_by_email,
        reserved_keys,
    ]
}

pub(crate) fn did(n: u32) -> Did {
    format!("did:plc:adminaccount{n:010}")
        .parse()
        .expect("valid did")
}

pub(crate) async fn make_account<S: AdminStore>(s: &S, n: u32, email: Option<&str>) {
    let mut m = BTreeMap::new();
    m.insert("n".to_owned(), Value::String(format!("commit-{n}")));
    let bytes = data_model::cbor::encode(&Value::Map(m));
    let cid = data_model::cid_for_cbor(&bytes);
    let mut blocks = BlockMap::new();
    blocks.insert(cid, bytes);
    let d = did(n);
    s.create_account(
        NewAccount {
            did: d.clone(),
            handle: format!("admin{n}.test").parse().expect("handle"),
            email: email.map(str::to_owned),
            password_hash: None,
            encrypted_signing_key: vec![1; 40],
            created_at: 1_000,
            deactivated: false,
        },
        CommitWrite {
            did: d,
            cid,
            rev: Tid::from_u64(1_700_000_000_000_000),
            prev: None,
            blocks,
            removed_blocks: Vec::new(),
            records: Vec::new(),
            event: None,
            now: 1_000,
        },
        vec![],
    )
    .await
    .expect("create account");
}

fn code(name: &str, available: i64, for_account: &str, at: Millis) -> NewInviteCode {
    NewInviteCode {
        code: name.to_owned(),
        available,
        for_account: for_account.to_owned(),
        created_by: INVITE_ADMIN.to_owned(),
        created_at: at,
        disabled: false,
    }
}

async fn invite_codes_create_and_use<S: AdminStore>(s: Arc<S>) {
    assert!(s.invite_code("nope").await.expect("get").is_none());
    s.create_invite_codes(vec![
        code("a", 2, INVITE_ADMIN, 10),
        code("b", 1, did(1).as_str(), 11),
    ])
    .await
    .expect("create");
    let a = s.invite_code("a").await.expect("get").expect("exists");
    assert_eq!((a.available, a.disabled, a.uses.len()), (2, false, 0));
    assert_eq!(a.for_account, INVITE_ADMIN);
    // Uses up to `available`, then refused; a repeated use by the same DID is refused too.
    assert!(s.use_invite_code("a", &did(2), 20).await.expect("use"));
    assert!(!s.use_invite_code("a", &did(2), 21).await.expect("use"));
    assert!(s.use_invite_code("a", &did(3), 22).await.expect("use"));
    assert!(!s.use_invite_code("a", &did(4), 23).await.expect("use"));
    assert!(
        !s.use_invite_code("missing", &did(4), 23)
            .await
            .expect("use")
    );
    let a = s.invite_code("a").await.expect("get").expect("exists");
    let users: Vec<_> = a
        .uses
        .iter()
        .map(|u| (u.used_by.clone(), u.used_at))
        .collect();
    assert_eq!(users, vec![(did(3), 22), (did(2), 20)], "most recent first");
    assert_eq!(
        s.invited_by(&did(3)).await.expect("by").map(|c| c.code),
        Some("a".to_owned())
    );
    assert!(s.invited_by(&did(9)).await.expect("by").is_none());
    // Releasing a use frees it.
    s.release_invite_code("a", &did(3)).await.expect("release");
    assert!(s.use_invite_code("a", &did(4), 24).await.expect("use"));
    let mine = s.account_invite_codes(&did(1)).await.expect("mine");
    assert_eq!(
        mine.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
}

async fn invite_codes_list_and_page<S: AdminStore>(s: Arc<S>) {
    s.create_invite_codes(vec![
        code("c1", 5, INVITE_ADMIN, 1),
        code("c2", 5, INVITE_ADMIN, 2),
        code("c3", 5, INVITE_ADMIN, 3),
    ])
    .await
    .expect("create");
    for n in 0..2 {
        assert!(s.use_invite_code("c1", &did(n), 5).await.expect("use"));
    }
    assert!(s.use_invite_code("c2", &did(7), 5).await.expect("use"));
    let names = |rows: &[InviteCodeRow]| rows.iter().map(|c| c.code.clone()).collect::<Vec<_>>();
    let recent = s
        .list_invite_codes(InviteSort::Recent, None, 2)
        .await
        .expect("list");
    assert_eq!(names(&recent), ["c3", "c2"]);
    let rest = s
        .list_invite_codes(InviteSort::Recent, Some((2, "c2".to_owned())), 2)
        .await
        .expect("list");
    assert_eq!(names(&rest), ["c1"]);
    assert_eq!(rest[0].uses.len(), 2);
    let usage = s
        .list_invite_codes(InviteSort::Usage, None, 10)
        .await
        .expect("list");
    assert_eq!(names(&usage), ["c1", "c2", "c3"]);
    let after = s
        .list_invite_codes(InviteSort::Usage, Some((1, "c2".to_owned())), 10)
        .await
        .expect("list");
    assert_eq!(names(&after), ["c3"]);
}

async fn invite_codes_disable<S: AdminStore>(s: Arc<S>) {
    s.create_invite_codes(vec![
        code("x", 5, INVITE_ADMIN, 1),
        code("y", 5, did(1).as_str(), 1),
        code("z", 5, did(2).as_str(), 1),
    ])
    .await
    .expect("create");
    s.disable_invite_codes(&["x".to_owned()], &[did(1).as_str().to_owned()])
        .await
        .expect("disable");
    for (name, disabled) in [("x", true), ("y", true), ("z", false)] {
        let c = s.invite_code(name).await.expect("get").expect("exists");
        assert_eq!(c.disabled, disabled, "{name}");
    }
    assert!(!s.use_invite_code("x", &did(5), 2).await.expect("use"));
    assert!(s.use_invite_code("z", &did(5), 2).await.expect("use"));
}

async fn invites_disabled_switch<S: AdminStore>(s: Arc<S>) {
    make_account(&*s, 1, None).await;
    assert!(!s.invites_disabled(&did(1)).await.expect("get"));
    s.set_invites_disabled(&did(1), true).await.expect("set");
    s.set_invites_disabled(&did(1), true)
        .await
        .expect("idempotent");
    assert!(s.invites_disabled(&did(1)).await.expect("get"));
    s.set_invites_disabled(&did(1), false).await.expect("clear");
    assert!(!s.invites_disabled(&did(1)).await.expect("get"));
    assert!(!s.invites_disabled(&did(2)).await.expect("absent"));
}

async fn search_accounts_by_email<S: AdminStore>(s: Arc<S>) {
    make_account(&*s, 1, Some("Alice@example.com")).await;
    make_account(&*s, 2, Some("alfred@example.com")).await;
    make_account(&*s, 3, Some("bob@example.com")).await;
    make_account(&*s, 4, None).await;
    let found = s.search_accounts("al", None, 10).await.expect("search");
    assert_eq!(
        found,
        vec![did(1), did(2)],
        "case-insensitive prefix, by DID"
    );
    let page = s
        .search_accounts("AL", Some(&did(1)), 10)
        .await
        .expect("page");
    assert_eq!(page, vec![did(2)]);
    assert!(
        s.search_accounts("a%", None, 10)
            .await
            .expect("lit")
            .is_empty()
    );
    let all = s.search_accounts("", None, 3).await.expect("all");
    assert_eq!(all, vec![did(1), did(2), did(3)]);
}

async fn reserved_keys<S: AdminStore>(s: Arc<S>) {
    assert!(s.reserved_key("did:plc:x").await.expect("get").is_none());
    s.put_reserved_key("did:plc:x", vec![1, 2], 5)
        .await
        .expect("put");
    s.put_reserved_key("did:plc:x", vec![3], 6)
        .await
        .expect("replace");
    assert_eq!(
        s.reserved_key("did:plc:x").await.expect("get"),
        Some(vec![3])
    );
    s.delete_reserved_key("did:plc:x").await.expect("delete");
    assert!(s.reserved_key("did:plc:x").await.expect("get").is_none());
}
