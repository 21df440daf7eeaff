//! Where the randomness of the bytes a node or client puts on chain comes from: data keys
//! and nonces of sealed certificates, key envelopes, key shares released to a requester,
//! job results encrypted to theirs. Every product path uses [`Entropy::Os`], the
//! operating system's generator (a node's custodian and job runner hold it; sealing a
//! certificate uses it). `Entropy::Seeded` derives each draw from a seed instead, so that
//! the node's scenario golden test reproduces every byte of its chain; it exists only
//! with the `seeded-entropy` feature, which only tests turn on.

use govchain_crypto::PublicKey;
#[cfg(feature = "seeded-entropy")]
use govchain_crypto::sm3_parts;
use govchain_crypto::sm4gcm::{self, DataKey};
#[cfg(feature = "seeded-entropy")]
use parking_lot::Mutex;

/// A source of randomness.
pub enum Entropy {
    /// The operating system's generator (every node and command).
    Os,
    /// Reproducible: draw `i` is `SM3(seed || i)` (tests that pin bytes).
    #[cfg(feature = "seeded-entropy")]
    Seeded {
        /// The seed.
        seed: [u8; 32],
        /// Draws so far.
        draws: Mutex<u64>,
    },
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entropy::Os => f.write_str("Entropy::Os"),
            #[cfg(feature = "seeded-entropy")]
            Entropy::Seeded { draws, .. } => write!(f, "Entropy::Seeded({} draws)", draws.lock()),
        }
    }
}

impl Entropy {
    /// A reproducible source: the same seed gives the same draws in the same order.
    #[cfg(feature = "seeded-entropy")]
    pub fn seeded(seed: &[u8]) -> Self {
        Entropy::Seeded {
            seed: govchain_crypto::sm3(seed),
            draws: Mutex::new(0),
        }
    }

    /// The next 32 bytes of a seeded source.
    #[cfg(feature = "seeded-entropy")]
    fn draw(seed: &[u8; 32], draws: &Mutex<u64>) -> [u8; 32] {
        let mut n = draws.lock();
        let out = sm3_parts(&[seed, &n.to_be_bytes()]);
        *n += 1;
        out
    }

    /// A fresh SM4 data key.
    pub fn data_key(&self) -> DataKey {
        match self {
            Entropy::Os => DataKey::generate(),
            #[cfg(feature = "seeded-entropy")]
            Entropy::Seeded { seed, draws } => {
                DataKey::from_bytes(&Self::draw(seed, draws)[..sm4gcm::KEY_LEN]).expect("16 bytes")
            }
        }
    }

    /// [`sm4gcm::seal`] under a fresh nonce.
    pub fn seal(&self, key: &DataKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        match self {
            Entropy::Os => sm4gcm::seal(key, plaintext, aad),
            #[cfg(feature = "seeded-entropy")]
            Entropy::Seeded { seed, draws } => {
                let mut nonce = [0u8; sm4gcm::NONCE_LEN];
                nonce.copy_from_slice(&Self::draw(seed, draws)[..sm4gcm::NONCE_LEN]);
                sm4gcm::seal_with_nonce(key, &nonce, plaintext, aad)
            }
        }
    }

    /// SM2 encryption of `msg` to `to` ([`PublicKey::encrypt`]).
    pub fn encrypt_to(&self, to: &PublicKey, msg: &[u8]) -> Vec<u8> {
        match self {
            Entropy::Os => to.encrypt(msg),
            #[cfg(feature = "seeded-entropy")]
            Entropy::Seeded { seed, draws } => to.encrypt_with_seed(msg, &Self::draw(seed, draws)),
        }
    }

    /// 32 fresh bytes: the randomness of custody's envelopes and released shares.
    pub fn seed(&self) -> [u8; 32] {
        match self {
            Entropy::Os => govchain_crypto::random_seed(),
            #[cfg(feature = "seeded-entropy")]
            Entropy::Seeded { seed, draws } => Self::draw(seed, draws),
        }
    }
}
