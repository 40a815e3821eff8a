//! The background WAL checkpointer: the writer never checkpoints on its own, the task does
//! while the store is open, and closing the store leaves an empty WAL behind.

use std::path::Path;
use std::time::Duration;

use pds::ports::{EventKind, EventStore, NewEvent};
use store::SqliteStore;

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(Path::new(&wal)).map_or(0, |m| m.len())
}

async fn append(store: &SqliteStore, n: usize) {
    for i in 0..n {
        store
            .append_event(NewEvent {
                did: "did:plc:checkpoint".parse().expect("did"),
                kind: EventKind::Info,
                event: vec![7; 2048 + i % 7],
                created_at: 1,
            })
            .await
            .expect("append");
    }
}

#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background_and_truncated_on_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pds.sqlite");
    let store = SqliteStore::open(&path).await.expect("open");
    append(&store, 3000).await;
    let grown = wal_len(&path);
    assert!(grown > 0, "the writes went through the WAL");
    // The task checkpoints within a few of its intervals (500 ms); once the WAL is fully
    // copied back, the next write restarts it from the beginning, so it stops growing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    append(&store, 3000).await;
    let after = wal_len(&path);
    assert!(
        after <= grown,
        "the WAL restarted after a background checkpoint ({grown} then {after} bytes)"
    );
    store.close().await;
    assert_eq!(wal_len(&path), 0, "close truncates the WAL");
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(store.latest_seq().await.expect("latest"), Some(6000));
    store.close().await;
}
