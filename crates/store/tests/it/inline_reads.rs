//! The hot path's inline reads (`sqlite_read.rs`) give the same answers as the pooled reads
//! (the fallback on a locked database is a unit test there).

use pds::ports::{EventKind, EventStore, NewEvent};
use store::SqliteStore;

fn event(i: usize) -> NewEvent {
    NewEvent {
        did: "did:plc:inline".parse().expect("did"),
        kind: EventKind::Info,
        event: vec![u8::try_from(i % 251).expect("byte"); 100],
        created_at: 1,
    }
}

#[tokio::test]
async fn inline_and_pooled_pages_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("pds.sqlite"))
        .await
        .expect("open");
    for i in 0..600 {
        store.append_event(event(i)).await.expect("append");
    }
    // 256 rows and under are read inline, more through the pool.
    let small = store.events_after(10, 256).await.expect("inline page");
    let large = store.events_after(10, 600).await.expect("pooled page");
    assert_eq!(small.len(), 256);
    assert_eq!(large.len(), 590);
    for (a, b) in small.iter().zip(&large) {
        assert_eq!(
            (a.seq, &a.did, a.kind, &a.event),
            (b.seq, &b.did, b.kind, &b.event)
        );
    }
    assert_eq!(small.first().map(|e| e.seq), Some(11));
    store.close().await;
}
