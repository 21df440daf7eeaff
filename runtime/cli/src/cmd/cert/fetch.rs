//! `cert fetch`: the released key shares, the data key and the document, every step
//! checked on this machine against the network's genesis (`govchain_client::shares`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use govchain_client::shares::{Releases, ShareView};
use govchain_node::network::connect_checked;
use govchain_node::network::{CUSTODY_KEY_WAIT, trust};
use govchain_node::output::{emit, kv, table};
use serde_json::json;

use crate::client::SignArgs;

/// `cert fetch`: shares → data key → document, every step checked.
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
    let (client, genesis) = connect_checked(endpoint, home).await?;
    let trust = trust(&client, &signer, &genesis, CUSTODY_KEY_WAIT).await?;
    let threshold = trust.custody.threshold();
    let progress = (!json_out).then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.enable_steady_tick(Duration::from_millis(200));
        p
    });
    let releases = client
        .wait_for_releases(&signer, &trust, request, Duration::from_secs(wait), |r| {
            if let Some(p) = &progress {
                p.set_message(format!(
                    "request {request}: {} of {threshold} key shares verified, waiting for validators…",
                    r.verified()
                ));
            }
        })
        .await?;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let opened = match releases.open(&trust) {
        Ok(o) => o,
        Err(e) => {
            print_shares(&releases);
            bail!(
                "cannot open request {request}: {e} (a custody key opens only with {threshold} shares; validators release them while the request is in its window, unless the certificate or grant was revoked)"
            );
        }
    };
    govchain_node::keyfile::write_secret(out, &opened.document)
        .with_context(|| format!("writing {}", out.display()))?;
    let (cert, req) = (&opened.certificate, &opened.request);
    let bytes = opened.document.len();
    let value = json!({
        "request": request, "cert": cert.id, "type": cert.cert_type, "number": cert.number,
        "issuer": cert.issuer, "requester": req.requester, "purpose": req.purpose,
        "out": out, "bytes": bytes, "shares": releases.shares, "combined": opened.combined,
        "threshold": threshold, "content_hash_ok": true, "issuer_signature_ok": true,
    });
    emit(json_out, &value, || {
        print_shares(&releases);
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
                        "combined {} verified shares ({threshold} needed): {}",
                        opened.combined.len(),
                        opened.combined.join(", ")
                    ),
                ),
                ("content SM3", "matches the certificate".into()),
                (
                    "issuer signature",
                    format!("SM2 verified (key {})", opened.issuer_key.fingerprint()),
                ),
                ("written", format!("{} ({bytes} bytes)", out.display())),
            ])
        );
    });
    Ok(())
}

/// The shares table, with the holders that have not released.
fn print_shares(r: &Releases) {
    let mut t = table(&["validator", "share", "released at", "status"]);
    for v in &r.shares {
        let ShareView {
            validator,
            share,
            height,
            status,
        } = v;
        t.add_row([
            validator.clone(),
            share.to_string(),
            height.to_string(),
            status.clone(),
        ]);
    }
    let missing = r.missing();
    if !missing.is_empty() {
        t.add_row([
            missing.join(", "),
            "-".into(),
            "-".into(),
            "not released".into(),
        ]);
    }
    eprintln!("{t}");
}
