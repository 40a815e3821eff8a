//! Strict DAG-CBOR (DRISL): canonical encoding and a decoder that rejects everything else.
//!
//! Rules enforced on decode (and always produced on encode):
//! - integers and lengths in their shortest form; definite lengths only;
//! - map keys are text strings, unique, sorted length-first then bytewise;
//! - the only tag is 42 (CID link: a byte string `0x00` + binary CIDv1);
//! - simple values are only `false`, `true`, `null`: no floats, no `undefined`;
//! - integers must fit in `i64`; text must be UTF-8; nothing may follow the top-level item.
//!
//! Decoding is bounded by [`Limits`]: nesting depth, and a claimed length can never allocate
//! more than the remaining input could hold.

use std::collections::BTreeMap;

use cid::Cid;

use crate::Value;

/// Bounds applied while decoding untrusted input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum nesting depth of arrays and maps.
    pub max_depth: usize,
    /// Maximum input size in bytes.
    pub max_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // 64 levels is far beyond any lexicon; 4 MiB covers the largest record (1 MB) and commit
        // CARs' individual blocks with room to spare.
        Limits {
            max_depth: 64,
            max_size: 4 * 1024 * 1024,
        }
    }
}

/// Why a byte string is not strict DAG-CBOR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input ended inside an item.
    #[error("unexpected end of input")]
    Eof,
    /// Bytes follow the top-level item.
    #[error("trailing bytes after the top-level item")]
    Trailing,
    /// An integer or length was not in its shortest form.
    #[error("non-canonical integer or length encoding")]
    NonCanonical,
    /// Indefinite-length item, or reserved additional information.
    #[error("indefinite or reserved length encoding")]
    Indefinite,
    /// A floating-point number (not allowed in atproto data).
    #[error("floating-point numbers are not allowed")]
    Float,
    /// A simple value other than false/true/null.
    #[error("unsupported simple value {0}")]
    UnsupportedSimple(u8),
    /// A tag other than 42.
    #[error("unsupported tag {0}")]
    UnsupportedTag(u64),
    /// Text was not UTF-8.
    #[error("text string is not valid UTF-8")]
    InvalidUtf8,
    /// A map key was not a text string.
    #[error("map key is not a text string")]
    MapKeyNotText,
    /// Map keys out of canonical order or duplicated.
    #[error("map keys are not in canonical order or are duplicated")]
    MapKeyOrder,
    /// Integer outside the signed 64-bit range.
    #[error("integer out of the signed 64-bit range")]
    IntOutOfRange,
    /// Tag 42 content was not a valid CID.
    #[error("invalid CID link: {0}")]
    InvalidCid(String),
    /// Nesting deeper than [`Limits::max_depth`].
    #[error("nesting too deep")]
    TooDeep,
    /// Input larger than [`Limits::max_size`], or a length larger than the input.
    #[error("input too large")]
    TooLarge,
    /// A different type was found than the caller expected.
    #[error("expected {expected}, found {found}")]
    UnexpectedType {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
}

const MAJOR_UINT: u8 = 0;
const MAJOR_NEGINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;

fn major_name(major: u8) -> &'static str {
    match major {
        MAJOR_UINT => "unsigned integer",
        MAJOR_NEGINT => "negative integer",
        MAJOR_BYTES => "byte string",
        MAJOR_TEXT => "text string",
        MAJOR_ARRAY => "array",
        MAJOR_MAP => "map",
        MAJOR_TAG => "tag",
        _ => "simple value",
    }
}

/// Compares two map keys in DAG-CBOR canonical order (length first, then bytewise).
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Appends canonical DAG-CBOR items to a buffer. The caller is responsible for writing map
/// keys in canonical order when using the low-level methods directly.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// An empty writer with preallocated capacity.
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn head(&mut self, major: u8, arg: u64) {
        let m = major << 5;
        if arg < 24 {
            self.buf.push(m | arg as u8);
        } else if arg <= u8::MAX as u64 {
            self.buf.extend_from_slice(&[m | 24, arg as u8]);
        } else if arg <= u16::MAX as u64 {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(arg as u16).to_be_bytes());
        } else if arg <= u32::MAX as u64 {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(arg as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
    }

    /// `null`.
    pub fn null(&mut self) {
        self.buf.push(0xf6);
    }

    /// `true` / `false`.
    pub fn bool(&mut self, b: bool) {
        self.buf.push(if b { 0xf5 } else { 0xf4 });
    }

    /// A non-negative integer.
    pub fn uint(&mut self, n: u64) {
        self.head(MAJOR_UINT, n);
    }

    /// A signed integer.
    pub fn int(&mut self, n: i64) {
        if n >= 0 {
            self.head(MAJOR_UINT, n as u64);
        } else {
            self.head(MAJOR_NEGINT, (-1 - n) as u64);
        }
    }

    /// A text string.
    pub fn text(&mut self, s: &str) {
        self.head(MAJOR_TEXT, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) {
        self.head(MAJOR_BYTES, b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// The header of an array of `len` items.
    pub fn array(&mut self, len: usize) {
        self.head(MAJOR_ARRAY, len as u64);
    }

    /// The header of a map of `len` entries.
    pub fn map(&mut self, len: usize) {
        self.head(MAJOR_MAP, len as u64);
    }

    /// A CID link (tag 42).
    pub fn link(&mut self, cid: &Cid) {
        let raw = cid.to_bytes();
        self.buf.push(0xd8);
        self.buf.push(42);
        self.head(MAJOR_BYTES, raw.len() as u64 + 1);
        self.buf.push(0);
        self.buf.extend_from_slice(&raw);
    }

    /// A link or `null`.
    pub fn nullable_link(&mut self, cid: Option<&Cid>) {
        match cid {
            Some(c) => self.link(c),
            None => self.null(),
        }
    }

    /// Any value, canonically.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Integer(n) => self.int(*n),
            Value::String(s) => self.text(s),
            Value::Bytes(b) => self.bytes(b),
            Value::Link(c) => self.link(c),
            Value::List(items) => {
                self.array(items.len());
                for item in items {
                    self.value(item);
                }
            }
            Value::Map(m) => {
                self.map(m.len());
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_by(|a, b| key_order(a.0, b.0));
                for (k, v) in entries {
                    self.text(k);
                    self.value(v);
                }
            }
        }
    }
}

/// Encodes a value as canonical DAG-CBOR.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut w = Writer::with_capacity(128);
    w.value(v);
    w.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A strict pull decoder over a byte slice. Every read checks canonical form.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { input, pos: 0 }
    }

    /// Current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Eof);
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// The major type of the next item, without consuming it.
    pub fn peek_major(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .map(|b| b >> 5)
            .ok_or(DecodeError::Eof)
    }

    /// True if the next item is `null`.
    pub fn peek_is_null(&self) -> bool {
        self.input.get(self.pos) == Some(&0xf6)
    }

    /// Reads an item head: (major type, argument). Simple values return their raw additional
    /// info as the argument; floats are rejected here.
    fn head(&mut self) -> Result<(u8, u64), DecodeError> {
        let b = self.take(1)?[0];
        let major = b >> 5;
        let info = b & 0x1f;
        if major == MAJOR_SIMPLE {
            return match info {
                20..=22 => Ok((major, info as u64)),
                25..=27 => Err(DecodeError::Float),
                31 => Err(DecodeError::Indefinite),
                24 => Err(DecodeError::UnsupportedSimple(self.take(1)?[0])),
                other => Err(DecodeError::UnsupportedSimple(other)),
            };
        }
        let arg = match info {
            0..=23 => info as u64,
            24 => {
                let v = self.take(1)?[0] as u64;
                if v < 24 {
                    return Err(DecodeError::NonCanonical);
                }
                v
            }
            25 => {
                let v = u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")) as u64;
                if v <= u8::MAX as u64 {
                    return Err(DecodeError::NonCanonical);
                }
                v
            }
            26 => {
                let v = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")) as u64;
                if v <= u16::MAX as u64 {
                    return Err(DecodeError::NonCanonical);
                }
                v
            }
            27 => {
                let v = u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                if v <= u32::MAX as u64 {
                    return Err(DecodeError::NonCanonical);
                }
                v
            }
            _ => return Err(DecodeError::Indefinite),
        };
        Ok((major, arg))
    }

    fn expect(&mut self, want: u8, expected: &'static str) -> Result<u64, DecodeError> {
        let (major, arg) = self.head()?;
        if major != want {
            return Err(DecodeError::UnexpectedType {
                expected,
                found: major_name(major),
            });
        }
        Ok(arg)
    }

    fn len_arg(&self, arg: u64, min_item_size: usize) -> Result<usize, DecodeError> {
        // A claimed length can never exceed what the remaining input could hold.
        let n = usize::try_from(arg).map_err(|_| DecodeError::TooLarge)?;
        if n.saturating_mul(min_item_size) > self.remaining() {
            return Err(DecodeError::Eof);
        }
        Ok(n)
    }

    /// Reads `null`.
    pub fn read_null(&mut self) -> Result<(), DecodeError> {
        match self.head()? {
            (MAJOR_SIMPLE, 22) => Ok(()),
            (major, _) => Err(DecodeError::UnexpectedType {
                expected: "null",
                found: major_name(major),
            }),
        }
    }

    /// Reads a boolean.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.head()? {
            (MAJOR_SIMPLE, 20) => Ok(false),
            (MAJOR_SIMPLE, 21) => Ok(true),
            (major, _) => Err(DecodeError::UnexpectedType {
                expected: "boolean",
                found: major_name(major),
            }),
        }
    }

    /// Reads a non-negative integer.
    pub fn read_u64(&mut self) -> Result<u64, DecodeError> {
        let v = self.expect(MAJOR_UINT, "unsigned integer")?;
        if v > i64::MAX as u64 {
            return Err(DecodeError::IntOutOfRange);
        }
        Ok(v)
    }

    /// Reads a signed integer.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        match self.head()? {
            (MAJOR_UINT, v) => i64::try_from(v).map_err(|_| DecodeError::IntOutOfRange),
            (MAJOR_NEGINT, v) => {
                let v = i64::try_from(v).map_err(|_| DecodeError::IntOutOfRange)?;
                Ok(-1 - v)
            }
            (major, _) => Err(DecodeError::UnexpectedType {
                expected: "integer",
                found: major_name(major),
            }),
        }
    }

    /// Reads a text string, borrowed from the input.
    pub fn read_text(&mut self) -> Result<&'a str, DecodeError> {
        let arg = self.expect(MAJOR_TEXT, "text string")?;
        let n = self.len_arg(arg, 1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Reads a byte string, borrowed from the input.
    pub fn read_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let arg = self.expect(MAJOR_BYTES, "byte string")?;
        let n = self.len_arg(arg, 1)?;
        self.take(n)
    }

    /// Reads an array header; returns the number of items.
    pub fn read_array_len(&mut self) -> Result<usize, DecodeError> {
        let arg = self.expect(MAJOR_ARRAY, "array")?;
        self.len_arg(arg, 1)
    }

    /// Reads a map header; returns the number of entries.
    pub fn read_map_len(&mut self) -> Result<usize, DecodeError> {
        let arg = self.expect(MAJOR_MAP, "map")?;
        self.len_arg(arg, 2)
    }

    /// Reads a CID link (tag 42).
    pub fn read_link(&mut self) -> Result<Cid, DecodeError> {
        let tag = self.expect(MAJOR_TAG, "link")?;
        self.link_body(tag)
    }

    fn link_body(&mut self, tag: u64) -> Result<Cid, DecodeError> {
        if tag != 42 {
            return Err(DecodeError::UnsupportedTag(tag));
        }
        let bytes = self.read_bytes()?;
        let (prefix, raw) = bytes
            .split_first()
            .ok_or_else(|| DecodeError::InvalidCid("empty".into()))?;
        if *prefix != 0 {
            return Err(DecodeError::InvalidCid(
                "missing 0x00 multibase prefix".into(),
            ));
        }
        let mut cursor = raw;
        let cid =
            Cid::read_bytes(&mut cursor).map_err(|e| DecodeError::InvalidCid(e.to_string()))?;
        if !cursor.is_empty() {
            return Err(DecodeError::InvalidCid("trailing bytes".into()));
        }
        if cid.version() != cid::Version::V1 {
            return Err(DecodeError::InvalidCid("not CIDv1".into()));
        }
        Ok(cid)
    }

    /// Reads a link or `null`.
    pub fn read_nullable_link(&mut self) -> Result<Option<Cid>, DecodeError> {
        if self.peek_is_null() {
            self.pos += 1;
            return Ok(None);
        }
        self.read_link().map(Some)
    }

    /// Reads any value, enforcing canonical map order and the depth limit.
    pub fn read_value(&mut self, max_depth: usize) -> Result<Value, DecodeError> {
        if max_depth == 0 {
            return Err(DecodeError::TooDeep);
        }
        let (major, arg) = self.head()?;
        Ok(match major {
            MAJOR_UINT => {
                Value::Integer(i64::try_from(arg).map_err(|_| DecodeError::IntOutOfRange)?)
            }
            MAJOR_NEGINT => {
                let v = i64::try_from(arg).map_err(|_| DecodeError::IntOutOfRange)?;
                Value::Integer(-1 - v)
            }
            MAJOR_BYTES => {
                let n = self.len_arg(arg, 1)?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            MAJOR_TEXT => {
                let n = self.len_arg(arg, 1)?;
                let s = std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::InvalidUtf8)?;
                Value::String(s.to_owned())
            }
            MAJOR_ARRAY => {
                let n = self.len_arg(arg, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.read_value(max_depth - 1)?);
                }
                Value::List(items)
            }
            MAJOR_MAP => {
                let n = self.len_arg(arg, 2)?;
                let mut map = BTreeMap::new();
                let mut prev: Option<&'a str> = None;
                for _ in 0..n {
                    if self.peek_major()? != MAJOR_TEXT {
                        return Err(DecodeError::MapKeyNotText);
                    }
                    let key = self.read_text()?;
                    if let Some(p) = prev
                        && key_order(p, key) != std::cmp::Ordering::Less
                    {
                        return Err(DecodeError::MapKeyOrder);
                    }
                    prev = Some(key);
                    let v = self.read_value(max_depth - 1)?;
                    map.insert(key.to_owned(), v);
                }
                Value::Map(map)
            }
            MAJOR_TAG => Value::Link(self.link_body(arg)?),
            _ => match arg {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                _ => Value::Null,
            },
        })
    }

    /// Skips one item of any type (checked as strictly as [`Reader::read_value`]).
    pub fn skip_value(&mut self, max_depth: usize) -> Result<(), DecodeError> {
        self.read_value(max_depth).map(drop)
    }
}

/// Decodes exactly one strict DAG-CBOR value from `bytes`, with default [`Limits`].
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    decode_with(bytes, Limits::default())
}

/// Decodes exactly one strict DAG-CBOR value from `bytes` under `limits`.
pub fn decode_with(bytes: &[u8], limits: Limits) -> Result<Value, DecodeError> {
    if bytes.len() > limits.max_size {
        return Err(DecodeError::TooLarge);
    }
    let mut r = Reader::new(bytes);
    let v = r.read_value(limits.max_depth)?;
    r.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests;
