//! Transaction admission (`govchain_state::Admission`): decoding, size, chain id,
//! expiry, the sender's and operator's registered key, the payload checks and the SM2
//! signatures, against a committed 'nanjing' chain in an in-memory store (RocksDB).
//!
//! The first byte picks the input:
//! - even: the rest is decoded as a `SignedTx` and admitted as it is; then its body is
//!   signed properly by the account it names, and admission must give the verdict the
//!   documented order of checks gives for that body (a reference model below).
//! - odd: the rest (through `arbitrary`) builds a valid signed transaction and one
//!   change to it. Unchanged, it is admitted; with its body bytes or signature altered
//!   after signing it is refused; every other change is refused with the one error
//!   code it calls for.
//!
//! Throughout: admission never panics and never reports a node failure; whatever
//! `check` admits, `verify` (the bytes-only checks) admits; a verdict is the same when
//! the transaction is checked in a batch (`check_batch`, `verify_batch`) between
//! admissible transactions and a forged one, and their verdicts do not change either.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use govchain_crypto::{PrivateKey, sm3};
use govchain_fuzz::admission::{Case, Change, PayloadSpec, PublishChange};
use govchain_state::access::accounts::validator_account;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_state::{Admission, VerifiedTx, certs};
use govchain_store::Store;
use govchain_types::{Coded, ErrorCode, ExecError, pb};
use prost::Message;

/// Genesis time of the fixture chain: 2026-11-23 00:00 UTC.
const T0: u64 = 1_795_392_000_000;
/// Chain id of [`LocalChain`].
const CHAIN_ID: &str = "local";
/// Nonces every account spent before the fuzzed transactions (0 and 1).
const SPENT_NONCES: u64 = 2;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    FIXTURE.with(|f| {
        if selector % 2 == 0 {
            if let Ok(tx) = pb::SignedTx::decode(rest) {
                f.raw(tx);
            }
        } else if let Ok(case) = Case::arbitrary_take_rest(Unstructured::new(rest)) {
            f.case(&case);
        }
    });
});

thread_local! {
    static FIXTURE: Fixture = Fixture::new();
}

/// A verdict reduced to what must be stable: the transaction hash, or the error code.
type Verdict = Result<[u8; 32], ErrorCode>;

/// `INTERNAL` stands for a node-local failure (`ExecError::Node`), which admission over
/// a healthy in-memory store must never report.
fn verdict(r: &Result<VerifiedTx, ExecError>) -> Verdict {
    r.as_ref().map(|v| v.hash).map_err(Coded::code)
}

/// The chain, its admission and the accounts with a registered key.
struct Fixture {
    chain: LocalChain,
    admission: Admission,
    /// The departments and `validator:node1`.
    accounts: Vec<String>,
    /// Height the fuzzed transactions are admitted for.
    next_height: u64,
}

impl Fixture {
    /// The 'nanjing' chain after one block in which every account spent nonces 0 and 1.
    fn new() -> Self {
        let store = Store::in_memory().expect("an in-memory store opens");
        let mut chain = LocalChain::nanjing(store, T0, [9; 32], nanjing_access())
            .expect("the nanjing genesis applies");
        let mut accounts: Vec<String> = chain
            .genesis
            .departments
            .iter()
            .map(|d| d.id.clone())
            .collect();
        accounts.push(validator_account(&chain.genesis.validators[0].id));
        let mut txs = Vec::new();
        for account in &accounts {
            for n in 0..SPENT_NONCES {
                let anchor = pb::Anchor {
                    key: format!("setup-{n}"),
                    digest: sm3(account.as_bytes()).to_vec(),
                    note: String::new(),
                };
                txs.push(chain.tx(account, pb::payload::Kind::Anchor(anchor)));
            }
        }
        chain.block(&txs, 5_000).expect("the setup block commits");
        let admission = Admission::new(chain.store.clone()).expect("admission loads");
        for account in &accounts {
            let committed = admission.committed_nonce(account, "");
            assert_eq!(
                committed,
                Ok(SPENT_NONCES),
                "setup spent the nonces of {account}"
            );
        }
        Fixture {
            next_height: chain.height + 1,
            chain,
            admission,
            accounts,
        }
    }

    fn key(&self, account: &str) -> &PrivateKey {
        self.chain.key(account)
    }

    /// A transaction with `body`, signed by `account`'s key.
    fn sign(&self, account: &str, body: &pb::TxBody) -> pb::SignedTx {
        let key = self.key(account);
        let body = body.encode_to_vec();
        pb::SignedTx {
            signature: key.sign(&body).to_bytes().to_vec(),
            signer_pubkey: key.public_key().to_sec1(),
            body,
        }
    }

    /// Checks `tx` alone, in a batch between two admissible transactions, and with the
    /// bytes-only checks; asserts the invariants that hold for every transaction and
    /// returns the verdicts of `check` and `verify`.
    fn admit(&self, tx: &pb::SignedTx) -> (Verdict, Verdict) {
        let alone = self.admission.check(tx.clone(), self.next_height);
        let bytes_only = self.admission.verify(tx.clone());
        let (v, b) = (verdict(&alone), verdict(&bytes_only));
        for r in [&v, &b] {
            assert_ne!(
                r.err(),
                Some(ErrorCode::Internal),
                "{alone:?} / {bytes_only:?}"
            );
        }
        if let Ok(admitted) = &alone {
            assert_eq!(b, v, "check admitted what verify refuses: {bytes_only:?}");
            assert_eq!(admitted.hash, sm3(&tx.body));
            assert_eq!(&admitted.tx, tx);
            assert_eq!(
                Ok(&admitted.body),
                pb::TxBody::decode(tx.body.as_slice()).as_ref()
            );
            assert_eq!(admitted.body.chain_id, CHAIN_ID);
        }
        // Between an admissible transaction and a forged one (a registered account's,
        // whose signature is over other bytes) followed by another admissible one.
        let (good, forged, other) = (
            self.reference_tx(0),
            self.forged_tx(2),
            self.reference_tx(1),
        );
        let bad = Err(ErrorCode::BadSignature);
        let batch = self.admission.check_batch(
            vec![good.clone(), tx.clone(), forged.clone(), other.clone()],
            self.next_height,
        );
        let batch: Vec<Verdict> = batch.iter().map(verdict).collect();
        let expected = vec![Ok(sm3(&good.body)), v, bad, Ok(sm3(&other.body))];
        assert_eq!(batch, expected, "a verdict changed in a batch");
        let batch = self
            .admission
            .verify_batch(vec![tx.clone(), forged, good.clone()]);
        let batch: Vec<Verdict> = batch.iter().map(verdict).collect();
        let expected = vec![b, bad, Ok(sm3(&good.body))];
        assert_eq!(batch, expected, "verify changed in a batch");
        (v, b)
    }

    /// An admissible transaction of the `i`-th account (a request for a certificate).
    fn reference_tx(&self, i: usize) -> pb::SignedTx {
        let account = &self.accounts[i % self.accounts.len()];
        let body = pb::TxBody {
            chain_id: CHAIN_ID.into(),
            sender: account.clone(),
            operator: String::new(),
            nonce: SPENT_NONCES,
            expiry_height: 0,
            payload: Some(pb::Payload {
                kind: Some(pb::payload::Kind::Request(pb::RequestAccess {
                    cert_id: "reference".into(),
                    purpose: "housing_eligibility".into(),
                })),
            }),
        };
        self.sign(account, &body)
    }

    /// [`Fixture::reference_tx`] with a signature of the account's key over other bytes:
    /// well formed, and refused with `BAD_SIGNATURE`.
    fn forged_tx(&self, i: usize) -> pb::SignedTx {
        let account = &self.accounts[i % self.accounts.len()];
        pb::SignedTx {
            signature: self.key(account).sign(b"other bytes").to_bytes().to_vec(),
            ..self.reference_tx(i)
        }
    }

    /// Arbitrary bytes that decode as a transaction: admitted as they are, then with the
    /// body signed by the account it names (if that account exists).
    fn raw(&self, tx: pb::SignedTx) {
        let (checked, _) = self.admit(&tx);
        if checked.is_ok() {
            // Only a seed's transaction or a forged signature gets here; the first is
            // fine, the invariants in `admit` held.
            return;
        }
        let Ok(body) = pb::TxBody::decode(tx.body.as_slice()) else {
            return;
        };
        if !self.accounts.contains(&body.sender) {
            return;
        }
        let key = self.key(&body.sender);
        let resigned = pb::SignedTx {
            signature: key.sign(&tx.body).to_bytes().to_vec(),
            signer_pubkey: key.public_key().to_sec1(),
            body: tx.body.clone(),
        };
        let (checked, _) = self.admit(&resigned);
        match self.reference(&resigned, &body) {
            Reference::Admitted => assert_eq!(checked, Ok(sm3(&resigned.body)), "{body:?}"),
            Reference::Refused(code) => assert_eq!(checked, Err(code), "{body:?}"),
            Reference::PublishRefused => assert!(
                matches!(
                    checked,
                    Err(ErrorCode::BadSignature
                        | ErrorCode::MissingField
                        | ErrorCode::InvalidArgument)
                ),
                "a publish with fuzzed issuer signature and envelope: {checked:?}"
            ),
        }
    }

    /// The verdict the documented order of checks gives a transaction whose body is
    /// signed by the key of its sender (a registered account).
    fn reference(&self, tx: &pb::SignedTx, body: &pb::TxBody) -> Reference {
        let kind = body.payload.as_ref().and_then(|p| p.kind.as_ref());
        let max = self.admission.params().max_tx_bytes;
        if tx.encoded_len() as u64 > max {
            Reference::Refused(ErrorCode::TxTooLarge)
        } else if body.chain_id != CHAIN_ID {
            Reference::Refused(ErrorCode::WrongChain)
        } else if kind.is_none() {
            Reference::Refused(ErrorCode::MissingPayload)
        } else if body.expiry_height != 0 && body.expiry_height < self.next_height {
            Reference::Refused(ErrorCode::TxExpired)
        } else if !body.operator.is_empty() {
            // No department of the fixture has operators; a validator has none either.
            if body
                .sender
                .starts_with(govchain_state::access::accounts::VALIDATOR_ACCOUNT)
            {
                Reference::Refused(ErrorCode::UnknownDepartment)
            } else {
                Reference::Refused(ErrorCode::UnknownOperator)
            }
        } else if let Some(pb::payload::Kind::Publish(_)) = kind {
            // Its issuer signature and key envelope came from the fuzzer.
            Reference::PublishRefused
        } else if body.nonce < SPENT_NONCES {
            Reference::Refused(ErrorCode::NonceReplayed)
        } else {
            Reference::Admitted
        }
    }

    /// A structured case: a valid transaction, then its change.
    fn case(&self, case: &Case) {
        let account = &self.accounts[usize::from(case.sender) % self.accounts.len()];
        let mut body = pb::TxBody {
            chain_id: CHAIN_ID.into(),
            sender: account.clone(),
            operator: String::new(),
            nonce: SPENT_NONCES + u64::from(case.nonce_ahead),
            expiry_height: case.expiry.map_or(0, |k| self.next_height + u64::from(k)),
            payload: Some(pb::Payload {
                kind: Some(self.payload(account, &case.payload)),
            }),
        };
        let tx = self.sign(account, &body);
        let (checked, verified) = self.admit(&tx);
        assert_eq!(checked, Ok(sm3(&tx.body)), "a valid transaction: {body:?}");
        assert_eq!(verified, checked);
        let publish = matches!(case.payload, PayloadSpec::Publish { .. });
        let expect = |changed: &pb::SignedTx, check: Expect, verify: Expect| {
            let (c, v) = self.admit(changed);
            check.assert(c, "check", &case.change);
            verify.assert(v, "verify", &case.change);
        };
        // What verify gives a transaction that check refuses on account grounds: it is
        // admitted, or for a publish refused (the issuer signature no longer matches the
        // signing key, or the chain id it binds).
        let bytes_only = |publish_code| {
            if publish {
                Expect::Code(publish_code)
            } else {
                Expect::Admitted
            }
        };
        match &case.change {
            Change::None => {}
            Change::FlipBodyByte { at, mask } => {
                let mut t = tx.clone();
                let i = usize::from(*at) % t.body.len();
                t.body[i] ^= mask.get();
                expect(&t, Expect::AlteredBody, Expect::AlteredBody);
            }
            Change::TruncateBody { keep } => {
                let mut t = tx.clone();
                t.body.truncate(usize::from(*keep) % t.body.len());
                expect(&t, Expect::AlteredBody, Expect::AlteredBody);
            }
            Change::ExtendBody { first, rest } => {
                let mut t = tx.clone();
                t.body.push(*first);
                t.body.extend_from_slice(rest);
                expect(&t, Expect::AlteredBody, Expect::AlteredBody);
            }
            Change::FlipSignatureByte { at, mask } => {
                let mut t = tx.clone();
                let i = usize::from(*at) % t.signature.len();
                t.signature[i] ^= mask.get();
                let bad = Expect::Code(ErrorCode::BadSignature);
                expect(&t, bad, bad);
            }
            Change::ReplaceSignature(sig) => {
                if *sig != tx.signature {
                    let t = pb::SignedTx {
                        signature: sig.clone(),
                        ..tx.clone()
                    };
                    let bad = Expect::Code(ErrorCode::BadSignature);
                    expect(&t, bad, bad);
                }
            }
            Change::SignedByOther { signer } => {
                let other = self.other_key(account, *signer);
                if let Some(other) = other {
                    let t = pb::SignedTx {
                        signature: other.sign(&tx.body).to_bytes().to_vec(),
                        ..tx.clone()
                    };
                    let bad = Expect::Code(ErrorCode::BadSignature);
                    expect(&t, bad, bad);
                }
            }
            Change::OtherKey { signer } => {
                if let Some(other) = self.other_key(account, *signer) {
                    let t = pb::SignedTx {
                        signature: other.sign(&tx.body).to_bytes().to_vec(),
                        signer_pubkey: other.public_key().to_sec1(),
                        body: tx.body.clone(),
                    };
                    let verify = bytes_only(ErrorCode::BadSignature);
                    expect(&t, Expect::Code(ErrorCode::KeyMismatch), verify);
                }
            }
            Change::WrongChain(chain) => {
                if chain != CHAIN_ID {
                    body.chain_id = chain.clone();
                    let t = self.sign(account, &body);
                    let wrong = Expect::Code(ErrorCode::WrongChain);
                    expect(&t, wrong, wrong);
                }
            }
            Change::NoPayload { empty_payload } => {
                body.payload = empty_payload.then(pb::Payload::default);
                let t = self.sign(account, &body);
                let missing = Expect::Code(ErrorCode::MissingPayload);
                expect(&t, missing, missing);
            }
            Change::Replayed { back } => {
                body.nonce = u64::from(*back) % SPENT_NONCES;
                let t = self.sign(account, &body);
                expect(&t, Expect::Code(ErrorCode::NonceReplayed), Expect::Admitted);
            }
            Change::Expired { at } => {
                body.expiry_height = 1 + u64::from(*at) % (self.next_height - 1);
                let t = self.sign(account, &body);
                expect(&t, Expect::Code(ErrorCode::TxExpired), Expect::Admitted);
            }
            Change::UnknownSender(sender) => {
                if !self.accounts.contains(sender) {
                    body.sender = sender.clone();
                    let t = self.sign(account, &body);
                    let check = Expect::Code(ErrorCode::UnknownDepartment);
                    expect(&t, check, Expect::Admitted);
                }
            }
            Change::UnknownOperator(operator) => {
                if !operator.is_empty() {
                    body.operator = operator.clone();
                    let t = self.sign(account, &body);
                    let check = if account.starts_with("validator:") {
                        ErrorCode::UnknownDepartment
                    } else {
                        ErrorCode::UnknownOperator
                    };
                    expect(&t, Expect::Code(check), Expect::Admitted);
                }
            }
            Change::TooLarge => {
                let max = self.admission.params().max_tx_bytes as usize;
                body.payload = Some(pb::Payload {
                    kind: Some(pb::payload::Kind::Anchor(pb::Anchor {
                        key: "large".into(),
                        digest: vec![0; 32],
                        note: "x".repeat(max),
                    })),
                });
                let t = self.sign(account, &body);
                let large = Expect::Code(ErrorCode::TxTooLarge);
                expect(&t, large, large);
            }
            Change::Publish(change) => {
                let Some(pb::payload::Kind::Publish(p)) =
                    body.payload.as_mut().and_then(|p| p.kind.as_mut())
                else {
                    return;
                };
                let code = match change {
                    PublishChange::IssuerSignature { at, mask } => {
                        let i = usize::from(*at) % p.issuer_signature.len();
                        p.issuer_signature[i] ^= mask.get();
                        ErrorCode::BadSignature
                    }
                    PublishChange::SignedFields { number } => {
                        // A field the issuer signature binds, changed after signing.
                        if *number == p.number {
                            return;
                        }
                        p.number = number.clone();
                        ErrorCode::BadSignature
                    }
                    PublishChange::Envelope(envelope) => {
                        p.key_envelope = envelope.clone();
                        if envelope.is_empty() {
                            ErrorCode::MissingField
                        } else {
                            ErrorCode::InvalidArgument
                        }
                    }
                };
                let t = self.sign(account, &body);
                expect(&t, Expect::Code(code), Expect::Code(code));
            }
        }
    }

    /// The key of the account `signer` picks, if it differs from `account`'s
    /// (`validator:node1` signs with the tax bureau's key).
    fn other_key(&self, account: &str, signer: u8) -> Option<&PrivateKey> {
        let other = self.key(&self.accounts[usize::from(signer) % self.accounts.len()]);
        (other.public_key().to_sec1() != self.key(account).public_key().to_sec1()).then_some(other)
    }

    /// The payload `spec` describes, valid for admission when sent by `account`.
    fn payload(&self, account: &str, spec: &PayloadSpec) -> pb::payload::Kind {
        match spec.clone() {
            PayloadSpec::Request { cert_id, purpose } => {
                pb::payload::Kind::Request(pb::RequestAccess { cert_id, purpose })
            }
            PayloadSpec::Grant {
                cert_id,
                grantee,
                purpose,
                until_height,
            } => pb::payload::Kind::Grant(pb::GrantAccess {
                cert_id,
                grantee,
                purpose,
                until_height,
                until_date: String::new(),
            }),
            PayloadSpec::Revoke {
                cert_id,
                grant_id,
                reason,
            } => pb::payload::Kind::Revoke(pb::Revoke {
                cert_id,
                grant_id,
                reason,
            }),
            PayloadSpec::Anchor { key, note } => pb::payload::Kind::Anchor(pb::Anchor {
                digest: sm3(key.as_bytes()).to_vec(),
                key,
                note,
            }),
            PayloadSpec::Vote {
                proposal_id,
                approve,
            } => pb::payload::Kind::Vote(pb::Vote {
                proposal_id,
                approve,
            }),
            PayloadSpec::Publish {
                number,
                subject,
                seed,
            } => {
                let context = govchain_custody::envelope_context(
                    CHAIN_ID,
                    &certs::cert_id("property", &number),
                );
                let (key_envelope, proof) = self
                    .chain
                    .custody
                    .seal_key(&[7; 16], &context, &seed)
                    .expect("the chain's custody key");
                let mut p = pb::PublishCertificate {
                    cert_type: "property".into(),
                    number,
                    subject_id: sm3(subject.as_bytes()).to_vec(),
                    issued_on: "2024-05-01".into(),
                    expires_on: String::new(),
                    metadata: vec![],
                    content_hash: sm3(b"document").to_vec(),
                    issuer_signature: vec![],
                    ciphertext: vec![0; 64],
                    key_envelope,
                    key_envelope_proof: proof.to_vec(),
                };
                p.issuer_signature = self
                    .key(account)
                    .sign(&certs::signing_bytes(CHAIN_ID, &p))
                    .to_bytes()
                    .to_vec();
                pb::payload::Kind::Publish(p)
            }
        }
    }
}

/// What the reference model expects of a properly signed body.
enum Reference {
    Admitted,
    Refused(ErrorCode),
    /// A publish whose issuer signature or envelope the fuzzer made: refused by the
    /// publish checks.
    PublishRefused,
}

/// The verdict a change calls for.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Admitted,
    Code(ErrorCode),
    /// Body bytes altered after signing: refused, with a code of a check that can see
    /// the change (decoding, chain, payload, account, expiry, nonce, publish checks, or
    /// at the latest the signature).
    AlteredBody,
}

impl Expect {
    fn assert(self, got: Verdict, what: &str, change: &Change) {
        let ok = match self {
            Expect::Admitted => got.is_ok(),
            Expect::Code(code) => got == Err(code),
            Expect::AlteredBody => matches!(
                got,
                Err(ErrorCode::MalformedTx
                    | ErrorCode::WrongChain
                    | ErrorCode::MissingPayload
                    | ErrorCode::UnknownDepartment
                    | ErrorCode::UnknownOperator
                    | ErrorCode::KeyMismatch
                    | ErrorCode::TxExpired
                    | ErrorCode::NonceReplayed
                    | ErrorCode::BadSignature
                    | ErrorCode::MissingField
                    | ErrorCode::InvalidArgument)
            ),
        };
        assert!(
            ok,
            "{what} after {change:?}: expected {self:?}, got {got:?}"
        );
    }
}
