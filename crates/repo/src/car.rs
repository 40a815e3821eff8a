//! Streaming CAR v1 reader and writer.
//!
//! A CAR v1 file (<https://ipld.io/specs/transport/car/carv1/>) is
//! `varint(len) ‖ header` followed by any number of sections `varint(len) ‖ CID ‖ block`, where
//! `len` counts the CID bytes plus the block bytes and the header is the strict DAG-CBOR map
//! `{roots: [link, …], version: 1}`. Varints are unsigned LEB128 in minimal form, at most 9 bytes
//! (multiformats unsigned-varint).
//!
//! [`CarReader`] yields `(Cid, Vec<u8>)` one section at a time from any [`std::io::Read`], so a
//! whole repository never has to sit in memory at once. It is written for hostile input: every
//! length is bounded ([`CarLimits`]), every failure is a typed [`CarError`], and nothing panics.
//! It can optionally check that each block hashes to its CID ([`CarLimits::verify_hashes`]).
//!
//! The reader knows nothing about repositories: it accepts blocks in any order, duplicates and
//! blocks nobody links to (checklist #52); deciding what to keep is the caller's job.
//! Unknown header keys are ignored (the CAR v1 spec defines only `version` and `roots`).
//!
//! [`CarWriter`] writes the header at construction and then one section per
//! [`CarWriter::write_block`] call, to any [`std::io::Write`]. It does not deduplicate.

use std::io::{self, BufReader, Read, Write};

use data_model::cbor::{self, Limits};
use data_model::{Cid, HASH_SHA2_256, Value};
use sha2::{Digest, Sha256};

/// Bounds and options applied while reading a CAR.
#[derive(Debug, Clone, Copy)]
pub struct CarLimits {
    /// Largest accepted header, in bytes.
    pub max_header_size: usize,
    /// Largest accepted section (CID plus block), in bytes.
    pub max_section_size: usize,
    /// Check that each block's sha2-256 digest matches its CID; blocks whose CID uses another
    /// hash function are then rejected with [`CarError::UnsupportedHash`].
    pub verify_hashes: bool,
}

impl Default for CarLimits {
    fn default() -> Self {
        // Records are at most 1 MiB (lexicon limit) and MST nodes far smaller; 2 MiB plus room
        // for the CID leaves a wide margin while keeping one section's allocation small.
        CarLimits {
            max_header_size: 64 * 1024,
            max_section_size: 2 * 1024 * 1024 + 128,
            verify_hashes: true,
        }
    }
}

/// Why a CAR stream could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    /// The underlying reader or writer failed.
    #[error("I/O error")]
    Io(#[from] io::Error),
    /// The stream ended inside the header or a section.
    #[error("unexpected end of CAR data while reading {0}")]
    Truncated(&'static str),
    /// A varint longer than 9 bytes or not in minimal form.
    #[error("invalid varint: {0}")]
    InvalidVarint(&'static str),
    /// The header length is zero or above [`CarLimits::max_header_size`].
    #[error("CAR header length {0} is out of bounds")]
    HeaderSize(u64),
    /// The header is not strict DAG-CBOR.
    #[error("CAR header is not strict DAG-CBOR")]
    HeaderCbor(#[from] cbor::DecodeError),
    /// The header is not a map, or its `roots`/`version` fields have the wrong shape.
    #[error("invalid CAR header: {0}")]
    InvalidHeader(&'static str),
    /// The header's `version` is not 1.
    #[error("unsupported CAR version {0}")]
    UnsupportedVersion(i64),
    /// A section length is zero or above [`CarLimits::max_section_size`].
    #[error("CAR section length {0} is out of bounds")]
    SectionSize(u64),
    /// A section does not start with a valid CID.
    #[error("invalid CID in CAR section: {0}")]
    InvalidCid(String),
    /// Hash verification is on and the CID uses a hash function other than sha2-256.
    #[error("block {0} uses an unsupported hash function")]
    UnsupportedHash(Cid),
    /// Hash verification is on and the block does not hash to its CID.
    #[error("block does not match its CID {0}")]
    HashMismatch(Cid),
}

/// The largest multiformats varint is 9 bytes (63 bits of payload).
const MAX_VARINT_BYTES: usize = 9;

/// Reads one unsigned varint. `Ok(None)` means the stream ended cleanly before its first byte.
fn read_varint<R: Read>(r: &mut R, what: &'static str) -> Result<Option<u64>, CarError> {
    let mut value: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let mut byte = [0u8; 1];
        let n = loop {
            match r.read(&mut byte) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CarError::Io(e)),
            }
        };
        if n == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(CarError::Truncated(what))
            };
        }
        let b = byte[0];
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(CarError::InvalidVarint("not in minimal form"));
            }
            return Ok(Some(value));
        }
    }
    Err(CarError::InvalidVarint("longer than 9 bytes"))
}

fn write_varint<W: Write>(w: &mut W, mut n: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let mut i = 0;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf[i] = b;
            i += 1;
            break;
        }
        buf[i] = b | 0x80;
        i += 1;
    }
    w.write_all(&buf[..i])
}

/// Reads exactly `len` bytes without allocating more than what actually arrives.
fn read_bounded<R: Read>(r: &mut R, len: u64, what: &'static str) -> Result<Vec<u8>, CarError> {
    let mut buf = Vec::with_capacity(len.min(64 * 1024) as usize);
    r.by_ref().take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        return Err(CarError::Truncated(what));
    }
    Ok(buf)
}

/// The decoded CAR v1 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarHeader {
    /// The `roots` list (for a repository export, `roots[0]` is the commit).
    pub roots: Vec<Cid>,
}

impl CarHeader {
    /// Parses the header bytes (after the length varint).
    pub fn decode(bytes: &[u8]) -> Result<CarHeader, CarError> {
        let limits = Limits {
            max_depth: 4,
            max_size: bytes.len(),
        };
        let value = cbor::decode_with(bytes, limits)?;
        let Value::Map(map) = value else {
            return Err(CarError::InvalidHeader("header is not a map"));
        };
        match map.get("version") {
            Some(Value::Integer(1)) => {}
            Some(Value::Integer(v)) => return Err(CarError::UnsupportedVersion(*v)),
            Some(_) => return Err(CarError::InvalidHeader("version is not an integer")),
            None => return Err(CarError::InvalidHeader("missing version")),
        }
        let roots = match map.get("roots") {
            Some(Value::List(items)) => items
                .iter()
                .map(|v| {
                    v.as_link()
                        .copied()
                        .ok_or(CarError::InvalidHeader("a root is not a link"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(CarError::InvalidHeader("roots is not a list")),
            None => return Err(CarError::InvalidHeader("missing roots")),
        };
        Ok(CarHeader { roots })
    }

    /// Encodes the header map (without the length varint).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = cbor::Writer::with_capacity(16 + 40 * self.roots.len());
        w.map(2);
        w.text("roots");
        w.array(self.roots.len());
        for root in &self.roots {
            w.link(root);
        }
        w.text("version");
        w.uint(1);
        w.into_bytes()
    }
}

/// Checks that `block` hashes to `cid` (sha2-256 only).
pub fn verify_block(cid: &Cid, block: &[u8]) -> Result<(), CarError> {
    let hash = cid.hash();
    if hash.code() != HASH_SHA2_256 || hash.size() != 32 {
        return Err(CarError::UnsupportedHash(*cid));
    }
    if Sha256::digest(block)[..] != *hash.digest() {
        return Err(CarError::HashMismatch(*cid));
    }
    Ok(())
}

/// A streaming CAR v1 reader: construct it (which reads the header), then iterate sections.
///
/// The reader buffers its input internally, so a plain `File` is fine.
/// After the first error the iterator is fused and yields `None`.
#[derive(Debug)]
pub struct CarReader<R: Read> {
    input: BufReader<R>,
    header: CarHeader,
    limits: CarLimits,
    failed: bool,
}

impl<R: Read> CarReader<R> {
    /// Reads the header with default [`CarLimits`] (hash verification on).
    pub fn new(input: R) -> Result<Self, CarError> {
        Self::with_limits(input, CarLimits::default())
    }

    /// Reads the header with the given limits.
    pub fn with_limits(input: R, limits: CarLimits) -> Result<Self, CarError> {
        let mut input = BufReader::new(input);
        let len = read_varint(&mut input, "header length")?
            .ok_or(CarError::Truncated("header length"))?;
        if len == 0 || len > limits.max_header_size as u64 {
            return Err(CarError::HeaderSize(len));
        }
        let bytes = read_bounded(&mut input, len, "header")?;
        let header = CarHeader::decode(&bytes)?;
        Ok(CarReader {
            input,
            header,
            limits,
            failed: false,
        })
    }

    /// The header read at construction.
    pub fn header(&self) -> &CarHeader {
        &self.header
    }

    /// The header's roots.
    pub fn roots(&self) -> &[Cid] {
        &self.header.roots
    }

    /// Reads the next section; `Ok(None)` at a clean end of stream.
    pub fn next_block(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.read_section();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn read_section(&mut self) -> Result<Option<(Cid, Vec<u8>)>, CarError> {
        let Some(len) = read_varint(&mut self.input, "section length")? else {
            return Ok(None);
        };
        if len == 0 || len > self.limits.max_section_size as u64 {
            return Err(CarError::SectionSize(len));
        }
        let section = read_bounded(&mut self.input, len, "section")?;
        let mut cursor: &[u8] = &section;
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::InvalidCid(e.to_string()))?;
        let cid_len = section.len() - cursor.len();
        let mut block = section;
        block.drain(..cid_len);
        if self.limits.verify_hashes {
            verify_block(&cid, &block)?;
        }
        Ok(Some((cid, block)))
    }
}

impl<R: Read> Iterator for CarReader<R> {
    type Item = Result<(Cid, Vec<u8>), CarError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_block().transpose()
    }
}

/// Appends a CAR v1 header (length-prefixed) with these roots to `out`: the same bytes
/// [`CarWriter::new`] writes, for callers that produce a CAR in chunks.
pub fn push_header(out: &mut Vec<u8>, roots: &[Cid]) {
    let header = CarHeader {
        roots: roots.to_vec(),
    }
    .encode();
    push_varint(out, header.len() as u64);
    out.extend_from_slice(&header);
}

/// Appends one CAR section (`varint(len) ‖ cid ‖ block`) to `out`: the same bytes
/// [`CarWriter::write_block`] writes. The caller guarantees that `block` hashes to `cid`.
pub fn push_section(out: &mut Vec<u8>, cid: &Cid, block: &[u8]) {
    let cid_bytes = cid.to_bytes();
    push_varint(out, (cid_bytes.len() + block.len()) as u64);
    out.extend_from_slice(&cid_bytes);
    out.extend_from_slice(block);
}

fn push_varint(out: &mut Vec<u8>, n: u64) {
    // Writing to a Vec cannot fail.
    let _ = write_varint(out, n);
}

/// A streaming CAR v1 writer: the header is written by [`CarWriter::new`], then one section
/// per [`CarWriter::write_block`].
#[derive(Debug)]
pub struct CarWriter<W: Write> {
    out: W,
    blocks: u64,
    bytes: u64,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header with these roots.
    pub fn new(mut out: W, roots: &[Cid]) -> Result<Self, CarError> {
        let header = CarHeader {
            roots: roots.to_vec(),
        }
        .encode();
        let mut counter = CountingWrite {
            inner: &mut out,
            count: 0,
        };
        write_varint(&mut counter, header.len() as u64)?;
        counter.write_all(&header)?;
        let bytes = counter.count;
        Ok(CarWriter {
            out,
            blocks: 0,
            bytes,
        })
    }

    /// Writes one section. The caller guarantees that `block` hashes to `cid`.
    pub fn write_block(&mut self, cid: &Cid, block: &[u8]) -> Result<(), CarError> {
        let cid_bytes = cid.to_bytes();
        let len = (cid_bytes.len() + block.len()) as u64;
        let mut counter = CountingWrite {
            inner: &mut self.out,
            count: 0,
        };
        write_varint(&mut counter, len)?;
        counter.write_all(&cid_bytes)?;
        counter.write_all(block)?;
        self.bytes += counter.count;
        self.blocks += 1;
        Ok(())
    }

    /// Number of sections written so far.
    pub fn block_count(&self) -> u64 {
        self.blocks
    }

    /// Number of bytes written so far, header included.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, CarError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

struct CountingWrite<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for CountingWrite<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a whole CAR to a byte vector (convenience for small CARs and tests).
pub fn write_car_to_vec<'a>(
    roots: &[Cid],
    blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>,
) -> Result<Vec<u8>, CarError> {
    let mut w = CarWriter::new(Vec::new(), roots)?;
    for (cid, block) in blocks {
        w.write_block(cid, block)?;
    }
    w.finish()
}
