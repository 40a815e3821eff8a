//! Placeholder crate root; filled in by the foundations work.
