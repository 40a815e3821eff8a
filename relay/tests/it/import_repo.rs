//! Account migration over HTTP, receiving side (checklist #99, #100): `importRepo` with a CAR
//! body (encoding checks, the `import_repo_limit` body limit), then `listMissingBlobs` ->
//! `uploadBlob` while the new account is still deactivated, as the reference allows; the
//! uploaded blob becomes permanent at once because an imported record references it; another
//! account's CAR is refused (checklist #56).

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::common::{Reply, TestRelay, send};
use crate::pds_flow::{create_account, get, ok, post};

const CAR: &str = "application/vnd.ipld.car";

/// A tiny PNG header (enough for MIME sniffing).
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 7,
];

async fn raw_post(
    relay: &TestRelay,
    nsid: &str,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut b =
        Request::post(format!("/xrpc/{nsid}")).header("authorization", format!("Bearer {token}"));
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    send(&relay.app, b.body(Body::from(body)).unwrap()).await
}

/// An account halfway through a migration.
struct Moving {
    old: TestRelay,
    new: TestRelay,
    did: String,
    /// The access token on the new relay.
    access: String,
    blob_cid: String,
    post_uri: String,
    /// The old relay's `getRepo` CAR.
    car: Vec<u8>,
}

/// Old relay: an account with a post embedding an image. New relay (same PLC directory):
/// the same DID created from the old server's service-auth token, deactivated.
async fn two_relays(new_extra: &[(&str, &str)]) -> Moving {
    let old = TestRelay::start(&[]).await;
    let plc_url = old._plc.url();
    let mut settings = vec![
        ("RELAY_PLC_URL", plc_url.as_str()),
        ("RELAY_SERVICE_DID", "did:web:newpds.test"),
        ("RELAY_PUBLIC_URL", "https://newpds.test"),
    ];
    settings.extend_from_slice(new_extra);
    let new = TestRelay::start(&settings).await;
    let alice = create_account(&old, "mover.test").await;
    let blob = ok(raw_post(
        &old,
        "com.atproto.repo.uploadBlob",
        &alice.access,
        Some("image/png"),
        PNG.to_vec(),
    )
    .await)["blob"]
        .clone();
    let blob_cid = blob["ref"]["$link"].as_str().unwrap().to_owned();
    let post_uri = ok(post(
        &old,
        "com.atproto.repo.createRecord",
        Some(&alice.access),
        json!({
            "repo": alice.did,
            "collection": "app.bsky.feed.post",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": "with a picture",
                "createdAt": "2024-01-01T00:00:00.000Z",
                "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]},
            },
        }),
    )
    .await)["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = ok(get(
        &old,
        "com.atproto.server.getServiceAuth?aud=did:web:newpds.test&lxm=com.atproto.server.createAccount",
        Some(&alice.access),
    )
    .await)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = ok(post(
        &new,
        "com.atproto.server.createAccount",
        Some(&token),
        json!({"handle": "mover.test", "did": alice.did, "email": "mover@example.com", "password": "hunter2-password"}),
    )
    .await);
    let new_access = created["accessJwt"].as_str().unwrap().to_owned();
    let car = get(
        &old,
        &format!("com.atproto.sync.getRepo?did={}", alice.did),
        None,
    )
    .await;
    assert!(car.status.is_success());
    Moving {
        old,
        new,
        did: alice.did,
        access: new_access,
        blob_cid,
        post_uri,
        car: car.body.to_vec(),
    }
}

fn missing(reply: Reply) -> Vec<Value> {
    ok(reply)["blobs"].as_array().unwrap().clone()
}

#[tokio::test]
async fn import_repo_then_missing_blobs_while_deactivated_checklist_100() {
    let Moving {
        old,
        new,
        did,
        access,
        blob_cid,
        post_uri,
        car,
    } = two_relays(&[]).await;
    let status = ok(get(&new, "com.atproto.server.checkAccountStatus", Some(&access)).await);
    assert_eq!(status["activated"], false);

    // Encoding first, as the reference's XRPC server.
    raw_post(
        &new,
        "com.atproto.repo.importRepo",
        &access,
        None,
        car.clone(),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    let msg = raw_post(
        &new,
        "com.atproto.repo.importRepo",
        &access,
        Some("application/json"),
        car.clone(),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("Wrong request encoding"), "{msg}");
    raw_post(
        &new,
        "com.atproto.repo.importRepo",
        &access,
        Some(CAR),
        b"not a car".to_vec(),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    // No token: 401.
    let anon = send(
        &new.app,
        Request::post("/xrpc/com.atproto.repo.importRepo")
            .header("content-type", CAR)
            .body(Body::from(car.clone()))
            .unwrap(),
    )
    .await;
    anon.assert_xrpc_error(401, "AuthMissing");
    // Another account's repository is refused (checklist #56).
    let other = create_account(&old, "other.test").await;
    let other_car = get(
        &old,
        &format!("com.atproto.sync.getRepo?did={}", other.did),
        None,
    )
    .await;
    let msg = raw_post(
        &new,
        "com.atproto.repo.importRepo",
        &access,
        Some(CAR),
        other_car.body.to_vec(),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    assert!(msg.contains("Invalid repository CAR"), "{msg}");

    assert_eq!(
        missing(get(&new, "com.atproto.repo.listMissingBlobs", Some(&access)).await),
        Vec::<Value>::new()
    );
    ok(raw_post(
        &new,
        "com.atproto.repo.importRepo",
        &access,
        Some(CAR),
        car.clone(),
    )
    .await);
    let status = ok(get(&new, "com.atproto.server.checkAccountStatus", Some(&access)).await);
    assert_eq!(status["indexedRecords"], 1, "{status}");
    assert_eq!(status["expectedBlobs"], 1, "{status}");
    assert_eq!(status["importedBlobs"], 0, "{status}");

    // The image is missing on the new server.
    let listed = missing(get(&new, "com.atproto.repo.listMissingBlobs", Some(&access)).await);
    assert_eq!(
        listed,
        vec![json!({"cid": blob_cid, "recordUri": post_uri})]
    );
    get(
        &new,
        "com.atproto.repo.listMissingBlobs?limit=0",
        Some(&access),
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");
    get(&new, "com.atproto.repo.listMissingBlobs", None)
        .await
        .assert_xrpc_error(401, "AuthMissing");

    // getBlob from the old server -> uploadBlob to the new one, still deactivated.
    let bytes = get(
        &old,
        &format!("com.atproto.sync.getBlob?did={did}&cid={blob_cid}"),
        None,
    )
    .await;
    assert!(bytes.status.is_success());
    let uploaded = ok(raw_post(
        &new,
        "com.atproto.repo.uploadBlob",
        &access,
        Some("image/png"),
        bytes.body.to_vec(),
    )
    .await);
    assert_eq!(uploaded["blob"]["ref"]["$link"], blob_cid.as_str());
    assert_eq!(
        missing(get(&new, "com.atproto.repo.listMissingBlobs", Some(&access)).await),
        Vec::<Value>::new()
    );
    let status = ok(get(&new, "com.atproto.server.checkAccountStatus", Some(&access)).await);
    assert_eq!(status["importedBlobs"], 1, "{status}");
    // Referenced, so permanent: served to its (deactivated) owner.
    let served = get(
        &new,
        &format!("com.atproto.sync.getBlob?did={did}&cid={blob_cid}"),
        Some(&access),
    )
    .await;
    assert!(served.status.is_success(), "{}", served.status);
    assert_eq!(served.body.as_ref(), PNG);

    // Importing the same CAR again is fine (the head is replaced, records unchanged).
    ok(raw_post(&new, "com.atproto.repo.importRepo", &access, Some(CAR), car).await);
    let (_, rkey) = post_uri.rsplit_once('/').unwrap();
    let record = ok(get(
        &new,
        &format!("com.atproto.repo.getRecord?repo={did}&collection=app.bsky.feed.post&rkey={rkey}"),
        Some(&access),
    )
    .await);
    assert_eq!(record["value"]["text"], "with a picture");
}

#[tokio::test]
async fn import_repo_body_limit_is_import_repo_limit_checklist_100() {
    let Moving {
        new, access, car, ..
    } = two_relays(&[("RELAY_IMPORT_REPO_LIMIT", "64")]).await;
    assert!(car.len() > 64);
    raw_post(&new, "com.atproto.repo.importRepo", &access, Some(CAR), car)
        .await
        .assert_xrpc_error(413, "PayloadTooLarge");
}
