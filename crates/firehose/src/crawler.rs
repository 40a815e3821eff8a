//! Telling relays (BGS) to crawl us: `com.atproto.sync.requestCrawl {hostname}` to each
//! configured service at start-up and when new events appear, at most once per
//! [`CrawlerConfig::min_interval`] per service (20 minutes, as the reference PDS and rsky), and
//! never on the write path: each service has its own task that only watches the hub's head.
//!
//! As in the reference (`sequencer.ts` -> `crawlers.notifyOfUpdate`), events inside the
//! throttle window after a successful request trigger nothing: the relay is subscribed by then.
//! A failed request is logged and retried with exponential backoff (starting at
//! [`CrawlerConfig::retry_initial`], capped at [`CrawlerConfig::retry_max`]) until it succeeds.
//! The HTTP request itself is the caller's ([`CrawlRequester`]): the relay sends it through its
//! SSRF-guarded client.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pds::ports::Seq;
use tokio::sync::watch;
use tokio::time::Instant;

/// Sends one `requestCrawl`.
#[async_trait]
pub trait CrawlRequester: Send + Sync {
    /// POSTs `{hostname}` to `service`'s `com.atproto.sync.requestCrawl`; `Err` explains why it
    /// failed (for the log).
    async fn request_crawl(&self, service: &str, hostname: &str) -> Result<(), String>;
}

/// Crawler settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlerConfig {
    /// Relay base URLs (`https://bsky.network`).
    pub services: Vec<String>,
    /// Our public hostname, sent as `hostname`.
    pub hostname: String,
    /// Least time between two successful requests to one service.
    pub min_interval: Duration,
    /// First retry delay after a failure.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl CrawlerConfig {
    /// The reference's throttle (20 minutes) and a 30 s .. 10 min retry backoff.
    pub fn new(services: Vec<String>, hostname: impl Into<String>) -> CrawlerConfig {
        CrawlerConfig {
            services,
            hostname: hostname.into(),
            min_interval: Duration::from_secs(20 * 60),
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(10 * 60),
        }
    }
}

/// Runs one task per service until `new_events`' sender is dropped; returns their handles.
pub fn spawn_crawlers(
    config: &CrawlerConfig,
    client: Arc<dyn CrawlRequester>,
    new_events: &watch::Receiver<Seq>,
) -> Vec<tokio::task::JoinHandle<()>> {
    config
        .services
        .iter()
        .map(|service| {
            tokio::spawn(crawl_one(
                service.clone(),
                config.clone(),
                client.clone(),
                new_events.clone(),
            ))
        })
        .collect()
}

async fn crawl_one(
    service: String,
    config: CrawlerConfig,
    client: Arc<dyn CrawlRequester>,
    mut new_events: watch::Receiver<Seq>,
) {
    let mut last_ok: Option<Instant> = None;
    let mut wanted = true; // start-up
    loop {
        new_events.borrow_and_update();
        let throttled = last_ok.is_some_and(|t| t.elapsed() < config.min_interval);
        if wanted && !throttled {
            let mut delay = config.retry_initial;
            loop {
                match client.request_crawl(&service, &config.hostname).await {
                    Ok(()) => {
                        tracing::info!(%service, "requestCrawl sent");
                        last_ok = Some(Instant::now());
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(%service, error = %e, retry_in = ?delay, "requestCrawl failed");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(config.retry_max);
                    }
                }
            }
        }
        if new_events.changed().await.is_err() {
            return;
        }
        wanted = true;
    }
}
