//! Small strict readers over `serde_json` objects, shared by the operation and DID-document
//! parsers. They only look things up and report which field was wrong; they know nothing about
//! PLC or DID semantics.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

/// What went wrong while reading one field of a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldError {
    /// The field is absent.
    Missing(&'static str),
    /// The field has the wrong JSON type.
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

/// A required string field.
pub(crate) fn req_str<'a>(
    map: &'a Map<String, Json>,
    field: &'static str,
) -> Result<&'a str, FieldError> {
    match map.get(field) {
        None => Err(FieldError::Missing(field)),
        Some(Json::String(s)) => Ok(s),
        Some(_) => Err(FieldError::WrongType {
            field,
            expected: "string",
        }),
    }
}

/// A required array of strings.
pub(crate) fn req_str_array(
    map: &Map<String, Json>,
    field: &'static str,
) -> Result<Vec<String>, FieldError> {
    let wrong = FieldError::WrongType {
        field,
        expected: "array of strings",
    };
    match map.get(field) {
        None => Err(FieldError::Missing(field)),
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(wrong.clone()))
            .collect(),
        Some(_) => Err(wrong),
    }
}

/// A required object whose values are all strings.
pub(crate) fn req_str_map(
    map: &Map<String, Json>,
    field: &'static str,
) -> Result<BTreeMap<String, String>, FieldError> {
    let wrong = FieldError::WrongType {
        field,
        expected: "object with string values",
    };
    match map.get(field) {
        None => Err(FieldError::Missing(field)),
        Some(Json::Object(obj)) => obj
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or(wrong.clone())?.to_owned())))
            .collect(),
        Some(_) => Err(wrong),
    }
}

/// The first key of `map` that is not in `allowed`, if any.
pub(crate) fn unknown_key<'a>(map: &'a Map<String, Json>, allowed: &[&str]) -> Option<&'a str> {
    map.keys()
        .map(String::as_str)
        .find(|k| !allowed.contains(k))
}
