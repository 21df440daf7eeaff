//! Micro-benchmarks of the national cryptography the node runs per transaction and per
//! key release (`cargo bench -p govchain-crypto`; figures in docs/performance.md).

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use govchain_crypto::fastverify::{PreparedKey, verify_batch};
use govchain_crypto::{PrivateKey, sm3, sm4gcm, verify_sec1};
use std::hint::black_box;

fn sm2(c: &mut Criterion) {
    let key = PrivateKey::generate();
    let public = key.public_key();
    let sec1 = public.to_sec1();
    // About the size of a certificate-read transaction body.
    let body = vec![7u8; 160];
    let sig = key.sign(&body);
    let raw = sig.to_bytes();
    let mut g = c.benchmark_group("sm2");
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&body))));
    g.bench_function("verify", |b| {
        b.iter(|| public.verify(black_box(&body), &sig).unwrap())
    });
    g.bench_function("verify_sec1 (admission: parse key + verify)", |b| {
        b.iter(|| verify_sec1(black_box(&sec1), &body, &raw).unwrap())
    });
    g.bench_function("encrypt 48 bytes (a key share)", |b| {
        b.iter(|| public.encrypt(black_box(&[1u8; 48])))
    });
    let sealed = public.encrypt(&[1u8; 48]);
    g.bench_function("decrypt 48 bytes", |b| {
        b.iter(|| key.decrypt(black_box(&sealed)).unwrap())
    });
    g.finish();
}

/// The generic verifier beside the per-key table verifier (4-, 6- and 8-bit windows), a
/// batch of 64 sharing one inversion (per signature), and a table's build time.
fn sm2_tables(c: &mut Criterion) {
    let keys: Vec<PrivateKey> = (0..16).map(|_| PrivateKey::generate()).collect();
    let body = vec![7u8; 160];
    let sigs: Vec<_> = keys.iter().map(|k| k.sign(&body)).collect();
    let publics: Vec<_> = keys.iter().map(PrivateKey::public_key).collect();
    let mut g = c.benchmark_group("sm2 verify (16 keys)");
    let mut i = 0;
    g.bench_function("generic", |b| {
        b.iter(|| {
            i = (i + 1) % 16;
            publics[i].verify(black_box(&body), &sigs[i]).unwrap()
        })
    });
    for window in [4, 6, 8] {
        let prepared: Vec<_> = publics
            .iter()
            .map(|p| PreparedKey::with_window(p, window))
            .collect();
        g.bench_function(format!("table, {window}-bit windows"), |b| {
            b.iter(|| {
                i = (i + 1) % 16;
                prepared[i].verify(black_box(&body), &sigs[i]).unwrap()
            })
        });
    }
    let prepared: Vec<_> = publics.iter().map(PreparedKey::new).collect();
    let batch: Vec<_> = (0..64)
        .map(|j| (&prepared[j % 16], &body[..], &sigs[j % 16]))
        .collect();
    g.throughput(Throughput::Elements(64));
    g.bench_function("table, batch of 64", |b| {
        b.iter(|| assert!(verify_batch(black_box(&batch)).iter().all(|v| *v)))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("build a 4-bit table", |b| {
        b.iter(|| PreparedKey::new(black_box(&publics[0])))
    });
    g.finish();
}

fn symmetric(c: &mut Criterion) {
    let data = vec![5u8; 4096];
    let mut g = c.benchmark_group("symmetric");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("sm3 4 KiB", |b| b.iter(|| sm3(black_box(&data))));
    let key = sm4gcm::DataKey::generate();
    g.bench_function("sm4-gcm seal 4 KiB", |b| {
        b.iter(|| sm4gcm::seal(&key, black_box(&data), b"cert-id"))
    });
    let sealed = sm4gcm::seal(&key, &data, b"cert-id");
    g.bench_function("sm4-gcm open 4 KiB", |b| {
        b.iter(|| sm4gcm::open(&key, black_box(&sealed), b"cert-id").unwrap())
    });
    g.finish();
}

criterion_group!(benches, sm2, sm2_tables, symmetric);
criterion_main!(benches);
