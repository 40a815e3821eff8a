//! The live fan-out: one shared, bounded ring of recently sequenced frames, fed by a single
//! tailer task that reads the durable log, and read by every live subscriber at its own
//! position.
//!
//! Why a shared ring rather than a channel per subscriber: each event is framed once and its
//! bytes (`Bytes`, reference-counted) are shared by every subscriber, so memory is bounded by
//! the ring's limits (events and bytes) *whatever the number of subscribers*, and a slow
//! subscriber never slows the others or the writers: it only loses its place. A subscriber
//! whose next event has been evicted from the ring is too slow (`ConsumerTooSlow`) when live;
//! during backfill it just keeps reading the database.
//!
//! Ordering and gap-freedom: the tailer reads the log with `seq > last` in `seq` order and
//! pushes every row, so the ring always holds a contiguous suffix of the log as it was read:
//! every event with `evicted_through < seq <= head`. Writers commit in `seq` order (the SQLite
//! store has one writer connection; `seq` is assigned inside the transaction), so once a row
//! is visible every row with a lower `seq` that will ever exist is visible too.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use data_model::Value;
use pds::ports::{EventKind, EventStore, Seq, StoredEvent};
use tokio::sync::watch;

use crate::frame::event_frame;
use crate::quota::QuotaWatch;
use crate::spool::{Spool, WireBatch, WireSpan};

/// How many rows the tailer reads per query (small enough for the store to read inline).
const TAIL_PAGE: usize = 256;

/// Limits of the live ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLimits {
    /// Most events kept.
    pub max_events: usize,
    /// Most frame bytes kept (the newest frame is always kept, whatever its size).
    pub max_bytes: usize,
}

/// A framed event for [`Hub::push`].
#[derive(Debug, Clone)]
pub struct RingFrame {
    /// Its `seq`.
    pub seq: Seq,
    /// The account it is about (so an account deletion can drop the account's frames).
    pub did: Box<str>,
    /// The frame bytes.
    pub frame: Bytes,
}

/// A frame in the ring, with its wire bytes' place in the spool (when there is one).
#[derive(Debug)]
struct Entry {
    frame: RingFrame,
    wire: Option<WireSpan>,
}

#[derive(Debug)]
struct Ring {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// Every event with `seq <= evicted_through` is not (or no longer) in the ring.
    evicted_through: Seq,
}

/// What [`Hub::read_after`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Frames with `seq > pos` were appended, oldest first; the newest has this `seq`.
    Frames(Seq),
    /// Nothing after `pos` yet.
    UpToDate,
    /// Events after `pos` have been evicted: the reader cannot continue from the ring.
    Evicted,
}

/// The shared ring plus a `watch` of the newest `seq` pushed.
#[derive(Debug)]
pub struct Hub {
    ring: RwLock<Ring>,
    head: watch::Sender<Seq>,
    limits: RingLimits,
    closed: AtomicBool,
    /// Open [`crate::Subscription`]s (they count themselves in and out): the tailer spaces its
    /// pushes by this, not by the head's receivers, which other watchers hold too.
    subscribers: AtomicUsize,
    /// Where pushed frames are also written in their wire form (see [`crate::spool`]).
    spool: Option<Spool>,
    /// The spool failed once (logged); frames go without spans from then on.
    spool_failed: AtomicBool,
    /// Warnings the tailer logged about relay quotas (see [`crate::quota`]).
    quota_warnings: AtomicU64,
}

impl Hub {
    /// An empty hub whose stream starts after `head` (events up to `head` are only in the
    /// database).
    pub fn new(head: Seq, limits: RingLimits) -> Hub {
        Hub {
            ring: RwLock::new(Ring {
                entries: VecDeque::new(),
                bytes: 0,
                evicted_through: head,
            }),
            head: watch::channel(head).0,
            limits: RingLimits {
                max_events: limits.max_events.max(1),
                max_bytes: limits.max_bytes.max(1),
            },
            closed: AtomicBool::new(false),
            subscribers: AtomicUsize::new(0),
            spool: None,
            spool_failed: AtomicBool::new(false),
            quota_warnings: AtomicU64::new(0),
        }
    }

    /// The same hub, also writing every pushed frame to `spool`.
    pub fn with_spool(mut self, spool: Spool) -> Hub {
        self.spool = Some(spool);
        self
    }

    /// How many relay-quota warnings the tailer has logged since start-up.
    pub fn quota_warnings(&self) -> u64 {
        self.quota_warnings.load(Ordering::Relaxed)
    }

    /// Whether pushed frames are written to a spool (one was given and has not failed).
    pub fn spooling(&self) -> bool {
        self.spool.is_some() && !self.spool_failed.load(Ordering::Relaxed)
    }

    /// The spans of `frames` in the spool; `None` for each without a spool, or if writing to
    /// it fails (logged once; the transport then sends from memory).
    fn spool_spans(&self, frames: &[RingFrame]) -> Vec<Option<WireSpan>> {
        let spans = match &self.spool {
            Some(spool) if !self.spool_failed.load(Ordering::Relaxed) => {
                match spool.append(frames.iter().map(|f| &f.frame[..])) {
                    Ok(spans) => Some(spans),
                    Err(e) => {
                        self.spool_failed.store(true, Ordering::Relaxed);
                        tracing::warn!(error = %e, "firehose wire spool failed; sending frames from memory from now on");
                        None
                    }
                }
            }
            _ => None,
        };
        match spans {
            Some(spans) => spans.into_iter().map(Some).collect(),
            None => frames.iter().map(|_| None).collect(),
        }
    }

    /// How many subscriptions are open.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    pub(crate) fn subscription_opened(&self) {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn subscription_closed(&self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Ends every subscription (server shutdown): readers wake and see [`Hub::is_closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.head.send_modify(|_| {});
    }

    /// Whether [`Hub::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The newest `seq` pushed (or the starting head).
    pub fn head(&self) -> Seq {
        *self.head.borrow()
    }

    /// A receiver that changes whenever frames are pushed.
    pub fn watch_head(&self) -> watch::Receiver<Seq> {
        self.head.subscribe()
    }

    /// Every event with `seq <=` this is not in the ring.
    pub(crate) fn evicted_through(&self) -> Seq {
        self.ring.read().map_or(Seq::MAX, |r| r.evicted_through)
    }

    /// Appends frames (in `seq` order, each greater than the head), evicting the oldest beyond
    /// the limits, then wakes the readers.
    pub fn push(&self, frames: Vec<RingFrame>) {
        let Some(last) = frames.last().map(|f| f.seq) else {
            return;
        };
        let spans = self.spool_spans(&frames);
        if let Ok(mut ring) = self.ring.write() {
            for (frame, wire) in frames.into_iter().zip(spans) {
                if ring
                    .entries
                    .back()
                    .is_some_and(|b| b.frame.seq >= frame.seq)
                {
                    continue; // never out of order; a duplicate read is dropped
                }
                ring.bytes += frame.frame.len();
                ring.entries.push_back(Entry { frame, wire });
                while ring.entries.len() > 1
                    && (ring.entries.len() > self.limits.max_events
                        || ring.bytes > self.limits.max_bytes)
                {
                    if let Some(old) = ring.entries.pop_front() {
                        ring.bytes -= old.frame.frame.len();
                        ring.evicted_through = old.frame.seq;
                    }
                }
            }
        }
        self.head.send_if_modified(|h| {
            if last > *h {
                *h = last;
                true
            } else {
                false
            }
        });
    }

    /// Appends up to `max` frames with `seq > pos`, oldest first: to `wire` as spool spans if
    /// one is given and every one of them has a span (nothing is cloned per frame but the
    /// segment of each contiguous run), to `out` otherwise. Only one of the two grows.
    pub(crate) fn read_after(
        &self,
        pos: Seq,
        max: usize,
        out: &mut Vec<Bytes>,
        wire: Option<&mut WireBatch>,
    ) -> Read {
        let Ok(ring) = self.ring.read() else {
            return Read::Evicted;
        };
        if pos < ring.evicted_through {
            return Read::Evicted;
        }
        let start = ring.entries.partition_point(|e| e.frame.seq <= pos);
        let end = ring.entries.len().min(start.saturating_add(max));
        let Some(last) = end.checked_sub(1).filter(|&l| l >= start) else {
            return Read::UpToDate;
        };
        let entries = ring.entries.range(start..end);
        match wire {
            Some(w) if entries.clone().all(|e| e.wire.is_some()) => {
                for span in entries.filter_map(|e| e.wire.as_ref()) {
                    w.push(span);
                }
            }
            _ => out.extend(entries.map(|e| e.frame.frame.clone())),
        }
        Read::Frames(ring.entries[last].frame.seq)
    }

    /// Drops the frames of `did` older than `before` (its account was deleted: as in the
    /// database, only the tombstone stays replayable, checklist #102). Readers already past
    /// them are unaffected; the ring's holes mirror the database's.
    pub fn forget_account(&self, did: &str, before: Seq) {
        if let Ok(mut ring) = self.ring.write() {
            let mut freed = 0;
            ring.entries.retain(|e| {
                let drop = e.frame.seq < before && &*e.frame.did == did;
                if drop {
                    freed += e.frame.frame.len();
                }
                !drop
            });
            ring.bytes -= freed;
        }
    }

    /// (events, bytes) currently held.
    pub fn usage(&self) -> (usize, usize) {
        self.ring
            .read()
            .map_or((0, 0), |r| (r.entries.len(), r.bytes))
    }
}

/// Whether a stored row is an account-deletion tombstone (`#account` with status `deleted`).
fn is_tombstone(row: &StoredEvent) -> bool {
    row.kind == EventKind::Account
        && matches!(
            data_model::cbor::decode(&row.event),
            Ok(Value::Map(m)) if matches!(m.get("status"), Some(Value::String(s)) if s == "deleted")
        )
}

/// Frames a stored row; a row that cannot be framed (corrupt body) is logged and skipped, so
/// one bad row never stops the stream.
pub(crate) fn frame_row(row: &StoredEvent) -> Option<Bytes> {
    match event_frame(row.kind, row.seq, &row.event) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::error!(seq = row.seq, kind = row.kind.as_str(), error = %e, "skipping unframeable sequencer row");
            None
        }
    }
}

/// How far apart the tailer spaces its pushes (see [`run_tailer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Coalesce {
    /// The spacing with few subscribers.
    pub(crate) min: Duration,
    /// Added per subscriber.
    pub(crate) per_subscriber: Duration,
    /// The most, whatever the number of subscribers.
    pub(crate) max: Duration,
}

impl Coalesce {
    /// The spacing for `subscribers` readers.
    pub(crate) fn window(&self, subscribers: usize) -> Duration {
        let n = u32::try_from(subscribers).unwrap_or(u32::MAX);
        self.per_subscriber
            .saturating_mul(n)
            .clamp(self.min, self.max.max(self.min))
    }
}

/// The tailer: reads rows after the hub's head from the log and pushes their frames, whenever
/// the use cases announce a new `seq` on `notify`, and every `poll` in any case (rows written
/// by another process, or a missed wake-up). Ends when the hub is dropped or `notify`'s sender
/// is (the use cases are gone).
///
/// Pushes are at least `coalesce.window(subscribers)` apart: an event that follows the previous
/// push sooner waits for the rest of that interval and goes out with whatever else arrived
/// meanwhile. Sparse events are not delayed at all; under load, every subscriber wakes (and
/// writes to its socket) once per batch instead of once per event, and the batches get larger
/// as subscribers are added, which is what lets one process feed a thousand subscribers: the
/// cost of a push is one wake-up and one write per subscriber, the cost of a frame only its
/// bytes.
pub(crate) async fn run_tailer(
    hub: Weak<Hub>,
    events: Arc<dyn EventStore>,
    mut notify: watch::Receiver<Seq>,
    poll: Duration,
    coalesce: Coalesce,
    mut quota: QuotaWatch,
) {
    let mut backoff = Duration::from_millis(100);
    let mut last_push: Option<tokio::time::Instant> = None;
    let mut backlog = false;
    loop {
        if !backlog && let Some(t) = last_push {
            let window = match hub.upgrade() {
                Some(h) => coalesce.window(h.subscribers()),
                None => return,
            };
            let since = t.elapsed();
            if since < window {
                tokio::time::sleep(window - since).await;
            }
        }
        backlog = false;
        let Some(h) = hub.upgrade() else { return };
        notify.borrow_and_update();
        let after = h.head();
        match events.events_after(after, TAIL_PAGE).await {
            Ok(rows) => {
                backoff = Duration::from_millis(100);
                let full = rows.len() == TAIL_PAGE;
                for tomb in rows.iter().filter(|r| is_tombstone(r)) {
                    h.forget_account(tomb.did.as_str(), tomb.seq);
                }
                let frames: Vec<RingFrame> = rows
                    .iter()
                    .filter_map(|r| {
                        frame_row(r).map(|frame| RingFrame {
                            seq: r.seq,
                            did: r.did.as_str().into(),
                            frame,
                        })
                    })
                    .collect();
                // Counted before the push, so a subscriber that sees the frames sees the count.
                for over in quota.record(crate::now_ms(), rows.len() as u64) {
                    h.quota_warnings.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        limit = over.limit.events,
                        window_secs = over.limit.window.as_secs(),
                        estimate = over.estimate,
                        "firehose: {over}; a relay throttles a host over its quota, and then \
                         every account's events reach the network late: ask the relay's \
                         operator for a higher limit, or spread large imports out"
                    );
                }
                // Skipped rows still advance the head so the tailer does not re-read them.
                match (frames.last().map(|f| f.seq), rows.last().map(|r| r.seq)) {
                    (Some(fl), Some(rl)) if fl == rl => h.push(frames),
                    (_, Some(rl)) => {
                        h.push(frames);
                        h.head.send_if_modified(|x| {
                            let changed = rl > *x;
                            *x = (*x).max(rl);
                            changed
                        });
                    }
                    _ => {}
                }
                if !rows.is_empty() {
                    last_push = Some(tokio::time::Instant::now());
                }
                if full {
                    backlog = true;
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "firehose tailer cannot read the sequencer log; retrying");
                drop(h);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        drop(h);
        tokio::select! {
            changed = notify.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame whose bytes all equal its `seq` (mod 256), so a read can be checked.
    fn f(seq: Seq, n: usize) -> RingFrame {
        RingFrame {
            seq,
            did: if seq % 2 == 0 { "did:a" } else { "did:b" }.into(),
            frame: Bytes::from(vec![seq as u8; n]),
        }
    }

    /// The `seq`s [`Hub::read_after`] gives (from memory), or `None` if evicted.
    fn seqs_after(hub: &Hub, pos: Seq, max: usize) -> Option<Vec<Seq>> {
        let mut out = Vec::new();
        match hub.read_after(pos, max, &mut out, None) {
            Read::Evicted => None,
            Read::UpToDate => Some(Vec::new()),
            Read::Frames(last) => {
                let seqs: Vec<Seq> = out.iter().map(|b| Seq::from(b[0])).collect();
                assert_eq!(seqs.last(), Some(&last));
                Some(seqs)
            }
        }
    }

    #[test]
    fn coalescing_grows_with_subscribers() {
        let c = Coalesce {
            min: Duration::from_millis(5),
            per_subscriber: Duration::from_micros(20),
            max: Duration::from_millis(25),
        };
        let ms = |n| c.window(n).as_micros();
        assert_eq!(
            [ms(0), ms(1), ms(100), ms(500), ms(1000), ms(100_000)],
            [5000, 5000, 5000, 10_000, 20_000, 25_000]
        );
    }

    /// With a spool, a reader that asks for spans gets them (merged into one range per run,
    /// nothing in `out`); one that does not, or a hub without a spool, gets the frames.
    #[cfg(target_os = "linux")]
    #[test]
    fn spooled_reads_give_ranges() {
        let limits = RingLimits {
            max_events: 100,
            max_bytes: 1 << 20,
        };
        let wire: crate::spool::WireFn = Arc::new(|frame: &[u8], out: &mut Vec<u8>| {
            out.push(0xAA);
            out.extend_from_slice(frame);
        });
        let spooled = Hub::new(0, limits)
            .with_spool(Spool::new(wire, crate::spool::DEFAULT_SEGMENT_BYTES).expect("spool"));
        assert!(spooled.spooling());
        let plain = Hub::new(0, limits);
        assert!(!plain.spooling());
        for hub in [&spooled, &plain] {
            hub.push(vec![f(1, 10), f(2, 20)]);
            hub.push(vec![f(3, 30)]);
        }
        let (mut out, mut batch) = (Vec::new(), WireBatch::default());
        assert_eq!(
            spooled.read_after(0, 10, &mut out, Some(&mut batch)),
            Read::Frames(3)
        );
        assert!(out.is_empty());
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.ranges().len(), 1, "two pushes, one contiguous range");
        assert_eq!(batch.ranges()[0].len, 11 + 21 + 31);
        assert_eq!(
            spooled.read_after(3, 10, &mut out, Some(&mut batch)),
            Read::UpToDate
        );
        batch.clear();
        assert_eq!(spooled.read_after(1, 10, &mut out, None), Read::Frames(3));
        assert_eq!(out.len(), 2);
        out.clear();
        assert_eq!(
            plain.read_after(0, 2, &mut out, Some(&mut batch)),
            Read::Frames(2)
        );
        assert!(batch.is_empty());
        assert_eq!(out.iter().map(Bytes::len).collect::<Vec<_>>(), [10, 20]);
    }

    #[test]
    fn ring_bounds_and_eviction() {
        let hub = Hub::new(
            10,
            RingLimits {
                max_events: 3,
                max_bytes: 1000,
            },
        );
        assert_eq!(seqs_after(&hub, 9, 10), None);
        assert_eq!(seqs_after(&hub, 10, 10), Some(vec![]));
        hub.push(vec![f(11, 1), f(12, 1), f(14, 1)]);
        assert_eq!(seqs_after(&hub, 11, 10), Some(vec![12, 14]));
        assert_eq!(seqs_after(&hub, 10, 2), Some(vec![11, 12]), "at most max");
        hub.push(vec![f(15, 1)]);
        assert_eq!(hub.usage(), (3, 3));
        assert_eq!(seqs_after(&hub, 10, 10), None, "11 was evicted");
        assert_eq!(seqs_after(&hub, 11, 10), Some(vec![12, 14, 15]));
        // Byte limit: a big frame evicts older ones, but is itself kept.
        hub.push(vec![f(16, 5000)]);
        assert_eq!(hub.usage(), (1, 5000));
        assert_eq!(hub.head(), 16);
        // Duplicates and out-of-order frames are dropped.
        hub.push(vec![f(16, 1), f(3, 1)]);
        assert_eq!(hub.usage(), (1, 5000));
        hub.push(vec![f(17, 10), f(18, 10), f(20, 10)]);
        hub.forget_account("did:a", 20);
        assert_eq!(
            seqs_after(&hub, 16, 10),
            Some(vec![17, 20]),
            "did:a's 18 dropped, its tombstone 20 kept"
        );
        assert_eq!(hub.usage(), (2, 20));
    }
}
