//! Account migration, receiving side: importRepo of a CAR exported by another PDS, missing
//! blobs listed until uploaded, status counts (checklist #99, #100).

use bytes::Bytes;
use pds::{AuthContext, CreateAccount, ErrorKind};
use repo::repo::{VerifyOptions, verify_car};
use syntax::Did;

use std::sync::Arc;

use crate::harness::{
    TestPds, create_account, create_post, expect_kind, json_value, nsid, post, rkey, test_pds,
    test_pds_with_plc,
};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRmigrating-image";

/// Creates `alice.test` on `new` with an existing DID (bring-your-own DID, as when migrating);
/// the account starts deactivated. Returns its session.
async fn byo_account(new: &TestPds, did: &Did) -> AuthContext {
    let created = new
        .pds
        .create_account(CreateAccount {
            handle: "alice.test".to_owned(),
            password: Some("password".to_owned()),
            did: Some(did.clone()),
            ..CreateAccount::default()
        })
        .await
        .expect("byo did");
    new.pds
        .verify_access_token(&created.access_jwt)
        .expect("token")
}

#[tokio::test]
async fn import_repo_then_upload_missing_blobs() {
    // The old PDS: posts, one with an image.
    let plc = Arc::new(pds::MemoryPlc::new());
    let old = test_pds_with_plc(plc.clone()).await;
    let alice = create_account(&old, "alice").await;
    for i in 0..5 {
        create_post(&old.pds, &alice, &format!("p{i}"))
            .await
            .expect("post");
    }
    let blob = old
        .pds
        .upload_blob(&alice.auth, Some("image/png"), Bytes::from_static(PNG))
        .await
        .expect("upload");
    let with_image = serde_json::json!({
        "$type": "app.bsky.feed.post",
        "text": "look",
        "createdAt": "2026-11-23T12:00:00.000Z",
        "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": {
            "$type": "blob", "ref": {"$link": blob.cid.to_string()}, "mimeType": "image/png", "size": blob.size}}]},
    });
    old.pds
        .put_record(
            &alice.auth,
            alice.repo(),
            nsid("app.bsky.feed.post"),
            rkey("3kabcdefghijk"),
            json_value(with_image),
            None,
            None,
            None,
        )
        .await
        .expect("post with image");
    let car = old
        .pds
        .get_repo(&alice.did, None, None)
        .await
        .expect("export");

    // The new PDS: same DID, deactivated, then import.
    let new = test_pds_with_plc(plc.clone()).await;
    let auth = byo_account(&new, &alice.did).await;
    let commit = new
        .pds
        .import_repo(&auth, Bytes::from(car))
        .await
        .expect("import");

    let status = new.pds.check_account_status(&auth).await.expect("status");
    assert!(!status.activated);
    assert!(
        !status.valid_did,
        "the DID document still names the old PDS's key"
    );
    assert_eq!(status.indexed_records, 6);
    assert_eq!((status.expected_blobs, status.imported_blobs), (1, 0));
    assert_eq!(status.repo_commit, commit.cid);
    let missing = new
        .pds
        .list_missing_blobs(&auth, None, None)
        .await
        .expect("missing");
    assert_eq!(missing.blobs.len(), 1);
    assert_eq!(missing.blobs[0].0, blob.cid);
    assert!(
        missing.blobs[0]
            .1
            .as_str()
            .ends_with("/app.bsky.feed.post/3kabcdefghijk")
    );
    new.pds
        .upload_blob(&auth, Some("image/png"), Bytes::from_static(PNG))
        .await
        .expect("upload");
    assert!(
        new.pds
            .list_missing_blobs(&auth, None, None)
            .await
            .expect("missing")
            .blobs
            .is_empty()
    );
    let status = new.pds.check_account_status(&auth).await.expect("status");
    assert_eq!((status.expected_blobs, status.imported_blobs), (1, 1));

    // The imported repository is served (to its owner while deactivated), re-signed here,
    // and writable once active.
    let exported = new
        .pds
        .get_repo(&alice.did, None, Some(&auth))
        .await
        .expect("own export");
    let v = verify_car(exported.as_slice(), &VerifyOptions::default()).expect("verifies");
    assert_eq!((v.commit_cid, v.record_count), (commit.cid, 6));
    assert_eq!(
        new.pds
            .get_blob(&alice.did, &blob.cid, Some(&auth))
            .await
            .expect("blob")
            .bytes
            .as_ref(),
        PNG
    );
    expect_kind(
        new.pds.activate_account(&auth).await,
        ErrorKind::InvalidRequest,
        "DID not updated yet",
    );
    point_did_at(&plc, &old, &new, &auth, &alice.did).await;
    assert!(
        new.pds
            .check_account_status(&auth)
            .await
            .expect("status")
            .valid_did
    );
    new.pds.activate_account(&auth).await.expect("activate");
    new.pds
        .create_record(
            &auth,
            alice.repo(),
            nsid("app.bsky.feed.post"),
            None,
            post("hello from the new home"),
            None,
            None,
        )
        .await
        .expect("write after import");
    let list = new
        .pds
        .list_records(
            &alice.repo(),
            &nsid("app.bsky.feed.post"),
            Some(100),
            None,
            false,
            None,
        )
        .await
        .expect("list");
    assert_eq!(list.records.len(), 7);
}

/// The old PDS signs (its rotation key) a PLC update naming the new PDS, which submits it.
async fn point_did_at(
    plc: &pds::MemoryPlc,
    old: &crate::harness::TestPds,
    new: &crate::harness::TestPds,
    auth: &pds::AuthContext,
    did: &syntax::Did,
) {
    let creds = new
        .pds
        .recommended_did_credentials(auth)
        .await
        .expect("creds");
    let key = crypto::PublicKey::from_did_key(
        creds["verificationMethods"]["atproto"]
            .as_str()
            .expect("key"),
    )
    .expect("did:key");
    let last = pds::PlcClient::last_operation(plc, did)
        .await
        .expect("log")
        .expect("known");
    let fields = identity::PlcFields::atproto(
        vec![new.pds.config().plc_rotation_key.public_key().to_did_key()],
        &key,
        &"alice.test".parse().expect("handle"),
        "https://pds.test",
    );
    let op =
        identity::Operation::update(fields, last.cid()).sign(&old.pds.config().plc_rotation_key);
    new.pds
        .submit_plc_operation(auth, &op.to_json())
        .await
        .expect("submit");
}

#[tokio::test]
async fn import_repo_rejects_foreign_or_broken_cars() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let bob = create_account(&t, "bob").await;
    let bobs_car = t.pds.get_repo(&bob.did, None, None).await.expect("export");
    let e = t
        .pds
        .import_repo(&alice.auth, Bytes::from(bobs_car.clone()))
        .await
        .expect_err("other DID (checklist #56)");
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    expect_kind(
        t.pds
            .import_repo(&alice.auth, Bytes::from_static(b"not a car"))
            .await,
        ErrorKind::InvalidRequest,
        "garbage",
    );
    let mut truncated = bobs_car;
    truncated.truncate(truncated.len() / 2);
    expect_kind(
        t.pds.import_repo(&bob.auth, Bytes::from(truncated)).await,
        ErrorKind::InvalidRequest,
        "truncated",
    );
    // Nothing changed.
    let v = verify_car(
        t.pds
            .get_repo(&alice.did, None, None)
            .await
            .expect("export")
            .as_slice(),
        &VerifyOptions::default(),
    )
    .expect("verifies");
    assert_eq!(v.record_count, 0);
}

#[tokio::test]
async fn submit_plc_operation_moves_the_did_here() {
    let plc = Arc::new(pds::MemoryPlc::new());
    let old = test_pds_with_plc(plc.clone()).await;
    let new = test_pds_with_plc(plc.clone()).await;
    let alice = create_account(&old, "alice").await;
    let auth = byo_account(&new, &alice.did).await;
    let creds = new
        .pds
        .recommended_did_credentials(&auth)
        .await
        .expect("creds");
    let new_key = crypto::PublicKey::from_did_key(
        creds["verificationMethods"]["atproto"]
            .as_str()
            .expect("key"),
    )
    .expect("did:key");
    let handle: syntax::Handle = "alice.test".parse().expect("handle");
    let last = pds::PlcClient::last_operation(&*plc, &alice.did)
        .await
        .expect("log")
        .expect("known");
    let op_for = |endpoint: &str| {
        let fields = identity::PlcFields::atproto(
            vec![new.pds.config().plc_rotation_key.public_key().to_did_key()],
            &new_key,
            &handle,
            endpoint,
        );
        // The old PDS signs with its rotation key (signPlcOperation on its side).
        identity::Operation::update(fields, last.cid()).sign(&old.pds.config().plc_rotation_key)
    };
    expect_kind(
        new.pds
            .submit_plc_operation(&auth, &op_for("https://elsewhere.test").to_json())
            .await,
        ErrorKind::InvalidRequest,
        "wrong endpoint",
    );
    new.pds
        .submit_plc_operation(&auth, &op_for("https://pds.test").to_json())
        .await
        .expect("submit");
    let doc = pds::PlcClient::resolve(&*plc, &alice.did)
        .await
        .expect("resolve")
        .expect("doc");
    assert_eq!(
        doc.signing_key().expect("key").to_did_key(),
        new_key.to_did_key()
    );
    expect_kind(
        new.pds
            .submit_plc_operation(&auth, &serde_json::json!({"type": "nope"}))
            .await,
        ErrorKind::InvalidRequest,
        "garbage",
    );
}
