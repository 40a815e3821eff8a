//! Walks a [`Value`] against the compiled schema graph of a [`Catalog`].
//!
//! Semantics follow `specs/lexicon` and the reference implementation: properties are checked in
//! schema order and the first problem is reported; absent optional properties are skipped and
//! defaults are *not* inserted (records are stored as written); `null` passes only for
//! `nullable` properties; unknown properties are ignored; an open union accepts a `$type` it
//! does not list without looking inside (as the reference does), a closed one refuses it;
//! `unknown` takes any object except a blob; string lengths count UTF-8 bytes, and graphemes
//! are extended grapheme clusters (UAX #29).
//!
//! The success path allocates nothing beyond what `syntax` parsers allocate for string formats;
//! the error path builds the path (`Record/embed/images/0/alt`) while unwinding.

use std::collections::BTreeMap;

use data_model::Value;
use unicode_segmentation::UnicodeSegmentation;

use crate::catalog::{Catalog, Link, Node, NodeId};
use crate::schema::{BlobDef, StringDef, StringFormat};
use crate::{ValidationError, ValidationErrorKind as Kind};

/// Deepest nesting followed; deeper than any data-model decoder lets through.
const MAX_DEPTH: usize = 128;

/// One step of the path to a problem.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A problem found while walking, with the path collected innermost-first while unwinding.
struct Fail<'a> {
    kind: Kind,
    rev_path: Vec<Seg<'a>>,
}

impl<'a> Fail<'a> {
    fn at(mut self, seg: Seg<'a>) -> Self {
        self.rev_path.push(seg);
        self
    }
}

impl From<Kind> for Fail<'_> {
    fn from(kind: Kind) -> Self {
        Fail {
            kind,
            rev_path: Vec::new(),
        }
    }
}

fn finish(root: &str, fail: Fail<'_>) -> ValidationError {
    let mut path = String::from(root);
    for seg in fail.rev_path.iter().rev() {
        path.push('/');
        match seg {
            Seg::Key(k) => path.push_str(k),
            Seg::Index(i) => path.push_str(&i.to_string()),
        }
    }
    ValidationError::new(path, fail.kind)
}

/// Validates a whole record of `collection`, whose record schema is `node`.
pub(crate) fn record(
    cat: &Catalog,
    collection: &str,
    node: NodeId,
    value: &Value,
) -> Result<(), ValidationError> {
    let Value::Map(map) = value else {
        return Err(ValidationError::new("Record".into(), Kind::NotAnObject));
    };
    match map.get("$type") {
        Some(Value::String(t)) if t == collection => {}
        Some(Value::String(t)) => {
            return Err(ValidationError::new(
                "Record/$type".into(),
                Kind::WrongRecordType {
                    expected: collection.to_owned(),
                    found: t.clone(),
                },
            ));
        }
        _ => {
            return Err(ValidationError::new(
                "Record/$type".into(),
                Kind::NotAString,
            ));
        }
    }
    Walker { cat }
        .node(node, value, 0)
        .map_err(|f| finish("Record", f))
}

struct Walker<'c> {
    cat: &'c Catalog,
}

impl<'c> Walker<'c> {
    fn node(&self, id: NodeId, v: &Value, depth: usize) -> Result<(), Fail<'c>> {
        if depth > MAX_DEPTH {
            return Err(Kind::TooDeep.into());
        }
        let cat: &'c Catalog = self.cat;
        match &cat.nodes[id] {
            Node::Boolean { const_value } => {
                let Value::Bool(b) = v else {
                    return Err(Kind::NotABoolean.into());
                };
                match const_value {
                    Some(c) if c != b => Err(Kind::NotConst(c.to_string()).into()),
                    _ => Ok(()),
                }
            }
            Node::Integer(def) => {
                let &Value::Integer(n) = v else {
                    return Err(Kind::NotAnInteger.into());
                };
                if let Some(c) = def.const_value
                    && c != n
                {
                    return Err(Kind::NotConst(c.to_string()).into());
                }
                if let Some(values) = &def.enum_values
                    && !values.contains(&n)
                {
                    let joined: Vec<String> = values.iter().map(i64::to_string).collect();
                    return Err(Kind::NotInEnum(joined.join("|")).into());
                }
                if let Some(max) = def.maximum
                    && n > max
                {
                    return Err(Kind::IntegerTooLarge(max).into());
                }
                if let Some(min) = def.minimum
                    && n < min
                {
                    return Err(Kind::IntegerTooSmall(min).into());
                }
                Ok(())
            }
            Node::String(def) => {
                let Value::String(s) = v else {
                    return Err(Kind::NotAString.into());
                };
                string(def, s).map_err(Fail::from)
            }
            Node::Bytes(def) => {
                let Value::Bytes(b) = v else {
                    return Err(Kind::NotBytes.into());
                };
                let len = b.len() as u64;
                if let Some(max) = def.max_length
                    && len > max
                {
                    return Err(Kind::BytesTooLong(max).into());
                }
                if let Some(min) = def.min_length
                    && len < min
                {
                    return Err(Kind::BytesTooShort(min).into());
                }
                Ok(())
            }
            Node::CidLink => match v {
                Value::Link(_) => Ok(()),
                _ => Err(Kind::NotACidLink.into()),
            },
            Node::Blob(def) => blob(def, v).map_err(Fail::from),
            Node::Array {
                items,
                min_length,
                max_length,
            } => {
                let Value::List(list) = v else {
                    return Err(Kind::NotAnArray.into());
                };
                let len = list.len() as u64;
                if let Some(max) = *max_length
                    && len > max
                {
                    return Err(Kind::ArrayTooLong(max).into());
                }
                if let Some(min) = *min_length
                    && len < min
                {
                    return Err(Kind::ArrayTooShort(min).into());
                }
                for (i, item) in list.iter().enumerate() {
                    self.node(*items, item, depth + 1)
                        .map_err(|f| f.at(Seg::Index(i)))?;
                }
                Ok(())
            }
            Node::Object(props) => {
                let Value::Map(map) = v else {
                    return Err(Kind::NotAnObject.into());
                };
                for p in props {
                    match map.get(&p.name) {
                        None if p.required => {
                            return Err(Kind::MissingProperty(p.name.clone()).into());
                        }
                        None => {}
                        Some(Value::Null) if p.nullable => {}
                        Some(value) => self
                            .node(p.node, value, depth + 1)
                            .map_err(|f| f.at(Seg::Key(&p.name)))?,
                    }
                }
                Ok(())
            }
            Node::Ref(link) => self.follow(link, v, depth),
            Node::Union { variants, closed } => {
                let Some(t) = type_field(v) else {
                    return Err(Kind::UnionWithoutType.into());
                };
                let t = t.strip_suffix("#main").unwrap_or(t);
                match variants.iter().find(|l| l.name == t) {
                    Some(link) => self.follow(link, v, depth),
                    None if *closed => {
                        let names: Vec<&str> = variants.iter().map(|l| l.name.as_str()).collect();
                        Err(Kind::NotInClosedUnion(names.join(", ")).into())
                    }
                    None => Ok(()),
                }
            }
            Node::Unknown => match v {
                Value::Map(m) if is_blob(m) => Err(Kind::UnknownIsBlob.into()),
                Value::Map(_) => Ok(()),
                _ => Err(Kind::NotAnObject.into()),
            },
            Node::Token(name) => match v {
                Value::String(s) if s == name => Ok(()),
                _ => Err(Kind::WrongToken(name.clone()).into()),
            },
            // Only reachable through a link, which `follow` reports with the link's name.
            Node::NotData(type_name) => Err(Kind::NotDataRef {
                target: String::new(),
                type_name,
            }
            .into()),
        }
    }

    /// Validates `v` against the target of a `ref` or union variant.
    fn follow(&self, link: &Link, v: &Value, depth: usize) -> Result<(), Fail<'c>> {
        let Some(target) = link.target else {
            return Err(Kind::UnresolvedRef(link.name.clone()).into());
        };
        if let Node::NotData(type_name) = &self.cat.nodes[target] {
            return Err(Kind::NotDataRef {
                target: link.name.clone(),
                type_name,
            }
            .into());
        }
        self.node(target, v, depth + 1)
    }
}

/// The `$type` of an object value, if it has a string one.
fn type_field(v: &Value) -> Option<&str> {
    match v {
        Value::Map(m) => m.get("$type").and_then(Value::as_str),
        _ => None,
    }
}

fn is_blob(m: &BTreeMap<String, Value>) -> bool {
    m.get("$type").and_then(Value::as_str) == Some("blob")
}

fn string(def: &StringDef, s: &str) -> Result<(), Kind> {
    if let Some(c) = &def.const_value
        && c != s
    {
        return Err(Kind::NotConst(c.clone()));
    }
    if let Some(values) = &def.enum_values
        && !values.iter().any(|e| e == s)
    {
        return Err(Kind::NotInEnum(values.join("|")));
    }
    let bytes = s.len() as u64;
    if let Some(max) = def.max_length
        && bytes > max
    {
        return Err(Kind::StringTooLong(max));
    }
    if let Some(min) = def.min_length
        && bytes < min
    {
        return Err(Kind::StringTooShort(min));
    }
    // A string has at most as many graphemes as bytes, so short strings skip the count.
    let need_max = def.max_graphemes.is_some_and(|max| bytes > max);
    if need_max || def.min_graphemes.is_some() {
        let count = s.graphemes(true).count() as u64;
        if let Some(max) = def.max_graphemes
            && count > max
        {
            return Err(Kind::TooManyGraphemes(max));
        }
        if let Some(min) = def.min_graphemes
            && count < min
        {
            return Err(Kind::TooFewGraphemes(min));
        }
    }
    if let Some(format) = def.format {
        check_format(format, s).map_err(|reason| Kind::BadFormat { format, reason })?;
    }
    Ok(())
}

/// Checks `s` against a string format with the `syntax` parsers; the error is the parser's.
pub(crate) fn check_format(format: StringFormat, s: &str) -> Result<(), String> {
    fn parse<T: std::str::FromStr>(s: &str) -> Result<(), String>
    where
        T::Err: std::fmt::Display,
    {
        s.parse::<T>().map(drop).map_err(|e| e.to_string())
    }
    match format {
        StringFormat::AtIdentifier => parse::<syntax::AtIdentifier>(s),
        StringFormat::AtUri => parse::<syntax::AtUri>(s),
        StringFormat::Cid => parse::<syntax::CidString>(s),
        StringFormat::Datetime => parse::<syntax::Datetime>(s),
        StringFormat::Did => parse::<syntax::Did>(s),
        StringFormat::Handle => parse::<syntax::Handle>(s),
        StringFormat::Nsid => parse::<syntax::Nsid>(s),
        StringFormat::Tid => parse::<syntax::Tid>(s),
        StringFormat::RecordKey => parse::<syntax::RecordKey>(s),
        StringFormat::Uri => parse::<syntax::Uri>(s),
        StringFormat::Language => parse::<syntax::Language>(s),
    }
}

fn blob(def: &BlobDef, v: &Value) -> Result<(), Kind> {
    let Value::Map(m) = v else {
        return Err(Kind::NotABlob);
    };
    if !is_blob(m) {
        let legacy = m.len() == 2 && m.contains_key("cid") && m.contains_key("mimeType");
        return Err(if legacy {
            Kind::LegacyBlob
        } else {
            Kind::NotABlob
        });
    }
    let (Some(Value::Link(_)), Some(Value::String(mime_type)), Some(&Value::Integer(size))) =
        (m.get("ref"), m.get("mimeType"), m.get("size"))
    else {
        return Err(Kind::NotABlob);
    };
    if size < 0 {
        return Err(Kind::NotABlob);
    }
    if let Some(accept) = &def.accept
        && !accept.iter().any(|p| mime_matches(p, mime_type))
    {
        return Err(Kind::BlobMimeType {
            mime_type: mime_type.clone(),
            accept: accept.join(", "),
        });
    }
    if let Some(max) = def.max_size
        && size as u64 > max
    {
        return Err(Kind::BlobTooLarge { size, max });
    }
    Ok(())
}

/// Does MIME type `mime` (parameters after `;` ignored) match `pattern` (`type/sub`,
/// `type/*` or `*/*`)? Comparison is ASCII case-insensitive, as MIME types are.
pub(crate) fn mime_matches(pattern: &str, mime: &str) -> bool {
    let essence = mime.split(';').next().unwrap_or(mime).trim();
    if pattern == "*/*" {
        return essence.contains('/');
    }
    match pattern.strip_suffix("/*") {
        Some(ty) => essence
            .split_once('/')
            .is_some_and(|(t, sub)| t.eq_ignore_ascii_case(ty) && !sub.is_empty()),
        None => essence.eq_ignore_ascii_case(pattern),
    }
}
