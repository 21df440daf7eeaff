//! The structured inputs of the `admission` target: a valid transaction (who sends
//! what) and one change to it, built by `arbitrary` from the fuzzer's bytes.

use std::num::NonZeroU8;

use arbitrary::Arbitrary;

/// A valid transaction and one change to it.
#[derive(Debug, Arbitrary)]
pub struct Case {
    /// Index of the sending account.
    pub sender: u8,
    /// How far the nonce is ahead of the committed one (gaps are the mempool's part).
    pub nonce_ahead: u8,
    /// Expiry this far above the next height, or none.
    pub expiry: Option<u8>,
    /// What the transaction does.
    pub payload: PayloadSpec,
    /// What is done to it.
    pub change: Change,
}

/// A payload. Admission checks only a publish's contents; the others are free text.
#[derive(Debug, Clone, Arbitrary)]
pub enum PayloadSpec {
    /// A read request.
    Request {
        /// Certificate id.
        cert_id: String,
        /// Purpose.
        purpose: String,
    },
    /// A grant.
    Grant {
        /// Certificate id.
        cert_id: String,
        /// Grantee.
        grantee: String,
        /// Purpose.
        purpose: String,
        /// Last height.
        until_height: u64,
    },
    /// A revocation.
    Revoke {
        /// Certificate id.
        cert_id: String,
        /// Grant id.
        grant_id: u64,
        /// Reason.
        reason: String,
    },
    /// A document anchor (its digest is the key's SM3).
    Anchor {
        /// Key.
        key: String,
        /// Note.
        note: String,
    },
    /// A governance vote.
    Vote {
        /// Proposal id.
        proposal_id: u64,
        /// Approval.
        approve: bool,
    },
    /// A property title, with a valid issuer signature and key envelope.
    Publish {
        /// Certificate number.
        number: String,
        /// Hashed into the subject id.
        subject: String,
        /// Seed of the key envelope's encryption.
        seed: [u8; 32],
    },
}

/// What is done to the valid transaction.
#[derive(Debug, Arbitrary)]
pub enum Change {
    /// Nothing: it is admitted.
    None,
    /// A body byte flipped after signing.
    FlipBodyByte {
        /// Position (modulo the length).
        at: u16,
        /// Bits flipped.
        mask: NonZeroU8,
    },
    /// The body cut short after signing.
    TruncateBody {
        /// Bytes kept (modulo the length).
        keep: u16,
    },
    /// Bytes appended to the body after signing.
    ExtendBody {
        /// The first appended byte.
        first: u8,
        /// The others.
        rest: Vec<u8>,
    },
    /// A signature byte flipped.
    FlipSignatureByte {
        /// Position (modulo the length).
        at: u8,
        /// Bits flipped.
        mask: NonZeroU8,
    },
    /// Other signature bytes.
    ReplaceSignature(Vec<u8>),
    /// Another account's signature over the body, with this account's key.
    SignedByOther {
        /// Account index.
        signer: u8,
    },
    /// Another account's key and its signature over the body.
    OtherKey {
        /// Account index.
        signer: u8,
    },
    /// Another chain id (the body is signed after each change from here on).
    WrongChain(String),
    /// No payload kind, or no payload at all.
    NoPayload {
        /// A payload without kind rather than none.
        empty_payload: bool,
    },
    /// A nonce the account already spent.
    Replayed {
        /// Which (modulo the spent ones).
        back: u8,
    },
    /// An expiry height below the next height.
    Expired {
        /// Which (modulo the heights below).
        at: u8,
    },
    /// A sender that is not a registered account.
    UnknownSender(String),
    /// An operator the sender does not have.
    UnknownOperator(String),
    /// A body over the chain's size limit.
    TooLarge,
    /// A publish's own checks (ignored for other payloads).
    Publish(PublishChange),
}

/// A change to a publish that admission must catch.
#[derive(Debug, Arbitrary)]
pub enum PublishChange {
    /// An issuer signature byte flipped.
    IssuerSignature {
        /// Position (modulo the length).
        at: u8,
        /// Bits flipped.
        mask: NonZeroU8,
    },
    /// Another certificate number than the issuer signed.
    SignedFields {
        /// The number.
        number: String,
    },
    /// Other key envelope bytes.
    Envelope(Vec<u8>),
}
