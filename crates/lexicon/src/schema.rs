//! The Lexicon document model: one serde type per schema type, as written in lexicon JSON.
//!
//! Spec: <https://atproto.com/specs/lexicon>. [`LexiconDoc::from_json_str`] and
//! [`LexiconDoc::from_json_value`] parse a document *and* run the structural checks of
//! [`crate::check`], so a `LexiconDoc` obtained from them is a valid schema. Unknown keys
//! (`description`, `title:lang`, …) are ignored, as the spec asks; an unknown `type` or a field
//! of the wrong JSON type is an error. Nothing here resolves references between documents: that
//! is the job of [`crate::Catalog`].

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use syntax::Nsid;

use crate::SchemaError;

/// One lexicon document: `{"lexicon": 1, "id": NSID, "defs": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct LexiconDoc {
    /// The lexicon language version; only `1` exists.
    pub lexicon: u64,
    /// The NSID this document defines.
    pub id: Nsid,
    /// Optional revision number of the document.
    #[serde(default)]
    pub revision: Option<u64>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Named definitions, in document order. `main` is the one named by the bare NSID.
    #[serde(deserialize_with = "ordered_map")]
    pub defs: Vec<(String, Def)>,
}

impl LexiconDoc {
    /// Parses a document from JSON text and checks it.
    pub fn from_json_str(text: &str) -> Result<LexiconDoc, SchemaError> {
        let doc: LexiconDoc = serde_json::from_str(text)?;
        crate::check::check_doc(&doc)?;
        Ok(doc)
    }

    /// Parses a document from a JSON value and checks it.
    pub fn from_json_value(json: serde_json::Value) -> Result<LexiconDoc, SchemaError> {
        let doc: LexiconDoc = serde_json::from_value(json)?;
        crate::check::check_doc(&doc)?;
        Ok(doc)
    }

    /// The definition called `name` (`"main"` for the primary one).
    pub fn def(&self, name: &str) -> Option<&Def> {
        self.defs.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }
}

/// Any schema definition, tagged by its `type` field.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Def {
    /// `record`: a repository record type (primary; only as `main`).
    Record(RecordDef),
    /// `query`: an XRPC `GET` endpoint (primary).
    Query(QueryDef),
    /// `procedure`: an XRPC `POST` endpoint (primary).
    Procedure(ProcedureDef),
    /// `subscription`: an XRPC event stream (primary).
    Subscription(SubscriptionDef),
    /// `permission-set`: an OAuth permission bundle (primary; parsed, not interpreted here).
    PermissionSet(PermissionSetDef),
    /// `permission`: one entry of a permission set.
    Permission(PermissionDef),
    /// `params`: XRPC query parameters.
    Params(ParamsDef),
    /// `object`: a map with named properties.
    Object(ObjectDef),
    /// `array`: a list of one item type.
    Array(ArrayDef),
    /// `string`, with optional format and length limits.
    String(StringDef),
    /// `integer` (signed 64-bit).
    Integer(IntegerDef),
    /// `boolean`.
    Boolean(BooleanDef),
    /// `bytes`: a byte string.
    Bytes(BytesDef),
    /// `cid-link`: a CID link.
    CidLink(CidLinkDef),
    /// `blob`: a reference to an uploaded blob.
    Blob(BlobDef),
    /// `union`: one of several referenced object types, told apart by `$type`.
    Union(UnionDef),
    /// `ref`: the type defined elsewhere.
    Ref(RefDef),
    /// `unknown`: any data object.
    Unknown(UnknownDef),
    /// `token`: a named symbol with no data, used as a string value.
    Token(TokenDef),
}

impl Def {
    /// The `type` string of this definition.
    pub fn type_name(&self) -> &'static str {
        match self {
            Def::Record(_) => "record",
            Def::Query(_) => "query",
            Def::Procedure(_) => "procedure",
            Def::Subscription(_) => "subscription",
            Def::PermissionSet(_) => "permission-set",
            Def::Permission(_) => "permission",
            Def::Params(_) => "params",
            Def::Object(_) => "object",
            Def::Array(_) => "array",
            Def::String(_) => "string",
            Def::Integer(_) => "integer",
            Def::Boolean(_) => "boolean",
            Def::Bytes(_) => "bytes",
            Def::CidLink(_) => "cid-link",
            Def::Blob(_) => "blob",
            Def::Union(_) => "union",
            Def::Ref(_) => "ref",
            Def::Unknown(_) => "unknown",
            Def::Token(_) => "token",
        }
    }

    /// True for the primary types, which a document may only define as `main`.
    pub fn is_primary(&self) -> bool {
        matches!(
            self,
            Def::Record(_)
                | Def::Query(_)
                | Def::Procedure(_)
                | Def::Subscription(_)
                | Def::PermissionSet(_)
        )
    }
}

/// `record`.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Which record keys the collection allows.
    pub key: RecordKeyType,
    /// The record's schema; always an object (its `type` must say so).
    #[serde(deserialize_with = "tagged_object")]
    pub record: ObjectDef,
}

/// The `key` of a record lexicon: which record keys a collection accepts (`specs/record-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKeyType {
    /// `tid`: a timestamp identifier.
    Tid,
    /// `nsid`: a valid NSID.
    Nsid,
    /// `any`: any valid record key.
    Any,
    /// `literal:<value>`: exactly this key (for example `self`).
    Literal(String),
}

impl<'de> Deserialize<'de> for RecordKeyType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "tid" => Ok(RecordKeyType::Tid),
            "nsid" => Ok(RecordKeyType::Nsid),
            "any" => Ok(RecordKeyType::Any),
            _ => match s.strip_prefix("literal:") {
                Some(lit) => match lit.parse::<syntax::RecordKey>() {
                    Ok(_) => Ok(RecordKeyType::Literal(lit.to_owned())),
                    Err(e) => Err(de::Error::custom(format!(
                        "record key literal {lit:?} is not a valid record key: {e}"
                    ))),
                },
                None => Err(de::Error::custom(format!(
                    "unknown record key type {s:?} (expected tid, nsid, any or literal:<key>)"
                ))),
            },
        }
    }
}

impl fmt::Display for RecordKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordKeyType::Tid => f.write_str("tid"),
            RecordKeyType::Nsid => f.write_str("nsid"),
            RecordKeyType::Any => f.write_str("any"),
            RecordKeyType::Literal(lit) => write!(f, "literal:{lit}"),
        }
    }
}

/// `query`.
#[derive(Debug, Clone, Deserialize)]
pub struct QueryDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Query parameters.
    #[serde(default, deserialize_with = "tagged_params")]
    pub parameters: Option<ParamsDef>,
    /// Response body.
    #[serde(default)]
    pub output: Option<BodyDef>,
    /// Named errors the endpoint may return.
    #[serde(default)]
    pub errors: Vec<ErrorDef>,
}

/// `procedure`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcedureDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Query parameters.
    #[serde(default, deserialize_with = "tagged_params")]
    pub parameters: Option<ParamsDef>,
    /// Request body.
    #[serde(default)]
    pub input: Option<BodyDef>,
    /// Response body.
    #[serde(default)]
    pub output: Option<BodyDef>,
    /// Named errors the endpoint may return.
    #[serde(default)]
    pub errors: Vec<ErrorDef>,
}

/// `subscription`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Query parameters.
    #[serde(default, deserialize_with = "tagged_params")]
    pub parameters: Option<ParamsDef>,
    /// The message schema (a union).
    #[serde(default)]
    pub message: Option<MessageDef>,
    /// Named errors the stream may return.
    #[serde(default)]
    pub errors: Vec<ErrorDef>,
}

/// An XRPC request or response body.
#[derive(Debug, Clone, Deserialize)]
pub struct BodyDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// MIME type of the body (`application/json`, `*/*`, …).
    pub encoding: String,
    /// JSON schema of the body: an object, ref or union.
    #[serde(default)]
    pub schema: Option<Box<Def>>,
}

/// The message of a subscription.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// The message schema; must be a union.
    pub schema: Box<Def>,
}

/// One named XRPC error.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDef {
    /// The error name (no whitespace).
    pub name: String,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `permission-set`: parsed so documents load; not interpreted by this crate.
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionSetDef {
    /// Short title shown to users.
    #[serde(default)]
    pub title: Option<String>,
    /// Longer text shown to users.
    #[serde(default)]
    pub detail: Option<String>,
    /// The permissions granted.
    #[serde(default)]
    pub permissions: Vec<Def>,
}

/// `permission`: one grant inside a permission set (parsed, not interpreted).
#[derive(Debug, Clone, Deserialize)]
pub struct PermissionDef {
    /// The resource kind: `repo`, `rpc`, `blob`, `account`, `identity`.
    pub resource: String,
    /// Collections (for `repo`).
    #[serde(default)]
    pub collection: Vec<String>,
    /// Actions: a string or an array of strings.
    #[serde(default, deserialize_with = "string_or_list")]
    pub action: Vec<String>,
    /// Lexicon methods (for `rpc`).
    #[serde(default)]
    pub lxm: Vec<String>,
    /// Audience (for `rpc`).
    #[serde(default)]
    pub aud: Option<String>,
    /// Take the audience from the `include:` scope (for `rpc`).
    #[serde(default, rename = "inheritAud")]
    pub inherit_aud: bool,
    /// MIME patterns (for `blob`).
    #[serde(default)]
    pub accept: Vec<String>,
    /// Attribute (for `account` and `identity`).
    #[serde(default)]
    pub attr: Option<String>,
}

/// `params`: the query parameters of an endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct ParamsDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Parameters required to be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// Parameter schemas, in document order.
    #[serde(default, deserialize_with = "ordered_map")]
    pub properties: Vec<(String, Def)>,
}

/// `object`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObjectDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Properties that must be present.
    #[serde(default)]
    pub required: Vec<String>,
    /// Properties that may hold `null`.
    #[serde(default)]
    pub nullable: Vec<String>,
    /// Property schemas, in document order.
    #[serde(default, deserialize_with = "ordered_map")]
    pub properties: Vec<(String, Def)>,
}

impl ObjectDef {
    /// The schema of property `name`.
    pub fn property(&self, name: &str) -> Option<&Def> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
    }
}

/// `array`.
#[derive(Debug, Clone, Deserialize)]
pub struct ArrayDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Schema of every element.
    pub items: Box<Def>,
    /// Minimum number of elements.
    #[serde(default, rename = "minLength")]
    pub min_length: Option<u64>,
    /// Maximum number of elements.
    #[serde(default, rename = "maxLength")]
    pub max_length: Option<u64>,
}

/// The `format` of a string (`specs/lexicon`, "String Formats").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StringFormat {
    /// `at-identifier`: a DID or a handle.
    AtIdentifier,
    /// `at-uri`.
    AtUri,
    /// `cid`: a CID in string form.
    Cid,
    /// `datetime`: RFC 3339 with the atproto restrictions.
    Datetime,
    /// `did`.
    Did,
    /// `handle`.
    Handle,
    /// `nsid`.
    Nsid,
    /// `tid`.
    Tid,
    /// `record-key`.
    RecordKey,
    /// `uri`: any URI.
    Uri,
    /// `language`: a BCP 47 tag.
    Language,
}

impl StringFormat {
    /// The format's name as written in lexicons.
    pub fn as_str(self) -> &'static str {
        match self {
            StringFormat::AtIdentifier => "at-identifier",
            StringFormat::AtUri => "at-uri",
            StringFormat::Cid => "cid",
            StringFormat::Datetime => "datetime",
            StringFormat::Did => "did",
            StringFormat::Handle => "handle",
            StringFormat::Nsid => "nsid",
            StringFormat::Tid => "tid",
            StringFormat::RecordKey => "record-key",
            StringFormat::Uri => "uri",
            StringFormat::Language => "language",
        }
    }
}

impl fmt::Display for StringFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `string`.
#[derive(Debug, Clone, Deserialize)]
pub struct StringDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Required syntax of the value.
    #[serde(default)]
    pub format: Option<StringFormat>,
    /// Maximum length in UTF-8 bytes.
    #[serde(default, rename = "maxLength")]
    pub max_length: Option<u64>,
    /// Minimum length in UTF-8 bytes.
    #[serde(default, rename = "minLength")]
    pub min_length: Option<u64>,
    /// Maximum length in grapheme clusters.
    #[serde(default, rename = "maxGraphemes")]
    pub max_graphemes: Option<u64>,
    /// Minimum length in grapheme clusters.
    #[serde(default, rename = "minGraphemes")]
    pub min_graphemes: Option<u64>,
    /// Closed set of allowed values.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// Suggested values (not enforced).
    #[serde(default, rename = "knownValues")]
    pub known_values: Option<Vec<String>>,
    /// The only allowed value.
    #[serde(default, rename = "const")]
    pub const_value: Option<String>,
    /// Value assumed when absent (not inserted by validation).
    #[serde(default)]
    pub default: Option<String>,
}

/// `integer`.
#[derive(Debug, Clone, Deserialize)]
pub struct IntegerDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Smallest allowed value.
    #[serde(default)]
    pub minimum: Option<i64>,
    /// Largest allowed value.
    #[serde(default)]
    pub maximum: Option<i64>,
    /// Closed set of allowed values.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<i64>>,
    /// The only allowed value.
    #[serde(default, rename = "const")]
    pub const_value: Option<i64>,
    /// Value assumed when absent.
    #[serde(default)]
    pub default: Option<i64>,
}

/// `boolean`.
#[derive(Debug, Clone, Deserialize)]
pub struct BooleanDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// The only allowed value.
    #[serde(default, rename = "const")]
    pub const_value: Option<bool>,
    /// Value assumed when absent.
    #[serde(default)]
    pub default: Option<bool>,
}

/// `bytes`.
#[derive(Debug, Clone, Deserialize)]
pub struct BytesDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Minimum length in bytes.
    #[serde(default, rename = "minLength")]
    pub min_length: Option<u64>,
    /// Maximum length in bytes.
    #[serde(default, rename = "maxLength")]
    pub max_length: Option<u64>,
}

/// `cid-link`.
#[derive(Debug, Clone, Deserialize)]
pub struct CidLinkDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `blob`.
#[derive(Debug, Clone, Deserialize)]
pub struct BlobDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Accepted MIME types; `type/*` and `*/*` patterns allowed. Absent: any.
    #[serde(default)]
    pub accept: Option<Vec<String>>,
    /// Maximum size in bytes.
    #[serde(default, rename = "maxSize")]
    pub max_size: Option<u64>,
}

/// `union`.
#[derive(Debug, Clone, Deserialize)]
pub struct UnionDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// The variants: `#def`, `nsid#def` or `nsid` (its `main`).
    pub refs: Vec<String>,
    /// When true, only the listed variants are allowed; otherwise unknown `$type`s pass.
    #[serde(default)]
    pub closed: bool,
}

/// `ref`.
#[derive(Debug, Clone, Deserialize)]
pub struct RefDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// The target: `#def`, `nsid#def` or `nsid` (its `main`).
    #[serde(rename = "ref")]
    pub target: String,
}

/// `unknown`.
#[derive(Debug, Clone, Deserialize)]
pub struct UnknownDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `token`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenDef {
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Deserializes a JSON object into `(key, value)` pairs in document order.
fn ordered_map<'de, D, T>(d: D) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<(String, T)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some((k, v)) = map.next_entry::<String, T>()? {
                if out.iter().any(|(seen, _): &(String, T)| *seen == k) {
                    return Err(de::Error::custom(format!("duplicate key {k:?}")));
                }
                out.push((k, v));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V(std::marker::PhantomData))
}

/// An object schema that must say `"type": "object"`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum TaggedObject {
    Object(ObjectDef),
}

fn tagged_object<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectDef, D::Error> {
    let TaggedObject::Object(o) = TaggedObject::deserialize(d)?;
    Ok(o)
}

/// A params schema that must say `"type": "params"`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum TaggedParams {
    Params(ParamsDef),
}

fn tagged_params<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ParamsDef>, D::Error> {
    let TaggedParams::Params(p) = TaggedParams::deserialize(d)?;
    Ok(Some(p))
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}
