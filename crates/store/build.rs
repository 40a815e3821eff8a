//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds `migrations/sqlite/`
//! at compile time, and cargo does not track that folder on its own.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
