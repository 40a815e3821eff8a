//! The replay cache (checklist #158, #160): replays refused, expiry, the bound.

use std::time::Duration;

use oauth::replay::{ReplayCache, Seen};

#[test]
fn checklist_158_a_replayed_identifier_is_refused_until_it_expires() {
    let mut cache = ReplayCache::new(Duration::from_secs(300), 100);
    assert_eq!(cache.check_and_remember("a", 1000), Seen::New);
    assert_eq!(cache.check_and_remember("a", 1001), Seen::Replayed);
    assert_eq!(cache.check_and_remember("b", 1001), Seen::New);
    assert_eq!(cache.check_and_remember("a", 1299), Seen::Replayed);
    // Five minutes after it was first seen, "a" is forgotten (its window has closed).
    assert_eq!(cache.check_and_remember("a", 1300), Seen::New);
    // "b" (seen at 1001) is still live; "a" is live again.
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.check_and_remember("c", 1301), Seen::New);
    assert_eq!(cache.len(), 2, "b expired at 1301");
}

#[test]
fn checklist_158_the_cache_is_bounded_and_fails_closed() {
    let mut cache = ReplayCache::new(Duration::from_secs(60), 3);
    for id in ["a", "b", "c"] {
        assert_eq!(cache.check_and_remember(id, 0), Seen::New);
    }
    assert_eq!(cache.check_and_remember("d", 10), Seen::Full);
    // Still refuses the replays it holds.
    assert_eq!(cache.check_and_remember("a", 10), Seen::Replayed);
    // Room again once the old entries expire.
    assert_eq!(cache.check_and_remember("d", 60), Seen::New);
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_clock_step_backwards_keeps_the_queue_ordered() {
    let mut cache = ReplayCache::new(Duration::from_secs(60), 10);
    assert_eq!(cache.check_and_remember("a", 100), Seen::New);
    assert_eq!(cache.check_and_remember("b", 50), Seen::New);
    // "b" is kept at least as long as "a": neither is dropped early.
    assert_eq!(cache.check_and_remember("b", 159), Seen::Replayed);
    assert_eq!(cache.check_and_remember("a", 159), Seen::Replayed);
    assert_eq!(cache.check_and_remember("a", 160), Seen::New);
}
