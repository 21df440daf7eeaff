//! `govchain bench --kind custody`: the cost of threshold custody.
//!
//! 1. The primitives of threshold SM2 on this machine, one core, 3 of 4 shares:
//!    sealing a data key with the publisher's proof, the envelope check admission runs
//!    (decode and proof), one validator's release (its share encrypted to the requester,
//!    with its proof), the release check execution runs on every node, and the
//!    requester's opening of 3 shares. The BLS12-381 scheme they replaced is measured
//!    in `docs/design/custody.md`.
//! 2. Publish-to-readable latency on a node: publish a certificate, request it, wait for
//!    the validators' releases, verify and combine the shares, decrypt and check the
//!    document. Embedded solo node (1 of 1) by default, or `--endpoint` a running
//!    network (keys and genesis from `--home`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use govchain_client::event::Access;
use govchain_client::rpc::GetReleasesRequest;
use govchain_client::seal::seal_certificate;
use govchain_client::shares::{open_document, verify_shares};
use govchain_client::{Client, ClientError, Entropy, Signer};
use govchain_crypto::{PrivateKey, random_seed};
use govchain_custody::{Envelope, KeySet, SecretShare, envelope_context, keygen, release_context};
use govchain_node::embedded::Embedded;
use govchain_node::network::CUSTODY_KEY_WAIT;
use govchain_node::output::progress;
use govchain_node::output::{emit, table};
use govchain_state::{Genesis, certs};
use govchain_types::pb;
use serde_json::json;

use crate::{BenchArgs, embedded, percentile};

fn per_op(iterations: usize, mut f: impl FnMut(usize)) -> Duration {
    let t = Instant::now();
    for i in 0..iterations {
        f(i);
    }
    t.elapsed() / iterations as u32
}

/// Key generation among 4 holders, 3 of 4, as the chain runs it, and the costs of its
/// steps (mean over `n`): a holder's dealing, execution's check of a dealing, a holder's
/// opening and check of one sub-share.
fn generate(n: usize) -> anyhow::Result<(KeySet, Vec<SecretShare>, [Duration; 3])> {
    let keys: Vec<PrivateKey> = (0..4).map(|_| PrivateKey::generate()).collect();
    let holders: Vec<(u32, Vec<u8>)> = (1..)
        .zip(keys.iter().map(|k| k.public_key().to_sec1()))
        .collect();
    let deals: Vec<keygen::Deal> = keys
        .iter()
        .map(|k| keygen::deal(k, "bench", 1, 3, keygen::Dealt::Fresh, &holders))
        .collect::<Result<_, _>>()?;
    let deal = per_op(n, |i| {
        std::hint::black_box(
            keygen::deal(
                &keys[i % 4],
                "bench",
                2 + i as u64,
                3,
                keygen::Dealt::Fresh,
                &holders,
            )
            .is_ok(),
        );
    });
    let check = per_op(n, |i| {
        assert!(keygen::check_deal(3, 4, &deals[i % 4]).is_ok())
    });
    let open = per_op(n, |i| {
        let d = &deals[i % 4];
        assert!(keygen::open_sub_share(&keys[0], 1, &d.commitments, &d.sub_shares[0]).is_ok());
    });
    let commitments: Vec<&[Vec<u8>]> = deals.iter().map(|d| d.commitments.as_slice()).collect();
    let set = keygen::key_set(&commitments)?;
    let shares = (1..=4u32)
        .zip(&keys)
        .map(|(number, key)| {
            let subs = deals
                .iter()
                .map(|d| {
                    keygen::open_sub_share(
                        key,
                        number,
                        &d.commitments,
                        &d.sub_shares[number as usize - 1],
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<(u32, &[u8])> = (1..).zip(subs.iter().map(|s| &s[..])).collect();
            keygen::share(number, &refs, false)
        })
        .collect::<Result<_, _>>()?;
    Ok((set, shares, [deal, check, open]))
}

/// Primitive costs (3 of 4), mean over `n` runs each.
fn primitives(n: usize) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let (set, shares, [deal, check_deal, open_sub]) = generate(n)?;
    let requester = PrivateKey::generate();
    let to = requester.public_key().to_sec1();
    let key = [7u8; 16];
    let context = |i: usize| envelope_context("bench", &i.to_string());
    let sealed: Vec<(Vec<u8>, [u8; 64])> = (0..n)
        .map(|i| set.seal_key(&key, &context(i), &random_seed()))
        .collect::<Result<_, _>>()?;
    let seal = per_op(n, |i| {
        std::hint::black_box(set.seal_key(&key, &context(i), &random_seed()).is_ok());
    });
    let check = per_op(n, |i| {
        let ok =
            Envelope::parse(&sealed[i].0).and_then(|e| e.verify_proof(&sealed[i].1, &context(i)));
        assert!(ok.is_ok());
    });
    let parsed: Vec<Envelope> = sealed
        .iter()
        .map(|(e, _)| Envelope::parse(e))
        .collect::<Result<_, _>>()?;
    let ctx = release_context("bench", 1);
    let release = per_op(n, |i| {
        std::hint::black_box(
            shares[0]
                .release(&parsed[i], &to, &ctx, &random_seed())
                .is_ok(),
        );
    });
    let released: Vec<Vec<Vec<u8>>> = parsed
        .iter()
        .map(|e| {
            shares[..3]
                .iter()
                .map(|s| s.release(e, &to, &ctx, &random_seed()))
                .collect::<Result<_, _>>()
        })
        .collect::<Result<_, _>>()?;
    let public = set.public_key_share(1)?;
    let verify = per_op(n, |i| {
        let ok = govchain_custody::verify_share(&public, 1, &released[i][0], &parsed[i], &to, &ctx);
        assert!(ok.is_ok());
    });
    // A custodian's transaction carries up to 64 shares of one validator; execution checks
    // them in one batch.
    let batches: Vec<Vec<govchain_custody::ShareCheck<'_>>> = released
        .chunks(64)
        .zip(parsed.chunks(64))
        .map(|(r, e)| {
            r.iter()
                .zip(e)
                .map(|(r, envelope)| govchain_custody::ShareCheck {
                    public: &public,
                    number: 1,
                    bytes: &r[0],
                    envelope,
                    recipient: &to,
                    context: &ctx,
                })
                .collect()
        })
        .collect();
    let t = Instant::now();
    for b in &batches {
        assert!(govchain_custody::verify_shares(b).is_ok());
    }
    let batched = t.elapsed() / n as u32;
    let open = per_op(n, |i| {
        let opened: Vec<_> = released[i]
            .iter()
            .zip(1..)
            .map(|(r, number)| {
                set.verify_share(number, r, &parsed[i], &to, &ctx)
                    .map(|v| v.open(&requester))
            })
            .collect::<Result<_, _>>()
            .expect("verified");
        assert_eq!(set.combine(&opened, &parsed[i]).ok(), Some(key));
    });
    Ok(vec![
        (
            "key generation: deal to 4 holders (each holder, once)",
            deal,
        ),
        ("key generation: check a dealing (execution)", check_deal),
        (
            "key generation: open and check a sub-share (holder)",
            open_sub,
        ),
        ("seal a data key with its proof (publisher)", seal),
        (
            "envelope check: decode + proof (admission, every node)",
            check,
        ),
        ("release one share: encrypted + proof (validator)", release),
        ("check one release's proof (execution, every node)", verify),
        (
            "check releases in batches of 64, per release (execution)",
            batched,
        ),
        ("verify, open and combine 3 shares (requester)", open),
    ])
}

/// One certificate from publish to a checked plaintext; returns the stage times.
async fn publish_to_readable(
    client: &mut Client,
    set: &KeySet,
    (issuer, reader): (&Signer, &Signer),
    salt: &[u8],
    number: String,
) -> anyhow::Result<[Duration; 4]> {
    let doc = json!({"number": number, "holders": ["张三"], "area_m2": 89.46})
        .to_string()
        .into_bytes();
    let id = certs::cert_id("property", &number);
    let start = Instant::now();
    let p = seal_certificate(
        client.chain_id(),
        set,
        &issuer.key,
        pb::PublishCertificate {
            cert_type: "property".into(),
            number,
            subject_id: certs::subject_id(salt, "320102199001011232")?.to_vec(),
            issued_on: "2024-05-01".into(),
            metadata: vec![
                pb::Attribute {
                    key: "district".into(),
                    value: "鼓楼区".into(),
                },
                pb::Attribute {
                    key: "usage".into(),
                    value: "住宅".into(),
                },
            ],
            ..Default::default()
        },
        &doc,
        &Entropy::Os,
    );
    client
        .submit(issuer, pb::payload::Kind::Publish(p))
        .await?
        .ok()?;
    let published = start.elapsed();
    let r = client
        .submit(
            reader,
            pb::payload::Kind::Request(pb::RequestAccess {
                cert_id: id.clone(),
                purpose: "housing_eligibility".into(),
            }),
        )
        .await?
        .ok()?;
    let request = r.event::<Access>().context("no access event")?.request;
    let requested = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut certificates = client.certificates();
    let releases = loop {
        let req = client.signed(
            reader,
            "/govchain.v1.Certificates/GetReleases",
            GetReleasesRequest { request },
        )?;
        let r = certificates
            .get_releases(req)
            .await
            .map_err(ClientError::from)?
            .into_inner();
        if r.releases.len() >= set.threshold() {
            break r;
        }
        if Instant::now() > deadline {
            bail!(
                "request {request}: fewer than {} shares after 30 s",
                set.threshold()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let released = start.elapsed();
    let cert = releases.certificate.unwrap_or_default();
    let envelope = Envelope::parse(&cert.key_envelope)?;
    // The requester's path (`cert fetch`): open and check each share, combine, decrypt.
    let (_, good) = verify_shares(
        set,
        client.chain_id(),
        &envelope,
        &releases.request.unwrap_or_default(),
        &releases.releases,
        &reader.key,
        &reader.department,
    );
    let plain = open_document(set, &good, &envelope, &cert)?;
    if *plain != doc {
        bail!("decrypted document differs");
    }
    Ok([published, requested, released, start.elapsed()])
}

/// Runs the custody benchmark.
pub(crate) async fn run(
    endpoint: Option<&str>,
    home: &Path,
    args: &BenchArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let n = args.txs.clamp(1, 200);
    let prims = tokio::task::spawn_blocking(move || primitives(n)).await??;
    let mut local = None;
    let (endpoint, home) = match endpoint {
        Some(e) => (e.to_string(), home.to_path_buf()),
        None => {
            let e = local.insert(embedded(args, !args.no_sync).await?);
            (e.endpoint.clone(), e.home.clone())
        }
    };
    let genesis = Genesis::from_json(&std::fs::read_to_string(home.join("genesis.json"))?)?;
    let mut client = Client::connect(&endpoint).await?;
    let signer = |d: &str| -> anyhow::Result<Signer> {
        Ok(Signer::new(
            d,
            govchain_node::keyfile::load(&home.join(format!("keys/{d}.pem")))?,
        ))
    };
    let (issuer, reader) = (signer("real-estate")?, signer("housing")?);
    let salt = govchain_node::network::chain_salt(&home, &genesis)?;
    // A fresh network: its validators generate the custody key first.
    let started = Instant::now();
    let set =
        govchain_node::network::wait_for_custody_key(&client, &issuer, &genesis, CUSTODY_KEY_WAIT)
            .await?;
    let keygen = started.elapsed();
    let certs_n = args.txs.clamp(1, 50);
    let bar = progress(certs_n as u64, "readable");
    if json_out {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let tag = format!("{:x}", std::process::id());
    let mut stages: Vec<[Duration; 4]> = Vec::with_capacity(certs_n);
    let mut result = Ok(());
    for i in 0..certs_n {
        match publish_to_readable(
            &mut client,
            &set,
            (&issuer, &reader),
            &salt,
            format!("BENCH-{tag}-{i}"),
        )
        .await
        {
            Ok(s) => stages.push(s),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(Embedded { node, .. }) = local {
        node.shutdown().await;
    }
    result?;
    let column = |k: usize| {
        let mut v: Vec<Duration> = stages.iter().map(|s| s[k]).collect();
        v.sort();
        (percentile(&v, 0.5), percentile(&v, 0.99))
    };
    let names = [
        "publish committed",
        "request committed",
        "t shares released",
        "readable (combined, decrypted, checked)",
    ];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let value = json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "threshold": set.threshold(),
        "primitives_ms": prims.iter().map(|(k, d)| (k.to_string(), json!(ms(*d)))).collect::<serde_json::Map<_, _>>(),
        "keygen_ms": ms(keygen),
        "certificates": stages.len(),
        "latency_ms": names.iter().enumerate().map(|(k, name)| {
            let (p50, p99) = column(k);
            (name.to_string(), json!({"p50": ms(p50), "p99": ms(p99)}))
        }).collect::<serde_json::Map<_, _>>(),
    });
    emit(json_out, &value, || {
        let mut t = table(&["custody primitive (3 of 4, one core)", "mean"]);
        for (k, d) in &prims {
            t.add_row([k.to_string(), format!("{:.3} ms", ms(*d))]);
        }
        println!("{t}");
        println!(
            "custody key generated on chain {:.0} ms after the node first answered",
            ms(keygen)
        );
        let mut t = table(&[
            &format!(
                "publish → readable, {} certificates, {} of {} shares",
                stages.len(),
                set.threshold(),
                genesis
                    .validators
                    .iter()
                    .filter(|v| v.custody_share != 0)
                    .count()
            ),
            "p50",
            "p99",
        ]);
        for (k, name) in names.iter().enumerate() {
            let (p50, p99) = column(k);
            t.add_row([
                name.to_string(),
                format!("{:.1} ms", ms(p50)),
                format!("{:.1} ms", ms(p99)),
            ]);
        }
        println!("{t}");
    });
    Ok(())
}
