//! Fuzz target: the strict DAG-CBOR decoder must never panic, and whatever it accepts must
//! re-encode to exactly the same bytes (it only accepts canonical input).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = data_model::cbor::decode(data) {
        assert_eq!(data_model::cbor::encode(&value), data, "accepted non-canonical input");
    }
});
