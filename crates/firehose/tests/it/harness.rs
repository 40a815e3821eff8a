//! Shared fixtures: a SQLite store in a temporary directory, a firehose over it with a
//! controllable "new events" signal, event bodies, and a frame reader that checks every frame
//! decodes per the event-stream spec.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use data_model::Value;
use firehose::{DecodedFrame, Firehose, FirehoseConfig, RingLimits, Subscription, decode_frame};
use pds::ports::{EventKind, EventStore, Millis, NewEvent, Seq};
use store::SqliteStore;
use tokio::sync::watch;

pub(crate) struct Fixture {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) notify: watch::Sender<Seq>,
    pub(crate) firehose: Arc<Firehose>,
}

pub(crate) fn config(ring_events: usize) -> FirehoseConfig {
    FirehoseConfig {
        ring: RingLimits {
            max_events: ring_events,
            max_bytes: 1 << 30,
        },
        tail_poll: Duration::from_millis(50),
        ..FirehoseConfig::default()
    }
}

impl Fixture {
    pub(crate) async fn new(config: FirehoseConfig) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("relay.sqlite"))
                .await
                .expect("open"),
        );
        Fixture::over(dir, store, config)
    }

    pub(crate) fn over(
        dir: tempfile::TempDir,
        store: Arc<SqliteStore>,
        config: FirehoseConfig,
    ) -> Fixture {
        let (notify, rx) = watch::channel(0);
        let events: Arc<dyn EventStore> = store.clone();
        let firehose = Arc::new(Firehose::new(events, rx, config));
        Fixture {
            _dir: dir,
            store,
            notify,
            firehose,
        }
    }

    /// Appends an `#identity`-shaped event created at `at` and announces it.
    pub(crate) async fn append_at(&self, n: u32, at: Millis) -> Seq {
        let seq = self.store.append_event(event(n, at)).await.expect("append");
        self.notify.send_replace(seq);
        seq
    }

    pub(crate) async fn append(&self, n: u32) -> Seq {
        self.append_at(n, firehose::now_ms()).await
    }
}

pub(crate) fn did(n: u32) -> String {
    format!("did:plc:fh{n:020}")
}

/// The stored body of test event `n`: `{did, time, handle}` (no seq).
pub(crate) fn body(n: u32, at: Millis) -> Vec<u8> {
    let mut m = BTreeMap::new();
    m.insert("did".to_owned(), Value::String(did(n)));
    m.insert("time".to_owned(), Value::String(format!("{at}")));
    m.insert("handle".to_owned(), Value::String(format!("u{n}.test")));
    data_model::cbor::encode(&Value::Map(m))
}

pub(crate) fn event(n: u32, at: Millis) -> NewEvent {
    NewEvent {
        did: did(n).parse().expect("did"),
        kind: EventKind::Identity,
        event: body(n, at),
        created_at: at,
    }
}

/// Decodes a frame strictly and checks its shape: a message frame's body has `seq` and, with
/// `seq` removed, re-encodes to exactly a stored body (the splice is canonical).
pub(crate) fn check_frame(bytes: &[u8]) -> DecodedFrame {
    let f = decode_frame(bytes).expect("frame decodes (two DAG-CBOR objects, nothing after)");
    if f.op == 1 && f.t.as_deref() == Some("#identity") {
        let Value::Map(mut m) = f.body.clone() else {
            panic!("body map")
        };
        assert!(m.remove("seq").is_some(), "body has seq");
        assert!(
            !m.contains_key("$type"),
            "no $type in bodies (checklist #72)"
        );
        let stored = data_model::cbor::encode(&Value::Map(m));
        let mut again = Vec::new();
        firehose::frame::splice_seq_into(&mut again, &stored, f.seq().expect("seq"))
            .expect("splice");
        assert_eq!(
            &bytes[bytes.len() - again.len()..],
            again.as_slice(),
            "body bytes are the canonical encoding"
        );
    }
    f
}

/// Reads frames until `want` are collected or `timeout` passes.
pub(crate) async fn read_n(
    sub: &mut Subscription,
    want: usize,
    timeout: Duration,
) -> Vec<DecodedFrame> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while got.len() < want {
        let mut out = Vec::new();
        match tokio::time::timeout_at(deadline, sub.next_batch(&mut out)).await {
            Ok(Ok(())) => got.extend(out.iter().map(|b| check_frame(b))),
            Ok(Err(e)) => panic!("subscription closed: {e}"),
            Err(_) => break,
        }
    }
    got
}

/// Nothing arrives within `wait`.
pub(crate) async fn assert_quiet(sub: &mut Subscription, wait: Duration) {
    let mut out = Vec::new();
    if let Ok(r) = tokio::time::timeout(wait, sub.next_batch(&mut out)).await {
        panic!("expected no frame, got {r:?} with {} frames", out.len());
    }
}

pub(crate) fn seqs(frames: &[DecodedFrame]) -> Vec<Seq> {
    frames.iter().filter_map(DecodedFrame::seq).collect()
}
