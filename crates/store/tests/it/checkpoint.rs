//! The background WAL checkpointer: the writer never checkpoints on its own, the task does
//! while the store is open, and closing the store leaves an empty WAL behind.

use std::path::Path;
use std::time::Duration;

use pds::ports::{EventKind, EventStore, NewEvent};
use store::{CheckpointOptions, SqliteOptions, SqliteStore};

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
async fn close_truncates_the_wal_and_keeps_every_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pds.sqlite");
    let store = SqliteStore::open(&path).await.expect("open");
    append(&store, 3000).await;
    let grown = wal_len(&path);
    assert!(grown > 0, "the writes went through the WAL");
    // (Whether the WAL restarts while writes go on is the next test's subject.)
    tokio::time::sleep(Duration::from_millis(600)).await;
    append(&store, 1500).await;
    store.close().await;
    assert_eq!(wal_len(&path), 0, "close truncates the WAL");
    let store = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(store.latest_seq().await.expect("latest"), Some(4500));
    store.close().await;
}

#[tokio::test]
async fn the_wal_stays_bounded_under_continuous_writes() {
    // Without the catch-up step on the writer's connection, a writer that never pauses keeps
    // every checkpoint from reaching the end of the WAL, and the WAL grows with every write.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pds.sqlite");
    // A short interval and threshold, so the bound does not depend on how fast this machine
    // writes compared with the default 500 ms.
    let opts = SqliteOptions {
        checkpoint: CheckpointOptions {
            interval: Duration::from_millis(20),
            catch_up_pages: 1024,
        },
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, &opts).await.expect("open");
    const EVENT: usize = 32 * 1024;
    const TOTAL: usize = 128 * 1024 * 1024;
    let mut written = 0;
    let mut largest = 0;
    while written < TOTAL {
        store
            .append_event(NewEvent {
                did: "did:plc:checkpoint".parse().expect("did"),
                kind: EventKind::Info,
                event: vec![9; EVENT],
                created_at: 1,
            })
            .await
            .expect("append");
        written += EVENT;
        largest = largest.max(wal_len(&path));
    }
    println!(
        "wrote {} MiB; largest WAL {} MiB",
        written >> 20,
        largest >> 20
    );
    // This loop appends tens of MiB per second, far beyond a PDS's write rate, so the WAL
    // reaches what it appends during a few checkpoint cycles (more on a loaded machine, where
    // the checkpointer gets less time); what matters is that it restarts instead of absorbing
    // every write: a WAL that never restarts ends above TOTAL (each 32 KiB event takes nine
    // pages with their frame headers).
    assert!(
        largest < TOTAL as u64,
        "WAL grew to {largest} bytes while {written} bytes were written"
    );
    store.close().await;
}
