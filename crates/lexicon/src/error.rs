//! The crate's error types: [`SchemaError`] (a bad lexicon document), [`LoadError`] (building a
//! catalog) and [`ValidationError`] (data that does not match its lexicon).
//!
//! A [`ValidationError`] names where the problem is with a path rooted at `Record`, in the style
//! of the reference implementation (`Record/embed/images/0/alt: must be a string`), so the PDS
//! can pass its text straight to the client as the XRPC error message.

use std::fmt;
use std::path::PathBuf;

use crate::schema::StringFormat;

/// Why a lexicon document is not a valid schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Not JSON, or JSON of the wrong shape (missing field, unknown `type`, wrong field type).
    #[error("not a valid lexicon document: {0}")]
    Json(#[from] serde_json::Error),
    /// A `lexicon` version other than 1.
    #[error("unsupported lexicon version {0} (expected 1)")]
    Version(u64),
    /// A structural rule is broken at `path` (for example `defs/main/record/properties/text`).
    #[error("{path}: {problem}")]
    Invalid {
        /// Where in the document, from `defs`.
        path: String,
        /// What is wrong.
        problem: SchemaProblem,
    },
}

/// One broken structural rule of a lexicon document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaProblem {
    /// A definition name that is empty or contains `#` or `.`.
    #[error("invalid definition name {0:?}")]
    BadDefName(String),
    /// A primary type defined under a name other than `main`.
    #[error("a {0} definition must be named main")]
    PrimaryNotMain(&'static str),
    /// A type used where it is not allowed.
    #[error("type {type_name} is not allowed as {place}")]
    NotAllowed {
        /// The offending type.
        type_name: &'static str,
        /// Where it was found.
        place: &'static str,
    },
    /// `required` names a property that does not exist.
    #[error("required field {0:?} is not a property")]
    RequiredNotAProperty(String),
    /// `nullable` names a property that does not exist.
    #[error("nullable field {0:?} is not a property")]
    NullableNotAProperty(String),
    /// An empty property name.
    #[error("empty property name")]
    EmptyPropertyName,
    /// A minimum greater than the matching maximum.
    #[error("minimum is greater than maximum")]
    MinAboveMax,
    /// A blob `maxSize` of zero.
    #[error("blob maxSize must be positive")]
    ZeroMaxSize,
    /// A blob `accept` entry that is not a MIME pattern.
    #[error("invalid MIME pattern {0:?} in accept")]
    BadMimePattern(String),
    /// A ref that is not `#def`, `nsid` or `nsid#def`.
    #[error("invalid reference {0:?}")]
    BadRef(String),
}

/// Why a catalog could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A document is not a valid lexicon.
    #[error("{origin}: {source}")]
    Schema {
        /// Where the document came from (a file path or a caller-chosen name).
        origin: String,
        /// What is wrong with it.
        source: SchemaError,
    },
    /// Two documents define the same NSID.
    #[error("lexicon {id} is defined twice ({first} and {second})")]
    Duplicate {
        /// The NSID.
        id: String,
        /// Origin of the first definition.
        first: String,
        /// Origin of the second definition.
        second: String,
    },
}

/// Data that does not match its lexicon: where ([`path`](Self::path)) and what
/// ([`kind`](Self::kind)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    path: String,
    kind: ValidationErrorKind,
}

impl ValidationError {
    pub(crate) fn new(path: String, kind: ValidationErrorKind) -> ValidationError {
        ValidationError { path, kind }
    }

    /// Where the problem is: `Record`, then property names and array indexes separated by `/`
    /// (for example `Record/embed/images/0/alt`). Empty for [`ValidationErrorKind::UnknownRecordType`].
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the problem is.
    pub fn kind(&self) -> &ValidationErrorKind {
        &self.kind
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ValidationError {}

/// What is wrong with a value. Messages follow the reference implementation's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationErrorKind {
    /// The catalog has no record lexicon for this collection.
    #[error("no record lexicon is known for collection {0}")]
    UnknownRecordType(String),
    /// The record's `$type` is not its collection.
    #[error("must be {expected:?}, got {found:?}")]
    WrongRecordType {
        /// The collection NSID.
        expected: String,
        /// The record's `$type`.
        found: String,
    },
    /// Not an object.
    #[error("must be an object")]
    NotAnObject,
    /// Not an array.
    #[error("must be an array")]
    NotAnArray,
    /// Not a string.
    #[error("must be a string")]
    NotAString,
    /// Not a boolean.
    #[error("must be a boolean")]
    NotABoolean,
    /// Not an integer.
    #[error("must be an integer")]
    NotAnInteger,
    /// Not a byte string.
    #[error("must be a byte array")]
    NotBytes,
    /// Not a CID link.
    #[error("must be a CID link")]
    NotACidLink,
    /// Not a blob reference (`{$type: "blob", ref, mimeType, size}`).
    #[error("should be a blob ref")]
    NotABlob,
    /// A blob in the legacy `{cid, mimeType}` form, which new records may not use.
    #[error("should be a blob ref, not a legacy {{cid, mimeType}} ref")]
    LegacyBlob,
    /// A blob (or bytes or link) where `unknown` wants a plain object.
    #[error("must be an object, not a blob")]
    UnknownIsBlob,
    /// A required property is absent.
    #[error("must have the property {0:?}")]
    MissingProperty(String),
    /// A value other than the schema's `const`.
    #[error("must be {0}")]
    NotConst(String),
    /// A value outside the schema's `enum` (the allowed values, joined with `|`).
    #[error("must be one of ({0})")]
    NotInEnum(String),
    /// An integer above `maximum`.
    #[error("can not be greater than {0}")]
    IntegerTooLarge(i64),
    /// An integer below `minimum`.
    #[error("can not be less than {0}")]
    IntegerTooSmall(i64),
    /// A string longer than `maxLength` UTF-8 bytes.
    #[error("must not be longer than {0} bytes (UTF-8)")]
    StringTooLong(u64),
    /// A string shorter than `minLength` UTF-8 bytes.
    #[error("must not be shorter than {0} bytes (UTF-8)")]
    StringTooShort(u64),
    /// A string with more than `maxGraphemes` grapheme clusters.
    #[error("must not be longer than {0} graphemes")]
    TooManyGraphemes(u64),
    /// A string with fewer than `minGraphemes` grapheme clusters.
    #[error("must not be shorter than {0} graphemes")]
    TooFewGraphemes(u64),
    /// A string that does not have the schema's `format`.
    #[error("must be a valid {format}: {reason}")]
    BadFormat {
        /// The required format.
        format: StringFormat,
        /// Why the value is not of that format.
        reason: String,
    },
    /// Bytes longer than `maxLength`.
    #[error("must not be larger than {0} bytes")]
    BytesTooLong(u64),
    /// Bytes shorter than `minLength`.
    #[error("must not be smaller than {0} bytes")]
    BytesTooShort(u64),
    /// An array with more than `maxLength` elements.
    #[error("must not have more than {0} elements")]
    ArrayTooLong(u64),
    /// An array with fewer than `minLength` elements.
    #[error("must not have fewer than {0} elements")]
    ArrayTooShort(u64),
    /// A blob larger than the schema's `maxSize`.
    #[error("blob is too large ({size} bytes; at most {max} allowed)")]
    BlobTooLarge {
        /// The blob's declared size.
        size: i64,
        /// The schema's `maxSize`.
        max: u64,
    },
    /// A blob whose MIME type is not in the schema's `accept` list.
    #[error("blob MIME type {mime_type:?} is not accepted (accepted: {accept})")]
    BlobMimeType {
        /// The blob's declared MIME type.
        mime_type: String,
        /// The accepted patterns, joined with `, `.
        accept: String,
    },
    /// A union value that is not an object with a string `$type`.
    #[error("must be an object which includes the \"$type\" property")]
    UnionWithoutType,
    /// A closed union value whose `$type` is not one of the variants.
    #[error("$type must be one of {0}")]
    NotInClosedUnion(String),
    /// A token value that is not the token's full name.
    #[error("must be {0}")]
    WrongToken(String),
    /// The schema refers to a definition the catalog does not have.
    #[error("schema refers to {0}, which is not in the lexicon catalog")]
    UnresolvedRef(String),
    /// The schema refers to a definition that does not describe data (a query, for example).
    #[error("schema refers to {target}, a {type_name} definition, which does not describe data")]
    NotDataRef {
        /// The reference.
        target: String,
        /// The referenced definition's type.
        type_name: &'static str,
    },
    /// The value nests deeper than validation follows.
    #[error("nesting is too deep")]
    TooDeep,
}
