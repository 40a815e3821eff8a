//! Fuzz target: the streaming CAR reader must never panic or allocate without bound on
//! hostile input; it either yields blocks or returns a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = repo::car::CarReader::new(data) else { return };
    let _ = reader.roots();
    while let Ok(Some(_block)) = reader.next_block() {}
});
