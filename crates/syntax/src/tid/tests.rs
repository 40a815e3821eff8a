//! Unit tests for `Tid` encoding and `TidClock` monotonicity (checklist #29, #38).

use super::{MAX_MICROS, Tid, TidClock, TidError, now_micros};
use std::sync::Arc;

#[test]
fn encode_decode_round_trip() {
    let tid = Tid::new(1_700_000_000_000_000, 42).unwrap();
    assert_eq!(tid.timestamp_micros(), 1_700_000_000_000_000);
    assert_eq!(tid.clock_id(), 42);
    let again: Tid = tid.as_str().parse().unwrap();
    assert_eq!(again, tid);
    assert_eq!(Tid::from_u64(0).as_str(), "2222222222222");
    assert_eq!(Tid::from_u64(u64::MAX).as_str(), "jzzzzzzzzzzzz");
    assert_eq!(Tid::from_u64(u64::MAX >> 1).as_str(), "bzzzzzzzzzzzz");
    for v in [0, 1, 31, 32, 1 << 40, u64::MAX >> 1, u64::MAX] {
        assert_eq!(Tid::from_u64(v).as_u64(), v);
    }
}

#[test]
fn string_order_is_numeric_order() {
    let a = Tid::new(1000, 1023).unwrap();
    let b = Tid::new(1001, 0).unwrap();
    assert!(a < b);
    assert!(a.as_str() < b.as_str());
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Tid>().unwrap_err();
    assert_eq!(err("222"), TidError::WrongLength { len: 3 });
    assert_eq!(err("222").to_string(), "TID must be 13 characters, got 3");
    assert_eq!(
        err("3JZFCIJPJ2Z2A"),
        TidError::InvalidChar { ch: 'J', pos: 1 }
    );
    assert_eq!(err("kjzfcijpj2z2a"), TidError::FirstCharTooHigh);
    assert_eq!(
        Tid::new(MAX_MICROS + 1, 0),
        Err(TidError::TimestampTooLarge)
    );
    assert_eq!(Tid::new(0, 1024), Err(TidError::ClockIdTooLarge));
    assert!(TidClock::with_clock_id(1024).is_err());
}

#[test]
fn clock_is_monotonic_when_time_goes_backwards() {
    let clock = TidClock::with_clock_id(7).unwrap();
    let now = 1_700_000_000_000_000u64;
    let a = clock.next_at(now);
    let b = clock.next_at(now); // same microsecond
    let c = clock.next_at(now - 3_600_000_000); // clock moved back one hour
    assert!(a < b && b < c, "{a} {b} {c}");
    assert_eq!(c.timestamp_micros(), now + 2);
    assert_eq!(c.clock_id(), 7);
    // once real time passes the counter, it follows real time again
    let d = clock.next_at(now + 10);
    assert_eq!(d.timestamp_micros(), now + 10);
}

// checklist #38: the next rev is greater than a previous rev from any clock, even one from the future.
#[test]
fn bump_past_beats_foreign_tids() {
    let clock = TidClock::with_clock_id(0).unwrap();
    let now = 1_700_000_000_000_000u64;
    let foreign = Tid::new(now + 60_000_000, 1023).unwrap();
    let next = clock.next_after(&foreign);
    assert!(next > foreign);
    clock.bump_past(&Tid::new(5, 0).unwrap()); // an older TID never moves the clock back
    assert!(clock.next_at(now) > next);
}

#[test]
fn clock_saturates_instead_of_wrapping() {
    let clock = TidClock::with_clock_id(0).unwrap();
    clock.bump_past(&Tid::new(MAX_MICROS, 0).unwrap());
    assert_eq!(clock.next_at(0).timestamp_micros(), MAX_MICROS);
}

#[test]
fn clock_is_close_to_now_and_random_id_in_range() {
    let clock = TidClock::new();
    assert!(clock.clock_id() < 1024);
    let tid = clock.next();
    let diff = now_micros().abs_diff(tid.timestamp_micros());
    assert!(diff < 5_000_000, "{diff}");
}

#[test]
fn clock_is_monotonic_across_threads() {
    let clock = Arc::new(TidClock::with_clock_id(3).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let clock = Arc::clone(&clock);
            std::thread::spawn(move || (0..10_000).map(|_| clock.next()).collect::<Vec<_>>())
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let tids = h.join().unwrap();
        assert!(tids.windows(2).all(|w| w[0] < w[1]));
        all.extend(tids);
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "no TID handed out twice");
}
