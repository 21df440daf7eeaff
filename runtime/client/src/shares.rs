//! Opening a certificate's document from released key shares, as a requester (`govchain
//! cert fetch`) or a compute job's executor does: decrypt each share with the
//! recipient's SM2 key, verify it against the custody key set, combine a threshold of
//! them, decrypt the document and check its SM3 content hash and its issuer's signature.
//! Nothing the node serves is taken on trust: the issuers' keys come from the network's
//! genesis, which the caller holds, and the custody key set is proven from it
//! ([`Client::custody_key`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use govchain_crypto::threshold::DecryptionShare;
use govchain_crypto::{PrivateKey, PublicKey, Signature, sm4gcm};
use govchain_custody::{Envelope, KeySet, release_context};
use govchain_proof::certificate::{cert_id, content_hash, signing_bytes};
use govchain_types::pb;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::rpc::{GetReleasesRequest, GetReleasesResponse};
use crate::{Client, Signer};

/// What a requester trusts: from the network's genesis, the chain id and the keys
/// registered for each department (its own and its operators'); the custody key set
/// proven from genesis ([`Client::custody_key`]).
#[derive(Debug, Clone)]
pub struct Trust {
    /// The chain id.
    pub chain_id: String,
    /// The custody key set.
    pub custody: KeySet,
    /// SEC1 public keys by department.
    pub issuers: BTreeMap<String, Vec<Vec<u8>>>,
}

/// One released share as its recipient sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShareView {
    /// The releasing validator.
    pub validator: String,
    /// Its share index.
    pub share: u32,
    /// Height of the release.
    pub height: u64,
    /// `ok`, or why the share was skipped.
    pub status: String,
}

/// A request's releases so far, each decrypted and verified.
#[derive(Debug)]
pub struct Releases {
    /// What the node served.
    pub response: GetReleasesResponse,
    /// Each release as the recipient sees it.
    pub shares: Vec<ShareView>,
    good: Vec<DecryptionShare>,
    envelope: Envelope,
}

/// An opened certificate.
#[derive(Debug)]
pub struct Opened {
    /// The access request.
    pub request: pb::AccessRequest,
    /// The certificate.
    pub certificate: pb::Certificate,
    /// The document.
    pub document: Zeroizing<Vec<u8>>,
    /// Validators whose shares were combined.
    pub combined: Vec<String>,
    /// The issuer's key that signed the certificate.
    pub issuer_key: PublicKey,
}

impl Client {
    /// The custody key set the validators generated, checked against `genesis` (the
    /// network's genesis document): the node proves it with the block that completed key
    /// generation under its commit certificate (`govchain_proof::custody`), so a node
    /// cannot serve a key of its choosing.
    pub async fn custody_key(
        &self,
        signer: &Signer,
        genesis: &govchain_proof::TrustAnchor,
    ) -> Result<KeySet> {
        let req = self.signed(
            signer,
            "/govchain.v1.Certificates/GetCustodyKey",
            crate::rpc::GetCustodyKeyRequest {},
        )?;
        let proof = self.certificates().get_custody_key(req).await?.into_inner();
        let proven = govchain_proof::custody::verify_key_set(genesis, &proof)
            .map_err(|e| ClientError::Answer(format!("the node's custody key set: {e}")))?;
        Ok(KeySet::from_bytes(&proven.public_key_set)?)
    }

    /// The releases of access request `request` so far, decrypted with `signer`'s key
    /// and verified against `trust`'s custody key set.
    pub async fn releases(&self, signer: &Signer, trust: &Trust, request: u64) -> Result<Releases> {
        let req = self.signed(
            signer,
            "/govchain.v1.Certificates/GetReleases",
            GetReleasesRequest { request },
        )?;
        let r = self.certificates().get_releases(req).await?.into_inner();
        Releases::verify(r, request, signer, trust)
    }

    /// [`Client::releases`] again every half second until a threshold of shares verify
    /// or `wait` has passed; `progress` sees each round.
    pub async fn wait_for_releases(
        &self,
        signer: &Signer,
        trust: &Trust,
        request: u64,
        wait: Duration,
        mut progress: impl FnMut(&Releases),
    ) -> Result<Releases> {
        let deadline = Instant::now() + wait;
        loop {
            let r = self.releases(signer, trust, request).await?;
            if r.good.len() >= trust.custody.threshold() || Instant::now() >= deadline {
                return Ok(r);
            }
            progress(&r);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Releases {
    /// Decrypts with `signer`'s key and verifies against `trust`'s custody key set the
    /// releases a node served for access request `request` (`GetReleases`).
    pub fn verify(
        r: GetReleasesResponse,
        request: u64,
        signer: &Signer,
        trust: &Trust,
    ) -> Result<Releases> {
        let req = r.request.clone().unwrap_or_default();
        if req.seq != request {
            return Err(ClientError::Answer(format!(
                "the node served the releases of request {} for request {request}",
                req.seq
            )));
        }
        if let Some(job) = &req.job {
            return Err(ClientError::Answer(format!(
                "request {request} is a compute job: its key shares go to the executor {}, and its result is read with `govchain compute result {request}`",
                job.executor
            )));
        }
        if r.custody.as_ref().map(|c| c.public_key_set.as_slice())
            != Some(trust.custody.to_bytes().as_slice())
        {
            return Err(ClientError::Answer(
                "the node's custody key set differs from the one in this network's genesis: wrong network?".into(),
            ));
        }
        let envelope = Envelope::parse(&r.certificate.clone().unwrap_or_default().key_envelope)?;
        let recipient = govchain_types::account_label(&req.requester, &req.operator);
        let (shares, good) = verify_shares(
            &trust.custody,
            &trust.chain_id,
            &envelope,
            &req,
            &r.releases,
            &signer.key,
            &recipient,
        );
        Ok(Releases {
            response: r,
            shares,
            good,
            envelope,
        })
    }

    /// Shares that verified.
    pub fn verified(&self) -> usize {
        self.good.len()
    }

    /// Validators holding a share that have not released one.
    pub fn missing(&self) -> Vec<&str> {
        self.response
            .holders
            .iter()
            .map(|h| h.id.as_str())
            .filter(|h| !self.shares.iter().any(|v| v.validator == *h))
            .collect()
    }

    /// Combines the verified shares and opens the document; checks that the certificate
    /// is the request's, that the document matches its content hash, and that its
    /// issuer's signature verifies under a key `trust` registers for the issuer.
    pub fn open(&self, trust: &Trust) -> Result<Opened> {
        let req = self.response.request.clone().unwrap_or_default();
        let cert = self.response.certificate.clone().unwrap_or_default();
        if cert.id != req.cert_id || cert.id != cert_id(&cert.cert_type, &cert.number) {
            return Err(ClientError::Answer(format!(
                "the node served certificate {} for request {}, which is about {}",
                cert.id, req.seq, req.cert_id
            )));
        }
        let document = open_document(&trust.custody, &self.good, &self.envelope, &cert)?;
        let issuer_key = check_issuer(trust, &cert)?;
        let combined = self
            .good
            .iter()
            .take(trust.custody.threshold())
            .map(|s| {
                self.shares
                    .iter()
                    .find(|v| v.share == s.index())
                    .map_or_else(|| s.index().to_string(), |v| v.validator.clone())
            })
            .collect();
        Ok(Opened {
            request: req,
            certificate: cert,
            document,
            combined,
            issuer_key,
        })
    }
}

/// Checks that `cert` is signed by a key `trust` registers for its issuer.
fn check_issuer(trust: &Trust, cert: &pb::Certificate) -> Result<PublicKey> {
    let bad = |reason: String| ClientError::Document {
        cert: cert.id.clone(),
        reason,
    };
    let registered = trust
        .issuers
        .get(&cert.issuer)
        .is_some_and(|keys| keys.contains(&cert.signer_pubkey));
    if !registered {
        return Err(bad(format!(
            "it is signed by a key genesis does not register for its issuer '{}'",
            cert.issuer
        )));
    }
    let signed = pb::PublishCertificate {
        cert_type: cert.cert_type.clone(),
        number: cert.number.clone(),
        subject_id: cert.subject_id.clone(),
        issued_on: cert.issued_on.clone(),
        expires_on: cert.expires_on.clone(),
        content_hash: cert.content_hash.clone(),
        ..Default::default()
    };
    let key = PublicKey::from_sec1(&cert.signer_pubkey)?;
    key.verify(
        &signing_bytes(&trust.chain_id, &signed),
        &Signature::from_slice(&cert.issuer_signature)?,
    )
    .map_err(|_| bad("the issuer's SM2 signature does not verify".into()))?;
    Ok(key)
}

/// Verifies each release of request `req` on chain `chain_id` and opens the good ones
/// with `key`, the recipient's; `recipient` names who the shares are for (for the
/// message when that is not `key`).
pub fn verify_shares(
    set: &KeySet,
    chain_id: &str,
    envelope: &Envelope,
    req: &pb::AccessRequest,
    releases: &[pb::ReleasedShare],
    key: &PrivateKey,
    recipient: &str,
) -> (Vec<ShareView>, Vec<DecryptionShare>) {
    let mut views = Vec::new();
    let mut good = Vec::new();
    let mine = key.public_key().to_sec1() == req.requester_key;
    let context = release_context(chain_id, req.seq);
    for rel in releases {
        let status = if !mine {
            format!("cannot decrypt: encrypted to {recipient}'s key, not yours")
        } else {
            match set.verify_share(
                rel.share,
                &rel.encrypted_share,
                envelope,
                &req.requester_key,
                &context,
            ) {
                Ok(v) => {
                    good.push(v.open(key));
                    "ok".to_string()
                }
                Err(e) => format!("BAD, skipped: {e}"),
            }
        };
        views.push(ShareView {
            validator: rel.validator.clone(),
            share: rel.share,
            height: rel.height,
            status,
        });
    }
    (views, good)
}

/// Combines verified shares into the data key and opens `cert`'s document, checking it
/// against the certificate's content hash.
pub fn open_document(
    set: &KeySet,
    good: &[DecryptionShare],
    envelope: &Envelope,
    cert: &pb::Certificate,
) -> Result<Zeroizing<Vec<u8>>> {
    let bad = |reason: String| ClientError::Document {
        cert: cert.id.clone(),
        reason,
    };
    let key = Zeroizing::new(
        set.combine(good, envelope)
            .map_err(|e| bad(e.to_string()))?,
    );
    let doc = sm4gcm::open(
        &sm4gcm::DataKey::from_bytes(&*key)?,
        &cert.ciphertext,
        cert.id.as_bytes(),
    )
    .map_err(|_| bad("the combined key does not open the document".into()))?;
    if content_hash(&key[..], &doc).as_slice() != cert.content_hash.as_slice() {
        return Err(bad(
            "the decrypted document does not match its content hash (HMAC-SM3 under its data key)"
                .into(),
        ));
    }
    Ok(Zeroizing::new(doc))
}

#[cfg(test)]
mod tests {
    //! What a lying node serves is refused on the requester's machine.

    use super::*;
    use crate::Entropy;
    use crate::seal::seal_certificate;

    struct Fixture {
        trust: Trust,
        issuer: PrivateKey,
        requester: PrivateKey,
        shares: Vec<govchain_custody::SecretShare>,
    }

    fn fixture() -> Fixture {
        let (custody, shares) = govchain_custody::deal(3, 2).unwrap();
        let issuer = PrivateKey::generate();
        let issuers = BTreeMap::from([(
            "real-estate".to_string(),
            vec![issuer.public_key().to_sec1()],
        )]);
        Fixture {
            trust: Trust {
                chain_id: "chain".into(),
                custody,
                issuers,
            },
            issuer,
            requester: PrivateKey::generate(),
            shares,
        }
    }

    /// What a node serves for request 7: a certificate sealed by `signer` and its
    /// releases by the holders `numbers`, made for the requester as validators make
    /// them; and the document.
    fn served(f: &Fixture, signer: &PrivateKey, numbers: &[u32]) -> (GetReleasesResponse, Vec<u8>) {
        let doc = b"{\"holder\":\"zhang\"}".to_vec();
        let p = seal_certificate(
            "chain",
            &f.trust.custody,
            signer,
            pb::PublishCertificate {
                cert_type: "property".into(),
                number: "NJ-1".into(),
                issued_on: "2024-05-01".into(),
                ..Default::default()
            },
            &doc,
            &Entropy::Os,
        );
        let cert = pb::Certificate {
            id: cert_id("property", "NJ-1"),
            cert_type: p.cert_type.clone(),
            number: p.number.clone(),
            issuer: "real-estate".into(),
            issued_on: p.issued_on.clone(),
            content_hash: p.content_hash.clone(),
            ciphertext: p.ciphertext.clone(),
            key_envelope: p.key_envelope.clone(),
            issuer_signature: p.issuer_signature.clone(),
            signer_pubkey: signer.public_key().to_sec1(),
            ..Default::default()
        };
        let envelope = Envelope::parse(&cert.key_envelope).unwrap();
        let to = f.requester.public_key().to_sec1();
        let releases: Vec<pb::ReleasedShare> = numbers
            .iter()
            .map(|n| {
                let s = &f.shares[*n as usize - 1];
                pb::ReleasedShare {
                    request: 7,
                    share: *n,
                    validator: format!("node{n}"),
                    encrypted_share: s
                        .release(
                            &envelope,
                            &to,
                            &release_context("chain", 7),
                            &[*n as u8; 32],
                        )
                        .unwrap(),
                    ..Default::default()
                }
            })
            .collect();
        let response = GetReleasesResponse {
            request: Some(pb::AccessRequest {
                seq: 7,
                cert_id: cert.id.clone(),
                requester: "bank".into(),
                requester_key: to,
                ..Default::default()
            }),
            releases,
            certificate: Some(cert),
            custody: Some(pb::CustodyKeySet {
                public_key_set: f.trust.custody.to_bytes(),
                ..Default::default()
            }),
            ..Default::default()
        };
        (response, doc)
    }

    /// What the requester makes of `response` for request 7.
    fn verify(f: &Fixture, response: GetReleasesResponse) -> Result<Releases> {
        let bank = Signer::new("bank", f.requester.clone());
        Releases::verify(response, 7, &bank, &f.trust)
    }

    /// [`served`], verified.
    fn releases(f: &Fixture, signer: &PrivateKey, numbers: &[u32]) -> (Releases, Vec<u8>) {
        let (response, doc) = served(f, signer, numbers);
        (verify(f, response).unwrap(), doc)
    }

    #[test]
    fn a_threshold_of_honest_shares_opens_the_document() {
        let f = fixture();
        let (r, doc) = releases(&f, &f.issuer, &[1, 3]);
        let opened = r.open(&f.trust).unwrap();
        assert_eq!(*opened.document, doc);
        assert_eq!(opened.combined, ["node1", "node3"]);
    }

    /// The content hash on chain is keyed by the certificate's data key: the same
    /// document sealed twice has two unrelated hashes, neither its SM3, so the record
    /// is no oracle for guessing a short document; the requester who opens it checks it.
    #[test]
    fn the_content_hash_is_no_dictionary_oracle() {
        let f = fixture();
        let (a, doc) = served(&f, &f.issuer, &[1, 2]);
        let (b, _) = served(&f, &f.issuer, &[1, 2]);
        let hash = |r: &GetReleasesResponse| r.certificate.as_ref().unwrap().content_hash.clone();
        assert_ne!(hash(&a), hash(&b));
        assert_ne!(hash(&a), govchain_crypto::sm3(&doc).to_vec());
        assert_eq!(
            *verify(&f, a).unwrap().open(&f.trust).unwrap().document,
            doc
        );
    }

    #[test]
    fn fewer_shares_than_the_threshold_open_nothing() {
        let f = fixture();
        let (r, _) = releases(&f, &f.issuer, &[2]);
        let e = r.open(&f.trust).unwrap_err();
        assert!(matches!(e, ClientError::Document { .. }), "{e}");
    }

    #[test]
    fn a_certificate_signed_by_an_unregistered_key_is_refused() {
        let f = fixture();
        let forger = PrivateKey::generate();
        let (r, _) = releases(&f, &forger, &[1, 2]);
        let e = r.open(&f.trust).unwrap_err().to_string();
        assert!(e.contains("a key genesis does not register"), "{e}");
    }

    #[test]
    fn another_certificate_served_for_the_request_is_refused() {
        let f = fixture();
        let (mut r, _) = releases(&f, &f.issuer, &[1, 2]);
        r.response.request.as_mut().unwrap().cert_id = cert_id("property", "NJ-2");
        let e = r.open(&f.trust).unwrap_err().to_string();
        assert!(e.contains("which is about"), "{e}");
    }

    #[test]
    fn a_share_for_someone_else_does_not_verify_or_count() {
        let f = fixture();
        let (mut r, _) = releases(&f, &f.issuer, &[1, 2]);
        // The same releases seen by another department's key: none decrypts.
        let envelope =
            Envelope::parse(&r.response.certificate.as_ref().unwrap().key_envelope).unwrap();
        let (views, good) = verify_shares(
            &f.trust.custody,
            "chain",
            &envelope,
            r.response.request.as_ref().unwrap(),
            &r.response.releases,
            &PrivateKey::generate(),
            "bank",
        );
        assert!(good.is_empty());
        assert!(views.iter().all(|v| v.status.contains("not yours")));
        r.good = good;
        assert!(r.open(&f.trust).is_err());
    }

    #[test]
    fn a_share_that_fails_its_proof_is_named_and_skipped() {
        let f = fixture();
        let (mut response, doc) = served(&f, &f.issuer, &[1, 2, 3]);
        // Share 2's bytes under share 3's number.
        response.releases[2].encrypted_share = response.releases[1].encrypted_share.clone();
        let r = verify(&f, response).unwrap();
        assert_eq!(r.verified(), 2);
        assert!(
            r.shares[2].status.starts_with("BAD, skipped: key share 3"),
            "{}",
            r.shares[2].status
        );
        assert_eq!(*r.open(&f.trust).unwrap().document, doc);
    }

    #[test]
    fn the_releases_of_another_request_are_refused() {
        let f = fixture();
        let (mut response, _) = served(&f, &f.issuer, &[1, 2]);
        response.request.as_mut().unwrap().seq = 8;
        let e = verify(&f, response).unwrap_err().to_string();
        assert!(e.contains("releases of request 8 for request 7"), "{e}");
    }

    #[test]
    fn releases_under_another_custody_key_set_are_refused() {
        let f = fixture();
        let (mut response, _) = served(&f, &f.issuer, &[1, 2]);
        let (other, _) = govchain_custody::deal(3, 2).unwrap();
        response.custody.as_mut().unwrap().public_key_set = other.to_bytes();
        let e = verify(&f, response).unwrap_err().to_string();
        assert!(e.contains("custody key set differs"), "{e}");
    }
}
