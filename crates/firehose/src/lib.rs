//! `com.atproto.sync.subscribeRepos` (the firehose) on top of the durable sequencer log that
//! the `pds` use cases write in the same transaction as each state change.
//!
//! This crate is transport-agnostic: it knows frames, positions and the log, not WebSockets or
//! HTTP. The relay upgrades the connection, asks [`Firehose::subscribe`] for a
//! [`Subscription`], and writes every frame it yields as one binary message (plus pings and
//! timeouts, which belong to the transport).
//!
//! # Layout
//! - [`frame`]: header + body frames exactly per `specs/event-stream`; `seq` is spliced into
//!   the stored body (which is kept without `seq`) at its canonical key position.
//! - [`hub`]: the bounded live ring shared by all subscribers, fed by one tailer task.
//! - [`subscription`]: one subscriber: backfill in pages, cutover, live, `ConsumerTooSlow`.
//! - [`spool`]: optionally, the live frames in the transport's wire form in in-memory files,
//!   for transports that send from a file (`sendfile`) instead of copying per subscriber.
//! - [`crawler`]: `requestCrawl` to configured relays (throttled, retried, off the write path).
//! - [`quota`]: a warning when the server's event rate goes over the quotas relays apply to a
//!   host (50/s, 2,600/h, 21,000/day by default).
//! - [`Firehose`]: ties them together, plus the retention window ([`parse_duration`],
//!   [`Firehose::prune`]).
//!
//! # Cursor rules (checklist #76-#79, following the reference PDS)
//! - no cursor: live only, from the current head;
//! - `cursor > head`: [`SubscribeError::FutureCursor`] (send its frame, then close);
//! - the next event after `cursor` is older than the window, or pruning removed events after
//!   `cursor`: first an `#info OutdatedCursor` frame, then every retained event from the start
//!   of the window;
//! - otherwise: every event with `seq > cursor` (strictly greater, as the reference), then live.
//!
//! # Retention
//! Events older than [`FirehoseConfig::retention`] (default 72 h; 7, 30 or 90 days by config)
//! are deleted by [`Firehose::prune`], which the relay runs at start-up and then periodically.
//! The window is computed from each row's stored `created_at`, so it survives restarts; the
//! store records how far it pruned so a cursor into the pruned part is recognised as outdated.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod crawler;
pub mod frame;
pub mod hub;
pub mod quota;
pub mod spool;
pub mod subscription;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pds::ports::{EventStore, Millis, Seq, StoreError};
use tokio::sync::{OnceCell, watch};

pub use crawler::{CrawlRequester, CrawlerConfig, spawn_crawlers};
pub use frame::{DecodedFrame, FrameError, decode_frame, error_frame, event_frame, info_frame};
pub use hub::{Hub, RingFrame, RingLimits};
pub use quota::{QuotaLimit, RELAY_DEFAULT_QUOTAS, parse_quotas};
pub use spool::{Spool, WireBatch, WireFn, WireSpan};
pub use subscription::{Closed, Subscription};

/// Firehose settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirehoseConfig {
    /// How long events stay replayable (default 72 h).
    pub retention: Duration,
    /// Limits of the live ring; a live subscriber more than this far behind is too slow.
    pub ring: RingLimits,
    /// Rows per backfill query (the reference uses 500).
    pub backfill_page: usize,
    /// Most frames a live subscriber takes per wake-up.
    pub live_batch: usize,
    /// How often the tailer polls the log when nothing announced a write.
    pub tail_poll: Duration,
    /// Least time between two pushes to the live ring (events closer together go out as one
    /// batch; a sparse event is never delayed). See `hub::run_tailer`.
    pub coalesce: Duration,
    /// Added to [`FirehoseConfig::coalesce`]'s floor per connected subscriber: every push
    /// wakes every subscriber and costs each one a socket write, so with many subscribers
    /// pushes are spaced further apart (at 20 µs per subscriber, 1,000 subscribers are woken
    /// at most 50 times a second, i.e. 50,000 wake-ups and writes a second, whatever the
    /// event rate).
    pub coalesce_per_subscriber: Duration,
    /// Upper bound of the spacing between pushes, whatever the number of subscribers.
    pub coalesce_max: Duration,
    /// Event-rate limits the tailer warns about (relays' per-host quotas; see [`quota`]).
    pub relay_quotas: Vec<QuotaLimit>,
}

/// The default retention window: 72 hours.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 3600);

impl Default for FirehoseConfig {
    fn default() -> Self {
        FirehoseConfig {
            retention: DEFAULT_RETENTION,
            ring: RingLimits {
                max_events: 10_000,
                max_bytes: 64 * 1024 * 1024,
            },
            backfill_page: 500,
            live_batch: 256,
            tail_poll: Duration::from_secs(1),
            coalesce: Duration::from_millis(5),
            coalesce_per_subscriber: Duration::from_micros(20),
            coalesce_max: Duration::from_millis(25),
            relay_quotas: RELAY_DEFAULT_QUOTAS.to_vec(),
        }
    }
}

/// Parses a duration such as `72h`, `7d`, `30d`, `90m`, `3600s` or `3600` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number followed by s, m, h or d"))?;
    let secs = match unit.trim() {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        other => return Err(format!("{s:?}: unknown unit {other:?} (use s, m, h or d)")),
    }
    .ok_or_else(|| format!("{s:?}: too large"))?;
    Ok(Duration::from_secs(secs))
}

/// Why a subscription could not start.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The cursor is ahead of the newest event (checklist #77).
    #[error("cursor {cursor} is ahead of the stream (head {head})")]
    FutureCursor {
        /// The requested cursor.
        cursor: i64,
        /// The newest `seq`.
        head: Seq,
    },
    /// Reading the log failed.
    #[error("cannot read the sequencer log: {0}")]
    Store(#[from] StoreError),
}

impl SubscribeError {
    /// The error frame to send before closing.
    pub fn frame(&self) -> Bytes {
        match self {
            SubscribeError::FutureCursor { .. } => {
                error_frame(frame::FUTURE_CURSOR, Some(frame::FUTURE_CURSOR_MESSAGE))
            }
            SubscribeError::Store(_) => {
                error_frame("InternalServerError", Some("Internal Server Error"))
            }
        }
    }
}

/// The firehose of one server: the live hub, its tailer, and subscriptions (see crate docs).
pub struct Firehose {
    events: Arc<dyn EventStore>,
    notify: watch::Receiver<Seq>,
    config: FirehoseConfig,
    hub: OnceCell<Arc<Hub>>,
    /// The transport's framing, for the wire spool (see [`Firehose::with_wire`]).
    wire: Option<WireFn>,
}

impl std::fmt::Debug for Firehose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firehose")
            .field("config", &self.config)
            .field("started", &self.hub.initialized())
            .finish_non_exhaustive()
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Firehose {
    /// A firehose over `events`; `notify` announces the newest `seq` written by the use cases
    /// (`pds::Pds::subscribe_events`). Nothing runs until [`Firehose::start`] (or the first
    /// subscription) is awaited.
    pub fn new(
        events: Arc<dyn EventStore>,
        notify: watch::Receiver<Seq>,
        config: FirehoseConfig,
    ) -> Firehose {
        Firehose {
            events,
            notify,
            config,
            hub: OnceCell::new(),
            wire: None,
        }
    }

    /// Spools live frames in the form `wire` gives them (see [`spool`]), so the transport can
    /// send them from the spool's files. Without it, or where the spool cannot be made (not
    /// Linux; logged at start), frames carry no span and the transport sends from memory.
    pub fn with_wire(mut self, wire: WireFn) -> Firehose {
        self.wire = Some(wire);
        self
    }

    /// The settings.
    pub fn config(&self) -> &FirehoseConfig {
        &self.config
    }

    /// Starts the hub and its tailer (idempotent): the live stream begins after the newest
    /// `seq` in the log. Must be called inside a tokio runtime.
    pub async fn start(&self) -> Result<&Arc<Hub>, StoreError> {
        self.hub
            .get_or_try_init(|| async {
                let head = self.events.latest_seq().await?.unwrap_or(0);
                let mut hub = Hub::new(head, self.config.ring);
                if let Some(wire) = &self.wire {
                    match Spool::new(Arc::clone(wire), spool::DEFAULT_SEGMENT_BYTES) {
                        Ok(spool) => hub = hub.with_spool(spool),
                        Err(e) => tracing::info!(error = %e, "no firehose wire spool; live frames are sent from memory"),
                    }
                }
                let hub = Arc::new(hub);
                tokio::spawn(hub::run_tailer(
                    Arc::downgrade(&hub),
                    self.events.clone(),
                    self.notify.clone(),
                    self.config.tail_poll,
                    hub::Coalesce {
                        min: self.config.coalesce,
                        per_subscriber: self.config.coalesce_per_subscriber,
                        max: self.config.coalesce_max,
                    },
                    quota::QuotaWatch::new(&self.config.relay_quotas),
                ));
                Ok(hub)
            })
            .await
    }

    /// The newest `seq` the live stream has (after [`Firehose::start`]).
    pub async fn head(&self) -> Result<Seq, StoreError> {
        Ok(self.start().await?.head())
    }

    /// A receiver that changes whenever new events reach the live stream (for crawlers).
    pub async fn watch_head(&self) -> Result<watch::Receiver<Seq>, StoreError> {
        Ok(self.start().await?.watch_head())
    }

    /// Ends every subscription (server shutdown).
    pub fn close(&self) {
        if let Some(hub) = self.hub.get() {
            hub.close();
        }
    }

    /// Opens a subscription for `cursor` (see the crate docs for the rules).
    pub async fn subscribe(&self, cursor: Option<i64>) -> Result<Subscription, SubscribeError> {
        self.subscribe_at(cursor, now_ms()).await
    }

    /// [`Firehose::subscribe`] with an explicit "now" (tests age the window this way).
    pub async fn subscribe_at(
        &self,
        cursor: Option<i64>,
        now: Millis,
    ) -> Result<Subscription, SubscribeError> {
        let hub = self.start().await?.clone();
        let make = |pos, live, first| {
            Subscription::new(
                hub.clone(),
                self.events.clone(),
                pos,
                live,
                first,
                self.config.backfill_page,
                self.config.live_batch,
            )
        };
        let Some(cursor) = cursor else {
            return Ok(make(hub.head(), true, None));
        };
        let cursor = cursor.max(0);
        let latest = self.events.latest_seq().await?.unwrap_or(0).max(hub.head());
        if cursor > latest {
            return Err(SubscribeError::FutureCursor {
                cursor,
                head: latest,
            });
        }
        let window_start = now.saturating_sub(retention_ms(self.config.retention));
        let pruned = self.events.pruned_through().await?;
        let next = self.events.events_after(cursor, 1).await?;
        let outdated = cursor < pruned || next.first().is_some_and(|e| e.created_at < window_start);
        if !outdated {
            return Ok(make(cursor, false, None));
        }
        let start = match self.events.first_seq_since(window_start).await? {
            Some(seq) => seq - 1,
            None => latest,
        };
        let info = info_frame(frame::OUTDATED_CURSOR, Some(frame::OUTDATED_CURSOR_MESSAGE));
        Ok(make(start, false, Some(info)))
    }

    /// Deletes events older than the retention window (relative to `now`); returns how many.
    pub async fn prune(&self, now: Millis) -> Result<u64, StoreError> {
        let before = now.saturating_sub(retention_ms(self.config.retention));
        self.events.prune_events_before(before).await
    }
}

fn retention_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs [`Firehose::prune`] now and then every `interval`, logging what it did; never returns.
pub async fn run_pruner(firehose: Arc<Firehose>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match firehose.prune(now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deleted = n,
                "pruned firehose events older than the retention window"
            ),
            Err(e) => tracing::warn!(error = %e, "firehose pruning failed; retrying next round"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, secs) in [
            ("72h", 72 * 3600),
            ("7d", 7 * 86_400),
            ("30d", 30 * 86_400),
            ("90d", 90 * 86_400),
            ("15m", 900),
            ("10s", 10),
            ("3600", 3600),
        ] {
            assert_eq!(parse_duration(s), Ok(Duration::from_secs(secs)), "{s}");
        }
        for bad in ["", "h", "7w", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
