//! The TID clock under load (checklist #29, #38).

use std::time::{SystemTime, UNIX_EPOCH};
use syntax::{Tid, TidClock};

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

// checklist #29: 10^6 TIDs in a tight loop are strictly increasing, and close to now.
#[test]
fn a_million_tids_strictly_increase() {
    let clock = TidClock::new();
    let start = now_micros();
    let first = clock.next();
    let mut prev = first;
    for _ in 0..1_000_000 {
        let next = clock.next();
        assert!(next > prev, "{next} <= {prev}");
        assert!(next.as_str() > prev.as_str());
        prev = next;
    }
    let end = now_micros();
    assert!(first.timestamp_micros().abs_diff(start) < 1_000_000);
    // Each TID is at least 1 µs after the last, so a fast loop may run ahead of the wall
    // clock by at most one microsecond per TID.
    assert!(prev.timestamp_micros() <= end + 1_000_001);
    assert!(prev.timestamp_micros() + 1_000_000 >= end);
    assert_eq!(prev.clock_id(), clock.clock_id());
    println!("tid clock: 1000000 cases");
}

// checklist #38: the next rev beats the previous one even if it came from another clock.
#[test]
fn next_after_previous_rev() {
    let clock = TidClock::new();
    let mut rev = Tid::new(now_micros() + 3_600_000_000, 1023).unwrap(); // an hour ahead
    for _ in 0..100 {
        let next = clock.next_after(&rev);
        assert!(next > rev);
        rev = next;
    }
    assert!(Tid::now() < Tid::now());
}
