//! Cursor rules (checklist #76-#79): none, 0, exactly at head, inside the window, outdated by
//! age or by pruning, and in the future.

use std::time::Duration;

use firehose::{SubscribeError, decode_frame, frame};
use pds::ports::EventStore;

use crate::harness::{Fixture, assert_quiet, config, read_n, seqs};

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(300);

/// Checklist #76: no cursor = live only; the first frame is the next write.
#[tokio::test]
async fn no_cursor_is_live_only() {
    let fx = Fixture::new(config(100)).await;
    for n in 0..3 {
        fx.append(n).await;
    }
    let mut sub = fx.firehose.subscribe(None).await.expect("subscribe");
    assert_quiet(&mut sub, QUIET).await;
    let s = fx.append(9).await;
    let got = read_n(&mut sub, 1, WAIT).await;
    assert_eq!(seqs(&got), [s]);
    assert_eq!(got[0].t.as_deref(), Some("#identity"));
}

/// Checklist #79: `cursor=0` sends the whole (in-window) log, then live.
#[tokio::test]
async fn cursor_zero_replays_everything_then_live() {
    let fx = Fixture::new(config(100)).await;
    let mut written = Vec::new();
    for n in 0..7 {
        written.push(fx.append(n).await);
    }
    let mut sub = fx.firehose.subscribe(Some(0)).await.expect("subscribe");
    let got = read_n(&mut sub, 7, WAIT).await;
    assert_eq!(seqs(&got), written);
    written.push(fx.append(7).await);
    let got = read_n(&mut sub, 1, WAIT).await;
    assert_eq!(seqs(&got), written[7..]);
}

/// Checklist #78: strictly greater than the cursor (the reference's rule), and a cursor exactly
/// at the head replays nothing but stays open for live events.
#[tokio::test]
async fn cursor_inside_window_and_at_head() {
    let fx = Fixture::new(config(100)).await;
    let mut written = Vec::new();
    for n in 0..5 {
        written.push(fx.append(n).await);
    }
    let mut sub = fx
        .firehose
        .subscribe(Some(written[1]))
        .await
        .expect("subscribe");
    let got = read_n(&mut sub, 3, WAIT).await;
    assert_eq!(seqs(&got), written[2..]);

    let mut at_head = fx
        .firehose
        .subscribe(Some(written[4]))
        .await
        .expect("subscribe at head");
    assert_quiet(&mut at_head, QUIET).await;
    let next = fx.append(5).await;
    assert_eq!(seqs(&read_n(&mut at_head, 1, WAIT).await), [next]);
}

/// Checklist #77: a cursor ahead of the newest seq gets `FutureCursor` (an op -1 frame).
#[tokio::test]
async fn future_cursor_is_refused() {
    let fx = Fixture::new(config(100)).await;
    // Empty log: only 0 is acceptable.
    assert!(fx.firehose.subscribe(Some(0)).await.is_ok());
    let err = fx.firehose.subscribe(Some(1)).await.expect_err("future");
    assert!(matches!(
        err,
        SubscribeError::FutureCursor { cursor: 1, head: 0 }
    ));
    let head = fx.append(1).await;
    let err = fx
        .firehose
        .subscribe(Some(head + 1000))
        .await
        .expect_err("future");
    let f = decode_frame(&err.frame()).expect("decodes");
    assert_eq!(f.op, -1);
    assert_eq!(f.t, None);
    assert_eq!(f.str_field("error"), Some(frame::FUTURE_CURSOR));
    assert_eq!(f.str_field("message"), Some(frame::FUTURE_CURSOR_MESSAGE));
    // Negative cursors are read as 0 (the whole window).
    let mut sub = fx.firehose.subscribe(Some(-5)).await.expect("negative");
    assert_eq!(seqs(&read_n(&mut sub, 1, WAIT).await), [head]);
}

/// Checklist #79: a cursor whose next event is older than the window gets `#info
/// OutdatedCursor`, then the window from its first event.
#[tokio::test]
async fn outdated_cursor_by_age() {
    let fx = Fixture::new(config(100)).await;
    let now = firehose::now_ms();
    let day = 24 * 3600 * 1000;
    let old: Vec<_> = futures_seq(&fx, &[now - 5 * day, now - 4 * day]).await;
    let fresh: Vec<_> = futures_seq(&fx, &[now - 2 * day, now - day, now]).await;
    for cursor in [0, 1, old[0]] {
        let mut sub = fx
            .firehose
            .subscribe_at(Some(cursor), now)
            .await
            .expect("subscribe");
        let got = read_n(&mut sub, 4, WAIT).await;
        assert_eq!(got[0].t.as_deref(), Some("#info"), "cursor {cursor}");
        assert_eq!(got[0].str_field("name"), Some(frame::OUTDATED_CURSOR));
        assert_eq!(
            seqs(&got[1..]),
            fresh,
            "cursor {cursor}: the window, oldest first"
        );
    }
    // A cursor whose next event is inside the window is not outdated.
    let mut sub = fx
        .firehose
        .subscribe_at(Some(old[1]), now)
        .await
        .expect("subscribe");
    let got = read_n(&mut sub, 3, WAIT).await;
    assert_eq!(seqs(&got), fresh);
    assert!(got.iter().all(|f| f.t.as_deref() == Some("#identity")));
}

/// Pruning (retention) removes the old events; a cursor into the pruned part is outdated even
/// when what is left is all inside the window, and the prune watermark survives a restart.
#[tokio::test]
async fn outdated_cursor_after_pruning() {
    let fx = Fixture::new(config(100)).await;
    let now = firehose::now_ms();
    let day = 24 * 3600 * 1000;
    let old = futures_seq(&fx, &[now - 10 * day, now - 9 * day]).await;
    let fresh = futures_seq(&fx, &[now - day, now]).await;
    assert_eq!(
        fx.firehose.prune(now).await.expect("prune"),
        2,
        "72 h default window"
    );
    assert_eq!(fx.store.pruned_through().await.expect("watermark"), old[1]);
    let mut sub = fx
        .firehose
        .subscribe(Some(old[0]))
        .await
        .expect("subscribe");
    let got = read_n(&mut sub, 3, WAIT).await;
    assert_eq!(got[0].str_field("name"), Some(frame::OUTDATED_CURSOR));
    assert_eq!(seqs(&got[1..]), fresh);
    // Exactly at the watermark: nothing was missed.
    let mut sub = fx
        .firehose
        .subscribe(Some(old[1]))
        .await
        .expect("subscribe");
    let got = read_n(&mut sub, 2, WAIT).await;
    assert_eq!(seqs(&got), fresh);
    assert!(got.iter().all(|f| f.t.as_deref() == Some("#identity")));
}

/// Longer tiers (7, 30, 90 days) are just configuration.
#[tokio::test]
async fn retention_tiers_by_config() {
    let now = firehose::now_ms();
    let day = 24 * 3600 * 1000;
    for (tier, kept) in [("72h", 1), ("7d", 2), ("30d", 3), ("90d", 4)] {
        let mut cfg = config(100);
        cfg.retention = firehose::parse_duration(tier).expect("tier");
        let fx = Fixture::new(cfg).await;
        futures_seq(&fx, &[now - 60 * day, now - 20 * day, now - 5 * day, now]).await;
        fx.firehose.prune(now).await.expect("prune");
        let left = fx.store.events_after(0, 100).await.expect("events").len();
        assert_eq!(left, kept, "{tier}");
    }
}

async fn futures_seq(fx: &Fixture, times: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    for (i, at) in times.iter().enumerate() {
        out.push(fx.append_at(u32::try_from(i).expect("small"), *at).await);
    }
    out
}
