//! Property tests: any value round-trips through CBOR and JSON, and encoding is canonical
//! (decode(encode(v)) == v and encode(decode(b)) == b).

use std::collections::BTreeMap;

use data_model::{Value, cbor, cid_for_cbor, json};
use proptest::prelude::*;

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Integer),
        ".{0,20}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|b| Value::Link(cid_for_cbor(&b))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            // keys avoid the `$` prefix so JSON conventions ($link/$bytes/$type) do not apply
            proptest::collection::btree_map("[a-zA-Z0-9_]{0,12}", inner, 0..8)
                .prop_map(|m: BTreeMap<String, Value>| Value::Map(m)),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn cbor_round_trip_is_canonical(v in arb_value()) {
        let bytes = cbor::encode(&v);
        let back = cbor::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(cbor::encode(&back), bytes);
    }

    #[test]
    fn json_round_trip(v in arb_value()) {
        let j = json::to_json(&v);
        prop_assert_eq!(json::value_from_json(&j).unwrap(), v);
    }

    #[test]
    fn decoder_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = cbor::decode(&bytes);
    }
}
