//! Fast SM2 verification for the keys a chain knows: a fixed table for the base point G,
//! a table per registered key, and batches that share one field inversion.
//!
//! `sm2::dsa::VerifyingKey::verify` computes `[s]G + [t]P` with a constant-time
//! double-scalar multiplication that rebuilds its lookup tables for both points on every
//! call. A verifier handles only public values (key, message, signature), so it may run in
//! variable time, and a chain only ever verifies signatures of a small, registered set of
//! keys (departments, operators, validators). So:
//!
//! - `[s]G` walks a table of `j·2^(8i)·G` (33 windows of 128 affine points, 297 KiB,
//!   built once per process);
//! - `[t]P` walks the same kind of table built for `P` when the key is prepared
//!   ([`PreparedKey`], 4-bit windows by default: 65 × 8 points, 37 KiB);
//! - each scalar is recoded into signed digits, so a multiplication is one mixed
//!   (projective + affine) addition per non-zero digit and no doubling at all;
//! - [`verify_batch`] brings the results of many signatures to affine coordinates with one
//!   shared inversion (`batch_normalize`); every signature keeps its own verdict.
//!
//! Only the public group arithmetic of the `sm2`/`primeorder` crates is used (point
//! addition, doubling, negation, normalisation, scalar reduction); the field arithmetic
//! stays theirs. [`KeyTables`] keeps prepared keys under a memory cap, least recently used
//! first out. The check is the one of GB/T 32918.2 §7.1 (and of `sm2::dsa`): `r, s ∈
//! [1, n-1]`, `t = r + s ≠ 0`, `(x1, y1) = [s]G + [t]P ≠ O`, `r = e + x1 mod n`; a
//! differential test holds it to `sm2::dsa::VerifyingKey` on valid and invalid inputs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use ::sm2::elliptic_curve::ops::Reduce;
use ::sm2::elliptic_curve::point::AffineCoordinates;
use ::sm2::elliptic_curve::sec1::ToSec1Point;
use ::sm2::elliptic_curve::{CurveGroup, Group, PrimeField};
use ::sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, Sm2};
use primeorder::PrimeCurveParams;
use sm3::{Digest, Sm3};

use crate::error::{CryptoError, Result};
use crate::signature::Signature;
use crate::sm2::{DEFAULT_DIST_ID, PublicKey};

/// Window of the base point's table: 8 bits, 33 × 128 points.
const G_WINDOW: u32 = 8;

/// Default window of a key's table: 4 bits, 65 × 8 points (37 KiB).
pub const DEFAULT_KEY_WINDOW: u32 = 4;

/// The windows a table may use.
pub const KEY_WINDOWS: std::ops::RangeInclusive<u32> = 2..=8;

/// Default memory cap of [`KeyTables`]: 64 MiB, about 1,700 keys at the default window.
pub const DEFAULT_TABLES_BYTES: usize = 64 << 20;

/// Signed digits of a scalar: at most ⌈257 / 2⌉ for the smallest window.
const MAX_DIGITS: usize = 129;

/// The base point's table, built on first use.
static G_TABLE: LazyLock<Table> =
    LazyLock::new(|| Table::new(ProjectivePoint::generator(), G_WINDOW));

/// Multiples `j · 2^(w·i) · B` (`j ∈ [1, 2^(w-1)]`) of a base point `B`, in affine form,
/// for variable-time fixed-base multiplication by signed `w`-bit digits.
#[derive(Debug)]
struct Table {
    window: u32,
    points: Vec<AffinePoint>,
}

impl Table {
    fn new(base: ProjectivePoint, window: u32) -> Self {
        let per = 1usize << (window - 1);
        let windows = digits_for(window);
        let mut projective = Vec::with_capacity(windows * per);
        let mut b = base;
        for _ in 0..windows {
            let mut m = b;
            projective.push(m);
            for _ in 1..per {
                m += &b;
                projective.push(m);
            }
            // 2^(w-1)·B doubled is the next window's base.
            b = m.double();
        }
        let mut points = vec![AffinePoint::IDENTITY; projective.len()];
        ProjectivePoint::batch_normalize(&projective, &mut points);
        Table { window, points }
    }

    /// `acc + [k]B`.
    fn mul_add(&self, k: &Scalar, acc: &mut ProjectivePoint) {
        let per = 1usize << (self.window - 1);
        let (digits, n) = signed_digits(k, self.window);
        for (i, &d) in digits[..n].iter().enumerate() {
            if d == 0 {
                continue;
            }
            let p = &self.points[i * per + d.unsigned_abs() as usize - 1];
            if d > 0 {
                *acc += p;
            } else {
                *acc += &-*p;
            }
        }
    }

    fn bytes(&self) -> usize {
        self.points.len() * std::mem::size_of::<AffinePoint>()
    }
}

/// Number of signed `w`-bit digits of a 256-bit scalar: `⌈257 / w⌉`, one more bit than
/// the scalar for the last carry.
fn digits_for(window: u32) -> usize {
    (257usize).div_ceil(window as usize)
}

/// `k` as little-endian signed digits `d_i ∈ [-2^(w-1), 2^(w-1)]` with
/// `k = Σ d_i · 2^(w·i)`, and their count.
fn signed_digits(k: &Scalar, window: u32) -> ([i16; MAX_DIGITS], usize) {
    let be = k.to_repr();
    let mut le = [0u8; 33];
    for (i, b) in be.iter().rev().enumerate() {
        le[i] = *b;
    }
    let n = digits_for(window);
    let full = 1i32 << window;
    let half = full >> 1;
    let mut out = [0i16; MAX_DIGITS];
    let mut carry = 0i32;
    for (i, slot) in out[..n].iter_mut().enumerate() {
        let pos = i * window as usize;
        let (byte, shift) = (pos / 8, pos % 8);
        let two = u32::from(le[byte]) | (u32::from(*le.get(byte + 1).unwrap_or(&0)) << 8);
        let mut d = ((two >> shift) & (full as u32 - 1)) as i32 + carry;
        carry = 0;
        if d > half {
            d -= full;
            carry = 1;
        }
        *slot = d as i16;
    }
    debug_assert_eq!(carry, 0, "⌈257/w⌉ digits absorb the last carry");
    (out, n)
}

/// `Z_A` of GB/T 32918.2 §5.5 for `point` and `dist_id`: SM3 over the identifier's bit
/// length, the identifier, the curve's `a`, `b`, `G` and the key's coordinates.
fn identity_hash(dist_id: &[u8], point: &AffinePoint) -> [u8; 32] {
    let bits = u16::try_from(dist_id.len() * 8).expect("a distinguishing id of under 8 KiB");
    let mut h = Sm3::new();
    h.update(bits.to_be_bytes());
    h.update(dist_id);
    h.update(Sm2::EQUATION_A.to_repr());
    h.update(Sm2::EQUATION_B.to_repr());
    h.update(Sm2::GENERATOR.0.to_repr());
    h.update(Sm2::GENERATOR.1.to_repr());
    let sec1 = point.to_sec1_point(false);
    h.update(&sec1.as_bytes()[1..]);
    h.finalize().into()
}

/// A public key prepared for fast verification: its `Z_A` and its table.
#[derive(Debug)]
pub struct PreparedKey {
    z: [u8; 32],
    table: Table,
}

/// A signature's scalars and digest, checked for range, before the point multiplication.
struct Parsed {
    r: Scalar,
    s: Scalar,
    t: Scalar,
    e: Scalar,
}

impl PreparedKey {
    /// Prepares `key` with 4-bit windows ([`DEFAULT_KEY_WINDOW`]).
    pub fn new(key: &PublicKey) -> Self {
        Self::with_window(key, DEFAULT_KEY_WINDOW)
    }

    /// Prepares `key` with `window`-bit windows: `⌈257/w⌉ · 2^(w-1)` points of 72 bytes
    /// (4 bits: 37 KiB, 8 bits: 297 KiB), one addition per non-zero digit.
    ///
    /// # Panics
    /// If `window` is not in [`KEY_WINDOWS`].
    pub fn with_window(key: &PublicKey, window: u32) -> Self {
        assert!(
            KEY_WINDOWS.contains(&window),
            "window {window} not in 2..=8"
        );
        let point = key.affine();
        PreparedKey {
            z: identity_hash(DEFAULT_DIST_ID.as_bytes(), point),
            table: Table::new(ProjectivePoint::from(*point), window),
        }
    }

    /// Memory held by the key's table, in bytes.
    pub fn table_bytes(&self) -> usize {
        self.table.bytes()
    }

    /// Verifies an SM2/SM3 signature over `msg` under [`DEFAULT_DIST_ID`]: the same
    /// verdict as [`PublicKey::verify`], several times faster.
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] if the signature does not verify.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<()> {
        let parsed = self.parse(msg, sig).ok_or(CryptoError::BadSignature)?;
        let point = self.point(&parsed).to_affine();
        if accepts(&parsed, &point) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    fn parse(&self, msg: &[u8], sig: &Signature) -> Option<Parsed> {
        let scalar = |b: &[u8]| -> Option<Scalar> {
            let bytes: [u8; 32] = b.try_into().ok()?;
            let s: Option<Scalar> = Scalar::from_repr(bytes.into()).into();
            s.filter(|s| !bool::from(s.is_zero()))
        };
        let r = scalar(&sig.0[..32])?;
        let s = scalar(&sig.0[32..])?;
        let t = r + s;
        if bool::from(t.is_zero()) {
            return None;
        }
        let digest: [u8; 32] = Sm3::new_with_prefix(self.z)
            .chain_update(msg)
            .finalize()
            .into();
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(digest));
        Some(Parsed { r, s, t, e })
    }

    /// `[s]G + [t]P`.
    fn point(&self, p: &Parsed) -> ProjectivePoint {
        let mut acc = ProjectivePoint::IDENTITY;
        G_TABLE.mul_add(&p.s, &mut acc);
        self.table.mul_add(&p.t, &mut acc);
        acc
    }
}

/// The last step of GB/T 32918.2 §7.1: the point is not `O` and `r = e + x1 mod n`.
fn accepts(p: &Parsed, point: &AffinePoint) -> bool {
    if bool::from(point.is_identity()) {
        return false;
    }
    p.r == p.e + <Scalar as Reduce<FieldBytes>>::reduce(&point.x())
}

/// One signature of a batch: the prepared key, the signed message and the signature.
pub type BatchItem<'a> = (&'a PreparedKey, &'a [u8], &'a Signature);

/// Verifies many signatures, sharing one field inversion among them: a verdict per item,
/// in order, each exactly what [`PreparedKey::verify`] would say of it alone.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<bool> {
    let parsed: Vec<Option<Parsed>> = items
        .iter()
        .map(|(key, msg, sig)| key.parse(msg, sig))
        .collect();
    // A rejected item contributes the identity; `batch_normalize` maps it to the affine
    // identity without disturbing the others' inversion.
    let projective: Vec<ProjectivePoint> = parsed
        .iter()
        .zip(items)
        .map(|(p, (key, _, _))| {
            p.as_ref()
                .map_or(ProjectivePoint::IDENTITY, |p| key.point(p))
        })
        .collect();
    let mut affine = vec![AffinePoint::IDENTITY; projective.len()];
    ProjectivePoint::batch_normalize(&projective, &mut affine);
    parsed
        .iter()
        .zip(&affine)
        .map(|(p, a)| p.as_ref().is_some_and(|p| accepts(p, a)))
        .collect()
}

/// Prepared keys under a memory cap, least recently used first out; safe to share
/// between threads.
///
/// Entries are keyed by the curve point itself, so a table can only ever verify for the
/// key it was built from: a rotated-out key's entry is merely memory, which the cap
/// reclaims. Callers prepare only keys registered on chain, so an outsider cannot make
/// the node build tables for keys of its choosing.
#[derive(Debug)]
pub struct KeyTables {
    window: u32,
    max_bytes: usize,
    inner: Mutex<Lru>,
    hits: AtomicU64,
    builds: AtomicU64,
    evictions: AtomicU64,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<[u8; 64], (Arc<PreparedKey>, u64)>,
    order: BTreeMap<u64, [u8; 64]>,
    clock: u64,
    bytes: usize,
}

/// What a [`KeyTables`] holds and has done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTableStats {
    /// Prepared keys held.
    pub keys: usize,
    /// Memory of their tables, in bytes.
    pub bytes: usize,
    /// Look-ups that found a prepared key.
    pub hits: u64,
    /// Tables built (two threads that miss the same key at once both build; one table
    /// is kept).
    pub builds: u64,
    /// Keys dropped to stay under the cap.
    pub evictions: u64,
}

impl Default for KeyTables {
    fn default() -> Self {
        Self::new(DEFAULT_TABLES_BYTES, DEFAULT_KEY_WINDOW)
    }
}

impl KeyTables {
    /// Tables of `window`-bit windows, at most `max_bytes` of them (always room for one).
    ///
    /// # Panics
    /// If `window` is not in [`KEY_WINDOWS`].
    pub fn new(max_bytes: usize, window: u32) -> Self {
        assert!(
            KEY_WINDOWS.contains(&window),
            "window {window} not in 2..=8"
        );
        KeyTables {
            window,
            max_bytes,
            inner: Mutex::new(Lru::default()),
            hits: AtomicU64::new(0),
            builds: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The prepared key for `key`, built now if it is not held (about 0.3 ms at 4 bits).
    pub fn prepare(&self, key: &PublicKey) -> Arc<PreparedKey> {
        let id = point_id(key);
        if let Some(found) = self.lock().touch(&id) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return found;
        }
        // Built outside the lock: other keys' verifications go on meanwhile.
        let built = Arc::new(PreparedKey::with_window(key, self.window));
        self.builds.fetch_add(1, Ordering::Relaxed);
        let mut lru = self.lock();
        if let Some(found) = lru.touch(&id) {
            return found; // another thread built it first
        }
        let evicted = lru.insert(id, built.clone(), self.max_bytes);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        built
    }

    /// The prepared key whose point has this SEC1 encoding, if it is held; never parses
    /// or builds. Only the uncompressed form (`04 || x || y`) is looked up: it names the
    /// point byte for byte, so a hit needs no parsing or curve check (the held key was
    /// checked when it was prepared), which spares a square root per transaction.
    pub fn get_sec1(&self, sec1: &[u8]) -> Option<Arc<PreparedKey>> {
        let id: &[u8; 64] = sec1.strip_prefix(&[4])?.try_into().ok()?;
        let found = self.lock().touch(id);
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Counts and memory.
    pub fn stats(&self) -> KeyTableStats {
        let lru = self.lock();
        KeyTableStats {
            keys: lru.map.len(),
            bytes: lru.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            builds: self.builds.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (every entry is a complete table): go on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Lru {
    fn touch(&mut self, id: &[u8; 64]) -> Option<Arc<PreparedKey>> {
        self.clock += 1;
        let clock = self.clock;
        let (key, stamp) = self.map.get_mut(id)?;
        let old = std::mem::replace(stamp, clock);
        let key = key.clone();
        self.order.remove(&old);
        self.order.insert(clock, *id);
        Some(key)
    }

    /// Inserts, then drops the least recently used until under `max_bytes` (keeping the
    /// new entry); returns how many were dropped.
    fn insert(&mut self, id: [u8; 64], key: Arc<PreparedKey>, max_bytes: usize) -> u64 {
        self.clock += 1;
        self.bytes += key.table_bytes();
        self.map.insert(id, (key, self.clock));
        self.order.insert(self.clock, id);
        let mut evicted = 0;
        while self.bytes > max_bytes && self.map.len() > 1 {
            let (_, oldest) = self.order.pop_first().expect("order mirrors map");
            let (gone, _) = self.map.remove(&oldest).expect("order mirrors map");
            self.bytes -= gone.table_bytes();
            evicted += 1;
        }
        evicted
    }
}

/// The key's coordinates, `x || y`.
fn point_id(key: &PublicKey) -> [u8; 64] {
    let sec1 = key.affine().to_sec1_point(false);
    sec1.as_bytes()[1..]
        .try_into()
        .expect("an uncompressed point has 64 coordinate bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::sm2::NonZeroScalar;

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn scalar(s: &str) -> Scalar {
        Scalar::from_repr(hex32(s).into()).unwrap()
    }

    /// The generic verifier's verdict.
    fn generic(key: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
        key.verify(msg, sig).is_ok()
    }

    #[test]
    fn digits_recompose_the_scalar() {
        let n_minus_1 = -Scalar::ONE;
        let high = scalar("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF00000000000000000000000000000000");
        let alternating =
            scalar("8888888888888888888888888888888888888888888888888888888888888888");
        for k in [Scalar::ZERO, Scalar::ONE, n_minus_1, high, alternating] {
            for w in KEY_WINDOWS {
                let (digits, n) = signed_digits(&k, w);
                let half = 1i16 << (w - 1);
                let mut acc = Scalar::ZERO;
                let radix = Scalar::from(1u64 << w);
                for &d in digits[..n].iter().rev() {
                    assert!((-half..=half).contains(&d), "digit {d} of window {w}");
                    acc *= radix;
                    let m = Scalar::from(u64::from(d.unsigned_abs()));
                    acc += if d < 0 { -m } else { m };
                }
                assert_eq!(acc, k, "window {w}");
            }
        }
    }

    #[test]
    fn tables_multiply_like_the_crate() {
        let g = ProjectivePoint::generator();
        let p = g * scalar("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8");
        for w in KEY_WINDOWS {
            let table = Table::new(p, w);
            for k in [
                Scalar::ONE,
                -Scalar::ONE,
                scalar("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"),
            ] {
                let mut acc = ProjectivePoint::IDENTITY;
                table.mul_add(&k, &mut acc);
                assert_eq!(acc.to_affine(), (p * k).to_affine(), "window {w}");
            }
            let mut zero = ProjectivePoint::IDENTITY;
            table.mul_add(&Scalar::ZERO, &mut zero);
            assert!(bool::from(zero.is_identity()));
        }
    }

    /// GB/T 32918.5-2017 (GM/T 0003.5-2012) Annex A: the recommended curve's signature
    /// example, `Z_A` included.
    #[test]
    fn standard_vector() {
        let d = NonZeroScalar::from_repr(
            hex32("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8").into(),
        )
        .unwrap();
        let point = (ProjectivePoint::generator() * *d).to_affine();
        let sec1 = point.to_sec1_point(false);
        assert_eq!(
            hex::encode_upper(&sec1.as_bytes()[1..]),
            "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020\
             CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
        );
        assert_eq!(
            identity_hash(b"1234567812345678", &point),
            hex32("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
        );
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&hex32(
            "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
        ));
        raw[32..].copy_from_slice(&hex32(
            "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA",
        ));
        let sig = Signature(raw);
        let key = PublicKey::from_sec1(sec1.as_bytes()).unwrap();
        for w in KEY_WINDOWS {
            let prepared = PreparedKey::with_window(&key, w);
            prepared.verify(b"message digest", &sig).unwrap();
            assert!(prepared.verify(b"message digesT", &sig).is_err());
        }
        assert!(generic(&key, b"message digest", &sig));
        assert_eq!(
            verify_batch(&[(&PreparedKey::new(&key), b"message digest", &sig)]),
            [true]
        );
    }

    /// Signatures built from the private key that reach the rare branches: `r + s ≡ 0`,
    /// `[s]G + [t]P = O`, and r or s out of range.
    #[test]
    fn degenerate_signatures_are_refused_like_the_crate() {
        let d = scalar("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8");
        let key = PublicKey::from_sec1(
            (ProjectivePoint::generator() * d)
                .to_affine()
                .to_sec1_point(false)
                .as_bytes(),
        )
        .unwrap();
        let prepared = PreparedKey::new(&key);
        let sig = |r: Scalar, s: Scalar| {
            let mut b = [0u8; 64];
            b[..32].copy_from_slice(&r.to_repr());
            b[32..].copy_from_slice(&s.to_repr());
            Signature(b)
        };
        let raw = |r: [u8; 32], s: [u8; 32]| {
            let mut b = [0u8; 64];
            b[..32].copy_from_slice(&r);
            b[32..].copy_from_slice(&s);
            Signature(b)
        };
        let n = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123");
        let s7 = Scalar::from(7u64);
        // [s]G + [t]P = [s + t·d]G = O when s = -t·d; with t = r + s: s(1 + d) = -r·d.
        let r = Scalar::from(12345u64);
        let s = -(r * d) * Option::<Scalar>::from((Scalar::ONE + d).invert()).unwrap();
        let cases = [
            sig(s7, -s7), // r + s ≡ 0
            sig(r, s),    // the point at infinity
            raw([0; 32], s7.to_repr().into()),
            raw(s7.to_repr().into(), [0; 32]),
            raw(n, s7.to_repr().into()),
            raw(s7.to_repr().into(), n),
            raw([0xff; 32], [0xff; 32]),
        ];
        let msg = b"degenerate";
        let mut items = Vec::new();
        for c in &cases {
            assert!(!generic(&key, msg, c));
            assert!(prepared.verify(msg, c).is_err());
            items.push((&prepared, &msg[..], c));
        }
        // Mixed with good signatures in one batch, each keeps its verdict.
        let good = crate::PrivateKey::from_scalar(NonZeroScalar::new(d).unwrap()).sign(msg);
        items.insert(1, (&prepared, &msg[..], &good));
        items.push((&prepared, &msg[..], &good));
        let verdicts = verify_batch(&items);
        let mut expected = vec![false; items.len()];
        expected[1] = true;
        *expected.last_mut().unwrap() = true;
        assert_eq!(verdicts, expected);
    }

    #[test]
    fn tables_evict_the_least_recently_used_under_the_cap() {
        let keys: Vec<PublicKey> = (0..4)
            .map(|_| crate::PrivateKey::generate().public_key())
            .collect();
        let one = PreparedKey::new(&keys[0]).table_bytes();
        let tables = KeyTables::new(2 * one + one / 2, DEFAULT_KEY_WINDOW);
        tables.prepare(&keys[0]);
        tables.prepare(&keys[1]);
        assert!(tables.get_sec1(&keys[0].to_sec1()).is_some()); // 0 is now more recent than 1
        tables.prepare(&keys[2]); // over the cap: 1 goes
        assert!(tables.get_sec1(&keys[1].to_sec1()).is_none());
        assert!(tables.get_sec1(&keys[0].to_sec1()).is_some());
        assert!(tables.get_sec1(&keys[2].to_sec1()).is_some());
        let stats = tables.stats();
        assert_eq!(
            (stats.keys, stats.bytes, stats.builds, stats.evictions),
            (2, 2 * one, 3, 1)
        );
        let sec1 = keys[2].to_sec1();
        assert!(tables.get_sec1(&sec1).is_some());
        assert!(tables.get_sec1(&sec1[1..]).is_none(), "not a SEC1 encoding");
        let mut compressed = vec![2 + (sec1[64] & 1)];
        compressed.extend_from_slice(&sec1[1..33]);
        assert!(
            tables.get_sec1(&compressed).is_none(),
            "only the uncompressed form"
        );
        // A cap below one table still holds the newest.
        let tiny = KeyTables::new(1, DEFAULT_KEY_WINDOW);
        tiny.prepare(&keys[3]);
        tiny.prepare(&keys[2]);
        assert_eq!(tiny.stats().keys, 1);
        assert!(tiny.get_sec1(&keys[2].to_sec1()).is_some());
    }
}
