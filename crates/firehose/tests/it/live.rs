//! Live delivery: the backfill-to-live cutover under concurrent writes is gap-free and
//! duplicate-free, a subscriber that stops reading gets `ConsumerTooSlow` without slowing the
//! others, and memory stays within the ring limits (checklist #78, #80).

use std::time::Duration;

use firehose::{Closed, decode_frame, frame};
use pds::ports::Seq;

use crate::harness::{Fixture, config, read_n, seqs};

const WAIT: Duration = Duration::from_secs(20);

/// Subscribers joining with cursors while a writer appends: each sees every event after its
/// cursor exactly once, in order. The ring is small, so it moves while backfills run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_is_gap_free_and_duplicate_free_under_writes() {
    let fx = Fixture::new(config(64)).await;
    let mut first = Vec::new();
    for n in 0..200 {
        first.push(fx.append(n).await);
    }
    let total = 1_200u32;
    let writer = {
        let store = fx.store.clone();
        let notify = fx.notify.clone();
        tokio::spawn(async move {
            let mut all = Vec::new();
            for n in 200..total {
                let seq = pds::ports::EventStore::append_event(
                    &*store,
                    crate::harness::event(n, firehose::now_ms()),
                )
                .await
                .expect("append");
                notify.send_replace(seq);
                all.push(seq);
                // About 5,000 events/s: fast enough to move the ring during backfills, slow
                // enough that a live reader in a debug build keeps up.
                if n % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            all
        })
    };
    let mut readers = Vec::new();
    for cursor in [0, first[10], first[150], first[199]] {
        let mut sub = fx
            .firehose
            .subscribe(Some(cursor))
            .await
            .expect("subscribe");
        readers.push(tokio::spawn(async move {
            let mut got: Vec<Seq> = Vec::new();
            // A fresh database numbers events 1..=total.
            while got.last().copied().unwrap_or(cursor) < i64::from(total) {
                let frames = read_n(&mut sub, 1, WAIT).await;
                assert!(!frames.is_empty(), "stalled after {:?}", got.last());
                got.extend(seqs(&frames));
            }
            (cursor, got)
        }));
    }
    let written = writer.await.expect("writer");
    let mut all = first.clone();
    all.extend(written);
    for r in readers {
        let (cursor, got) = r.await.expect("reader");
        let want: Vec<Seq> = all.iter().copied().filter(|s| *s > cursor).collect();
        assert_eq!(got.len(), want.len(), "cursor {cursor}: count");
        assert_eq!(got, want, "cursor {cursor}: every event once, in order");
    }
}

/// A live subscriber that stops reading falls out of the bounded ring and is closed with
/// `ConsumerTooSlow`; a subscriber that keeps reading is unaffected.
#[tokio::test]
async fn consumer_too_slow() {
    let fx = Fixture::new(config(8)).await;
    let mut slow = fx.firehose.subscribe(None).await.expect("slow");
    let mut fast = fx.firehose.subscribe(None).await.expect("fast");
    let mut fast_seen = Vec::new();
    let mut written = Vec::new();
    for n in 0..40 {
        written.push(fx.append(n).await);
        // The fast reader keeps up.
        while fast_seen.last() != written.last() {
            fast_seen.extend(seqs(&read_n(&mut fast, 1, WAIT).await));
        }
    }
    assert_eq!(fast_seen, written);
    let (events, _) = fx.firehose.start().await.expect("hub").usage();
    assert!(events <= 8, "ring bounded: {events}");
    let mut out = Vec::new();
    let err = slow.next_batch(&mut out).await.expect_err("too slow");
    assert!(matches!(err, Closed::TooSlow), "{err:?}");
    let f = decode_frame(&err.frame().expect("error frame")).expect("decodes");
    assert_eq!(
        (f.op, f.str_field("error")),
        (-1, Some(frame::CONSUMER_TOO_SLOW))
    );
    // The fast reader still gets new events.
    let s = fx.append(99).await;
    assert_eq!(seqs(&read_n(&mut fast, 1, WAIT).await), [s]);
}

/// A replay of a long log through a small ring is not "too slow": the backfill reads the
/// database until it reaches the ring.
#[tokio::test]
async fn long_backfill_through_a_small_ring() {
    let fx = Fixture::new(config(4)).await;
    let mut sub_live = fx.firehose.subscribe(None).await.expect("live");
    let mut written = Vec::new();
    for n in 0..300 {
        written.push(fx.append(n).await);
    }
    let mut sub = fx.firehose.subscribe(Some(0)).await.expect("replay");
    let got = read_n(&mut sub, 300, WAIT).await;
    assert_eq!(seqs(&got), written);
    crate::harness::assert_quiet(&mut sub, Duration::from_millis(200)).await;
    assert!(sub.is_live());
    // The live subscriber that never read is too slow.
    let mut out = Vec::new();
    assert!(matches!(
        sub_live.next_batch(&mut out).await,
        Err(Closed::TooSlow)
    ));
}

/// Closing the firehose ends every subscription.
#[tokio::test]
async fn close_ends_subscriptions() {
    let fx = Fixture::new(config(8)).await;
    let mut sub = fx.firehose.subscribe(None).await.expect("subscribe");
    let fh = fx.firehose.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fh.close();
    });
    let mut out = Vec::new();
    let r = tokio::time::timeout(WAIT, sub.next_batch(&mut out))
        .await
        .expect("ends");
    assert!(matches!(r, Err(Closed::Shutdown)));
}

/// The tailer spaces pushes by the number of open subscriptions (checklist #180): the count
/// follows subscriptions in and out, and other holders of the head watch do not count.
#[tokio::test]
async fn subscriber_count_follows_subscriptions() {
    let fx = Fixture::new(config(8)).await;
    let hub = fx.firehose.start().await.expect("start").clone();
    let _other_watcher = fx.firehose.watch_head().await.expect("watch");
    assert_eq!(hub.subscribers(), 0);
    let a = fx.firehose.subscribe(None).await.expect("subscribe");
    let b = fx.firehose.subscribe(Some(0)).await.expect("subscribe");
    assert_eq!(hub.subscribers(), 2);
    drop(a);
    assert_eq!(hub.subscribers(), 1);
    drop(b);
    assert_eq!(hub.subscribers(), 0);
}

/// Checklist #95: past a relay quota (here 5 events per second), the tailer warns once for
/// the window, and every event is still delivered; under it (the defaults), nothing.
#[tokio::test]
async fn relay_quota_warning() {
    let mut cfg = config(1000);
    cfg.relay_quotas = firehose::parse_quotas("5/s").expect("quota");
    let fx = Fixture::new(cfg).await;
    let hub = fx.firehose.start().await.expect("hub").clone();
    let mut sub = fx.firehose.subscribe(None).await.expect("subscribe");
    for n in 0..12 {
        fx.append(n).await;
    }
    let frames = read_n(&mut sub, 12, WAIT).await;
    assert_eq!(frames.len(), 12, "nothing is held back");
    assert_eq!(
        hub.quota_warnings(),
        1,
        "one warning for the window, not one per event"
    );

    let fx = Fixture::new(config(1000)).await;
    let hub = fx.firehose.start().await.expect("hub").clone();
    let mut sub = fx.firehose.subscribe(None).await.expect("subscribe");
    for n in 0..12 {
        fx.append(n).await;
    }
    assert_eq!(read_n(&mut sub, 12, WAIT).await.len(), 12);
    assert_eq!(hub.quota_warnings(), 0);
}
