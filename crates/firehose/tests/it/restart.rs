//! Restart (checklist #75): events written before a restart are replayed after it, and `seq`
//! continues above the old values, never reused (also after pruning everything).

use std::sync::Arc;
use std::time::Duration;

use pds::ports::EventStore;
use store::SqliteStore;

use crate::harness::{Fixture, config, read_n, seqs};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn events_survive_restart_and_seq_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("relay.sqlite");
    let mut before = Vec::new();
    {
        let store = Arc::new(SqliteStore::open(&path).await.expect("open"));
        let fx = Fixture::over(
            tempfile::tempdir().expect("tmp"),
            store.clone(),
            config(100),
        );
        let mut live = fx.firehose.subscribe(None).await.expect("subscribe");
        for n in 0..5 {
            before.push(fx.append(n).await);
        }
        assert_eq!(seqs(&read_n(&mut live, 5, WAIT).await), before);
        fx.firehose.close();
        store.close().await;
    }
    let store = Arc::new(SqliteStore::open(&path).await.expect("reopen"));
    let fx = Fixture::over(dir, store.clone(), config(100));
    // A subscriber that saw the second event resumes after it.
    let mut sub = fx
        .firehose
        .subscribe(Some(before[1]))
        .await
        .expect("subscribe");
    assert_eq!(seqs(&read_n(&mut sub, 3, WAIT).await), before[2..]);
    let next = fx.append(5).await;
    assert!(next > before[4], "seq continues: {next} > {}", before[4]);
    assert_eq!(seqs(&read_n(&mut sub, 1, WAIT).await), [next]);
    // After pruning everything and restarting again, seq still never goes back.
    assert_eq!(store.prune_events_before(i64::MAX).await.expect("prune"), 6);
    store.close().await;
    let store = Arc::new(SqliteStore::open(&dir_path(&fx)).await.expect("reopen"));
    let after = store
        .append_event(crate::harness::event(7, firehose::now_ms()))
        .await
        .expect("append");
    assert!(after > next, "no reuse after pruning + restart");
    // The head survives too: a cursor at the old head is not "in the future".
    let fx2 = Fixture::over(tempfile::tempdir().expect("tmp"), store, config(100));
    fx2.firehose
        .subscribe(Some(next))
        .await
        .expect("old head is a valid cursor");
}

fn dir_path(fx: &Fixture) -> std::path::PathBuf {
    fx._dir.path().join("relay.sqlite")
}
