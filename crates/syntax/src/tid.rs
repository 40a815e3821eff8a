//! `Tid` (timestamp identifier) and `TidClock`, the monotonic TID generator (checklist #28,
//! #29, #38).
//!
//! Spec: <https://atproto.com/specs/tid>. A TID is a 64-bit integer written as 13 characters of
//! base32-sortable (`234567abcdefghijklmnopqrstuvwxyz`), so string order is numeric order. The
//! integer is: top bit 0, then 53 bits of microseconds since the Unix epoch, then a 10-bit clock
//! id. The syntax check allows a first character in `234567abcdefghij` (13 × 5 = 65 bits, the
//! top one always 0); a first character from `c` on sets the 64th bit, which generators never do
//! but parsers accept.
//!
//! [`TidClock`] hands out strictly increasing TIDs even when the system clock stalls or goes
//! backwards, and [`TidClock::bump_past`] lets a repo guarantee `rev` > previous `rev`.
//! A `Tid` is `Copy` and stores its 13 bytes inline: no allocation.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The base32-sortable alphabet, in ascending ASCII (and numeric) order.
const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
/// Number of characters in a TID.
const LEN: usize = 13;
/// Largest timestamp (53 bits of microseconds).
const MAX_MICROS: u64 = (1 << 53) - 1;
/// Largest clock id (10 bits).
const MAX_CLOCK_ID: u16 = (1 << 10) - 1;

/// A syntactically valid TID such as `3jzfcijpj2z2a`. Ordering is chronological (then by clock
/// id), the same as string ordering.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid([u8; LEN]);

/// Why a string or number is not a valid [`Tid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TidError {
    /// Not exactly 13 characters.
    #[error("TID must be 13 characters, got {len}")]
    WrongLength {
        /// The number of characters found.
        len: usize,
    },
    /// A character outside the base32-sortable alphabet (which is lowercase only).
    #[error(
        "TID contains {ch:?} at byte {pos}, outside the base32-sortable alphabet 234567abcdefghijklmnopqrstuvwxyz"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// The first character would need more than 64 bits.
    #[error("TID first character must be one of 234567abcdefghij (the value must fit in 64 bits)")]
    FirstCharTooHigh,
    /// A timestamp that does not fit in 53 bits.
    #[error("TID timestamp does not fit in 53 bits of microseconds")]
    TimestampTooLarge,
    /// A clock id that does not fit in 10 bits.
    #[error("TID clock id must be below 1024")]
    ClockIdTooLarge,
}

fn digit_value(b: u8) -> Option<u64> {
    match b {
        b'2'..=b'7' => Some(u64::from(b - b'2')),
        b'a'..=b'z' => Some(u64::from(b - b'a') + 6),
        _ => None,
    }
}

impl Tid {
    fn check(s: &str) -> Result<[u8; LEN], TidError> {
        let bytes: [u8; LEN] = s.as_bytes().try_into().map_err(|_| TidError::WrongLength {
            len: s.chars().count(),
        })?;
        if let Some((ch, pos)) = crate::first_disallowed(s, |b| digit_value(b).is_some()) {
            return Err(TidError::InvalidChar { ch, pos });
        }
        if digit_value(bytes[0]).unwrap_or(u64::MAX) > 15 {
            return Err(TidError::FirstCharTooHigh);
        }
        Ok(bytes)
    }

    fn parse_str(s: &str) -> Result<Self, TidError> {
        Self::check(s).map(Self)
    }

    fn parse_string(s: String) -> Result<Self, TidError> {
        Self::parse_str(&s)
    }

    /// Encodes any 64-bit integer (every one has a valid 13-character form).
    pub fn from_u64(value: u64) -> Self {
        let mut out = [0u8; LEN];
        for (i, slot) in out.iter_mut().rev().enumerate() {
            // i = 12 takes bits 60..64; (value >> 60) < 16, always a valid first character.
            *slot = ALPHABET[((value >> (5 * i)) & 31) as usize];
        }
        Self(out)
    }

    /// Builds a TID from microseconds since the Unix epoch (53 bits) and a clock id (10 bits).
    pub fn new(timestamp_micros: u64, clock_id: u16) -> Result<Self, TidError> {
        if timestamp_micros > MAX_MICROS {
            return Err(TidError::TimestampTooLarge);
        }
        if clock_id > MAX_CLOCK_ID {
            return Err(TidError::ClockIdTooLarge);
        }
        Ok(Self::from_u64(
            (timestamp_micros << 10) | u64::from(clock_id),
        ))
    }

    /// The next TID from the process-wide [`TidClock::global`] clock.
    pub fn now() -> Self {
        TidClock::global().next()
    }

    /// The 64-bit integer this TID encodes.
    pub fn as_u64(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, &b| (acc << 5) | digit_value(b).unwrap_or(0))
    }

    /// Microseconds since the Unix epoch (bits 10..63; the top bit is ignored).
    pub fn timestamp_micros(&self) -> u64 {
        (self.as_u64() >> 10) & MAX_MICROS
    }

    /// The 10-bit clock id.
    pub fn clock_id(&self) -> u16 {
        (self.as_u64() & u64::from(MAX_CLOCK_ID)) as u16
    }

    /// The TID as its 13-character text.
    pub fn as_str(&self) -> &str {
        // Always ASCII from ALPHABET, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The text as an owned string.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }
}

string_type!(Tid, TidError);

/// A monotonic TID generator: `next()` is strictly increasing for the life of the clock, even if
/// the system clock goes backwards (the timestamp then runs ahead by a microsecond per TID until
/// real time catches up). `Send + Sync`; share one per process (see [`TidClock::global`]) or per
/// repo.
#[derive(Debug)]
pub struct TidClock {
    clock_id: u16,
    /// Timestamp (micros) of the last TID handed out, or the floor set by `bump_past`.
    last_micros: AtomicU64,
}

impl Default for TidClock {
    fn default() -> Self {
        Self::new()
    }
}

impl TidClock {
    /// A clock with a random 10-bit clock id.
    pub fn new() -> Self {
        use rand::Rng as _;
        let clock_id = rand::thread_rng().gen_range(0..=MAX_CLOCK_ID);
        Self {
            clock_id,
            last_micros: AtomicU64::new(0),
        }
    }

    /// A clock with a chosen clock id (below 1024).
    pub fn with_clock_id(clock_id: u16) -> Result<Self, TidError> {
        if clock_id > MAX_CLOCK_ID {
            return Err(TidError::ClockIdTooLarge);
        }
        Ok(Self {
            clock_id,
            last_micros: AtomicU64::new(0),
        })
    }

    /// The process-wide clock, created on first use.
    pub fn global() -> &'static TidClock {
        static GLOBAL: OnceLock<TidClock> = OnceLock::new();
        GLOBAL.get_or_init(TidClock::new)
    }

    /// This clock's 10-bit id, the low bits of every TID it makes.
    pub fn clock_id(&self) -> u16 {
        self.clock_id
    }

    /// The next TID: current time in microseconds, but always later than every TID this clock
    /// has handed out before and than every TID passed to [`bump_past`](Self::bump_past).
    pub fn next(&self) -> Tid {
        self.next_at(now_micros())
    }

    /// Makes every later [`next`](Self::next) greater than `tid`, whatever its clock id. A repo
    /// calls this with its current `rev` so the next commit's `rev` is strictly greater
    /// (checklist #38), even after a migration or a clock change.
    pub fn bump_past(&self, tid: &Tid) {
        self.last_micros
            .fetch_max(tid.timestamp_micros(), Ordering::AcqRel);
    }

    /// [`bump_past`](Self::bump_past) then [`next`](Self::next): a TID strictly greater than
    /// `prev` and than anything this clock made before.
    pub fn next_after(&self, prev: &Tid) -> Tid {
        self.bump_past(prev);
        self.next()
    }

    /// The TID for wall-clock time `now` (micros), kept strictly increasing.
    ///
    /// At the 53-bit limit (year 2255) the timestamp saturates instead of wrapping.
    pub(crate) fn next_at(&self, now: u64) -> Tid {
        let mut prev = self.last_micros.load(Ordering::Acquire);
        loop {
            let micros = now.max(prev.saturating_add(1)).min(MAX_MICROS);
            match self.last_micros.compare_exchange_weak(
                prev,
                micros,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Tid::from_u64((micros << 10) | u64::from(self.clock_id)),
                Err(actual) => prev = actual,
            }
        }
    }
}

/// Microseconds since the Unix epoch; 0 if the system clock is before 1970.
fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(MAX_MICROS))
}

#[cfg(test)]
mod tests;
