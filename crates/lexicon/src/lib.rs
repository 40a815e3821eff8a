//! Lexicon schemas and record validation (`specs/lexicon`; checklist section S: #13, #31, #33,
//! #181-#183).
//!
//! - [`LexiconDoc`] and [`Def`] model a lexicon JSON document with serde; parsing also runs the
//!   structural checks (primary types only as `main`, where each type may appear, valid refs,
//!   `required` naming real properties, …), so a parsed document is a valid schema.
//! - [`Catalog`] loads many documents (typically the vendored `lexicons/` folder) once at
//!   startup and compiles them into a graph with every reference resolved. It then answers
//!   [`Catalog::validate_record`] (does this record match its collection's lexicon?),
//!   [`Catalog::record_key_type`] (which record keys may the collection use?) and
//!   [`Catalog::is_known_collection`].
//! - Errors: [`SchemaError`] for a bad document, [`LoadError`] for a catalog that cannot be
//!   built, [`ValidationError`] for data that does not match, naming the path
//!   (`Record/embed/images/0/alt: must be a string`).
//!
//! What this crate deliberately does not do: fetch or resolve lexicons over the network,
//! generate Rust types, validate XRPC parameters or bodies (the model parses them; nothing
//! checks data against them yet), or interpret permission sets. It does no I/O except reading
//! the directory handed to [`Catalog::from_dir`].

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod catalog;
mod check;
mod error;
pub mod schema;
mod validate;

pub use catalog::{Catalog, CatalogBuilder, RecordKeyMismatch};
pub use error::{LoadError, SchemaError, SchemaProblem, ValidationError, ValidationErrorKind};
pub use schema::{Def, LexiconDoc, RecordKeyType, StringFormat};

#[cfg(test)]
mod tests;
