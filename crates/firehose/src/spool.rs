//! The wire spool: every live frame, in the exact bytes the transport sends for it (for the
//! relay: the WebSocket binary-message header, then the frame), appended once to an in-memory
//! file, so that a transport able to send from a file (Linux `sendfile`) can feed every
//! subscriber's socket from the same pages instead of copying the frame into each socket.
//!
//! Why: at a thousand subscribers the firehose's cost is the per-subscriber copy of every frame
//! into the kernel (about 30 % of the server's CPU at 1,000 subscribers x 1,000 events/s in
//! `docs/benchmarks-firehose.md`). `sendfile` hands the socket references to the file's pages
//! instead; the frame is copied once, here, whatever the number of subscribers.
//!
//! Layout: the spool is a chain of *segments*, each an anonymous in-memory file
//! (`memfd_create`, never on disk) of at most `segment_bytes`. The hub appends the frames of
//! each push to the current segment (one write per push) and keeps, next to each frame in the
//! ring, its [`WireSpan`] (segment, offset, length). A span holds its segment (`Arc`), so a
//! segment is closed when the ring has evicted its last frame and no subscriber is still
//! sending from it: the spool's memory is bounded by the ring's limits plus one segment.
//!
//! Safety of the bytes in flight: a segment is append-only (bytes once written are never
//! rewritten) and is only ever dropped whole, never truncated or hole-punched. Pages the kernel
//! took for a socket stay referenced by that socket's buffers until they are sent, whatever
//! happens to the file afterwards, and dropping the file frees (never zeroes) them.
//!
//! Linux only: elsewhere [`Spool::new`] fails with `Unsupported` and the transport writes the
//! frames from memory as before.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

/// How the transport frames one message: appends the bytes it sends for `frame` to `out`.
pub type WireFn = Arc<dyn Fn(&[u8], &mut Vec<u8>) + Send + Sync>;

/// The default size of a segment: 4 MiB (a few hundred thousand frames' worth of headers, or a
/// few thousand commits).
pub const DEFAULT_SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// One in-memory file of the spool.
#[derive(Debug)]
pub struct Segment {
    file: File,
}

impl Segment {
    /// The file (to send from).
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Where one frame's wire bytes are: `len` bytes at `offset` of `segment`.
#[derive(Debug, Clone)]
pub struct WireSpan {
    /// The segment (kept open while the span lives).
    pub segment: Arc<Segment>,
    /// Offset of the first byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

impl WireSpan {
    /// Whether `next` starts where `self` ends, in the same segment (the two can go out as one
    /// range).
    pub fn continues_into(&self, next: &WireSpan) -> bool {
        Arc::ptr_eq(&self.segment, &next.segment) && self.offset + self.len == next.offset
    }
}

/// A batch of spooled frames as the transport sends them: runs of contiguous spans merged
/// into ranges (one segment reference per run, not per frame), plus each frame's length so
/// that a batch can be sent in parts at frame boundaries.
#[derive(Debug, Default)]
pub struct WireBatch {
    ranges: Vec<WireSpan>,
    lens: Vec<u64>,
}

impl WireBatch {
    /// Appends a frame's span (merged into the last range if it continues it).
    pub fn push(&mut self, span: &WireSpan) {
        self.lens.push(span.len);
        match self.ranges.last_mut() {
            Some(last) if last.continues_into(span) => last.len += span.len,
            _ => self.ranges.push(span.clone()),
        }
    }

    /// How many frames.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Whether there is no frame.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// The wire length of frame `i` (header included).
    pub fn frame_len(&self, i: usize) -> u64 {
        self.lens[i]
    }

    /// The ranges, in order; together they hold every frame's wire bytes back to back.
    pub fn ranges(&self) -> &[WireSpan] {
        &self.ranges
    }

    /// Empties the batch (releasing its segments).
    pub fn clear(&mut self) {
        self.ranges.clear();
        self.lens.clear();
    }
}

/// The segment being appended to and its length.
#[derive(Debug)]
struct Tail {
    segment: Arc<Segment>,
    len: u64,
}

/// The spool (see the module docs). Appends come from the hub's tailer only; spans are read
/// by any number of subscribers.
pub struct Spool {
    wire: WireFn,
    segment_bytes: u64,
    tail: Mutex<Option<Tail>>,
    /// Reused buffer for one push's wire bytes.
    buf: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("segment_bytes", &self.segment_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(target_os = "linux")]
fn new_segment() -> io::Result<File> {
    use rustix::fs::{MemfdFlags, memfd_create};
    let fd = memfd_create("firehose-spool", MemfdFlags::CLOEXEC)?;
    Ok(File::from(fd))
}

#[cfg(not(target_os = "linux"))]
fn new_segment() -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the wire spool needs Linux (memfd_create and sendfile)",
    ))
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(not(unix))]
fn write_at(_file: &File, _bytes: &[u8], _offset: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

impl Spool {
    /// A spool whose frames are framed by `wire`, in segments of at most `segment_bytes` (a
    /// larger push gets a segment of its own). Fails where in-memory files cannot be made
    /// (not Linux, or the kernel refuses one).
    pub fn new(wire: WireFn, segment_bytes: u64) -> io::Result<Spool> {
        // Probe now, so a server that cannot spool says so at start-up, once.
        drop(new_segment()?);
        Ok(Spool {
            wire,
            segment_bytes: segment_bytes.max(4096),
            tail: Mutex::new(None),
            buf: Mutex::new(Vec::new()),
        })
    }

    /// Appends the wire bytes of `frames` (in order, as one write) and returns their spans.
    pub fn append<'a>(
        &self,
        frames: impl ExactSizeIterator<Item = &'a [u8]>,
    ) -> io::Result<Vec<WireSpan>> {
        let poisoned = || io::Error::other("spool lock poisoned");
        let mut buf = self.buf.lock().map_err(|_| poisoned())?;
        buf.clear();
        let mut ends = Vec::with_capacity(frames.len());
        for frame in frames {
            (self.wire)(frame, &mut buf);
            ends.push(buf.len() as u64);
        }
        if buf.is_empty() {
            return Ok(Vec::new());
        }
        let total = buf.len() as u64;
        let mut tail = self.tail.lock().map_err(|_| poisoned())?;
        let fits = tail
            .as_ref()
            .is_some_and(|t| t.len + total <= self.segment_bytes);
        if !fits {
            *tail = Some(Tail {
                segment: Arc::new(Segment {
                    file: new_segment()?,
                }),
                len: 0,
            });
        }
        let Some(t) = tail.as_mut() else {
            return Err(io::Error::other("no spool segment"));
        };
        write_at(&t.segment.file, &buf, t.len)?;
        let base = t.len;
        t.len += total;
        let mut start = 0;
        Ok(ends
            .into_iter()
            .map(|end| {
                let span = WireSpan {
                    segment: Arc::clone(&t.segment),
                    offset: base + start,
                    len: end - start,
                };
                start = end;
                span
            })
            .collect())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn read(span: &WireSpan) -> Vec<u8> {
        let mut out = vec![0; span.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(span.segment.file(), &mut out, span.offset)
            .expect("read back");
        out
    }

    fn spool(segment: u64) -> Spool {
        Spool::new(
            Arc::new(|frame: &[u8], out: &mut Vec<u8>| {
                out.push(u8::try_from(frame.len()).expect("short test frame"));
                out.extend_from_slice(frame);
            }),
            segment,
        )
        .expect("memfd")
    }

    #[test]
    fn spans_hold_the_wire_bytes_and_roll_over_segments() {
        let s = spool(4096);
        let frames: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        let spans = s.append(frames.iter().map(Vec::as_slice)).expect("append");
        assert_eq!(spans.len(), 5);
        for (span, frame) in spans.iter().zip(&frames) {
            let mut wire = vec![u8::try_from(frame.len()).unwrap()];
            wire.extend_from_slice(frame);
            assert_eq!(read(span), wire);
        }
        assert!(spans.windows(2).all(|w| w[0].continues_into(&w[1])));
        let next = s.append([&b"abc"[..]].into_iter()).expect("append");
        assert!(
            spans[4].continues_into(&next[0]),
            "same segment, contiguous"
        );

        // 20 x 251 more bytes do not fit: a new segment, starting at 0.
        let big = vec![7u8; 250];
        let many: Vec<&[u8]> = (0..20).map(|_| big.as_slice()).collect();
        let rolled = s.append(many.into_iter()).expect("append");
        assert_eq!(rolled[0].offset, 0);
        assert!(!next[0].continues_into(&rolled[0]));
        assert!(!Arc::ptr_eq(&next[0].segment, &rolled[0].segment));
        assert_eq!(read(&rolled[19])[1..], big[..]);
        // The old segment's spans still read back (it lives while they do).
        assert_eq!(read(&spans[2])[1..], frames[2][..]);
        assert!(s.append(std::iter::empty()).expect("nothing").is_empty());
    }

    #[test]
    fn batches_merge_contiguous_spans() {
        let s = spool(4096);
        let a = s.append([&b"aa"[..], b"bbb"].into_iter()).expect("append");
        let b = s.append([&b"c"[..]].into_iter()).expect("append");
        let big = vec![9u8; 250];
        let c = s
            .append((0..20).map(|_| big.as_slice()))
            .expect("new segment");
        let mut batch = WireBatch::default();
        for span in a.iter().chain(&b).chain(&c[..2]) {
            batch.push(span);
        }
        batch.push(&a[0]); // not contiguous: a range of its own
        assert_eq!(batch.len(), 6);
        assert_eq!(
            (0..6).map(|i| batch.frame_len(i)).collect::<Vec<_>>(),
            [3, 4, 2, 251, 251, 3]
        );
        let ranges: Vec<(u64, u64)> = batch.ranges().iter().map(|r| (r.offset, r.len)).collect();
        assert_eq!(ranges, [(0, 9), (0, 502), (0, 3)]);
        assert_eq!(read(&batch.ranges()[0]), b"\x02aa\x03bbb\x01c");
        batch.clear();
        assert!(batch.is_empty() && batch.ranges().is_empty());
    }

    #[test]
    fn a_push_larger_than_a_segment_gets_its_own() {
        let s = spool(4096);
        let big = vec![1u8; 100];
        let frames: Vec<&[u8]> = (0..60).map(|_| big.as_slice()).collect();
        let spans = s.append(frames.into_iter()).expect("append");
        assert_eq!(spans[59].offset + spans[59].len, 60 * 101);
        assert_eq!(read(&spans[59])[1..], big[..]);
    }
}
