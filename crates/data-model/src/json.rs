//! atproto JSON <-> [`Value`].
//!
//! JSON conventions (atproto data model spec, "JSON Representation"):
//! - `{"$link": "<cid>"}` is a link and `{"$bytes": "<base64>"}` is bytes: exactly one key each;
//!   base64 is RFC 4648 §4 (standard alphabet), padding optional on input, never written.
//! - numbers must be integers in the i64 range; an integer-valued float such as `123.0` is read
//!   as an integer, any other float is rejected.
//! - `$type`, wherever it appears, must be a non-empty string; `$type: "blob"` objects must have
//!   a link `ref`, a string `mimeType` and an integer `size`.
//! - the top-level value of a record must be an object ([`from_json`] enforces this;
//!   [`value_from_json`] accepts any value).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};

use crate::Value;

/// Why a JSON document is not valid atproto data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The top-level value is not an object.
    #[error("top-level value must be an object")]
    NotAnObject,
    /// A float that is not integer-valued, or an integer outside i64.
    #[error("number {0} is not a 64-bit integer (floats are not allowed)")]
    NotAnInteger(String),
    /// A malformed `$link` object.
    #[error("invalid $link: {0}")]
    InvalidLink(String),
    /// A malformed `$bytes` object.
    #[error("invalid $bytes: {0}")]
    InvalidBytes(String),
    /// A `$type` that is not a non-empty string.
    #[error("$type must be a non-empty string")]
    InvalidType,
    /// A `$type: blob` object without the required shape.
    #[error("invalid blob: {0}")]
    InvalidBlob(String),
    /// Nesting deeper than the limit.
    #[error("nesting too deep")]
    TooDeep,
}

const MAX_DEPTH: usize = 64;

const BASE64_INPUT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        // The reference implementations accept non-zero trailing bits (e.g. "123"); so do we.
        .with_decode_allow_trailing_bits(true),
);

/// Parses a record-like JSON document: the top level must be an object.
pub fn from_json(json: &serde_json::Value) -> Result<Value, JsonError> {
    if !json.is_object() {
        return Err(JsonError::NotAnObject);
    }
    value_from_json(json)
}

/// Converts any JSON value to a [`Value`] under the atproto conventions.
pub fn value_from_json(json: &serde_json::Value) -> Result<Value, JsonError> {
    convert(json, MAX_DEPTH)
}

fn convert(json: &serde_json::Value, depth: usize) -> Result<Value, JsonError> {
    if depth == 0 {
        return Err(JsonError::TooDeep);
    }
    use serde_json::Value as J;
    Ok(match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Integer(number_to_i64(n)?),
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::List(
            items
                .iter()
                .map(|i| convert(i, depth - 1))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(obj) => {
            if let Some(link) = obj.get("$link") {
                if obj.len() != 1 {
                    return Err(JsonError::InvalidLink("extra fields beside $link".into()));
                }
                let s = link
                    .as_str()
                    .ok_or_else(|| JsonError::InvalidLink("not a string".into()))?;
                let cid = crate::parse_cid(s).map_err(|e| JsonError::InvalidLink(e.to_string()))?;
                return Ok(Value::Link(cid));
            }
            if let Some(bytes) = obj.get("$bytes") {
                if obj.len() != 1 {
                    return Err(JsonError::InvalidBytes("extra fields beside $bytes".into()));
                }
                let s = bytes
                    .as_str()
                    .ok_or_else(|| JsonError::InvalidBytes("not a string".into()))?;
                let b = BASE64_INPUT
                    .decode(s)
                    .map_err(|e| JsonError::InvalidBytes(e.to_string()))?;
                return Ok(Value::Bytes(b));
            }
            let mut map = BTreeMap::new();
            for (k, v) in obj {
                map.insert(k.clone(), convert(v, depth - 1)?);
            }
            check_type_field(&map)?;
            Value::Map(map)
        }
    })
}

fn number_to_i64(n: &serde_json::Number) -> Result<i64, JsonError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(JsonError::NotAnInteger(n.to_string()));
    }
    match n.as_f64() {
        // 2^63 is exactly representable; anything >= it does not fit.
        Some(f) if f.fract() == 0.0 && f >= -(2f64.powi(63)) && f < 2f64.powi(63) => Ok(f as i64),
        _ => Err(JsonError::NotAnInteger(n.to_string())),
    }
}

fn check_type_field(map: &BTreeMap<String, Value>) -> Result<(), JsonError> {
    let Some(t) = map.get("$type") else {
        return Ok(());
    };
    match t {
        Value::String(s) if !s.is_empty() => {
            if s == "blob" {
                match map.get("ref") {
                    Some(Value::Link(_)) => {}
                    _ => return Err(JsonError::InvalidBlob("ref must be a $link".into())),
                }
                match map.get("mimeType") {
                    Some(Value::String(m)) if !m.is_empty() => {}
                    _ => {
                        return Err(JsonError::InvalidBlob(
                            "mimeType must be a non-empty string".into(),
                        ));
                    }
                }
                match map.get("size") {
                    Some(Value::Integer(n)) if *n >= 0 => {}
                    _ => {
                        return Err(JsonError::InvalidBlob(
                            "size must be a non-negative integer".into(),
                        ));
                    }
                }
            }
            Ok(())
        }
        _ => Err(JsonError::InvalidType),
    }
}

/// Converts a [`Value`] to atproto JSON.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Integer(n) => J::Number((*n).into()),
        Value::String(s) => J::String(s.clone()),
        Value::Bytes(b) => {
            let mut m = serde_json::Map::new();
            m.insert("$bytes".into(), J::String(STANDARD_NO_PAD.encode(b)));
            J::Object(m)
        }
        Value::Link(c) => {
            let mut m = serde_json::Map::new();
            m.insert("$link".into(), J::String(c.to_string()));
            J::Object(m)
        }
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => J::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests;
