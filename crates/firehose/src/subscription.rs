//! One subscriber's stream: backfill from the database in pages, then a gap-free and
//! duplicate-free cutover to the live ring, then live frames (checklist #76-#80).
//!
//! The subscriber's position `pos` is the last `seq` it was given. Backfill reads
//! `events_after(pos)` from the log (never from the ring, so events deleted with their account
//! are never replayed, even if the ring still holds them) until a page comes back short: every
//! event committed before that read has been sent. From there the ring takes over, provided it
//! still holds everything after `pos` (`pos >= evicted_through`): the tailer pushes every
//! committed event in `seq` order, so reading the ring strictly after `pos` can neither skip
//! nor repeat an event. If the ring has moved on (a long replay under heavy writes), the
//! backfill simply reads more pages: only a *live* subscriber that falls out of the ring is too
//! slow.

use std::sync::Arc;

use bytes::Bytes;
use pds::ports::{EventStore, Seq, StoreError};
use tokio::sync::watch;

use crate::frame::{CONSUMER_TOO_SLOW, CONSUMER_TOO_SLOW_MESSAGE, error_frame};
use crate::hub::{Hub, Read, frame_row};
use crate::spool::WireBatch;

/// Why a subscription ended.
#[derive(Debug, thiserror::Error)]
pub enum Closed {
    /// The subscriber fell out of the live ring (checklist #80).
    #[error("consumer too slow")]
    TooSlow,
    /// Reading the log failed.
    #[error("cannot read the sequencer log: {0}")]
    Store(#[from] StoreError),
    /// The server is shutting down (the hub is gone).
    #[error("stream shut down")]
    Shutdown,
}

impl Closed {
    /// The error frame to send before closing, if any.
    pub fn frame(&self) -> Option<Bytes> {
        match self {
            Closed::TooSlow => Some(error_frame(
                CONSUMER_TOO_SLOW,
                Some(CONSUMER_TOO_SLOW_MESSAGE),
            )),
            Closed::Store(_) => Some(error_frame(
                "InternalServerError",
                Some("Internal Server Error"),
            )),
            Closed::Shutdown => None,
        }
    }
}

/// A subscriber's stream of frames (see the module docs). Not `Clone`: one per connection.
pub struct Subscription {
    hub: Arc<Hub>,
    events: Arc<dyn EventStore>,
    pos: Seq,
    live: bool,
    head_rx: watch::Receiver<Seq>,
    first: Option<Bytes>,
    page: usize,
    batch: usize,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("pos", &self.pos)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.subscription_closed();
    }
}

impl Subscription {
    pub(crate) fn new(
        hub: Arc<Hub>,
        events: Arc<dyn EventStore>,
        pos: Seq,
        live: bool,
        first: Option<Bytes>,
        page: usize,
        batch: usize,
    ) -> Subscription {
        let head_rx = hub.watch_head();
        hub.subscription_opened();
        Subscription {
            hub,
            events,
            pos,
            live,
            head_rx,
            first,
            page: page.max(1),
            batch: batch.max(1),
        }
    }

    /// The last `seq` handed out (the cursor to resume from).
    pub fn position(&self) -> Seq {
        self.pos
    }

    /// Whether the backfill is over.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Waits for the next frames and appends them to `out` (at least one on `Ok`). Cancel-safe
    /// between calls: a dropped future loses nothing that was not yet appended.
    pub async fn next_batch(&mut self, out: &mut Vec<Bytes>) -> Result<(), Closed> {
        self.next_frames(out, None).await
    }

    /// [`Subscription::next_batch`] for a transport that can send from the hub's spool: a
    /// batch of live frames that are all in the spool is appended to `wire` instead of `out`
    /// (no frame is cloned). After `Ok`, exactly one of the two has grown; `out` for backfill,
    /// `#info`, or a hub without a spool.
    pub async fn next_batch_wire(
        &mut self,
        out: &mut Vec<Bytes>,
        wire: &mut WireBatch,
    ) -> Result<(), Closed> {
        self.next_frames(out, Some(wire)).await
    }

    async fn next_frames(
        &mut self,
        out: &mut Vec<Bytes>,
        mut wire: Option<&mut WireBatch>,
    ) -> Result<(), Closed> {
        if let Some(info) = self.first.take() {
            out.push(info);
            return Ok(());
        }
        loop {
            if !self.live {
                let rows = self.events.events_after(self.pos, self.page).await?;
                let caught_up = rows.len() < self.page;
                let before = out.len();
                for row in &rows {
                    if let Some(frame) = frame_row(row) {
                        out.push(frame);
                    }
                    self.pos = row.seq;
                }
                if caught_up {
                    // Every event committed before this read has been sent (or was deleted
                    // with its account); later ones are in the ring unless it has already
                    // moved past us, in which case the database is read again.
                    let evicted = self.hub.evicted_through();
                    if self.pos >= evicted {
                        self.live = true;
                    } else if rows.is_empty() {
                        // Nothing after `pos` is left in the log up to the ring's start.
                        self.pos = evicted;
                        self.live = true;
                    }
                }
                if out.len() > before {
                    return Ok(());
                }
                continue;
            }
            self.head_rx.borrow_and_update();
            if self.hub.is_closed() {
                return Err(Closed::Shutdown);
            }
            match self
                .hub
                .read_after(self.pos, self.batch, out, wire.as_deref_mut())
            {
                Read::Evicted => return Err(Closed::TooSlow),
                Read::Frames(last) => {
                    self.pos = last;
                    return Ok(());
                }
                Read::UpToDate => {
                    if self.head_rx.changed().await.is_err() {
                        return Err(Closed::Shutdown);
                    }
                }
            }
        }
    }
}
