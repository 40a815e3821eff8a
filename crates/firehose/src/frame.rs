//! Event-stream frames (`specs/event-stream`, "Framing"; checklist #71-#73): each WebSocket
//! binary message is two concatenated DAG-CBOR objects, a header then a body.
//!
//! - message: header `{t: "#commit", op: 1}` (canonical key order puts `t` first), body the
//!   message object without `$type`;
//! - error: header `{op: -1}`, body `{error, message?}`; the stream closes after it.
//!
//! # Where `seq` comes from
//! The sequencer stores each body as a canonical DAG-CBOR map *without* `seq` (the store
//! assigns `seq` on insert, in the same transaction as the state change; see
//! `pds::ports::NewEvent`). [`event_frame`] splices `"seq": <n>` into the stored map at its
//! canonical position (keys sort by length, then bytes: `seq` goes after the other three-byte
//! keys that sort before it, `ops` and `rev`, and before every longer key) and bumps the map
//! length. Only the keys in front of the insertion point are walked (for `#commit`: the `ops`
//! list, never the `blocks` bytes), with no allocation besides the output buffer, so framing a
//! stored row costs one copy of its bytes. The live hub frames each event once and shares the
//! bytes with every subscriber; replay from the database frames each row with the same copy.
//! The result is byte-for-byte what a canonical encoder produces for the body with `seq`
//! (tested against `data_model::cbor::encode`).

use bytes::Bytes;
use data_model::Value;
use pds::ports::{EventKind, Seq};

/// Error name sent when the cursor is ahead of the stream (checklist #77).
pub const FUTURE_CURSOR: &str = "FutureCursor";
/// Error name sent to a subscriber that fell too far behind (checklist #80).
pub const CONSUMER_TOO_SLOW: &str = "ConsumerTooSlow";
/// `#info` name sent when the cursor is older than the retention window (checklist #79).
pub const OUTDATED_CURSOR: &str = "OutdatedCursor";

/// The reference PDS's message for [`FUTURE_CURSOR`].
pub const FUTURE_CURSOR_MESSAGE: &str = "Cursor in the future.";
/// The reference PDS's message for [`CONSUMER_TOO_SLOW`].
pub const CONSUMER_TOO_SLOW_MESSAGE: &str = "Stream consumer too slow";
/// The reference PDS's message for [`OUTDATED_CURSOR`].
pub const OUTDATED_CURSOR_MESSAGE: &str =
    "Requested cursor exceeded limit. Possibly missing events";

/// Largest nesting accepted while walking a stored body.
const MAX_DEPTH: usize = 64;

/// Why a stored body could not be framed or a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes are not well-formed DAG-CBOR of the expected shape.
    #[error("malformed event body: {0}")]
    Malformed(&'static str),
    /// The stored body already has a `seq` key.
    #[error("stored event body already has a seq")]
    HasSeq,
    /// A frame did not decode (strict DAG-CBOR).
    #[error("frame does not decode: {0}")]
    Decode(String),
}

/// The `t` of a message header for a stored event kind (`#commit`, `#sync`, ...).
pub fn type_tag(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Commit => "#commit",
        EventKind::Sync => "#sync",
        EventKind::Identity => "#identity",
        EventKind::Account => "#account",
        EventKind::Info => "#info",
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal canonical CBOR writing (heads) and walking (no allocation).

fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        write_head(out, 0, n.unsigned_abs());
    } else {
        write_head(out, 1, (-1 - n).unsigned_abs());
    }
}

/// Reads an item head at `pos`: (major type, argument, position after the head).
fn read_head(buf: &[u8], pos: usize) -> Result<(u8, u64, usize), FrameError> {
    let first = *buf.get(pos).ok_or(FrameError::Malformed("truncated"))?;
    let major = first >> 5;
    let info = first & 0x1f;
    let len = match info {
        0..=23 => return Ok((major, u64::from(info), pos + 1)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(FrameError::Malformed("indefinite or reserved length")),
    };
    let bytes = buf
        .get(pos + 1..pos + 1 + len)
        .ok_or(FrameError::Malformed("truncated"))?;
    let arg = bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    Ok((major, arg, pos + 1 + len))
}

fn advance(buf: &[u8], pos: usize, n: u64) -> Result<usize, FrameError> {
    let n = usize::try_from(n).map_err(|_| FrameError::Malformed("length overflow"))?;
    let end = pos
        .checked_add(n)
        .ok_or(FrameError::Malformed("length overflow"))?;
    if end > buf.len() {
        return Err(FrameError::Malformed("truncated"));
    }
    Ok(end)
}

/// Skips one item starting at `pos`; returns the position after it.
fn skip_item(buf: &[u8], pos: usize, depth: usize) -> Result<usize, FrameError> {
    if depth == 0 {
        return Err(FrameError::Malformed("nested too deeply"));
    }
    let (major, arg, mut p) = read_head(buf, pos)?;
    match major {
        0 | 1 | 7 => Ok(p),
        2 | 3 => advance(buf, p, arg),
        4 | 5 => {
            let items = if major == 5 {
                arg.checked_mul(2)
                    .ok_or(FrameError::Malformed("length overflow"))?
            } else {
                arg
            };
            // Each item takes at least one byte: refuse counts the buffer cannot hold.
            if items > (buf.len() - p) as u64 {
                return Err(FrameError::Malformed("truncated"));
            }
            for _ in 0..items {
                p = skip_item(buf, p, depth - 1)?;
            }
            Ok(p)
        }
        _ => skip_item(buf, p, depth - 1), // tag: one tagged item follows
    }
}

/// Copies `body` (a canonical DAG-CBOR map without `seq`) into `out` with `"seq": seq` added at
/// its canonical position.
pub fn splice_seq_into(out: &mut Vec<u8>, body: &[u8], seq: Seq) -> Result<(), FrameError> {
    let (major, len, start) = read_head(body, 0)?;
    if major != 5 {
        return Err(FrameError::Malformed("body is not a map"));
    }
    let mut pos = start;
    let mut insert_at = None;
    for _ in 0..len {
        let (kmajor, klen, kstart) = read_head(body, pos)?;
        if kmajor != 3 {
            return Err(FrameError::Malformed("map key is not a string"));
        }
        let kend = advance(body, kstart, klen)?;
        let key = &body[kstart..kend];
        match (key.len(), key).cmp(&(3, b"seq".as_slice())) {
            std::cmp::Ordering::Less => pos = skip_item(body, kend, MAX_DEPTH)?,
            std::cmp::Ordering::Equal => return Err(FrameError::HasSeq),
            std::cmp::Ordering::Greater => {
                insert_at = Some(pos);
                break;
            }
        }
    }
    let insert_at = insert_at.unwrap_or(pos);
    if insert_at > body.len() {
        return Err(FrameError::Malformed("truncated"));
    }
    out.reserve(body.len() + 16);
    write_head(out, 5, len + 1);
    out.extend_from_slice(&body[start..insert_at]);
    write_text(out, "seq");
    write_int(out, seq);
    out.extend_from_slice(&body[insert_at..]);
    Ok(())
}

/// A message header `{t, op: 1}`.
fn write_message_header(out: &mut Vec<u8>, t: &str) {
    write_head(out, 5, 2);
    write_text(out, "t");
    write_text(out, t);
    write_text(out, "op");
    write_int(out, 1);
}

/// The frame of a stored event: message header with `t` from `kind`, then the stored body with
/// `seq` spliced in.
pub fn event_frame(kind: EventKind, seq: Seq, body: &[u8]) -> Result<Bytes, FrameError> {
    let t = type_tag(kind);
    let mut out = Vec::with_capacity(body.len() + t.len() + 24);
    write_message_header(&mut out, t);
    splice_seq_into(&mut out, body, seq)?;
    Ok(Bytes::from(out))
}

/// An `#info` frame `{name, message}` (for example [`OUTDATED_CURSOR`]).
pub fn info_frame(name: &str, message: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(64);
    write_message_header(&mut out, "#info");
    write_head(&mut out, 5, 1 + u64::from(message.is_some()));
    write_text(&mut out, "name");
    write_text(&mut out, name);
    if let Some(m) = message {
        write_text(&mut out, "message");
        write_text(&mut out, m);
    }
    Bytes::from(out)
}

/// An error frame: header `{op: -1}`, body `{error, message?}` (checklist #73).
pub fn error_frame(error: &str, message: Option<&str>) -> Bytes {
    let mut out = Vec::with_capacity(64);
    write_head(&mut out, 5, 1);
    write_text(&mut out, "op");
    write_int(&mut out, -1);
    write_head(&mut out, 5, 1 + u64::from(message.is_some()));
    write_text(&mut out, "error");
    write_text(&mut out, error);
    if let Some(m) = message {
        write_text(&mut out, "message");
        write_text(&mut out, m);
    }
    Bytes::from(out)
}

/// A decoded frame (for tests, tools and the benchmark client).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame {
    /// Header `op`: 1 for messages, -1 for errors.
    pub op: i64,
    /// Header `t` (`#commit`, ...); `None` for errors.
    pub t: Option<String>,
    /// The body.
    pub body: Value,
}

impl DecodedFrame {
    /// The body's `seq`, if it has one.
    pub fn seq(&self) -> Option<i64> {
        match &self.body {
            Value::Map(m) => match m.get("seq") {
                Some(Value::Integer(n)) => Some(*n),
                _ => None,
            },
            _ => None,
        }
    }

    /// A string field of the body.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        match &self.body {
            Value::Map(m) => match m.get(key) {
                Some(Value::String(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Decodes a frame strictly: two canonical DAG-CBOR objects and nothing after them; the header
/// is `{op: 1, t: string}` or `{op: -1}` (checklist #71).
pub fn decode_frame(bytes: &[u8]) -> Result<DecodedFrame, FrameError> {
    let dec = |e: data_model::cbor::DecodeError| FrameError::Decode(e.to_string());
    let mut r = data_model::cbor::Reader::new(bytes);
    let header = r.read_value(8).map_err(dec)?;
    let body = r.read_value(MAX_DEPTH).map_err(dec)?;
    r.finish().map_err(dec)?;
    let Value::Map(h) = header else {
        return Err(FrameError::Decode("header is not a map".into()));
    };
    let op = match h.get("op") {
        Some(Value::Integer(n)) => *n,
        _ => return Err(FrameError::Decode("header has no integer op".into())),
    };
    let t = match h.get("t") {
        Some(Value::String(s)) => Some(s.clone()),
        None => None,
        Some(_) => return Err(FrameError::Decode("header t is not a string".into())),
    };
    let allowed = match op {
        1 => t.is_some() && h.len() == 2,
        -1 => t.is_none() && h.len() == 1,
        _ => false,
    };
    if !allowed {
        return Err(FrameError::Decode(format!("invalid header {h:?}")));
    }
    if !matches!(body, Value::Map(_)) {
        return Err(FrameError::Decode("body is not a map".into()));
    }
    Ok(DecodedFrame { op, t, body })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn with_seq(v: &Value, seq: i64) -> Value {
        let Value::Map(m) = v else { panic!("map") };
        let mut m = m.clone();
        m.insert("seq".into(), Value::Integer(seq));
        Value::Map(m)
    }

    #[test]
    fn splice_matches_canonical_encoding() {
        let s = |x: &str| Value::String(x.into());
        let bodies = [
            map(&[]),
            map(&[("did", s("did:plc:x")), ("time", s("t"))]),
            map(&[
                ("a", s("1")),
                ("ops", Value::List(vec![map(&[("x", s("y"))])])),
            ]),
            map(&[("rev", s("r")), ("sez", s("after"))]),
            map(&[
                ("rev", s("r")),
                ("sep", s("before")),
                ("blocks", Value::Bytes(vec![0; 300])),
            ]),
            map(&[("zz", s("2")), ("aaaa", s("4"))]),
        ];
        let mut n = 0;
        for body in &bodies {
            for seq in [
                1i64,
                23,
                24,
                255,
                256,
                65_535,
                65_536,
                1 << 40,
                (1 << 53) - 1,
            ] {
                let stored = data_model::cbor::encode(body);
                let mut got = Vec::new();
                splice_seq_into(&mut got, &stored, seq).expect("splice");
                assert_eq!(
                    got,
                    data_model::cbor::encode(&with_seq(body, seq)),
                    "{body:?} {seq}"
                );
                n += 1;
            }
        }
        println!("frame splice: {n} cases");
    }

    #[test]
    fn many_keys_grow_the_map_head() {
        // 23 keys -> 24 keys changes the map head from one byte to two.
        let entries: Vec<(String, Value)> = (0..23)
            .map(|i| (format!("k{i:02}"), Value::Integer(i)))
            .collect();
        let body = Value::Map(entries.into_iter().collect());
        let stored = data_model::cbor::encode(&body);
        let mut got = Vec::new();
        splice_seq_into(&mut got, &stored, 7).expect("splice");
        assert_eq!(got, data_model::cbor::encode(&with_seq(&body, 7)));
    }

    #[test]
    fn refuses_bad_bodies() {
        let mut out = Vec::new();
        let has_seq = data_model::cbor::encode(&map(&[("seq", Value::Integer(1))]));
        assert_eq!(
            splice_seq_into(&mut out, &has_seq, 2),
            Err(FrameError::HasSeq)
        );
        for bad in [
            &[][..],
            &[0x80],
            &[0xa1, 0x61],
            &[0xa1, 0x01, 0x01],
            &[0xbf],
            &[0xa2, 0x61, b'a'],
        ] {
            out.clear();
            assert!(splice_seq_into(&mut out, bad, 1).is_err(), "{bad:?}");
        }
        // A huge declared length must not loop or allocate.
        assert!(
            splice_seq_into(
                &mut out,
                &[
                    0xa1, 0x63, b'o', b'p', b's', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    0xff
                ],
                1
            )
            .is_err()
        );
    }

    /// Checklist #81: the write path bounds stored bodies by `MAX_EVENT_FRAME -
    /// EVENT_FRAME_OVERHEAD`; framing never adds more than that overhead, whatever the kind,
    /// and whatever the seq below 2^53.
    #[test]
    fn checklist_81_frame_overhead_is_bounded() {
        let body = data_model::cbor::encode(&map(&[("did", Value::String("did:plc:x".into()))]));
        let kinds = [
            EventKind::Commit,
            EventKind::Sync,
            EventKind::Identity,
            EventKind::Account,
            EventKind::Info,
        ];
        for kind in kinds {
            for seq in [0, 1, 1 << 32, pds::ports::MAX_SEQ - 1] {
                let frame = event_frame(kind, seq, &body).expect("frame");
                let overhead = frame.len() - body.len();
                assert!(
                    overhead <= pds::EVENT_FRAME_OVERHEAD,
                    "{kind:?} seq {seq}: {overhead} bytes"
                );
            }
        }
    }

    #[test]
    fn headers_and_error_frames_decode() {
        let body = data_model::cbor::encode(&map(&[("did", Value::String("did:plc:x".into()))]));
        let f = decode_frame(&event_frame(EventKind::Identity, 5, &body).expect("frame"))
            .expect("decode");
        assert_eq!(
            (f.op, f.t.as_deref(), f.seq()),
            (1, Some("#identity"), Some(5))
        );
        let e =
            decode_frame(&error_frame(FUTURE_CURSOR, Some(FUTURE_CURSOR_MESSAGE))).expect("decode");
        assert_eq!(
            (e.op, e.t.as_deref(), e.str_field("error")),
            (-1, None, Some(FUTURE_CURSOR))
        );
        let i = decode_frame(&info_frame(OUTDATED_CURSOR, None)).expect("decode");
        assert_eq!(
            (i.op, i.t.as_deref(), i.str_field("name")),
            (1, Some("#info"), Some(OUTDATED_CURSOR))
        );
        // Header bytes exactly as a canonical encoder writes {op: 1, t: "#commit"}.
        let mut h = Vec::new();
        write_message_header(&mut h, "#commit");
        let want = data_model::cbor::encode(&map(&[
            ("op", Value::Integer(1)),
            ("t", Value::String("#commit".into())),
        ]));
        assert_eq!(h, want);
        let err_header = data_model::cbor::encode(&map(&[("op", Value::Integer(-1))]));
        assert!(error_frame("X", None).starts_with(&err_header));
        // Trailing bytes after the body are refused.
        let mut long = error_frame("X", None).to_vec();
        long.push(0);
        assert!(decode_frame(&long).is_err());
    }
}
