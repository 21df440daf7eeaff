//! `cert …`, `points …` and `audit …`: the access gate from the command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_api::rpc::*;
use govchain_api::{AuditClient, CertificatesClient, PointsClient};
use govchain_crypto::sm4gcm;
use govchain_state::audit::{ExportFile, RecordView};
use govchain_state::{Genesis, certs};
use govchain_types::pb;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::client::{SignArgs, channel, connect, rpc_error, signed_request};
use crate::cmd::chain::{submit_quiet, transact};
use crate::output::{emit, kv, table, time_ms};

/// Certificate commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CertCmd {
    /// Encrypt a document (SM4-GCM) and publish it as a certificate of the signing
    /// department. Number, dates and metadata come from the flags, or from the document's
    /// top-level JSON keys `number`, `issued_on`, `expires_on` and `metadata`.
    Publish {
        /// Certificate type, e.g. property.
        #[arg(long = "type")]
        cert_type: String,
        /// The holder's national ID (18 characters), or `-` to read it from stdin (keeps
        /// it out of the process list and shell history); only its salted SM3 hash is sent.
        #[arg(long)]
        subject: String,
        /// The document.
        #[arg(long)]
        file: PathBuf,
        /// Certificate number.
        #[arg(long)]
        number: Option<String>,
        /// Issue date, YYYY-MM-DD.
        #[arg(long)]
        issued: Option<String>,
        /// Expiry date, YYYY-MM-DD.
        #[arg(long)]
        expires: Option<String>,
        /// Metadata field, `name=value` (repeatable).
        #[arg(long = "meta", value_name = "NAME=VALUE")]
        meta: Vec<String>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Certificates of a subject, issuer or type (metadata only).
    List {
        /// The holder's national ID.
        #[arg(long)]
        subject: Option<String>,
        /// Issuing department.
        #[arg(long)]
        issuer: Option<String>,
        /// Certificate type.
        #[arg(long = "type")]
        cert_type: Option<String>,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Who asks: listing by subject is a signed read.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// One certificate.
    Show {
        /// Certificate id.
        id: String,
    },
    /// Ask the access gate to read a certificate for a purpose: allowed or denied, the
    /// reason and the points moved. Either way it is on the audit record.
    Request {
        /// Certificate id.
        id: String,
        /// Purpose of use, as registered (see `cert purposes`).
        #[arg(long)]
        purpose: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Let one department read one of your certificates for one purpose.
    Grant {
        /// Certificate id.
        id: String,
        /// Department granted access.
        #[arg(long)]
        to: String,
        /// Purpose.
        #[arg(long)]
        purpose: String,
        /// Last valid date, YYYY-MM-DD (China Standard Time).
        #[arg(long)]
        until: Option<String>,
        /// Last valid height.
        #[arg(long)]
        until_height: Option<u64>,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Revoke one of your certificates, or one grant of it (from the next transaction on,
    /// reads are denied and audited).
    Revoke {
        /// Certificate id.
        id: String,
        /// Revoke only this grant.
        #[arg(long)]
        grant: Option<u64>,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Grants of a certificate.
    Grants {
        /// Certificate id.
        id: String,
    },
    /// Registered certificate types: fields, issuers, price, publish reward.
    Types,
    /// Registered purposes of use.
    Purposes,
    /// The casbin policy lines in force.
    Policy,
}

/// Points commands.
#[derive(Debug, Subcommand)]
pub(crate) enum PointsCmd {
    /// Balances (all departments unless --dept) and the supply.
    Balance {
        /// One department.
        #[arg(long)]
        dept: Option<String>,
    },
    /// A department's points ledger.
    History {
        /// Department.
        #[arg(long)]
        dept: String,
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// Filters of audit queries and exports.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AuditFilter {
    /// The holder's national ID.
    #[arg(long)]
    subject: Option<String>,
    /// Requesting department.
    #[arg(long)]
    requester: Option<String>,
    /// Owning (issuing) department.
    #[arg(long)]
    owner: Option<String>,
    /// Certificate id.
    #[arg(long)]
    cert: Option<String>,
    /// First day, YYYY-MM-DD (China Standard Time).
    #[arg(long)]
    from: Option<String>,
    /// Last day, YYYY-MM-DD (China Standard Time).
    #[arg(long)]
    to: Option<String>,
    /// allow or deny.
    #[arg(long, value_parser = ["allow", "deny"])]
    decision: Option<String>,
    /// Records after this sequence number.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Most records (query: at most 1000; export: at most 10000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

/// Audit commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Gate decisions matching every filter given, oldest first.
    Query {
        #[command(flatten)]
        filter: AuditFilter,
        /// Print CSV (instead of a table or JSON).
        #[arg(long)]
        csv: bool,
        /// Who asks (the read is signed): an auditor sees every record, a department
        /// only those where it is the requester or the owner.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Write matching records with inclusion proofs and signed headers to a file.
    Export {
        #[command(flatten)]
        filter: AuditFilter,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Who asks (as for `audit query`).
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Check an export against the validators' keys of a genesis file, trusting nothing
    /// else.
    Verify {
        /// The export file.
        file: PathBuf,
        /// Genesis file (default: <home>/genesis.json).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
}

async fn status(endpoint: &str) -> anyhow::Result<GetStatusResponse> {
    Ok(connect(endpoint)
        .await?
        .get_status(GetStatusRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner())
}

/// The network's genesis file, `<home>/genesis.json`.
fn network_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (the network's genesis file; use --home for another network folder)",
            path.display()
        )
    })?;
    Ok(Genesis::from_json(&text)?)
}

/// `SM3(chain salt || national ID)`, computed here: the ID never leaves this machine,
/// and the salt comes from the network's genesis file, never from the node.
fn subject_of(home: &Path, national_id: &str) -> anyhow::Result<Vec<u8>> {
    let salt = network_genesis(&home.join("genesis.json"))?.salt();
    let mut line = String::new();
    let national_id = if national_id == "-" {
        std::io::stdin().read_line(&mut line)?;
        line.trim()
    } else {
        national_id
    };
    let id = certs::subject_id(&salt, national_id)
        .map_err(|e| anyhow::anyhow!("INVALID_SUBJECT (3014): {e}"))?;
    Ok(id.to_vec())
}

fn cert_json(c: &pb::Certificate) -> Value {
    json!({
        "id": c.id, "type": c.cert_type, "number": c.number, "subject_id": hex::encode(&c.subject_id),
        "issuer": c.issuer, "operator": c.operator, "issued_on": c.issued_on, "expires_on": c.expires_on,
        "status": cert_status(c.status),
        "metadata": c.metadata.iter().map(|a| (a.key.clone(), json!(a.value))).collect::<serde_json::Map<_, _>>(),
        "content_hash": hex::encode(&c.content_hash), "ciphertext_bytes": c.ciphertext.len(),
        "height": c.height, "tx_hash": hex::encode(&c.tx_hash),
        "revoked_height": c.revoked_height, "revoke_reason": c.revoke_reason,
    })
}

fn cert_status(s: i32) -> &'static str {
    if s == pb::CertStatus::Revoked as i32 {
        "revoked"
    } else {
        "valid"
    }
}

/// Where the issuer keeps a certificate's data key until threshold custody holds it.
fn data_key_path(home: &Path, cert_id: &str) -> PathBuf {
    home.join("data-keys").join(format!("{cert_id}.key"))
}

/// Writes a new data key file, readable by its owner only; never replaces one.
fn save_data_key(path: &Path, key: &sm4gcm::DataKey) -> anyhow::Result<()> {
    crate::keyfile::write_secret(path, hex::encode(key.as_bytes()).as_bytes()).with_context(|| {
        format!(
            "writing the data key {} (a key for this certificate id exists but the certificate is not on chain: an earlier publish may still be pending; remove the file once it is known to have failed)",
            path.display()
        )
    })
}

/// Reads the document's own metadata when it is a JSON object.
fn document_defaults(doc: &[u8]) -> serde_json::Map<String, Value> {
    match serde_json::from_slice::<Value>(doc) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn str_of(m: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_string)
}

#[allow(clippy::too_many_arguments)]
async fn publish(
    endpoint: &str,
    home: &Path,
    cert_type: String,
    subject: &str,
    file: &Path,
    number: Option<String>,
    issued: Option<String>,
    expires: Option<String>,
    meta: &[String],
    sign: &SignArgs,
    json_out: bool,
) -> anyhow::Result<()> {
    let doc = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let defaults = document_defaults(&doc);
    let number = number.or_else(|| str_of(&defaults, "number")).context(
        "MISSING_FIELD (3011): give --number, or a top-level \"number\" in the document",
    )?;
    let issued_on = issued.or_else(|| str_of(&defaults, "issued_on")).context(
        "MISSING_FIELD (3011): give --issued YYYY-MM-DD, or \"issued_on\" in the document",
    )?;
    let expires_on = expires
        .or_else(|| str_of(&defaults, "expires_on"))
        .unwrap_or_default();
    let mut metadata: Vec<pb::Attribute> = match defaults.get("metadata") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| pb::Attribute {
                key: k.clone(),
                value: v.as_str().map_or_else(|| v.to_string(), str::to_string),
            })
            .collect(),
        _ => vec![],
    };
    for m in meta {
        let (k, v) = m
            .split_once('=')
            .with_context(|| format!("--meta '{m}' is not name=value"))?;
        metadata.retain(|a| a.key != k);
        metadata.push(pb::Attribute {
            key: k.to_string(),
            value: v.to_string(),
        });
    }
    let st = status(endpoint).await?;
    let subject_id = subject_of(home, subject)?;
    let id = certs::cert_id(&cert_type, &number);
    let key = sm4gcm::DataKey::generate();
    // The ciphertext is bound to its certificate id, so it cannot be passed off as
    // another certificate's document.
    let ciphertext = sm4gcm::seal(&key, &doc, id.as_bytes());
    let mut p = pb::PublishCertificate {
        cert_type,
        number,
        subject_id,
        issued_on,
        expires_on,
        metadata,
        content_hash: certs::content_hash(&doc).to_vec(),
        issuer_signature: vec![],
        ciphertext,
        key_envelope: vec![],
    };
    let s = sign.signer(home)?;
    p.issuer_signature = s
        .key
        .sign(&certs::signing_bytes(&st.chain_id, &p))
        .to_bytes()
        .to_vec();
    // The key is on disk before the certificate can be on chain: a lost receipt must
    // never leave a certificate nobody can decrypt.
    let existing = certificates(endpoint)
        .await?
        .get_certificate(GetCertificateRequest { id: id.clone() })
        .await;
    if let Ok(c) = existing {
        let c = c.into_inner();
        bail!(
            "DUPLICATE_CERTIFICATE (3013): certificate '{}' number '{}' already exists (id {id}, published by {} at height {})",
            c.cert_type,
            c.number,
            c.issuer,
            c.height
        );
    }
    let path = data_key_path(home, &id);
    save_data_key(&path, &key)?;
    let receipt = match transact(
        endpoint,
        home,
        sign,
        pb::payload::Kind::Publish(p),
        json_out,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            // Rejected (or failed) for sure: the key protects nothing. Any other error
            // leaves the outcome unknown, so the key stays.
            let m = e.to_string();
            let rejected = (1001..=1013).any(|c| m.contains(&format!("({c})")));
            if rejected || m.contains("transaction failed") {
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
    };
    if !json_out {
        println!("certificate {id} published at height {}", receipt.height);
        println!(
            "its SM4 data key is kept by the issuer at {} (threshold custody by the validators replaces this)",
            path.display()
        );
    }
    Ok(())
}

async fn certificates(endpoint: &str) -> anyhow::Result<CertificatesClient<Channel>> {
    Ok(CertificatesClient::new(channel(endpoint).await?).max_decoding_message_size(64 << 20))
}

fn event_attr<'a>(r: &'a pb::Receipt, kind: &str, key: &str) -> Option<&'a str> {
    r.events
        .iter()
        .find(|e| e.kind == kind)?
        .attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| a.value.as_str())
}

pub(crate) async fn cert(
    endpoint: &str,
    home: &Path,
    cmd: CertCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    match cmd {
        CertCmd::Publish {
            cert_type,
            subject,
            file,
            number,
            issued,
            expires,
            meta,
            sign,
        } => {
            publish(
                endpoint, home, cert_type, &subject, &file, number, issued, expires, &meta, &sign,
                json_out,
            )
            .await
        }
        CertCmd::List {
            subject,
            issuer,
            cert_type,
            limit,
            sign,
        } => {
            let subject_id = match &subject {
                Some(s) => subject_of(home, s)?,
                None => vec![],
            };
            let request = ListCertificatesRequest {
                after: String::new(),
                issuer: issuer.unwrap_or_default(),
                cert_type: cert_type.unwrap_or_default(),
                limit,
                subject_id,
            };
            let request = if request.subject_id.is_empty() {
                tonic::Request::new(request)
            } else {
                let chain_id = network_genesis(&home.join("genesis.json"))?.chain_id;
                signed_request(
                    home,
                    &sign,
                    &chain_id,
                    "/govchain.v1.Certificates/ListCertificates",
                    request,
                )?
            };
            let r = certificates(endpoint)
                .await?
                .list_certificates(request)
                .await
                .map_err(rpc_error)?
                .into_inner();
            let value = json!({"certificates": r.certificates.iter().map(cert_json).collect::<Vec<_>>(), "next": r.next});
            emit(json_out, &value, || {
                let mut t = table(&[
                    "id", "type", "number", "issuer", "issued", "expires", "status",
                ]);
                for c in &r.certificates {
                    t.add_row([
                        c.id.clone(),
                        c.cert_type.clone(),
                        c.number.clone(),
                        c.issuer.clone(),
                        c.issued_on.clone(),
                        if c.expires_on.is_empty() {
                            "long-term".into()
                        } else {
                            c.expires_on.clone()
                        },
                        cert_status(c.status).into(),
                    ]);
                }
                println!("{t}");
            });
            Ok(())
        }
        CertCmd::Show { id } => {
            let c = certificates(endpoint)
                .await?
                .get_certificate(GetCertificateRequest { id })
                .await
                .map_err(rpc_error)?
                .into_inner();
            emit(json_out, &cert_json(&c), || {
                let mut rows = vec![
                    ("id", c.id.clone()),
                    ("type", c.cert_type.clone()),
                    ("number", c.number.clone()),
                    ("subject id", hex::encode(&c.subject_id)),
                    ("issuer", c.issuer.clone()),
                    ("issued", c.issued_on.clone()),
                    ("expires", c.expires_on.clone()),
                    ("status", cert_status(c.status).into()),
                    ("content SM3", hex::encode(&c.content_hash)),
                    ("ciphertext", format!("{} bytes", c.ciphertext.len())),
                    ("published at", c.height.to_string()),
                ];
                for m in &c.metadata {
                    rows.push(("metadata", format!("{} = {}", m.key, m.value)));
                }
                if c.revoked_height > 0 {
                    rows.push((
                        "revoked at",
                        format!("{} {}", c.revoked_height, c.revoke_reason),
                    ));
                }
                println!("{}", kv(&rows));
            });
            Ok(())
        }
        CertCmd::Request { id, purpose, sign } => {
            let payload = pb::payload::Kind::Request(pb::RequestAccess {
                cert_id: id,
                purpose,
            });
            let receipt = submit_quiet(endpoint, home, &sign, payload).await?;
            let get = |k| {
                event_attr(&receipt, "access", k)
                    .unwrap_or_default()
                    .to_string()
            };
            let value = json!({
                "request": get("request").parse::<u64>().unwrap_or(0), "cert": get("cert"),
                "decision": get("decision"), "reason": get("reason"),
                "points": get("points").parse::<u64>().unwrap_or(0), "owner": get("owner"),
                "height": receipt.height, "tx_hash": hex::encode(&receipt.tx_hash),
            });
            emit(json_out, &value, || {
                println!(
                    "{}",
                    kv(&[
                        ("request", get("request")),
                        ("decision", get("decision").to_uppercase()),
                        ("reason", get("reason")),
                        (
                            "points paid",
                            match get("points").as_str() {
                                "0" => "0".to_string(),
                                p => format!("{p} (to {})", get("owner")),
                            }
                        ),
                        ("height", receipt.height.to_string()),
                    ])
                );
            });
            Ok(())
        }
        CertCmd::Grant {
            id,
            to,
            purpose,
            until,
            until_height,
            sign,
        } => {
            if until.is_none() && until_height.is_none() {
                bail!("give --until YYYY-MM-DD or --until-height N: grants do not last forever");
            }
            let payload = pb::payload::Kind::Grant(pb::GrantAccess {
                cert_id: id,
                grantee: to,
                purpose,
                until_height: until_height.unwrap_or(0),
                until_date: until.unwrap_or_default(),
            });
            transact(endpoint, home, &sign, payload, json_out)
                .await
                .map(drop)
        }
        CertCmd::Revoke {
            id,
            grant,
            reason,
            sign,
        } => {
            let payload = pb::payload::Kind::Revoke(pb::Revoke {
                cert_id: id,
                grant_id: grant.unwrap_or(0),
                reason,
            });
            transact(endpoint, home, &sign, payload, json_out)
                .await
                .map(drop)
        }
        CertCmd::Grants { id } => {
            let r = certificates(endpoint)
                .await?
                .list_grants(ListGrantsRequest { cert_id: id })
                .await
                .map_err(rpc_error)?
                .into_inner();
            let value = json!(r.grants.iter().map(|g| json!({
                "id": g.id, "cert": g.cert_id, "grantee": g.grantee, "purpose": g.purpose,
                "until_height": g.until_height, "until_date": g.until_date, "height": g.height,
                "revoked": g.revoked, "revoked_height": g.revoked_height,
            })).collect::<Vec<_>>());
            emit(json_out, &value, || {
                let mut t = table(&[
                    "grant",
                    "grantee",
                    "purpose",
                    "until",
                    "granted at",
                    "state",
                ]);
                for g in &r.grants {
                    let until = match (g.until_date.as_str(), g.until_height) {
                        ("", h) => format!("height {h}"),
                        (d, 0) => d.to_string(),
                        (d, h) => format!("{d} / height {h}"),
                    };
                    let state = if g.revoked {
                        format!("revoked at {}", g.revoked_height)
                    } else {
                        "active".into()
                    };
                    t.add_row([
                        g.id.to_string(),
                        g.grantee.clone(),
                        g.purpose.clone(),
                        until,
                        g.height.to_string(),
                        state,
                    ]);
                }
                println!("{t}");
            });
            Ok(())
        }
        CertCmd::Types => {
            let r = certificates(endpoint)
                .await?
                .list_cert_types(ListCertTypesRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner();
            let value = json!(r.cert_types.iter().map(|t| json!({
                "id": t.id, "name": t.name, "name_zh": t.name_zh, "issuers": t.issuers,
                "fields": t.fields.iter().map(|f| json!({"name": f.name, "description": f.description, "required": f.required})).collect::<Vec<_>>(),
                "price": t.price, "publish_reward": t.publish_reward,
            })).collect::<Vec<_>>());
            emit(json_out, &value, || {
                let mut t = table(&[
                    "type",
                    "name",
                    "issuers",
                    "fields (* required)",
                    "price",
                    "reward",
                ]);
                for ty in &r.cert_types {
                    let fields: Vec<String> = ty
                        .fields
                        .iter()
                        .map(|f| format!("{}{}", f.name, if f.required { "*" } else { "" }))
                        .collect();
                    t.add_row([
                        ty.id.clone(),
                        format!("{} {}", ty.name_zh, ty.name),
                        ty.issuers.join(", "),
                        fields.join(", "),
                        ty.price.to_string(),
                        ty.publish_reward.to_string(),
                    ]);
                }
                println!("{t}");
            });
            Ok(())
        }
        CertCmd::Purposes => {
            let r = certificates(endpoint)
                .await?
                .list_purposes(ListPurposesRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner();
            let value = json!(r.purposes.iter().map(|p| json!({"id": p.id, "description": p.description, "legal_basis": p.legal_basis})).collect::<Vec<_>>());
            emit(json_out, &value, || {
                let mut t = table(&["purpose", "description", "legal basis"]);
                for p in &r.purposes {
                    t.add_row([p.id.clone(), p.description.clone(), p.legal_basis.clone()]);
                }
                println!("{t}");
            });
            Ok(())
        }
        CertCmd::Policy => {
            let r = certificates(endpoint)
                .await?
                .get_policy(GetPolicyRequest {})
                .await
                .map_err(rpc_error)?
                .into_inner();
            let value = json!({"version": r.version, "lines": r.lines, "model": r.model});
            emit(json_out, &value, || {
                println!("policy version {} ({} lines)", r.version, r.lines.len());
                for l in &r.lines {
                    println!("  {l}");
                }
            });
            Ok(())
        }
    }
}

pub(crate) async fn points(endpoint: &str, cmd: PointsCmd, json_out: bool) -> anyhow::Result<()> {
    let mut c = PointsClient::new(channel(endpoint).await?);
    match cmd {
        PointsCmd::Balance { dept } => {
            let r = c
                .get_balances(GetBalancesRequest {
                    department: dept.unwrap_or_default(),
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            let p = r.params.unwrap_or_default();
            let value = json!({
                "height": r.height,
                "balances": r.balances.iter().map(|b| (b.department.clone(), json!(b.balance))).collect::<serde_json::Map<_, _>>(),
                "genesis": r.genesis, "minted": r.minted, "burned": r.burned,
                "free_reads_per_period": p.free_reads_per_period, "period_ms": p.period_ms,
                "reward_cap_per_period": p.reward_cap_per_period,
            });
            emit(json_out, &value, || {
                let mut t = table(&["department", "points"]);
                for b in &r.balances {
                    t.add_row([b.department.clone(), b.balance.to_string()]);
                }
                println!("{t}");
                println!(
                    "supply at height {}: genesis {} + minted {} - burned {} = {}",
                    r.height,
                    r.genesis,
                    r.minted,
                    r.burned,
                    r.genesis + r.minted - r.burned
                );
            });
            Ok(())
        }
        PointsCmd::History { dept, after, limit } => {
            let r = c
                .get_history(GetHistoryRequest {
                    department: dept,
                    after,
                    limit,
                })
                .await
                .map_err(rpc_error)?
                .into_inner();
            let value = json!({"entries": r.entries.iter().map(|e| json!({
                "seq": e.seq, "height": e.height, "time_ms": e.time_ms, "delta": e.delta, "balance": e.balance,
                "kind": e.kind, "counterparty": e.counterparty, "audit_seq": e.audit_seq, "note": e.note,
                "tx_hash": hex::encode(&e.tx_hash),
            })).collect::<Vec<_>>(), "next": r.next});
            emit(json_out, &value, || {
                let mut t = table(&[
                    "seq", "height", "time", "change", "balance", "kind", "with", "note",
                ]);
                for e in &r.entries {
                    t.add_row([
                        e.seq.to_string(),
                        e.height.to_string(),
                        time_ms(e.time_ms),
                        format!("{:+}", e.delta),
                        e.balance.to_string(),
                        e.kind.clone(),
                        e.counterparty.clone(),
                        e.note.clone(),
                    ]);
                }
                println!("{t}");
            });
            Ok(())
        }
    }
}

/// Unix ms at the start (or end) of a China Standard Time day.
fn day_ms(date: &str, end: bool) -> anyhow::Result<u64> {
    let days = certs::parse_date(date).map_err(anyhow::Error::msg)?;
    if days < 1 {
        bail!("{date}: dates start at 1970-01-02");
    }
    let start = (days * 86_400 - 8 * 3600) * 1000;
    Ok((if end { start + 86_400_000 - 1 } else { start }) as u64)
}

fn audit_query(home: &Path, f: &AuditFilter) -> anyhow::Result<AuditQuery> {
    Ok(AuditQuery {
        requester: f.requester.clone().unwrap_or_default(),
        owner: f.owner.clone().unwrap_or_default(),
        subject_id: match &f.subject {
            Some(s) => subject_of(home, s)?,
            None => vec![],
        },
        cert_id: f.cert.clone().unwrap_or_default(),
        decision: match f.decision.as_deref() {
            Some("allow") => pb::Decision::Allow as i32,
            Some("deny") => pb::Decision::Deny as i32,
            _ => 0,
        },
        from_ms: f
            .from
            .as_deref()
            .map(|d| day_ms(d, false))
            .transpose()?
            .unwrap_or(0),
        to_ms: f
            .to
            .as_deref()
            .map(|d| day_ms(d, true))
            .transpose()?
            .unwrap_or(0),
        after: f.after,
        limit: f.limit,
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub(crate) async fn audit(
    endpoint: &str,
    home: &Path,
    cmd: AuditCmd,
    json_out: bool,
) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Query { filter, csv, sign } => {
            let q = audit_query(home, &filter)?;
            let chain_id = network_genesis(&home.join("genesis.json"))?.chain_id;
            let request = signed_request(home, &sign, &chain_id, "/govchain.v1.Audit/Query", q)?;
            let page = AuditClient::new(channel(endpoint).await?)
                .query(request)
                .await
                .map_err(rpc_error)?
                .into_inner();
            let rows: Vec<RecordView> = page.records.iter().map(RecordView::from).collect();
            if csv {
                println!(
                    "seq,height,time_ms,requester,operator,owner,subject_id,cert_id,cert_type,purpose,decision,reason,points,via,grant_id,tx_hash"
                );
                for r in &rows {
                    let fields = [
                        r.seq.to_string(),
                        r.height.to_string(),
                        r.time_ms.to_string(),
                        r.requester.clone(),
                        r.operator.clone(),
                        r.owner.clone(),
                        r.subject_id.clone(),
                        r.cert_id.clone(),
                        r.cert_type.clone(),
                        r.purpose.clone(),
                        r.decision.clone(),
                        r.reason.clone(),
                        r.points.to_string(),
                        r.via.clone(),
                        r.grant_id.to_string(),
                        r.tx_hash.clone(),
                    ];
                    println!(
                        "{}",
                        fields
                            .iter()
                            .map(|f| csv_field(f))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
                return Ok(());
            }
            let value = json!({"records": rows, "next": page.next, "scanned": page.scanned});
            emit(json_out, &value, || {
                let mut t = table(&[
                    "seq",
                    "time",
                    "requester",
                    "owner",
                    "certificate",
                    "purpose",
                    "decision",
                    "points",
                    "reason",
                ]);
                for r in &rows {
                    let via = if r.via.is_empty() {
                        String::new()
                    } else {
                        format!(" via {}", r.via)
                    };
                    t.add_row([
                        r.seq.to_string(),
                        time_ms(r.time_ms),
                        format!("{}{via}", r.requester),
                        r.owner.clone(),
                        format!(
                            "{} {}",
                            r.cert_type,
                            r.cert_id.chars().take(12).collect::<String>()
                        ),
                        r.purpose.clone(),
                        r.decision.to_uppercase(),
                        r.points.to_string(),
                        r.reason.clone(),
                    ]);
                }
                println!("{t}");
                if page.next != 0 {
                    println!("more: --after {}", page.next);
                }
            });
            Ok(())
        }
        AuditCmd::Export { filter, out, sign } => {
            let q = audit_query(home, &filter)?;
            let chain_id = network_genesis(&home.join("genesis.json"))?.chain_id;
            let request = signed_request(
                home,
                &sign,
                &chain_id,
                "/govchain.v1.Audit/Export",
                q.clone(),
            )?;
            let export = AuditClient::new(channel(endpoint).await?)
                .max_decoding_message_size(256 << 20)
                .export(request)
                .await
                .map_err(rpc_error)?
                .into_inner();
            let file = ExportFile::from_export(&export, &q).map_err(anyhow::Error::msg)?;
            std::fs::write(&out, serde_json::to_vec_pretty(&file)?)
                .with_context(|| format!("writing {}", out.display()))?;
            let value = json!({"file": out, "records": file.records.len(), "headers": file.headers.len(), "next": export.next});
            emit(json_out, &value, || {
                println!(
                    "wrote {} records with inclusion proofs and {} signed headers to {}",
                    file.records.len(),
                    file.headers.len(),
                    out.display()
                );
                if export.next != 0 {
                    println!("more: --after {}", export.next);
                }
            });
            Ok(())
        }
        AuditCmd::Verify { file, genesis } => {
            let genesis_path = genesis.unwrap_or_else(|| home.join("genesis.json"));
            let genesis = network_genesis(&genesis_path)?;
            let export: ExportFile = serde_json::from_slice(
                &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("{} is not an audit export", file.display()))?;
            match export.verify(&genesis) {
                Ok(n) => {
                    let value = json!({"verified": true, "records": n, "headers": export.headers.len(), "chain_id": genesis.chain_id});
                    emit(json_out, &value, || {
                        println!(
                            "OK: {n} records verified against {} headers signed by validators of genesis {} (chain {})",
                            export.headers.len(),
                            genesis_path.display(),
                            genesis.chain_id
                        );
                    });
                    Ok(())
                }
                Err(e) => {
                    if json_out {
                        println!("{}", json!({"verified": false, "error": e}));
                    }
                    bail!("verification FAILED: {e}")
                }
            }
        }
    }
}
