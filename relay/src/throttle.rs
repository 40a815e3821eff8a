//! A per-connection bandwidth throttle for the firehose (checklist #180): a token bucket of
//! `rate` bytes per second whose burst is one second's worth, kept as the instant at which
//! the bucket would be full again (a "theoretical arrival time", so no rounding accumulates).
//!
//! It is pure: callers pass the current [`Instant`] and the bytes they have just written, and
//! get back how long to wait before writing more; nothing here sleeps. Bytes already written
//! are never refused, so one write larger than the burst goes out whole and is paid for by a
//! longer wait afterwards. An idle connection refills at most one burst. A rate of `0` means
//! no limit.

use std::time::{Duration, Instant};

/// How much a full bucket holds, as time at the configured rate: one second's worth.
const BURST: Duration = Duration::from_secs(1);

/// Writes are cut to about this fraction of a second's worth of bytes (at least one frame),
/// so a large batch is spread over time instead of sent whole and then paid for.
const CHUNKS_PER_SECOND: u64 = 8;

/// A token bucket over bytes (see the module docs).
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Bytes per second; `0` is no limit.
    rate: u64,
    /// When the bucket is full again; `None` before the first write (full).
    full_at: Option<Instant>,
}

impl Throttle {
    /// A throttle of `bytes_per_second` (`0`: no limit), starting with a full bucket.
    pub fn new(bytes_per_second: u64) -> Throttle {
        Throttle {
            rate: bytes_per_second,
            full_at: None,
        }
    }

    /// Whether this throttle never delays anything (a rate of `0`).
    pub fn is_unlimited(&self) -> bool {
        self.rate == 0
    }

    /// About how many bytes to write at once: an eighth of a second's worth, or
    /// `usize::MAX` without a limit. A caller still writes at least one frame per write.
    pub fn chunk_bytes(&self) -> usize {
        if self.rate == 0 {
            return usize::MAX;
        }
        usize::try_from(self.rate / CHUNKS_PER_SECOND)
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// Records `bytes` written at `now` and returns how long to wait before the next write
    /// (zero while the bucket still holds tokens).
    pub fn delay_after(&mut self, now: Instant, bytes: usize) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        // Idle time refills the bucket only up to full: the debt starts from `now` at best.
        let start = match self.full_at {
            Some(full_at) if full_at > now => full_at,
            _ => now,
        };
        let full_at = start.checked_add(self.cost(bytes)).unwrap_or(start);
        self.full_at = Some(full_at);
        full_at.saturating_duration_since(now).saturating_sub(BURST)
    }

    /// The time `bytes` take at the configured rate (rate > 0).
    fn cost(&self, bytes: usize) -> Duration {
        let nanos = u128::try_from(bytes)
            .unwrap_or(u128::MAX)
            .saturating_mul(1_000_000_000)
            / u128::from(self.rate.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn checklist_180_burst_is_one_seconds_worth() {
        let t0 = Instant::now();
        let mut t = Throttle::new(1000);
        assert_eq!(t.delay_after(t0, 1000), Duration::ZERO, "a full bucket");
        assert_eq!(t.delay_after(t0, 1), MS, "one byte past the burst");
        assert_eq!(t.delay_after(t0, 9), 10 * MS);
    }

    #[test]
    fn checklist_180_steady_rate() {
        // 100-byte writes at 1,000 B/s, each after the wait asked for: 10,000 bytes take
        // (10,000 - 1,000 burst) / 1,000 = 9 s, and every wait once past the burst is 100 ms.
        let t0 = Instant::now();
        let mut t = Throttle::new(1000);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..100 {
            let wait = t.delay_after(now, 100);
            waits.push(wait);
            now += wait;
        }
        assert_eq!(now - t0, Duration::from_secs(9));
        assert!(waits[..10].iter().all(|w| w.is_zero()), "{waits:?}");
        assert!(waits[10..].iter().all(|w| *w == 100 * MS), "{waits:?}");
    }

    #[test]
    fn checklist_180_idle_refill_is_capped_at_the_burst() {
        let t0 = Instant::now();
        let mut t = Throttle::new(1000);
        assert_eq!(t.delay_after(t0, 1000), Duration::ZERO);
        // Ten idle seconds bank one second's worth, not ten.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(t.delay_after(later, 1000), Duration::ZERO);
        assert_eq!(t.delay_after(later, 1000), Duration::from_secs(1));
        // Half a second of refill after a wait covers half a burst.
        let after = later + Duration::from_secs(1) + 500 * MS;
        assert_eq!(t.delay_after(after, 500), Duration::ZERO);
        assert_eq!(t.delay_after(after, 1), MS);
    }

    #[test]
    fn checklist_180_zero_is_unlimited() {
        let t0 = Instant::now();
        let mut t = Throttle::new(0);
        assert!(t.is_unlimited());
        assert_eq!(t.chunk_bytes(), usize::MAX);
        for _ in 0..10 {
            assert_eq!(t.delay_after(t0, usize::MAX), Duration::ZERO);
        }
    }

    #[test]
    fn checklist_180_huge_single_batch_is_sent_then_paid_for() {
        let t0 = Instant::now();
        let mut t = Throttle::new(1000);
        assert!(!t.is_unlimited());
        // 10 s worth at once: 9 s to wait (the first second was the burst).
        assert_eq!(t.delay_after(t0, 10_000), Duration::from_secs(9));
        // After that wait the bucket is empty: the next byte waits its own 1 ms.
        assert_eq!(t.delay_after(t0 + Duration::from_secs(9), 1), MS);
        // Absurd sizes and tiny rates neither panic nor overflow.
        let mut slow = Throttle::new(1);
        assert!(slow.delay_after(t0, usize::MAX) > Duration::from_secs(1));
        assert!(slow.delay_after(t0, usize::MAX) > Duration::from_secs(1));
    }

    #[test]
    fn checklist_180_chunks_are_an_eighth_of_a_second() {
        assert_eq!(Throttle::new(8 * 1024 * 1024).chunk_bytes(), 1024 * 1024);
        assert_eq!(Throttle::new(32 * 1024).chunk_bytes(), 4 * 1024);
        assert_eq!(Throttle::new(3).chunk_bytes(), 1);
    }
}
