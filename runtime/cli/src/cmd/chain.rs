//! `status`, `tx get`, `block get`, `anchor`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_client::rpc::{GetBlockRequest, GetTxRequest, get_block_request::At};
use govchain_crypto::PublicKey;
use govchain_types::pb;
use serde_json::{Value, json};

use govchain_client::{Client, ClientError, Receipt};
use govchain_node::output::{code_name, receipt_error};
use govchain_node::output::{emit, kv, table, time_ms};

use crate::client::SignArgs;

/// Transaction lookups.
#[derive(Debug, Subcommand)]
pub(crate) enum TxCmd {
    /// A transaction, its receipt and its block (a signed read: a department's own
    /// transactions, or every one to the operators of nodes and the auditor).
    Get {
        /// Transaction hash, hex.
        hash: String,
        #[command(flatten)]
        sign: SignArgs,
    },
}

/// Block lookups.
#[derive(Debug, Subcommand)]
pub(crate) enum BlockCmd {
    /// A block header and its transactions (a signed read, for the departments that
    /// operate the chain's nodes and the auditor).
    Get {
        /// Height, `latest`, or a block hash (hex).
        at: String,
        #[command(flatten)]
        sign: SignArgs,
    },
}

fn fingerprint(sec1: &[u8]) -> String {
    PublicKey::from_sec1(sec1)
        .map(|k| k.fingerprint())
        .unwrap_or_else(|_| "(invalid key)".into())
}

fn status_name(s: i32) -> &'static str {
    pb::TxStatus::try_from(s).map_or("UNKNOWN", |s| match s {
        pb::TxStatus::Ok => "OK",
        pb::TxStatus::Failed => "FAILED",
        pb::TxStatus::Unspecified => "UNSPECIFIED",
    })
}

pub(crate) fn receipt_json(r: &pb::Receipt) -> Value {
    json!({
        "tx_hash": hex::encode(&r.tx_hash),
        "height": r.height,
        "index": r.index,
        "status": status_name(r.status),
        "error_code": if r.error_code == 0 { Value::Null } else { json!(code_name(r.error_code)) },
        "error_code_number": r.error_code,
        "error_message": r.error_message,
        "gas_used": r.gas_used,
        "events": r.events.iter().map(|e| json!({
            "kind": e.kind,
            "attributes": e.attributes.iter().map(|a| (a.key.clone(), json!(a.value))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

fn payload_json(p: &Option<pb::Payload>) -> Value {
    match p.as_ref().and_then(|p| p.kind.as_ref()) {
        Some(pb::payload::Kind::Anchor(a)) => {
            json!({"type": "anchor", "key": a.key, "digest": hex::encode(&a.digest), "note": a.note})
        }
        Some(pb::payload::Kind::Propose(p)) => match &p.action {
            Some(pb::proposal::Action::Deploy(d)) => json!({
                "type": "propose_deploy", "contract": d.name,
                "code_hash": hex::encode(govchain_crypto::sm3(&d.code)), "code_bytes": d.code.len(),
                "description": p.description, "voting_period": p.voting_period,
            }),
            Some(pb::proposal::Action::Policy(c)) => {
                json!({"type": "propose_policy", "add": c.add, "remove": c.remove, "description": p.description})
            }
            Some(pb::proposal::Action::CertType(t)) => {
                json!({"type": "propose_cert_type", "id": t.id, "price": t.price, "publish_reward": t.publish_reward})
            }
            Some(pb::proposal::Action::Node(c)) => {
                let n = c.node.clone().unwrap_or_default();
                json!({"type": if c.remove { "propose_remove_node" } else { "propose_add_node" },
                    "node": n.id, "department": n.department, "observer": n.observer,
                    "addr": n.addr, "description": p.description})
            }
            Some(pb::proposal::Action::Purpose(u)) => {
                json!({"type": "propose_purpose", "id": u.id, "description": u.description})
            }
            Some(pb::proposal::Action::AdjustPoints(a)) => json!({
                "type": "propose_points_adjustment", "department": a.department, "delta": a.delta, "reason": a.reason,
            }),
            Some(pb::proposal::Action::PointsParams(pp)) => json!({
                "type": "propose_points_params", "free_reads_per_period": pp.free_reads_per_period,
                "period_ms": pp.period_ms, "reward_cap_per_period": pp.reward_cap_per_period,
            }),
            Some(pb::proposal::Action::ReplaceKey(k)) => json!({
                "type": if k.public_key.is_empty() { "propose_revoke_operator" } else { "propose_replace_key" },
                "department": k.department, "operator": k.operator,
                "public_key": hex::encode(&k.public_key), "description": p.description,
            }),
            None => json!({"type": "propose"}),
        },
        Some(pb::payload::Kind::RotateKey(r)) => json!({
            "type": "rotate_key", "operator": r.operator, "public_key": hex::encode(&r.public_key),
        }),
        Some(pb::payload::Kind::Vote(v)) => {
            json!({"type": "vote", "proposal": v.proposal_id, "approve": v.approve})
        }
        Some(pb::payload::Kind::Call(c)) => json!({
            "type": "contract_call", "contract": c.contract, "method": c.method,
            "args": String::from_utf8_lossy(&c.args), "gas_limit": c.gas_limit,
        }),
        Some(pb::payload::Kind::Publish(p)) => json!({
            "type": "publish_certificate", "cert_type": p.cert_type, "number": p.number,
            "subject_id": hex::encode(&p.subject_id), "content_hash": hex::encode(&p.content_hash),
            "ciphertext_bytes": p.ciphertext.len(),
        }),
        Some(pb::payload::Kind::Request(r)) => {
            json!({"type": "request_access", "cert": r.cert_id, "purpose": r.purpose})
        }
        Some(pb::payload::Kind::Compute(j)) => json!({
            "type": "compute_job", "cert": j.cert_id, "purpose": j.purpose, "contract": j.contract,
            "method": j.method, "args": String::from_utf8_lossy(&j.args),
        }),
        Some(pb::payload::Kind::Result(r)) => json!({
            "type": "compute_result", "request": r.request, "output_bytes": r.output.len(),
            "failed": r.failed, "gas_used": r.gas_used, "input_hash": hex::encode(&r.input_hash),
            "code_hash": hex::encode(&r.code_hash),
        }),
        Some(pb::payload::Kind::Evidence(e)) => {
            let mut v = super::evidence::claim_json(e);
            v["type"] = json!("evidence");
            v
        }
        Some(pb::payload::Kind::Release(r)) => json!({
            "type": "release_key_shares",
            "requests": r.releases.iter().map(|x| x.request).collect::<Vec<_>>(),
        }),
        Some(pb::payload::Kind::Keygen(k)) => {
            use pb::custody_keygen::Step;
            let step = match &k.step {
                Some(Step::Deal(d)) => {
                    json!({"deal": {"commitments": d.commitments.len(), "sub_shares": d.sub_shares.len()}})
                }
                Some(Step::Complaints(c)) => json!({"complaints": c.against}),
                Some(Step::Answer(a)) => json!({"answer": {"holder": a.holder}}),
                Some(Step::Close(_)) => json!("close"),
                None => Value::Null,
            };
            json!({"type": "custody_keygen", "round": k.round, "step": step})
        }
        Some(pb::payload::Kind::Grant(g)) => json!({
            "type": "grant_access", "cert": g.cert_id, "grantee": g.grantee, "purpose": g.purpose,
            "until_height": g.until_height, "until_date": g.until_date,
        }),
        Some(pb::payload::Kind::Revoke(r)) => {
            json!({"type": "revoke", "cert": r.cert_id, "grant": r.grant_id, "reason": r.reason})
        }
        None => Value::Null,
    }
}

fn header_json(h: &pb::BlockHeader, hash: &[u8], signature: &[u8]) -> Value {
    json!({
        "height": h.height,
        "hash": hex::encode(hash),
        "prev_hash": hex::encode(&h.prev_hash),
        "time_ms": h.time_ms,
        "time": time_ms(h.time_ms),
        "proposer": h.proposer,
        "tx_count": h.tx_count,
        "audit_count": h.audit_count,
        "tx_root": hex::encode(&h.tx_root),
        "state_root": hex::encode(&h.state_root),
        "receipts_root": hex::encode(&h.receipts_root),
        "audit_root": hex::encode(&h.audit_root),
        "validators_hash": hex::encode(&h.validators_hash),
        "next_validators_hash": hex::encode(&h.next_validators_hash),
        "signature": hex::encode(signature),
        "chain_id": h.chain_id,
    })
}

/// `govchain status`.
pub(crate) async fn status(
    endpoint: &str,
    home: &std::path::Path,
    sign: &SignArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let client = Client::connect(endpoint).await?;
    // Unsigned, a node answers anyone its minimal status; the rest is for members.
    let signed = sign.as_dept.is_some() || sign.key.is_some();
    let s = if signed {
        client.full_status(&sign.signer(home)?).await?
    } else {
        client.status().clone()
    };
    let value = json!({
        "chain_id": s.chain_id,
        "node_id": s.node_id,
        "consensus": s.consensus,
        "height": s.height,
        "tip_hash": hex::encode(&s.tip_hash),
        "tip_time_ms": s.tip_time_ms,
        "mempool": s.mempool_size,
        "version": s.version,
        "genesis_hash": hex::encode(&s.genesis_hash),
        "departments": s.departments.iter().map(|d| json!({
            "id": d.id, "name": d.name, "roles": d.roles, "key_id": fingerprint(&d.public_key),
            "operators": d.operators.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "validators": s.validators.iter().map(|v| json!({
            "id": v.id, "department": v.department, "key_id": fingerprint(&v.public_key),
            "observer": v.observer, "addr": v.addr,
        })).collect::<Vec<_>>(),
        "evidence": super::evidence::status_json(&s),
        "bft": super::bft::status_json(s.bft.as_ref()),
    });
    emit(json_out, &value, || {
        println!(
            "{}",
            kv(&[
                ("chain id", s.chain_id.clone()),
                ("node", format!("{} ({})", s.node_id, s.consensus)),
                ("height", s.height.to_string()),
                ("tip", hex::encode(&s.tip_hash)),
                ("tip time", time_ms(s.tip_time_ms)),
                ("mempool", format!("{} transactions", s.mempool_size)),
                ("genesis", hex::encode(&s.genesis_hash)),
                ("version", s.version.clone()),
            ])
        );
        if !signed {
            println!("(sign with --as <department> for the members, validators and health)");
            return;
        }
        let mut t = table(&["department", "name", "roles", "key id"]);
        for d in &s.departments {
            t.add_row([
                d.id.clone(),
                d.name.clone(),
                d.roles.join(", "),
                fingerprint(&d.public_key)[..16].to_string(),
            ]);
        }
        println!("{t}");
        let mut t = table(&["node", "kind", "department", "address", "key id"]);
        for v in &s.validators {
            t.add_row([
                v.id.clone(),
                if v.observer { "observer" } else { "validator" }.into(),
                v.department.clone(),
                v.addr.clone(),
                fingerprint(&v.public_key)[..16].to_string(),
            ]);
        }
        println!("{t}");
        super::bft::print_status(s.bft.as_ref());
        super::evidence::print_status(&s);
    });
    Ok(())
}

fn parse_hash(s: &str) -> anyhow::Result<Vec<u8>> {
    let b = hex::decode(s.trim_start_matches("0x"))
        .with_context(|| format!("'{s}' is not a hex hash"))?;
    if b.len() != 32 {
        bail!("a hash is 32 bytes (64 hex characters), got {}", b.len());
    }
    Ok(b)
}

/// `govchain tx get`.
pub(crate) async fn tx(
    endpoint: &str,
    home: &std::path::Path,
    cmd: TxCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    let TxCmd::Get { hash, sign } = cmd;
    let hash = parse_hash(&hash)?;
    // Checked against the network's genesis from the start: what is shown is proven,
    // never the node's word.
    let (client, genesis) = govchain_node::network::connect_checked(endpoint, home).await?;
    let req = client.signed(
        &sign.signer(home)?,
        "/govchain.v1.Chain/GetTx",
        GetTxRequest {
            tx_hash: hash.clone(),
            prove: true,
        },
    )?;
    let r = client
        .chain()
        .get_tx(req)
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let anchor = govchain_proof::TrustAnchor::from_genesis_json(&genesis.to_json())
        .map_err(anyhow::Error::msg)?;
    let proof = r
        .proof
        .as_ref()
        .context("the node sent no proof of the receipt (is it older than this CLI?)")?;
    let receipt =
        govchain_proof::receipt::verify_receipt(&anchor, proof, &hash).map_err(|why| {
            anyhow::anyhow!("the node's receipt does not check against genesis: {why}")
        })?;
    // The transaction is the one whose body hashes to the receipt's: the node cannot
    // pair a proven receipt with another sender or payload.
    let tx = r.tx.unwrap_or_default();
    if govchain_crypto::sm3(&tx.body).as_slice() != hash.as_slice() {
        bail!(
            "the node sent a transaction whose body does not hash to {}",
            hex::encode(&hash)
        );
    }
    let body: pb::TxBody = govchain_types::decode("transaction body", &tx.body)?;
    let signer = fingerprint(&tx.signer_pubkey);
    let block_hash = proof
        .header
        .as_ref()
        .map_or_else(Vec::new, |h| govchain_crypto::sm3(&h.header).to_vec());
    let value = json!({
        "tx_hash": hex::encode(&hash),
        "height": receipt.height,
        "block_hash": hex::encode(&block_hash),
        "sender": body.sender,
        "operator": body.operator,
        "nonce": body.nonce,
        "expiry_height": body.expiry_height,
        "signer_key_id": signer,
        "payload": payload_json(&body.payload),
        "receipt": receipt_json(&receipt),
        "receipt_proven_from_genesis": true,
    });
    emit(json_out, &value, || {
        let mut rows = vec![
            ("tx hash", hex::encode(&hash)),
            (
                "block",
                format!("{} ({})", receipt.height, hex::encode(&block_hash)),
            ),
            (
                "sender",
                if body.operator.is_empty() {
                    body.sender.clone()
                } else {
                    format!("{}/{}", body.sender, body.operator)
                },
            ),
            ("nonce", body.nonce.to_string()),
            ("signer key id", signer.clone()),
            ("payload", payload_json(&body.payload).to_string()),
        ];
        rows.extend(receipt_rows(&receipt));
        rows.push((
            "proven",
            "from genesis: the receipt is in the block's receipts root, the block under its commit certificate".into(),
        ));
        println!("{}", kv(&rows));
    });
    Ok(())
}

/// `govchain block get`.
pub(crate) async fn block(
    endpoint: &str,
    home: &std::path::Path,
    cmd: BlockCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    let BlockCmd::Get { at, sign } = cmd;
    let at = if at == "latest" {
        At::Latest(true)
    } else if let Ok(h) = at.parse::<u64>() {
        At::Height(h)
    } else {
        At::Hash(parse_hash(&at)?)
    };
    let client = Client::connect(endpoint).await?;
    let req = client.signed(
        &sign.signer(home)?,
        "/govchain.v1.Chain/GetBlock",
        GetBlockRequest { at: Some(at) },
    )?;
    let r = client
        .chain()
        .get_block(req)
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let h = r.header.unwrap_or_default();
    let block = r.block.unwrap_or_default();
    let mut value = header_json(&h, &r.hash, &block.signature);
    value["commit"] = block.commit.as_ref().map_or(Value::Null, |c| {
        json!({
            "height": c.height,
            "round": c.round,
            "block_hash": hex::encode(&c.block_hash),
            "signatures": c.signatures.iter().map(|s| json!({"validator": s.validator, "signature": hex::encode(&s.signature)})).collect::<Vec<_>>(),
        })
    });
    value["transactions"] = r.receipts.iter().map(receipt_json).collect();
    emit(json_out, &value, || {
        println!(
            "{}",
            kv(&[
                ("height", h.height.to_string()),
                ("hash", hex::encode(&r.hash)),
                ("previous", hex::encode(&h.prev_hash)),
                ("time", time_ms(h.time_ms)),
                (
                    "proposer",
                    if h.proposer.is_empty() {
                        "(genesis)".into()
                    } else {
                        h.proposer.clone()
                    }
                ),
                ("tx root", hex::encode(&h.tx_root)),
                ("state root", hex::encode(&h.state_root)),
                ("receipts root", hex::encode(&h.receipts_root)),
                ("audit root", hex::encode(&h.audit_root)),
                (
                    "signature",
                    if block.signature.is_empty() {
                        "(none: genesis)".into()
                    } else {
                        hex::encode(&block.signature)
                    }
                ),
                ("validators hash", hex::encode(&h.validators_hash)),
                (
                    "next validators",
                    if h.next_validators_hash == h.validators_hash {
                        "unchanged".into()
                    } else {
                        hex::encode(&h.next_validators_hash)
                    }
                ),
                (
                    "decided by",
                    block.commit.as_ref().map_or_else(
                        || "(no commit certificate)".into(),
                        |c| {
                            let who: Vec<&str> =
                                c.signatures.iter().map(|s| s.validator.as_str()).collect();
                            format!(
                                "precommits of {} in round {} (SM2; check with `govchain block get --json`)",
                                who.join(", "),
                                c.round
                            )
                        }
                    )
                ),
                ("transactions", h.tx_count.to_string()),
                ("audit records", h.audit_count.to_string()),
            ])
        );
        if !r.receipts.is_empty() {
            let mut t = table(&["#", "tx hash", "status", "error"]);
            for rc in r.receipts.iter().take(50) {
                t.add_row([
                    rc.index.to_string(),
                    hex::encode(&rc.tx_hash),
                    status_name(rc.status).to_string(),
                    if rc.error_code == 0 {
                        String::new()
                    } else {
                        code_name(rc.error_code).to_string()
                    },
                ]);
            }
            println!("{t}");
            if r.receipts.len() > 50 {
                println!("… and {} more (use --json for all)", r.receipts.len() - 50);
            }
        }
    });
    Ok(())
}

/// The payload of `govchain anchor`: the SM3 digest of a file (or a given digest).
pub(crate) fn anchor_payload(
    id: String,
    file: Option<PathBuf>,
    digest: Option<String>,
    note: String,
) -> anyhow::Result<pb::payload::Kind> {
    let digest = match (file, digest) {
        (Some(f), _) => govchain_crypto::sm3(
            &std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?,
        )
        .to_vec(),
        (None, Some(d)) => hex::decode(&d).with_context(|| "--digest must be hex")?,
        (None, None) => bail!("give --file <document> or --digest <hex>"),
    };
    Ok(pb::payload::Kind::Anchor(pb::Anchor {
        key: id,
        digest,
        note,
    }))
}

/// Signs and submits a transaction and waits for its receipt; fails when the
/// transaction failed.
pub(crate) async fn submit_quiet(
    endpoint: &str,
    home: &std::path::Path,
    sign: &SignArgs,
    payload: pb::payload::Kind,
) -> anyhow::Result<Receipt> {
    let r = submit_signed(endpoint, home, sign, payload).await?;
    if let Some(e) = receipt_error(&r.receipt) {
        bail!("transaction failed: {e}");
    }
    Ok(r)
}

async fn submit_signed(
    endpoint: &str,
    home: &std::path::Path,
    sign: &SignArgs,
    payload: pb::payload::Kind,
) -> anyhow::Result<Receipt> {
    let signer = sign.signer(home)?;
    let mut client = Client::connect(endpoint).await?;
    client.expire_after(sign.expires_in);
    Ok(client.submit(&signer, payload).await?)
}

/// Signs and submits a transaction, waits for its receipt and prints it; fails when
/// the transaction failed.
pub(crate) async fn transact(
    endpoint: &str,
    home: &std::path::Path,
    sign: &SignArgs,
    payload: pb::payload::Kind,
    json_out: bool,
) -> anyhow::Result<Receipt> {
    let r = submit_signed(endpoint, home, sign, payload).await?;
    emit(json_out, &receipt_json(&r.receipt), || {
        let mut rows = vec![
            ("tx hash", hex::encode(&r.tx_hash)),
            ("height", r.receipt.height.to_string()),
        ];
        rows.extend(receipt_rows(&r.receipt));
        println!("{}", kv(&rows));
    });
    if let Some(e) = receipt_error(&r.receipt) {
        bail!("transaction failed: {e}");
    }
    Ok(r)
}

/// Table rows of a receipt: status, error, output, gas, events.
fn receipt_rows(r: &pb::Receipt) -> Vec<(&'static str, String)> {
    let mut rows = vec![("status", status_name(r.status).to_string())];
    if let Some(e) = receipt_error(r) {
        rows.push(("error", e));
    }
    if !r.output.is_empty() {
        rows.push(("output", String::from_utf8_lossy(&r.output).into_owned()));
    }
    if r.gas_used > 0 {
        rows.push(("gas used", r.gas_used.to_string()));
    }
    for e in &r.events {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|a| format!("{}={}", a.key, a.value))
            .collect();
        rows.push(("event", format!("{} {}", e.kind, attrs.join(" "))));
    }
    rows
}
