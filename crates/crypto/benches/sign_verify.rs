//! Criterion benchmarks: sign (sha256 + low-S ECDSA) and strict verify, per curve.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use crypto::{Curve, Keypair};
use std::hint::black_box;

fn sign_verify(c: &mut Criterion) {
    let msg = [0x5au8; 256]; // about the size of a DRISL-encoded commit
    for curve in Curve::ALL {
        let key = Keypair::generate(curve);
        let public = key.public_key();
        let sig = key.sign(&msg);
        c.bench_function(&format!("sign/{curve}"), |b| {
            b.iter(|| key.sign(black_box(&msg)))
        });
        c.bench_function(&format!("verify/{curve}"), |b| {
            b.iter(|| public.verify(black_box(&msg), black_box(&sig)))
        });
        c.bench_function(&format!("did_key_parse/{curve}"), |b| {
            let did = public.to_did_key();
            b.iter(|| crypto::PublicKey::from_did_key(black_box(&did)))
        });
    }
}

criterion_group!(benches, sign_verify);
criterion_main!(benches);
