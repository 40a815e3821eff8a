//! A watch on the server's event rate against the quotas relays apply to a PDS.
//!
//! Relays (BGS) cap how many events they take from one PDS host. indigo's relay gives a new
//! host 50 events/s, 2,500/h and 20,000/day, plus a share of its account limit (1/1,000 of it
//! per second, all of it per hour, ten times it per day); with the default account limit of 100
//! that is 50/s, 2,600/h and 21,000/day (checklist #95; `indigo/cmd/relay/relay/slurper.go`,
//! `ComputeLimiterCounts`). Past a limit the relay throttles the whole host: every account's
//! events reach the network late. That is how a single back-fill of 20,000 records took a
//! self-hosted PDS off the network for a day (the selfhosted.social postmortem, January 2026).
//!
//! Nothing in the protocol tells the PDS. So the tailer feeds every sequenced event to a
//! [`QuotaWatch`], which estimates each window's count the way indigo's limiter does (a
//! sliding-window counter: the previous fixed window's count, weighted by how much of it still
//! overlaps the sliding window, plus the current window's count). When an estimate goes over
//! its limit, the tailer logs a warning naming the window, the estimate and the limit, at most
//! once per window length (and at most once a minute for the per-second window). Events are
//! never held back: the operator decides (ask the relay's operator for a higher limit, or slow
//! the imports down).

use std::time::Duration;

/// One window's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimit {
    /// The window's length.
    pub window: Duration,
    /// Most events in any window of that length.
    pub events: u64,
}

/// indigo's default limits for a new host with the default account limit (100): 50 events
/// per second, 2,600 per hour, 21,000 per day.
pub const RELAY_DEFAULT_QUOTAS: [QuotaLimit; 3] = [
    QuotaLimit {
        window: Duration::from_secs(1),
        events: 50,
    },
    QuotaLimit {
        window: Duration::from_secs(3600),
        events: 2_600,
    },
    QuotaLimit {
        window: Duration::from_secs(86_400),
        events: 21_000,
    },
];

/// The least time between two warnings about the same window.
const MIN_WARNING_INTERVAL_MS: i64 = 60_000;

/// A window over its limit, as [`QuotaWatch::record`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// The limit.
    pub limit: QuotaLimit,
    /// The estimated count in the sliding window ending now.
    pub estimate: u64,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "about {} events in the last {}, over the {} relays allow a host by default",
            self.estimate,
            window_name(self.limit.window),
            self.limit.events
        )
    }
}

fn window_name(w: Duration) -> String {
    match w.as_secs() {
        1 => "second".to_owned(),
        60 => "minute".to_owned(),
        3600 => "hour".to_owned(),
        86_400 => "day".to_owned(),
        s => format!("{s} s"),
    }
}

/// One limit's state: fixed windows of its length, aligned on the Unix epoch.
#[derive(Debug, Clone)]
struct Window {
    limit: QuotaLimit,
    len_ms: i64,
    /// Start of the current fixed window.
    start_ms: i64,
    current: u64,
    previous: u64,
    /// When this window last warned.
    warned_ms: Option<i64>,
}

impl Window {
    fn new(limit: QuotaLimit) -> Window {
        let len_ms = i64::try_from(limit.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        Window {
            limit,
            len_ms,
            start_ms: 0,
            current: 0,
            previous: 0,
            warned_ms: None,
        }
    }

    fn advance(&mut self, now_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(self.len_ms);
        if start == self.start_ms {
            return;
        }
        self.previous = if start - self.start_ms == self.len_ms {
            self.current
        } else {
            0
        };
        self.current = 0;
        self.start_ms = start;
    }

    /// The sliding-window estimate at `now_ms` (after [`Window::advance`]).
    fn estimate(&self, now_ms: i64) -> u64 {
        let elapsed = (now_ms - self.start_ms).clamp(0, self.len_ms);
        let overlap = (self.len_ms - elapsed) as f64 / self.len_ms as f64;
        self.current + (self.previous as f64 * overlap) as u64
    }
}

/// The watch (see the module docs). Owned by the tailer; not shared.
#[derive(Debug, Clone)]
pub struct QuotaWatch {
    windows: Vec<Window>,
}

impl QuotaWatch {
    /// A watch over `limits` (none: it never reports).
    pub fn new(limits: &[QuotaLimit]) -> QuotaWatch {
        QuotaWatch {
            windows: limits
                .iter()
                .filter(|l| l.events > 0)
                .map(|&l| Window::new(l))
                .collect(),
        }
    }

    /// Counts `events` sequenced at `now_ms` (Unix milliseconds) and returns the windows now
    /// over their limit that have not warned within their length (at least a minute).
    pub fn record(&mut self, now_ms: i64, events: u64) -> Vec<QuotaExceeded> {
        let mut out = Vec::new();
        if events == 0 {
            return out;
        }
        for w in &mut self.windows {
            w.advance(now_ms);
            w.current = w.current.saturating_add(events);
            let estimate = w.estimate(now_ms);
            if estimate <= w.limit.events {
                continue;
            }
            let quiet = w.len_ms.max(MIN_WARNING_INTERVAL_MS);
            if w.warned_ms.is_some_and(|t| now_ms - t < quiet) {
                continue;
            }
            w.warned_ms = Some(now_ms);
            out.push(QuotaExceeded {
                limit: w.limit,
                estimate,
            });
        }
        out
    }
}

/// Parses quota limits: `off`, or comma-separated `COUNT/UNIT` with unit `s`, `m`, `h` or `d`
/// (`"50/s, 2600/h, 21000/d"`, the default).
pub fn parse_quotas(s: &str) -> Result<Vec<QuotaLimit>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let bad = || format!("{part:?} is not COUNT/UNIT (unit s, m, h or d), nor \"off\"");
        let (count, unit) = part.split_once('/').ok_or_else(bad)?;
        let events: u64 = count.trim().parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        if events == 0 {
            return Err(format!("{part:?}: the count must be positive"));
        }
        out.push(QuotaLimit {
            window: Duration::from_secs(secs),
            events,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn defaults_parse_and_bad_values_refused() {
        assert_eq!(
            parse_quotas("50/s, 2600/h, 21000/d").unwrap(),
            RELAY_DEFAULT_QUOTAS
        );
        assert!(parse_quotas("off").unwrap().is_empty());
        assert_eq!(
            parse_quotas("10/m").unwrap(),
            [QuotaLimit {
                window: Duration::from_secs(60),
                events: 10
            }]
        );
        for bad in ["", "50", "50/w", "x/s", "0/s", "50/s,", "-1/h"] {
            assert!(parse_quotas(bad).is_err(), "{bad:?}");
        }
    }

    /// A steady 40 events/s (one every 25 ms) is under the per-second limit but not the
    /// hourly or daily ones; each says so once, when it is crossed, not on every event after.
    #[test]
    fn steady_rate_warns_once_per_window() {
        let mut w = QuotaWatch::new(&RELAY_DEFAULT_QUOTAS);
        let t0 = 10 * DAY;
        let mut warnings = Vec::new();
        for i in 0..24_000 {
            let at = i * 25;
            for e in w.record(t0 + at, 1) {
                warnings.push((i, e));
            }
        }
        let windows: Vec<u64> = warnings.iter().map(|(_, e)| e.limit.events).collect();
        assert_eq!(windows, [2_600, 21_000], "{warnings:?}");
        // The 2,601st event crosses the hourly limit, the 21,001st the daily one.
        assert_eq!((warnings[0].0, warnings[1].0), (2_600, 21_000));
        assert!(warnings[0].1.to_string().contains("last hour"));
        assert_eq!(
            (warnings[0].1.estimate, warnings[1].1.estimate),
            (2_601, 21_001)
        );
    }

    /// A burst over 50 in one second warns; the next burst within a minute does not; one a
    /// minute later does. A burst straddling two fixed windows is caught by the sliding
    /// estimate (30 at the end of one second, 30 at the start of the next).
    #[test]
    fn bursts_and_window_edges() {
        let per_second = [RELAY_DEFAULT_QUOTAS[0]];
        let mut w = QuotaWatch::new(&per_second);
        let t0 = 5 * DAY;
        assert!(w.record(t0, 50).is_empty(), "50 is the limit, not over it");
        let e = w.record(t0 + 10, 1);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].estimate, 51);
        assert!(
            w.record(t0 + 30_000, 80).is_empty(),
            "warned within the minute"
        );
        assert_eq!(w.record(t0 + 61_000, 80).len(), 1);

        let mut w = QuotaWatch::new(&per_second);
        assert!(w.record(t0 + 900, 30).is_empty());
        let e = w.record(t0 + 1_050, 30);
        assert_eq!(e.len(), 1, "95 % of the previous second's 30, plus 30");
        assert_eq!(e[0].estimate, 58);
        // A quiet gap longer than a window forgets the past.
        let mut w = QuotaWatch::new(&per_second);
        assert!(w.record(t0, 45).is_empty());
        assert!(w.record(t0 + 2_500, 45).is_empty());
    }

    #[test]
    fn no_limits_never_report() {
        let mut w = QuotaWatch::new(&[]);
        assert!(w.record(DAY, 1_000_000).is_empty());
    }
}
