//! A bounded memory of recently seen one-time identifiers: DPoP proof `jti`s (checklist #158)
//! and client assertion `jti`s (checklist #160).
//!
//! Each identifier is remembered for a fixed time to live, which the caller chooses to cover
//! the whole window in which the thing it names would be accepted (for a DPoP proof: the `iat`
//! window plus the nonce's lifetime). Entries leave in insertion order once their time is up,
//! so both the check and the cleanup are cheap. The memory is bounded: when it holds
//! `capacity` live entries, new identifiers are refused ([`Seen::Full`]) rather than older ones
//! forgotten, because forgetting would let a replay through; the caller answers that as a
//! temporary failure and rate limits keep honest traffic far from the bound.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

/// The outcome of [`ReplayCache::check_and_remember`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen within its time to live; now remembered.
    New,
    /// Seen before: a replay.
    Replayed,
    /// The memory is full of live entries; the identifier was not remembered.
    Full,
}

/// Identifiers seen in the last `ttl` (see the module docs).
#[derive(Debug)]
pub struct ReplayCache {
    ttl_secs: i64,
    capacity: usize,
    live: HashSet<String>,
    /// (expiry in Unix seconds, identifier), oldest first: expiries only grow because the time
    /// to live is fixed and `now` never goes backwards by more than the cache tolerates.
    queue: VecDeque<(i64, String)>,
}

impl ReplayCache {
    /// Remembers each identifier for `ttl`, at most `capacity` at once.
    pub fn new(ttl: Duration, capacity: usize) -> ReplayCache {
        ReplayCache {
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
            live: HashSet::new(),
            queue: VecDeque::new(),
        }
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Forgets the entries whose time is up at `now_secs`, then reports whether `id` is new and
    /// remembers it if so.
    pub fn check_and_remember(&mut self, id: &str, now_secs: i64) -> Seen {
        self.expire(now_secs);
        if self.live.contains(id) {
            return Seen::Replayed;
        }
        if self.live.len() >= self.capacity {
            return Seen::Full;
        }
        let expiry = now_secs.saturating_add(self.ttl_secs);
        // A clock step backwards must not put an entry ahead of later ones in the queue.
        let expiry = self
            .queue
            .back()
            .map_or(expiry, |(last, _)| expiry.max(*last));
        self.live.insert(id.to_owned());
        self.queue.push_back((expiry, id.to_owned()));
        Seen::New
    }

    fn expire(&mut self, now_secs: i64) {
        while let Some((expiry, _)) = self.queue.front() {
            if *expiry > now_secs {
                break;
            }
            if let Some((_, id)) = self.queue.pop_front() {
                self.live.remove(&id);
            }
        }
    }
}
