//! Unit tests for atproto JSON conversion beyond the shared vectors.

use super::*;

#[test]
fn bytes_padding_is_optional_on_input_and_absent_on_output() {
    let padded = serde_json::json!({"$bytes": "aGk="});
    let bare = serde_json::json!({"$bytes": "aGk"});
    let a = value_from_json(&padded).unwrap();
    assert_eq!(a, Value::Bytes(b"hi".to_vec()));
    assert_eq!(value_from_json(&bare).unwrap(), a);
    assert_eq!(to_json(&a), bare);
}

#[test]
fn integer_like_float_is_an_integer_and_real_float_is_not() {
    assert_eq!(
        value_from_json(&serde_json::json!(123.0)).unwrap(),
        Value::Integer(123)
    );
    assert!(value_from_json(&serde_json::json!(1.5)).is_err());
    assert!(value_from_json(&serde_json::json!(u64::MAX)).is_err());
}

#[test]
fn bytes_with_non_zero_trailing_bits_are_accepted_like_the_reference() {
    // "123" decodes to 0xd7 0x6d with leftover bits set; @atproto/lexicon accepts it.
    assert_eq!(
        value_from_json(&serde_json::json!({"$bytes": "123"})).unwrap(),
        Value::Bytes(vec![0xd7, 0x6d])
    );
}
