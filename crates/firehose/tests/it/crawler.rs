//! requestCrawl scheduling: at start-up, then on new events at most once per interval per
//! service, failures retried with backoff, a failing service never delaying another.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use firehose::{CrawlRequester, CrawlerConfig, spawn_crawlers};
use tokio::sync::watch;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<(String, String, bool)>>,
    fail_first: Mutex<usize>,
}

#[async_trait]
impl CrawlRequester for Fake {
    async fn request_crawl(&self, service: &str, hostname: &str) -> Result<(), String> {
        let fail = service.contains("down") || {
            let mut f = self.fail_first.lock().expect("lock");
            if *f > 0 {
                *f -= 1;
                true
            } else {
                false
            }
        };
        self.calls
            .lock()
            .expect("lock")
            .push((service.to_owned(), hostname.to_owned(), !fail));
        if fail { Err("503".into()) } else { Ok(()) }
    }
}

impl Fake {
    fn ok_calls(&self, service: &str) -> usize {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.0 == service && c.2)
            .count()
    }
    fn all_calls(&self, service: &str) -> usize {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .filter(|c| c.0 == service)
            .count()
    }
}

fn cfg(services: &[&str], min_interval_ms: u64) -> CrawlerConfig {
    CrawlerConfig {
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        hostname: "pds.example.com".into(),
        min_interval: Duration::from_millis(min_interval_ms),
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(40),
    }
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

#[tokio::test]
async fn startup_then_throttled_on_new_events() {
    let fake = Arc::new(Fake::default());
    let (tx, rx) = watch::channel(0i64);
    let tasks = spawn_crawlers(
        &cfg(&["https://relay-a", "https://relay-b"], 600),
        fake.clone(),
        &rx,
    );
    settle().await;
    assert_eq!(fake.ok_calls("https://relay-a"), 1, "at start-up");
    assert_eq!(fake.ok_calls("https://relay-b"), 1);
    assert!(
        fake.calls
            .lock()
            .expect("lock")
            .iter()
            .all(|c| c.1 == "pds.example.com"),
        "our hostname is sent"
    );
    // Events inside the throttle window: nothing more.
    for s in 1..20 {
        tx.send_replace(s);
    }
    settle().await;
    assert_eq!(fake.ok_calls("https://relay-a"), 1, "throttled");
    // After the window, the next event triggers one request.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fake.ok_calls("https://relay-a"), 1, "no event, no request");
    tx.send_replace(100);
    settle().await;
    assert_eq!(fake.ok_calls("https://relay-a"), 2);
    assert_eq!(fake.ok_calls("https://relay-b"), 2);
    drop(tx);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(2), t)
            .await
            .expect("tasks end when the event source goes away")
            .expect("task");
    }
}

#[tokio::test]
async fn failures_are_retried_with_backoff_and_isolated() {
    let fake = Arc::new(Fake::default());
    *fake.fail_first.lock().expect("lock") = 3;
    let (_tx, rx) = watch::channel(0i64);
    let tasks = spawn_crawlers(
        &cfg(&["https://relay-down", "https://relay-up"], 60_000),
        fake.clone(),
        &rx,
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    // relay-up eventually succeeds (after at most the 3 shared failures), once.
    assert_eq!(fake.ok_calls("https://relay-up"), 1);
    // relay-down keeps being retried, with growing delays (10, 20, 40, 40 ... ms): a handful of
    // attempts in 400 ms, not a busy loop.
    let attempts = fake.all_calls("https://relay-down");
    assert!((3..=20).contains(&attempts), "{attempts} attempts");
    for t in tasks {
        t.abort();
    }
}
