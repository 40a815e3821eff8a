//! Strictness tests for the CBOR decoder: each case is bytes that a lax decoder would accept.

use super::*;

fn rejects(hex_in: &str, want: DecodeError) {
    let bytes: Vec<u8> = (0..hex_in.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex_in[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(decode(&bytes), Err(want), "input {hex_in}");
}

#[test]
fn rejects_non_canonical_input() {
    // (input, expected error)
    rejects("1817", DecodeError::NonCanonical); // 23 in 1-byte form
    rejects("190017", DecodeError::NonCanonical); // 23 in 2-byte form
    rejects("1a0000ffff", DecodeError::NonCanonical);
    rejects("1b00000000ffffffff", DecodeError::NonCanonical);
    rejects("9fff", DecodeError::Indefinite); // indefinite array
    rejects("5f40ff", DecodeError::Indefinite); // indefinite bytes
    rejects("f93c00", DecodeError::Float); // half float 1.0
    rejects("fb3ff0000000000000", DecodeError::Float);
    rejects("f7", DecodeError::UnsupportedSimple(23)); // undefined
    rejects("c100", DecodeError::UnsupportedTag(1));
    rejects("a2616201616101", DecodeError::MapKeyOrder); // {"b":1,"a":1}
    rejects("a1626161", DecodeError::Eof); // truncated: key without value
    rejects("a261610161610a", DecodeError::MapKeyOrder); // duplicate key
    rejects("a2626262016161", DecodeError::MapKeyOrder); // {"bb":1,"a":…}: shorter key after longer
    rejects("a10101", DecodeError::MapKeyNotText);
    rejects("0000", DecodeError::Trailing);
    rejects("1bffffffffffffffff", DecodeError::IntOutOfRange);
    rejects("62c328", DecodeError::InvalidUtf8);
    rejects("9bffffffffffffffff", DecodeError::Eof); // huge claimed length, no allocation
}

#[test]
fn length_first_key_order() {
    // {"b": 1, "aa": 2}: "b" is shorter, so it sorts first even though "aa" < "b" bytewise.
    let mut m = BTreeMap::new();
    m.insert("aa".to_owned(), Value::Integer(2));
    m.insert("b".to_owned(), Value::Integer(1));
    let bytes = encode(&Value::Map(m.clone()));
    assert_eq!(bytes, vec![0xa2, 0x61, b'b', 0x01, 0x62, b'a', b'a', 0x02]);
    assert_eq!(decode(&bytes).unwrap(), Value::Map(m));
}

#[test]
fn depth_is_bounded() {
    let mut bytes = vec![0x81; 10_000];
    bytes.push(0x00);
    assert_eq!(decode(&bytes), Err(DecodeError::TooDeep));
}

#[test]
fn integer_extremes_round_trip() {
    for n in [
        0,
        23,
        24,
        255,
        256,
        65535,
        65536,
        u32::MAX as i64,
        u32::MAX as i64 + 1,
        i64::MAX,
        -1,
        -24,
        -25,
        -256,
        -257,
        i64::MIN,
    ] {
        let v = Value::Integer(n);
        assert_eq!(decode(&encode(&v)).unwrap(), v, "{n}");
    }
}
