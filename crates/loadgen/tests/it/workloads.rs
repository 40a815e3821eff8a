//! Whole workloads against the fake server: counts, windows, error accounting, CAR checks.

use std::sync::atomic::Ordering;
use std::time::Duration;

use loadgen::create_records::{self, CreateRecordsOptions};
use loadgen::get_repo::{self, GetRepoOptions};
use loadgen::report;

use crate::fake_server;

fn options(url: &str) -> CreateRecordsOptions {
    CreateRecordsOptions {
        url: url.to_owned(),
        accounts: 3,
        concurrency: 3,
        duration: Duration::from_millis(600),
        warmup: Duration::from_millis(100),
        server_pid: Some(std::process::id()),
        label: "fake".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_records_counts_ops_and_latencies() {
    let (url, fake) = fake_server::start().await;
    let r = create_records::run(&options(&url)).await.expect("run");
    assert_eq!(
        fake.accounts.load(Ordering::SeqCst),
        3,
        "one account per worker"
    );
    assert!(r.ops > 10, "some operations in 600 ms: {}", r.ops);
    assert_eq!(r.errors, 0);
    assert_eq!(r.latency_ms.count as u64, r.ops);
    assert!(r.latency_ms.p50 <= r.latency_ms.p99 && r.latency_ms.p99 <= r.latency_ms.max);
    assert!((r.ops_per_s - r.ops as f64 / 0.6).abs() < 1e-6);
    // Warm-up and tail requests are performed but not counted.
    assert!(fake.records.load(Ordering::SeqCst) >= r.ops);
    let server = r.server.as_ref().expect("server readings for our own pid");
    assert!(server.rss_kib_after > 0 && server.rss_kib_before.is_some());
    assert!(r.other_busy_cores.is_some_and(|c| c >= 0.0));
    let json = serde_json::to_value(&r).expect("serializes");
    assert_eq!(json["kind"], "create-records");
    assert_eq!(json["latency_ms"]["count"], json["ops"]);
    let md = report::create_records_table(std::slice::from_ref(&r));
    assert_eq!(md.lines().count(), 3, "{md}");
    assert!(
        md.lines()
            .nth(2)
            .is_some_and(|l| l.starts_with("| fake | 3 |")),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_records_counts_errors_and_keeps_samples() {
    let (url, fake) = fake_server::start().await;
    fake.fail_every.store(4, Ordering::SeqCst);
    let mut opts = options(&url);
    opts.accounts = 1; // all three workers share one account
    let r = create_records::run(&opts).await.expect("run");
    assert_eq!(fake.accounts.load(Ordering::SeqCst), 1);
    assert!(r.errors > 0 && r.errors_total >= r.errors, "{r:?}");
    assert!(
        r.ops > r.errors,
        "3 of 4 calls succeed: {} ok, {} errors",
        r.ops,
        r.errors
    );
    assert_eq!(
        r.error_samples.len(),
        1,
        "one distinct message: {:?}",
        r.error_samples
    );
    assert!(
        r.error_samples[0].contains("HTTP 500"),
        "{:?}",
        r.error_samples
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_records_fails_cleanly_when_the_server_is_down() {
    let mut opts = options("http://127.0.0.1:9");
    opts.server_pid = None;
    let e = create_records::run(&opts)
        .await
        .expect_err("nothing listens on port 9");
    assert!(e.to_string().contains("health check"), "{e}");
    let e = create_records::run(&options("http://example.com"))
        .await
        .expect_err("not loopback");
    assert!(e.to_string().contains("loopback"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_repo_seeds_in_batches_and_times_downloads() {
    let (url, fake) = fake_server::start().await;
    let opts = GetRepoOptions {
        url,
        records: 450,
        batch: 200,
        iterations: 3,
        server_pid: Some(std::process::id()),
        label: "fake".into(),
    };
    let r = get_repo::run(&opts).await.expect("run");
    assert_eq!(fake.apply_calls.load(Ordering::SeqCst), 3, "200 + 200 + 50");
    assert_eq!(fake.records.load(Ordering::SeqCst), 450);
    assert_eq!(r.car_blocks, 451);
    assert_eq!(r.iterations, 3);
    assert!(r.ms.min <= r.ms.median && r.ms.median <= r.ms.max);
    assert!(r.server_cpu_ms_per_download.is_some());
    let md = report::get_repo_table(std::slice::from_ref(&r));
    assert!(md.contains("| fake | 450 |"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_repo_rejects_an_incomplete_car() {
    let (url, fake) = fake_server::start().await;
    fake.short_repo.store(true, Ordering::SeqCst);
    let opts = GetRepoOptions {
        url,
        records: 100,
        batch: 500, // clamped to 200
        iterations: 1,
        server_pid: None,
        label: "fake".into(),
    };
    let e = get_repo::run(&opts).await.expect_err("short repo");
    assert!(e.to_string().contains("incomplete"), "{e}");
    assert_eq!(
        fake.apply_calls.load(Ordering::SeqCst),
        1,
        "batch clamped to 200"
    );
}
