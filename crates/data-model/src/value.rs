//! [`Value`]: the atproto data model as one enum, and [`BlobRef`].
//!
//! Integers are signed 64-bit; floats do not exist in atproto data. Maps keep their keys in a
//! `BTreeMap` for determinism; the CBOR encoder applies the DAG-CBOR key order (length first,
//! then bytewise) itself.

use std::collections::BTreeMap;

use cid::Cid;

/// One atproto data-model value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed 64-bit integer.
    Integer(i64),
    /// A UTF-8 string.
    String(String),
    /// A byte string (`{"$bytes": …}` in JSON).
    Bytes(Vec<u8>),
    /// A CID link (`{"$link": …}` in JSON, tag 42 in CBOR).
    Link(Cid),
    /// An array.
    List(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The link, if this is one.
    pub fn as_link(&self) -> Option<&Cid> {
        match self {
            Value::Link(c) => Some(c),
            _ => None,
        }
    }

    /// Looks up `key` if this is a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map().and_then(|m| m.get(key))
    }

    /// Every blob referenced anywhere inside this value (current form `$type: blob` and the
    /// legacy `{cid, mimeType}` form), in document order.
    pub fn blob_refs(&self) -> Vec<BlobRef> {
        let mut out = Vec::new();
        collect_blobs(self, &mut out);
        out
    }
}

fn collect_blobs(v: &Value, out: &mut Vec<BlobRef>) {
    match v {
        Value::Map(m) => {
            if let Some(b) = BlobRef::from_map(m) {
                out.push(b);
                return;
            }
            for child in m.values() {
                collect_blobs(child, out);
            }
        }
        Value::List(l) => l.iter().for_each(|c| collect_blobs(c, out)),
        _ => {}
    }
}

/// A reference to a blob from inside a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// CID of the blob bytes (raw codec for current refs).
    pub cid: Cid,
    /// Declared MIME type.
    pub mime_type: String,
    /// Size in bytes; `None` for legacy refs, which carry no size.
    pub size: Option<i64>,
    /// True for the legacy `{cid: "<string>", mimeType}` form (read, never written).
    pub legacy: bool,
}

impl BlobRef {
    /// Recognises a blob object: `{$type: "blob", ref: link, mimeType, size}` or the legacy
    /// `{cid: "<cid string>", mimeType}` (exactly those two keys).
    pub fn from_map(m: &BTreeMap<String, Value>) -> Option<BlobRef> {
        if m.get("$type").and_then(Value::as_str) == Some("blob") {
            let cid = *m.get("ref")?.as_link()?;
            let mime_type = m.get("mimeType")?.as_str()?.to_owned();
            let size = match m.get("size")? {
                Value::Integer(n) => *n,
                _ => return None,
            };
            return Some(BlobRef {
                cid,
                mime_type,
                size: Some(size),
                legacy: false,
            });
        }
        if m.len() == 2 {
            let cid = crate::parse_cid(m.get("cid")?.as_str()?).ok()?;
            let mime_type = m.get("mimeType")?.as_str()?.to_owned();
            return Some(BlobRef {
                cid,
                mime_type,
                size: None,
                legacy: true,
            });
        }
        None
    }

    /// The current (non-legacy) map form of this ref.
    pub fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("$type".to_owned(), Value::String("blob".to_owned()));
        m.insert("ref".to_owned(), Value::Link(self.cid));
        m.insert("mimeType".to_owned(), Value::String(self.mime_type.clone()));
        m.insert("size".to_owned(), Value::Integer(self.size.unwrap_or(0)));
        Value::Map(m)
    }
}
