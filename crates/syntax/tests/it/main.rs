//! Integration tests for `syntax`: the shared interop vectors (same across implementations),
//! the TID clock under load, and the serde surface.

mod clock;
mod serde_round_trip;
mod vectors;
