//! The table verifier against `sm2`'s own (`PublicKey::verify`, which is
//! `sm2::dsa::VerifyingKey::verify`): the same verdict on valid signatures and on every
//! way a signature can be wrong, alone and in batches.
//!
//! `GOVCHAIN_DIFF_CASES` sets the number of cases (256 by default, as CI runs it);
//! the full run is `GOVCHAIN_DIFF_CASES=1000000 cargo test --release -p govchain-crypto
//! --test fastverify`.

use std::sync::LazyLock;

use govchain_crypto::fastverify::{PreparedKey, verify_batch};
use govchain_crypto::{PrivateKey, PublicKey, Signature};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The group order n, big-endian.
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x72, 0x03, 0xDF, 0x6B, 0x21, 0xC6, 0x05, 0x2B, 0x53, 0xBB, 0xF4, 0x09, 0x39, 0xD5, 0x41, 0x23,
];

/// Sixteen keys, as a chain has a small registered set.
static KEYS: LazyLock<Vec<(PrivateKey, PublicKey, PreparedKey)>> = LazyLock::new(|| {
    (0..16)
        .map(|_| {
            let k = PrivateKey::generate();
            let p = k.public_key();
            let prepared = PreparedKey::new(&p);
            (k, p, prepared)
        })
        .collect()
});

/// Big-endian `a - b` (mod 2^256).
fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = d.rem_euclid(256) as u8;
    }
    out
}

/// Big-endian `a + small` (mod 2^256).
fn add_small(a: &[u8; 32], small: u8) -> [u8; 32] {
    let mut out = *a;
    let mut carry = u16::from(small);
    for b in out.iter_mut().rev() {
        let v = u16::from(*b) + carry;
        *b = v as u8;
        carry = v >> 8;
    }
    out
}

fn join(r: [u8; 32], s: [u8; 32]) -> Signature {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(&r);
    b[32..].copy_from_slice(&s);
    Signature(b)
}

fn halves(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    (
        sig.0[..32].try_into().unwrap(),
        sig.0[32..].try_into().unwrap(),
    )
}

/// One case: which key verifies, the message it is asked about and the signature.
#[derive(Debug, Clone)]
struct Case {
    key: usize,
    msg: Vec<u8>,
    sig: Signature,
    kind: &'static str,
}

fn case(kind: u8, signer: usize, other: usize, msg: Vec<u8>, bytes: [u8; 64], small: u8) -> Case {
    let keys = &*KEYS;
    let good = keys[signer].0.sign(&msg);
    let (r, s) = halves(&good);
    let (rb, sb) = halves(&Signature(bytes));
    let mut case = Case {
        key: signer,
        msg: msg.clone(),
        sig: good,
        kind: "valid",
    };
    match kind % 9 {
        0 => {}
        1 => {
            case.msg.push(small);
            case.kind = "wrong message";
        }
        2 => {
            case.key = if other == signer {
                (other + 1) % 16
            } else {
                other
            };
            case.kind = "wrong key";
        }
        3 => {
            case.sig = Signature(bytes);
            case.kind = "random r||s";
        }
        4 => {
            case.sig = if small.is_multiple_of(2) {
                join([0; 32], s)
            } else {
                join(r, [0; 32])
            };
            case.kind = "r or s zero";
        }
        5 => {
            // n + k for small k, or the top of the range: every value ≥ n.
            let big = if small.is_multiple_of(3) {
                [0xff; 32]
            } else {
                add_small(&N, small / 3)
            };
            case.sig = if small.is_multiple_of(2) {
                join(big, s)
            } else {
                join(r, big)
            };
            case.kind = "r or s >= n";
        }
        6 => {
            // r + s ≡ 0 (mod n), with r from the signature or random below n.
            let r = if small.is_multiple_of(2) { r } else { rb };
            case.sig = join(r, sub(&N, &r));
            case.kind = "r + s = n";
        }
        7 => {
            let mut b = good.0;
            b[usize::from(small) % 64] ^= 1 << (small % 8);
            case.sig = Signature(b);
            case.kind = "flipped bit";
        }
        _ => {
            // A valid r with another signature's s and vice versa.
            case.sig = if small.is_multiple_of(2) {
                join(r, sb)
            } else {
                join(rb, s)
            };
            case.kind = "mixed halves";
        }
    }
    case
}

fn cases() -> u32 {
    std::env::var("GOVCHAIN_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        any::<u8>(),
        0..16usize,
        0..16usize,
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::array::uniform32(any::<u8>()),
        proptest::array::uniform32(any::<u8>()),
        any::<u8>(),
    )
        .prop_map(|(kind, signer, other, msg, a, b, small)| {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&a);
            bytes[32..].copy_from_slice(&b);
            case(kind, signer, other, msg, bytes, small)
        })
}

/// Every case: the table verifier's verdict is the generic verifier's.
#[test]
fn table_verifier_agrees_with_the_generic_one() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb_case(), |c| {
            let (_, public, prepared) = &KEYS[c.key];
            let generic = public.verify(&c.msg, &c.sig).is_ok();
            let table = prepared.verify(&c.msg, &c.sig).is_ok();
            prop_assert_eq!(
                generic,
                table,
                "{}: key {} msg {} sig {}",
                c.kind,
                hex::encode(public.to_sec1()),
                hex::encode(&c.msg),
                hex::encode(c.sig.0)
            );
            if c.kind == "valid" {
                prop_assert!(table);
            }
            Ok(())
        })
        .unwrap();
}

/// Batches of mixed cases: each verdict is the one its signature gets alone.
#[test]
fn batches_keep_each_verdict() {
    let mut runner = TestRunner::new(Config {
        cases: (cases() / 16).max(16),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(arb_case(), 1..64), |batch| {
            let items: Vec<_> = batch
                .iter()
                .map(|c| (&KEYS[c.key].2, &c.msg[..], &c.sig))
                .collect();
            let verdicts = verify_batch(&items);
            for (c, v) in batch.iter().zip(verdicts) {
                prop_assert_eq!(
                    KEYS[c.key].1.verify(&c.msg, &c.sig).is_ok(),
                    v,
                    "{}",
                    c.kind
                );
            }
            Ok(())
        })
        .unwrap();
}
