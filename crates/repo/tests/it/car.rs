//! CAR v1 reader/writer tests: round trips, tolerance of odd block orders (checklist #52), and
//! hostile inputs that must produce typed errors rather than panics.

use data_model::{Cid, cid_for_cbor, cid_for_raw};
use repo::car::{CarError, CarLimits, CarReader, CarWriter, write_car_to_vec};

fn blocks(n: usize) -> Vec<(Cid, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let mut w = data_model::cbor::Writer::new();
            w.map(1);
            w.text("i");
            w.uint(i as u64);
            let bytes = w.into_bytes();
            (cid_for_cbor(&bytes), bytes)
        })
        .collect()
}

fn car(roots: &[Cid], blocks: &[(Cid, Vec<u8>)]) -> Vec<u8> {
    write_car_to_vec(roots, blocks.iter().map(|(c, b)| (c, b.as_slice()))).unwrap()
}

type Blocks = Vec<(Cid, Vec<u8>)>;

fn read_all(bytes: &[u8]) -> Result<(Vec<Cid>, Blocks), CarError> {
    let reader = CarReader::new(bytes)?;
    let roots = reader.roots().to_vec();
    let blocks = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((roots, blocks))
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// A CAR whose header is the given raw bytes, with no sections.
fn with_header(header: &[u8]) -> Vec<u8> {
    let mut out = varint(header.len() as u64);
    out.extend_from_slice(header);
    out
}

fn header_bytes(v: &data_model::Value) -> Vec<u8> {
    data_model::cbor::encode(v)
}

#[test]
fn round_trip() {
    let bs = blocks(50);
    let bytes = car(&[bs[0].0], &bs);
    let (roots, back) = read_all(&bytes).unwrap();
    assert_eq!(roots, vec![bs[0].0]);
    assert_eq!(back, bs);
}

#[test]
fn round_trip_empty_and_raw_blocks() {
    let raw = b"hello blob".to_vec();
    let bs = vec![(cid_for_raw(&raw), raw)];
    let bytes = car(&[], &bs);
    let (roots, back) = read_all(&bytes).unwrap();
    assert!(roots.is_empty());
    assert_eq!(back, bs);
    let (roots, back) = read_all(&car(&bs.iter().map(|b| b.0).collect::<Vec<_>>(), &[])).unwrap();
    assert_eq!(roots.len(), 1);
    assert!(back.is_empty());
}

#[test]
fn writer_counts() {
    let bs = blocks(3);
    let mut w = CarWriter::new(Vec::new(), &[bs[0].0]).unwrap();
    for (c, b) in &bs {
        w.write_block(c, b).unwrap();
    }
    assert_eq!(w.block_count(), 3);
    let n = w.bytes_written();
    assert_eq!(w.finish().unwrap().len() as u64, n);
}

#[test]
fn tolerates_shuffled_duplicate_and_extra_blocks() {
    // checklist #52: any order, duplicates, and unlinked extras are all fine at the CAR layer.
    let mut bs = blocks(20);
    bs.reverse();
    bs.push(bs[3].clone());
    bs.push(bs[0].clone());
    bs.extend(blocks(25).into_iter().skip(20));
    let bytes = car(&[bs[5].0], &bs);
    let (_, back) = read_all(&bytes).unwrap();
    assert_eq!(back, bs);
}

#[test]
fn hash_mismatch_detected() {
    let bs = blocks(2);
    let tampered = vec![(bs[0].0, bs[1].1.clone())];
    let bytes = car(&[bs[0].0], &tampered);
    assert!(matches!(read_all(&bytes), Err(CarError::HashMismatch(c)) if c == bs[0].0));
    // ...and accepted when verification is off.
    let limits = CarLimits {
        verify_hashes: false,
        ..CarLimits::default()
    };
    let reader = CarReader::with_limits(bytes.as_slice(), limits).unwrap();
    assert_eq!(reader.count(), 1);
}

#[test]
fn hostile_inputs_give_typed_errors() {
    use data_model::Value;
    use std::collections::BTreeMap;

    let bs = blocks(2);
    let good = car(&[bs[0].0], &bs);
    let header_len = good[0] as usize + 1;

    let map = |entries: Vec<(&str, Value)>| {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    };

    type Check = fn(&CarError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty input", vec![], |e| {
            matches!(e, CarError::Truncated(_))
        }),
        ("truncated header varint", vec![0x80], |e| {
            matches!(e, CarError::Truncated(_))
        }),
        ("overlong varint", vec![0xff; 12], |e| {
            matches!(e, CarError::InvalidVarint(_))
        }),
        ("non-minimal varint", vec![0x85, 0x00], |e| {
            matches!(e, CarError::InvalidVarint(_))
        }),
        ("zero header length", vec![0x00], |e| {
            matches!(e, CarError::HeaderSize(0))
        }),
        ("huge header length", varint(u64::MAX >> 1), |e| {
            matches!(e, CarError::HeaderSize(_))
        }),
        (
            "header shorter than claimed",
            {
                let mut v = varint(100);
                v.extend_from_slice(&[0xa0; 10]);
                v
            },
            |e| matches!(e, CarError::Truncated(_)),
        ),
        (
            "header not a map",
            with_header(&header_bytes(&Value::List(vec![]))),
            |e| matches!(e, CarError::InvalidHeader(_)),
        ),
        ("header not cbor", with_header(&[0xff, 0x00]), |e| {
            matches!(e, CarError::HeaderCbor(_))
        }),
        (
            "header non-canonical",
            with_header(&[
                0xa2, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x01, 0x65, b'r', b'o', b'o',
                b't', b's', 0x80,
            ]),
            |e| matches!(e, CarError::HeaderCbor(_)),
        ),
        (
            "version 2",
            with_header(&header_bytes(&map(vec![
                ("version", Value::Integer(2)),
                ("roots", Value::List(vec![])),
            ]))),
            |e| matches!(e, CarError::UnsupportedVersion(2)),
        ),
        (
            "version missing",
            with_header(&header_bytes(&map(vec![("roots", Value::List(vec![]))]))),
            |e| matches!(e, CarError::InvalidHeader(_)),
        ),
        (
            "roots missing",
            with_header(&header_bytes(&map(vec![("version", Value::Integer(1))]))),
            |e| matches!(e, CarError::InvalidHeader(_)),
        ),
        (
            "root not a link",
            with_header(&header_bytes(&map(vec![
                ("version", Value::Integer(1)),
                ("roots", Value::List(vec![Value::Integer(1)])),
            ]))),
            |e| matches!(e, CarError::InvalidHeader(_)),
        ),
        (
            "truncated section varint",
            {
                let mut v = good[..header_len].to_vec();
                v.push(0x80);
                v
            },
            |e| matches!(e, CarError::Truncated(_)),
        ),
        (
            "huge section length",
            {
                let mut v = good[..header_len].to_vec();
                v.extend(varint(1 << 40));
                v
            },
            |e| matches!(e, CarError::SectionSize(_)),
        ),
        (
            "zero section length",
            {
                let mut v = good[..header_len].to_vec();
                v.push(0);
                v
            },
            |e| matches!(e, CarError::SectionSize(0)),
        ),
        ("truncated section", good[..good.len() - 3].to_vec(), |e| {
            matches!(e, CarError::Truncated(_))
        }),
        (
            "bad CID",
            {
                let mut v = good[..header_len].to_vec();
                v.extend(varint(5));
                v.extend_from_slice(&[0x01, 0x71, 0x12, 0x40, 0x00]);
                v
            },
            |e| matches!(e, CarError::InvalidCid(_)),
        ),
        (
            "unsupported hash",
            {
                // CIDv1, dag-cbor, identity multihash of 2 bytes.
                let mut v = good[..header_len].to_vec();
                v.extend(varint(6));
                v.extend_from_slice(&[0x01, 0x71, 0x00, 0x02, 0xa0, 0xa0]);
                v
            },
            |e| matches!(e, CarError::UnsupportedHash(_)),
        ),
    ];
    for (name, bytes, check) in &cases {
        match read_all(bytes) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert!(check(&e), "{name}: wrong error {e:?}"),
        }
    }
    println!("car hostile inputs: {} cases", cases.len());
}

#[test]
fn header_limit_is_enforced() {
    let bs = blocks(1);
    let roots: Vec<Cid> = std::iter::repeat_n(bs[0].0, 100).collect();
    let bytes = car(&roots, &bs);
    let limits = CarLimits {
        max_header_size: 64,
        ..CarLimits::default()
    };
    assert!(matches!(
        CarReader::with_limits(bytes.as_slice(), limits),
        Err(CarError::HeaderSize(_))
    ));
    let limits = CarLimits {
        max_section_size: 8,
        ..CarLimits::default()
    };
    let mut reader = CarReader::with_limits(bytes.as_slice(), limits).unwrap();
    assert!(matches!(reader.next(), Some(Err(CarError::SectionSize(_)))));
    assert!(reader.next().is_none(), "fused after an error");
}

#[test]
fn random_bytes_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let bs = blocks(5);
    let good = car(&[bs[0].0], &bs);
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] = rng.r#gen();
        }
        bytes.truncate(rng.gen_range(0..=bytes.len()));
        let _ = read_all(&bytes);
    }
}

#[test]
fn push_header_and_section_write_the_same_bytes_as_car_writer() {
    // Sizes either side of a one-byte section-length varint.
    let mut blocks = blocks(2);
    let big = vec![7u8; 300];
    blocks.push((cid_for_raw(&big), big));
    let roots = [blocks[0].0];
    let mut w = CarWriter::new(Vec::new(), &roots).unwrap();
    let mut pushed = Vec::new();
    repo::car::push_header(&mut pushed, &roots);
    for (cid, bytes) in &blocks {
        w.write_block(cid, bytes).unwrap();
        repo::car::push_section(&mut pushed, cid, bytes);
    }
    assert_eq!(w.finish().unwrap(), pushed);
}
