//! The lexicon catalog the server validates records with: the vendored `lexicons/` tree,
//! embedded at build time by `build.rs` (so the binary needs no source tree at run time).

use lexicon::{Catalog, LoadError};

include!(concat!(env!("OUT_DIR"), "/lexicons.rs"));

/// Number of embedded lexicon documents.
pub fn embedded_count() -> usize {
    LEXICONS.len()
}

/// Builds the catalog from the embedded lexicons.
pub fn catalog() -> Result<Catalog, LoadError> {
    let mut builder = Catalog::builder();
    for (path, json) in LEXICONS {
        builder.add_json(*path, json)?;
    }
    Ok(builder.build())
}
