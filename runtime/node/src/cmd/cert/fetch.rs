//! `cert fetch`: the released key shares, the data key and the document, every step
//! checked on this machine.

use std::path::Path;

use anyhow::{Context, bail};
use govchain_api::rpc::*;
use govchain_state::{account_label, certs};
use govchain_types::pb;
use serde_json::json;

use super::certificates;
use crate::client::{SignArgs, rpc_error};
use crate::cmd::network_genesis;
use crate::opener::{ShareView, open_document, verify_shares};
use crate::output::{emit, kv, table};
use crate::seal::custody_key_set;

/// `cert fetch`: shares → data key → document, every step checked.
#[expect(
    clippy::too_many_lines,
    reason = "each step of the fetch checks its input before the next; the steps move to the client crate"
)]
pub(super) async fn fetch(
    endpoint: &str,
    home: &Path,
    request: u64,
    out: &Path,
    wait: u64,
    sign: &SignArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} exists; choose another --out", out.display());
    }
    let signer = sign.signer(home)?;
    let set = custody_key_set(home)?;
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let chain_id = genesis.chain_id.clone();
    let mut client = certificates(endpoint).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let progress = (!json_out).then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.enable_steady_tick(std::time::Duration::from_millis(200));
        p
    });
    let (r, views, good, envelope) = loop {
        let r = client
            .get_releases(GetReleasesRequest { request })
            .await
            .map_err(rpc_error)?
            .into_inner();
        let (req, cert) = (
            r.request.clone().unwrap_or_default(),
            r.certificate.clone().unwrap_or_default(),
        );
        if let Some(job) = &req.job {
            bail!(
                "request {request} is a compute job: its key shares go to the executor {}, and its result is read with `govchain compute result {request}`",
                job.executor
            );
        }
        let on_chain = r.custody.as_ref().map(|c| c.public_key_set.clone());
        if on_chain != Some(set.to_bytes()) {
            bail!(
                "the node's custody key set differs from the one in {}/genesis.json: wrong network?",
                home.display()
            );
        }
        let envelope = govchain_custody::Envelope::parse(&cert.key_envelope)
            .with_context(|| format!("certificate {}", cert.id))?;
        let (views, good) = verify_shares(
            &set,
            &envelope,
            &r.releases,
            &signer.key,
            &account_label(&req.requester, &req.operator),
        );
        if good.len() >= set.threshold() || std::time::Instant::now() >= deadline {
            break (r, views, good, envelope);
        }
        if let Some(p) = &progress {
            p.set_message(format!(
                "request {request}: {} of {} key shares verified, waiting for validators…",
                good.len(),
                set.threshold()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let (req, cert) = (
        r.request.unwrap_or_default(),
        r.certificate.unwrap_or_default(),
    );
    // Nothing the node serves is taken on trust: the certificate must be the request's,
    // and (below) signed by its issuer's key as the network's genesis registers it.
    if cert.id != req.cert_id || cert.id != certs::cert_id(&cert.cert_type, &cert.number) {
        bail!(
            "the node served certificate {} for request {request}, which is about {}",
            cert.id,
            req.cert_id
        );
    }
    let print_shares = |views: &[ShareView]| {
        let mut t = table(&["validator", "share", "released at", "status"]);
        for v in views {
            t.add_row([
                v.validator.clone(),
                v.share.to_string(),
                v.height.to_string(),
                v.status.clone(),
            ]);
        }
        let released: Vec<&str> = views.iter().map(|v| v.validator.as_str()).collect();
        let missing: Vec<&str> = r
            .holders
            .iter()
            .map(|h| h.id.as_str())
            .filter(|h| !released.contains(h))
            .collect();
        if !missing.is_empty() {
            t.add_row([
                missing.join(", "),
                "-".into(),
                "-".into(),
                "not released".into(),
            ]);
        }
        eprintln!("{t}");
    };
    let doc = match open_document(&set, &good, &envelope, &cert) {
        Ok(d) => d,
        Err(e) => {
            print_shares(&views);
            bail!(
                "cannot open certificate {} for request {request}: {e:#} (a custody key opens only with {} shares; validators release them while the request is in its window, unless the certificate or grant was revoked)",
                cert.id,
                set.threshold()
            );
        }
    };
    let signed = pb::PublishCertificate {
        cert_type: cert.cert_type.clone(),
        number: cert.number.clone(),
        subject_id: cert.subject_id.clone(),
        issued_on: cert.issued_on.clone(),
        expires_on: cert.expires_on.clone(),
        content_hash: cert.content_hash.clone(),
        ..Default::default()
    };
    let registered = genesis
        .departments
        .iter()
        .find(|d| d.id == cert.issuer)
        .map(|d| {
            std::iter::once(&d.public_key)
                .chain(d.operators.iter().map(|o| &o.public_key))
                .any(|k| *k == hex::encode(&cert.signer_pubkey))
        });
    if registered != Some(true) {
        bail!(
            "certificate {}: it is signed by a key genesis does not register for its issuer '{}'",
            cert.id,
            cert.issuer
        );
    }
    let issuer_key = govchain_crypto::PublicKey::from_sec1(&cert.signer_pubkey)?;
    issuer_key
        .verify(
            &certs::signing_bytes(&chain_id, &signed),
            &govchain_crypto::Signature::from_slice(&cert.issuer_signature)?,
        )
        .with_context(|| {
            format!(
                "certificate {}: the issuer's SM2 signature does not verify",
                cert.id
            )
        })?;
    crate::keyfile::write_secret(out, &doc)
        .with_context(|| format!("writing {}", out.display()))?;
    let used: Vec<String> = good
        .iter()
        .take(set.threshold())
        .map(|s| {
            views
                .iter()
                .find(|v| v.share == s.number())
                .map_or_else(|| s.number().to_string(), |v| v.validator.clone())
        })
        .collect();
    let value = json!({
        "request": request, "cert": cert.id, "type": cert.cert_type, "number": cert.number,
        "issuer": cert.issuer, "requester": req.requester, "purpose": req.purpose,
        "out": out, "bytes": doc.len(), "shares": views, "combined": used,
        "threshold": set.threshold(), "content_hash_ok": true, "issuer_signature_ok": true,
    });
    emit(json_out, &value, || {
        print_shares(&views);
        println!(
            "{}",
            kv(&[
                (
                    "certificate",
                    format!("{} {} ({})", cert.cert_type, cert.number, cert.id)
                ),
                ("issuer", cert.issuer.clone()),
                (
                    "request",
                    format!("{request} by {} for {}", req.requester, req.purpose)
                ),
                (
                    "key",
                    format!(
                        "combined {} verified shares ({} needed): {}",
                        used.len(),
                        set.threshold(),
                        used.join(", ")
                    ),
                ),
                ("content SM3", "matches the certificate".into()),
                (
                    "issuer signature",
                    format!("SM2 verified (key {})", issuer_key.fingerprint()),
                ),
                (
                    "written",
                    format!("{} ({} bytes)", out.display(), doc.len())
                ),
            ])
        );
    });
    Ok(())
}
