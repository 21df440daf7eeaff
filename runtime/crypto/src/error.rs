//! The crate's error type.

/// Result alias used throughout `govchain-crypto`.
pub type Result<T> = std::result::Result<T, CryptoError>;

/// Everything that can go wrong in `govchain-crypto`.
///
/// Variants that wrap a failure reported by an underlying library carry that
/// library's description in `reason`; the variant itself says what kind of
/// input was rejected, so callers can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The input is not well-formed PEM (missing armor, bad Base64, ...).
    #[error("malformed PEM: {reason}")]
    MalformedPem {
        /// What the PEM decoder reported.
        reason: String,
    },

    /// The PEM document is well-formed but has a label this function does not
    /// accept (for example a `PUBLIC KEY` where a private key was expected).
    #[error("unexpected PEM label \"{found}\" (expected {expected})")]
    UnexpectedPemLabel {
        /// The label or labels that would have been accepted.
        expected: &'static str,
        /// The label actually found.
        found: String,
    },

    /// The bytes do not encode a valid SM2 private key.
    #[error("invalid SM2 private key: {reason}")]
    InvalidPrivateKey {
        /// Why the key was rejected.
        reason: String,
    },

    /// The bytes do not encode a valid SM2 public key (a point on the SM2
    /// curve other than the point at infinity).
    #[error("invalid SM2 public key: {reason}")]
    InvalidPublicKey {
        /// Why the key was rejected.
        reason: String,
    },

    /// The private key is encrypted but no passphrase was supplied.
    #[error("the private key is encrypted and no passphrase was given")]
    PassphraseRequired,

    /// An empty passphrase was given for encrypting a private key; it would
    /// provide no protection.
    #[error("refusing to encrypt a private key with an empty passphrase")]
    EmptyPassphrase,

    /// An encrypted private key could not be decrypted: the passphrase is
    /// wrong or the ciphertext is corrupted (the two cannot be told apart).
    #[error("could not decrypt the private key: wrong passphrase or corrupted data")]
    KeyDecryptionFailed,

    /// An encrypted private key uses a password-based encryption scheme this
    /// crate does not support (only PBES2 with PBKDF2-HMAC-SHA2 or scrypt and
    /// AES-CBC/AES-GCM is supported).
    #[error("unsupported private key encryption scheme: {reason}")]
    UnsupportedKeyEncryption {
        /// What the PKCS#5 layer reported.
        reason: String,
    },

    /// Encrypting a private key failed (for example the system random number
    /// generator failed).
    #[error("could not encrypt the private key: {reason}")]
    KeyEncryptionFailed {
        /// What the PKCS#5 layer reported.
        reason: String,
    },

    /// A raw signature did not have the expected length of 64 bytes (`r || s`).
    #[error("invalid signature length {len} (expected 64 bytes)")]
    InvalidSignatureLength {
        /// The length that was supplied.
        len: usize,
    },

    /// A DER signature is not a well-formed `SEQUENCE { r INTEGER, s INTEGER }`
    /// with `r` and `s` in `[1, n-1]`.
    #[error("invalid DER-encoded SM2 signature")]
    InvalidSignatureDer,

    /// The signature does not verify for this message and public key.
    #[error("SM2 signature verification failed")]
    BadSignature,

    /// A Merkle inclusion proof does not prove the leaf against the root.
    #[error("invalid Merkle inclusion proof: {reason}")]
    InvalidProof {
        /// Which check of the verification algorithm failed.
        reason: ProofFailure,
    },

    /// A symmetric key had the wrong length.
    #[error("invalid key length {actual} (expected {expected} bytes)")]
    InvalidKeyLength {
        /// Required length in bytes.
        expected: usize,
        /// Supplied length in bytes.
        actual: usize,
    },

    /// Decryption failed: the input is malformed or too short, was tampered
    /// with, or the key (or associated data) is wrong.
    #[error("decryption failed (wrong key, or the ciphertext was altered)")]
    DecryptFailed,

    /// A threshold SM2 envelope, share or proof is malformed or does not verify.
    #[error("threshold SM2: {reason}")]
    Threshold {
        /// What is wrong, naming the share or field.
        reason: String,
    },
}

/// Why a Merkle inclusion proof was rejected (see [`CryptoError::InvalidProof`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofFailure {
    /// `leaf_index` is not smaller than `tree_size`.
    #[error("leaf index {leaf_index} is out of range for tree size {tree_size}")]
    IndexOutOfRange {
        /// Index claimed by the proof.
        leaf_index: u64,
        /// Tree size claimed by the proof.
        tree_size: u64,
    },
    /// The audit path has more entries than a tree of this size allows.
    #[error("audit path is too long for the tree size")]
    PathTooLong,
    /// The audit path has fewer entries than a tree of this size requires.
    #[error("audit path is too short for the tree size")]
    PathTooShort,
    /// The path is well-formed but the recomputed root differs from the
    /// expected root.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
}
