//! `com.atproto.sync.getRepo` over HTTP is a streamed body (checklist #50, #57): CAR content
//! type, no `Content-Length` (chunked), the same bytes as the in-memory export; errors found
//! before the first byte are ordinary XRPC errors.

use serde_json::json;

use crate::common::TestRelay;
use crate::pds_flow::{create_account, get, ok, post};

#[tokio::test]
async fn checklist_50_57_get_repo_streams_the_car() {
    let relay = TestRelay::start(&[]).await;
    let alice = create_account(&relay, "alice.test").await;
    for batch in 0..3 {
        let writes: Vec<_> = (0..200)
            .map(|i| {
                json!({ "$type": "com.atproto.repo.applyWrites#create",
                        "collection": "app.bsky.feed.post",
                        "value": { "text": format!("post {batch}-{i}"),
                                   "createdAt": "2026-11-23T12:00:00.000Z" } })
            })
            .collect();
        ok(post(
            &relay,
            "com.atproto.repo.applyWrites",
            Some(&alice.access),
            json!({ "repo": alice.did, "writes": writes }),
        )
        .await);
    }
    let reply = get(
        &relay,
        &format!("com.atproto.sync.getRepo?did={}", alice.did),
        None,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], relay::xrpc::CAR_MIME);
    assert!(
        reply.headers.get("content-length").is_none(),
        "streamed, not buffered"
    );
    let did: syntax::Did = alice.did.parse().unwrap();
    let expected = relay.state.pds().get_repo(&did, None, None).await.unwrap();
    assert_eq!(
        &reply.body[..],
        &expected[..],
        "same bytes as the in-memory export"
    );
    let verified =
        repo::repo::verify_car(&reply.body[..], &repo::repo::VerifyOptions::default()).unwrap();
    assert_eq!(verified.record_count, 600);

    // getCheckout (deprecated) streams the same CAR.
    let checkout = get(
        &relay,
        &format!("com.atproto.sync.getCheckout?did={}", alice.did),
        None,
    )
    .await;
    assert_eq!(checkout.body, reply.body);

    // Errors before the first byte stay XRPC errors.
    get(
        &relay,
        "com.atproto.sync.getRepo?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
        None,
    )
    .await
    .assert_xrpc_error(400, "RepoNotFound");
    get(
        &relay,
        &format!("com.atproto.sync.getRepo?did={}&since=notatid", alice.did),
        None,
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
}
