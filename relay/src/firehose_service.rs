//! The relay's firehose wiring: settings ([`FirehoseSettings`], read by [`crate::config`]), the
//! `requestCrawl` sender over the SSRF-guarded client ([`HttpCrawlRequester`]), and the
//! background tasks `relay serve` runs ([`spawn_background`]: retention pruning and crawlers).
//! The WebSocket endpoint itself is in `xrpc/subscribe.rs`; the stream logic is the `firehose`
//! crate.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use firehose::{CrawlRequester, CrawlerConfig, FirehoseConfig, RingLimits};
use pds::ports::{EventStore, MAX_SEQ, Millis, Seq, StoreError};

use crate::server::AppState;
use crate::ssrf::SafeClient;

/// Default retention window (`firehose_retention`): 72 hours.
pub const DEFAULT_RETENTION: &str = "72h";
/// Default live buffer, in events (`firehose_buffer_events`).
pub const DEFAULT_BUFFER_EVENTS: usize = 10_000;
/// Default cap on concurrent `subscribeRepos` connections (`firehose_max_subscribers`): a
/// relay-facing PDS has a handful of subscribers; the firehose benchmark holds 1,000 at about
/// 150 MiB.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 5_000;

/// Default live buffer, in bytes (`firehose_buffer_bytes`): 64 MiB.
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024 * 1024;

/// Default per-connection bandwidth limit (`firehose_max_bytes_per_second`): 8 MiB/s. Live
/// traffic never gets near it: 1,000 events/s of ~2 KiB (a very busy PDS) is ~2 MiB/s, and the
/// one-second burst (8 MiB) absorbs spikes. What it bounds is a replay of the retention window
/// from an old cursor, which would otherwise go as fast as the socket takes it (a 72 h replay
/// of 1 GiB takes at least ~2 minutes instead of saturating the uplink per subscriber).
pub const DEFAULT_MAX_BYTES_PER_SECOND: u64 = 8 * 1024 * 1024;

/// Firehose settings. The first six come from the config file / environment; the timeouts
/// are fixed defaults that tests may shorten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseSettings {
    /// How long events stay replayable (`firehose_retention`, e.g. `72h`, `7d`, `30d`, `90d`).
    pub retention: Duration,
    /// Live buffer shared by all subscribers, in events: a live subscriber further behind
    /// gets `ConsumerTooSlow` (`firehose_buffer_events`).
    pub buffer_events: usize,
    /// Live buffer, in bytes (`firehose_buffer_bytes`).
    pub buffer_bytes: usize,
    /// Relay base URLs sent `requestCrawl` (`crawlers`).
    pub crawlers: Vec<String>,
    /// Most `subscribeRepos` connections at once (`firehose_max_subscribers`); one more is
    /// refused with 503 before the upgrade (checklist #180).
    pub max_subscribers: usize,
    /// Bytes per second each `subscribeRepos` connection is sent at most, after a one-second
    /// burst (`firehose_max_bytes_per_second`; `0`: no limit; checklist #180).
    pub max_bytes_per_second: u64,
    /// Where `seq` starts after a start-up (`firehose_seq_floor`; checklist #75).
    pub seq_floor: SeqFloor,
    /// Send live frames with `sendfile` from the firehose's spool instead of copying them
    /// into each subscriber's socket (`firehose_zero_copy`, default on; Linux only: elsewhere
    /// it has no effect).
    pub zero_copy: bool,
    /// Event rates to warn the operator about (`firehose_relay_quota`, default relays' quotas
    /// for a new host: 50/s, 2,600/h, 21,000/day; empty: no warning).
    pub relay_quotas: Vec<firehose::QuotaLimit>,
    /// How often a ping is sent to each subscriber.
    pub ping_interval: Duration,
    /// A subscriber that sends nothing (not even a pong) for this long is disconnected.
    pub idle_timeout: Duration,
    /// A subscriber whose socket does not take one batch of frames within this is
    /// disconnected.
    pub send_timeout: Duration,
    /// How often old events are pruned.
    pub prune_interval: Duration,
}

impl Default for FirehoseSettings {
    fn default() -> Self {
        FirehoseSettings {
            retention: firehose::DEFAULT_RETENTION,
            buffer_events: DEFAULT_BUFFER_EVENTS,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            crawlers: Vec::new(),
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
            max_bytes_per_second: DEFAULT_MAX_BYTES_PER_SECOND,
            seq_floor: SeqFloor::Clock,
            zero_copy: true,
            relay_quotas: firehose::RELAY_DEFAULT_QUOTAS.to_vec(),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            send_timeout: Duration::from_secs(60),
            prune_interval: Duration::from_secs(10 * 60),
        }
    }
}

impl FirehoseSettings {
    /// The `firehose` crate's configuration.
    pub fn firehose_config(&self) -> FirehoseConfig {
        FirehoseConfig {
            retention: self.retention,
            ring: RingLimits {
                max_events: self.buffer_events,
                max_bytes: self.buffer_bytes,
            },
            relay_quotas: self.relay_quotas.clone(),
            ..FirehoseConfig::default()
        }
    }
}

/// Where the event log's `seq` starts after a start-up (`firehose_seq_floor`; checklist #75).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqFloor {
    /// Above the current Unix time in milliseconds: a new database, or one restored from an
    /// older backup, never reissues a `seq` relays have seen, as long as the server averaged
    /// fewer than 1,000 events per second (ms since 1970 is ~1.8e12, far below 2^53).
    Clock,
    /// Above this value.
    Fixed(Seq),
    /// No floor: `seq` continues from the database.
    Off,
}

impl SeqFloor {
    /// Parses `clock`, `off` or a positive integer below 2^53.
    pub fn parse(s: &str) -> Result<SeqFloor, String> {
        match s {
            "clock" => Ok(SeqFloor::Clock),
            "off" => Ok(SeqFloor::Off),
            n => match n.parse::<Seq>() {
                Ok(v) if (1..MAX_SEQ).contains(&v) => Ok(SeqFloor::Fixed(v)),
                _ => Err(format!(
                    "must be \"clock\", \"off\" or an integer from 1 to {}",
                    MAX_SEQ - 1
                )),
            },
        }
    }

    /// The floor at `now_ms` (Unix milliseconds), if any.
    pub fn value(self, now_ms: Millis) -> Option<Seq> {
        match self {
            SeqFloor::Clock => Some(now_ms.clamp(0, MAX_SEQ - 1)),
            SeqFloor::Fixed(v) => Some(v),
            SeqFloor::Off => None,
        }
    }
}

/// Raises the event log's sequence to `floor`'s value at start-up, before any write, and
/// checks the result stays below 2^53 (checklist #75). Returns the latest `seq` afterwards.
pub async fn apply_seq_floor(
    events: &dyn EventStore,
    floor: SeqFloor,
    now_ms: Millis,
) -> Result<Option<Seq>, StoreError> {
    let latest = match floor.value(now_ms) {
        Some(v) => events.raise_seq_floor(v).await?,
        None => events.latest_seq().await?,
    };
    match latest {
        Some(l) if l >= MAX_SEQ - 1_000_000_000 => {
            tracing::error!(
                latest = l,
                "the firehose seq is close to 2^53; clients may misread it"
            );
        }
        Some(l) if floor != SeqFloor::Off => tracing::info!(next_seq = l + 1, "firehose seq floor"),
        _ => {}
    }
    Ok(latest)
}

/// Normalises a crawler entry: a bare host gets `https://`; no trailing slash.
pub fn crawler_url(entry: &str) -> String {
    let entry = entry.trim().trim_end_matches('/');
    if entry.contains("://") {
        entry.to_owned()
    } else {
        format!("https://{entry}")
    }
}

/// Sends `com.atproto.sync.requestCrawl` through the SSRF-guarded client (10 s timeout).
#[derive(Debug, Clone)]
pub struct HttpCrawlRequester {
    http: SafeClient,
}

impl HttpCrawlRequester {
    /// A requester over `http`.
    pub fn new(http: SafeClient) -> HttpCrawlRequester {
        HttpCrawlRequester { http }
    }
}

#[async_trait]
impl CrawlRequester for HttpCrawlRequester {
    async fn request_crawl(&self, service: &str, hostname: &str) -> Result<(), String> {
        let url = format!("{service}/xrpc/com.atproto.sync.requestCrawl");
        let res = self
            .http
            .post(&url)
            .map_err(|e| e.to_string())?
            .timeout(Duration::from_secs(10))
            .json(&serde_json::json!({ "hostname": hostname }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            Err(format!(
                "{status}: {}",
                body.chars().take(200).collect::<String>()
            ))
        }
    }
}

/// Starts the firehose hub, retention pruning (now and every `prune_interval`) and one
/// crawler task per configured relay. Returns the task handles (abort them on shutdown).
pub async fn spawn_background(
    state: &AppState,
) -> Result<Vec<tokio::task::JoinHandle<()>>, pds::ports::StoreError> {
    let settings = &state.config().firehose;
    let firehose = state.firehose().clone();
    let head = firehose.watch_head().await?;
    let mut tasks = vec![tokio::spawn(firehose::run_pruner(
        firehose,
        settings.prune_interval,
    ))];
    if !settings.crawlers.is_empty() {
        let config = CrawlerConfig::new(settings.crawlers.clone(), state.config().hostname.clone());
        let client: Arc<dyn CrawlRequester> =
            Arc::new(HttpCrawlRequester::new(state.http().clone()));
        tasks.extend(firehose::spawn_crawlers(&config, client, &head));
    }
    Ok(tasks)
}
