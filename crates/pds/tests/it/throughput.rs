//! A quick in-process throughput probe of the write path (ignored by default; run with
//! `cargo test -p pds --release -- --ignored --nocapture throughput`). The HTTP-level benchmark
//! against the reference PDS lives with the relay.

use std::sync::Arc;
use std::time::Instant;

use crate::harness::{create_account, nsid, post, test_pds};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing probe, run on demand"]
async fn throughput_create_record() {
    let t = test_pds().await;
    let n_accounts = 4;
    let per_account = 500;
    let mut accounts = Vec::new();
    for i in 0..n_accounts {
        accounts.push(create_account(&t, &format!("user{i}")).await);
    }
    for (label, concurrency_per_account) in [("1 writer/account", 1usize), ("4 writers/account", 4)]
    {
        let start = Instant::now();
        let written_before = bytes_written();
        let mut handles = Vec::new();
        for a in &accounts {
            for w in 0..concurrency_per_account {
                let pds = Arc::clone(&t.pds);
                let auth = a.auth.clone();
                let repo = a.repo();
                let n = per_account / concurrency_per_account;
                handles.push(tokio::spawn(async move {
                    for j in 0..n {
                        pds.create_record(
                            &auth,
                            repo.clone(),
                            nsid("app.bsky.feed.post"),
                            None,
                            post(&format!("w{w} p{j}")),
                            None,
                            None,
                        )
                        .await
                        .expect("create");
                    }
                }));
            }
        }
        for h in handles {
            h.await.expect("task");
        }
        let total = n_accounts * per_account;
        let secs = start.elapsed().as_secs_f64();
        let written = bytes_written().saturating_sub(written_before);
        println!(
            "{label}: {total} createRecord in {secs:.2}s = {:.0}/s, {} bytes written per write",
            total as f64 / secs,
            written / total as u64
        );
    }
    let start = Instant::now();
    let car = t
        .pds
        .get_repo(&accounts[0].did, None, None)
        .await
        .expect("getRepo");
    println!(
        "getRepo of {} records: {} bytes in {:?}",
        2 * per_account,
        car.len(),
        start.elapsed()
    );
}

/// Bytes this process has passed to `write`-family syscalls (Linux `/proc/self/io` `wchar`),
/// a load-independent measure of the storage work per write.
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("wchar: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}
