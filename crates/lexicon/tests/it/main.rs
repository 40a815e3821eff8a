//! Integration tests for the lexicon crate: the shared atproto interop vectors (same across
//! implementations) and the vendored `lexicons/` folder with realistic Bluesky records.

mod bsky_records;
mod vectors;

use std::sync::OnceLock;

use lexicon::Catalog;

/// `<repo root>/<rel>`.
pub(crate) fn repo_path(rel: &str) -> String {
    format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// The vendored `lexicons/` folder, loaded once for every test that needs it.
pub(crate) fn vendored() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::from_dir(repo_path("lexicons"))
            .unwrap_or_else(|e| panic!("loading lexicons/: {e}"))
    })
}
