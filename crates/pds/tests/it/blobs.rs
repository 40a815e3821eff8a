//! Blob lifecycle: temporary until referenced, served and listed once referenced, deleted with
//! the last reference; MIME sniffing; size limit (checklist #63-#65, #172-#174).

use bytes::Bytes;
use pds::ErrorKind;

use crate::harness::{create_account, expect_kind, json_value, nsid, rkey, test_pds};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRfake-image-bytes";

#[tokio::test]
async fn blob_lifecycle() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let up = t
        .pds
        .upload_blob(
            &alice.auth,
            Some("application/octet-stream"),
            Bytes::from_static(PNG),
        )
        .await
        .expect("upload");
    assert_eq!(
        up.mime_type, "image/png",
        "sniffed type wins over the declared one"
    );
    assert_eq!(up.size, PNG.len() as u64);
    assert_eq!(up.cid, data_model::cid_for_raw(PNG));
    // Re-upload changes nothing.
    let again = t
        .pds
        .upload_blob(&alice.auth, Some("image/png"), Bytes::from_static(PNG))
        .await
        .expect("again");
    assert_eq!(again, up);

    // Temporary: not served, not listed.
    expect_kind(
        t.pds.get_blob(&alice.did, &up.cid, None).await,
        ErrorKind::BlobNotFound,
        "temp",
    );
    assert!(
        t.pds
            .list_blobs(&alice.did, None, None, None, None)
            .await
            .expect("list")
            .cids
            .is_empty()
    );

    // Referenced by a post: permanent.
    let mut record = serde_json::json!({
        "$type": "app.bsky.feed.post",
        "text": "look",
        "createdAt": "2026-11-23T12:00:00.000Z",
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [{"alt": "a png", "image": {"$type": "blob", "ref": {"$link": up.cid.to_string()}, "mimeType": "image/png", "size": up.size}}],
        },
    });
    let r = t
        .pds
        .put_record(
            &alice.auth,
            alice.repo(),
            nsid("app.bsky.feed.post"),
            rkey("3kabcdefghijk"),
            json_value(record.clone()),
            None,
            None,
            None,
        )
        .await
        .expect("post with image");
    let blob = t
        .pds
        .get_blob(&alice.did, &up.cid, None)
        .await
        .expect("served");
    assert_eq!(blob.bytes.as_ref(), PNG);
    assert_eq!(blob.mime_type, "image/png");
    assert_eq!(
        t.pds
            .list_blobs(&alice.did, None, None, None, None)
            .await
            .expect("list")
            .cids,
        vec![up.cid]
    );
    assert_eq!(
        t.pds
            .list_blobs(&alice.did, Some(&r.commit.rev), None, None, None)
            .await
            .expect("since")
            .cids,
        vec![]
    );

    // A ref whose size or type differs from the upload is refused.
    let mut lying = record.clone();
    lying["embed"]["images"][0]["image"]["size"] = serde_json::json!(1);
    expect_kind(
        t.pds
            .put_record(
                &alice.auth,
                alice.repo(),
                nsid("app.bsky.feed.post"),
                rkey("3kabcdefghijm"),
                json_value(lying),
                None,
                None,
                None,
            )
            .await,
        ErrorKind::InvalidRequest,
        "size mismatch",
    );

    // A record referencing an unknown blob is refused (checklist #173).
    record["embed"]["images"][0]["image"]["ref"]["$link"] =
        serde_json::Value::String(data_model::cid_for_raw(b"other").to_string());
    expect_kind(
        t.pds
            .put_record(
                &alice.auth,
                alice.repo(),
                nsid("app.bsky.feed.post"),
                rkey("3kabcdefghijl"),
                json_value(record),
                None,
                None,
                None,
            )
            .await,
        ErrorKind::InvalidRequest,
        "unknown blob",
    );

    // Deleting the only referencing record deletes the blob.
    t.pds
        .delete_record(
            &alice.auth,
            alice.repo(),
            nsid("app.bsky.feed.post"),
            rkey("3kabcdefghijk"),
            None,
            None,
        )
        .await
        .expect("delete");
    expect_kind(
        t.pds.get_blob(&alice.did, &up.cid, None).await,
        ErrorKind::BlobNotFound,
        "deleted",
    );

    // Fresh temporary uploads survive collection (1-hour floor).
    t.pds
        .upload_blob(&alice.auth, None, Bytes::from_static(b"temp bytes"))
        .await
        .expect("upload");
    assert_eq!(
        t.pds
            .collect_temp_blobs(std::time::Duration::ZERO)
            .await
            .expect("gc"),
        0
    );
}

#[tokio::test]
async fn blob_size_limit_and_declared_types() {
    let t = test_pds().await;
    let alice = create_account(&t, "alice").await;
    let big = Bytes::from(vec![0u8; 1024 * 1024 + 1]);
    expect_kind(
        t.pds.upload_blob(&alice.auth, Some("video/mp4"), big).await,
        ErrorKind::PayloadTooLarge,
        "too big",
    );
    let up = t
        .pds
        .upload_blob(
            &alice.auth,
            Some("text/plain"),
            Bytes::from_static(b"hello"),
        )
        .await
        .expect("text");
    assert_eq!(up.mime_type, "text/plain");
    let up = t
        .pds
        .upload_blob(&alice.auth, Some("*/*"), Bytes::from_static(b"hello!"))
        .await
        .expect("unknown");
    assert_eq!(up.mime_type, "application/octet-stream");
}
