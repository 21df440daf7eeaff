//! `cert …`, `points …` and `audit …`: the access gate from the command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_api::rpc::*;
use govchain_api::{AuditClient, CertificatesClient, PointsClient};
use govchain_state::access::audit::{ExportFile, RecordView};
use govchain_state::{Genesis, account_label, certs};
use govchain_types::pb;
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::client::{SignArgs, channel, connect, rpc_error, signed_request};
use crate::cmd::chain::{submit_quiet, transact};
use crate::entropy::Entropy;
use crate::opener::{ShareView, open_document, verify_shares};
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
    /// Decrypt the certificate of an allowed request: collect the validators' key
    /// shares (encrypted to you), verify each, combine enough of them, decrypt, and
    /// check the content hash and the issuer's signature.
    Fetch {
        /// Request id (printed by `cert request`).
        request: u64,
        /// Where to write the document (never overwritten; created readable by you only).
        #[arg(long)]
        out: PathBuf,
        /// Seconds to wait for enough shares (validators release them within blocks).
        #[arg(long, default_value_t = 30)]
        wait: u64,
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
    /// A department as requester or owner (a department asking without --requester or
    /// --owner gets this for itself).
    #[arg(long)]
    party: Option<String>,
    /// Certificate id.
    #[arg(long)]
    cert: Option<String>,
    /// Purpose.
    #[arg(long)]
    purpose: Option<String>,
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
        /// Genesis file (default: `<home>/genesis.json`).
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
pub(crate) fn network_genesis(path: &Path) -> anyhow::Result<Genesis> {
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
    let genesis = network_genesis(&home.join("genesis.json"))?;
    if st.genesis_hash != genesis.hash() {
        bail!(
            "the node at {endpoint} runs another chain than {}/genesis.json: its data key would be encrypted to the wrong validators",
            home.display()
        );
    }
    let subject_id = subject_of(home, subject)?;
    let custody = custody_key_set(home)?;
    let id = certs::cert_id(&cert_type, &number);
    let p = seal_certificate(
        &st.chain_id,
        &custody,
        &sign.signer(home)?.key,
        pb::PublishCertificate {
            cert_type,
            number,
            subject_id,
            issued_on,
            expires_on,
            metadata,
            ..Default::default()
        },
        &doc,
    );
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
    let receipt = transact(
        endpoint,
        home,
        sign,
        pb::payload::Kind::Publish(p),
        json_out,
    )
    .await?;
    if !json_out {
        println!("certificate {id} published at height {}", receipt.height);
        println!(
            "its SM4 data key is encrypted to the validators' custody key set ({} of them needed to open it); read it with `govchain cert request {id} --purpose …` and `govchain cert fetch <request>`",
            custody.threshold()
        );
    }
    Ok(())
}

/// Audit records matching `q` with their inclusion proofs and signed headers, asked for
/// as `sign` (a department sees its own records; the auditor all).
pub(crate) async fn export_audit(
    channel: Channel,
    home: &Path,
    sign: &SignArgs,
    chain_id: &str,
    q: AuditQuery,
) -> anyhow::Result<(AuditExport, ExportFile)> {
    let request = signed_request(home, sign, chain_id, "/govchain.v1.Audit/Export", q.clone())?;
    let export = AuditClient::new(channel)
        .max_decoding_message_size(256 << 20)
        .export(request)
        .await
        .map_err(rpc_error)?
        .into_inner();
    let file = ExportFile::from_export(&export, &q).map_err(anyhow::Error::msg)?;
    Ok((export, file))
}

/// Completes `p` (type, number, subject, dates and metadata set) with `doc` encrypted
/// under a fresh SM4 data key, that key encrypted to the custody key set, the content
/// hash and the issuer's signature.
pub(crate) fn seal_certificate(
    chain_id: &str,
    custody: &govchain_custody::KeySet,
    issuer: &govchain_crypto::PrivateKey,
    p: pb::PublishCertificate,
    doc: &[u8],
) -> pb::PublishCertificate {
    seal_certificate_with(chain_id, custody, issuer, p, doc, &Entropy::Os)
}

/// [`seal_certificate`] with the data key, nonce and envelope drawn from `entropy`
/// (the scenario golden test seeds it; everything else seals through
/// [`seal_certificate`], with the operating system's randomness).
pub(crate) fn seal_certificate_with(
    chain_id: &str,
    custody: &govchain_custody::KeySet,
    issuer: &govchain_crypto::PrivateKey,
    mut p: pb::PublishCertificate,
    doc: &[u8],
    entropy: &Entropy,
) -> pb::PublishCertificate {
    let id = certs::cert_id(&p.cert_type, &p.number);
    let key = entropy.data_key();
    // The ciphertext is bound to its certificate id, so it cannot be passed off as
    // another certificate's document. The data key leaves this process only encrypted
    // to the validators' custody key set.
    p.ciphertext = entropy.seal(&key, doc, id.as_bytes());
    p.key_envelope = entropy.envelope(custody, key.as_bytes());
    drop(key);
    p.content_hash = certs::content_hash(doc).to_vec();
    p.issuer_signature = issuer
        .sign(&certs::signing_bytes(chain_id, &p))
        .to_bytes()
        .to_vec();
    p
}

/// The custody key set from the network's genesis file (the trust anchor: never taken
/// from a node).
pub(crate) fn custody_key_set(home: &Path) -> anyhow::Result<govchain_custody::KeySet> {
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let c = genesis.custody.context(
        "this network's genesis has no custody key set: certificates cannot be published (re-create it with `govchain init`)",
    )?;
    Ok(govchain_custody::KeySet::from_bytes(&hex::decode(
        &c.public_key_set,
    )?)?)
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

#[expect(
    clippy::too_many_lines,
    reason = "one arm per cert subcommand; they become modules of their own"
)]
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
                if get("decision") == "allow" {
                    println!(
                        "decrypt it with: govchain cert fetch {} --out <file> --as {}",
                        get("request"),
                        sign.as_dept.as_deref().unwrap_or("<department>")
                    );
                }
            });
            Ok(())
        }
        CertCmd::Fetch {
            request,
            out,
            wait,
            sign,
        } => fetch(endpoint, home, request, &out, wait, &sign, json_out).await,
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

/// `cert fetch`: shares → data key → document, every step checked.
#[expect(
    clippy::too_many_lines,
    reason = "each step of the fetch checks its input before the next; the steps move to the client crate"
)]
async fn fetch(
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
        party: f.party.clone().unwrap_or_default(),
        subject_id: match &f.subject {
            Some(s) => subject_of(home, s)?,
            None => vec![],
        },
        cert_id: f.cert.clone().unwrap_or_default(),
        purpose: f.purpose.clone().unwrap_or_default(),
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
                println!("{}", govchain_state::access::audit::CSV_HEADER);
                for r in &rows {
                    println!("{}", r.csv_row());
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
                        match r.action.as_str() {
                            "key_release" => "KEY SHARE".into(),
                            "compute_result" => "JOB RESULT".into(),
                            "compute" => format!("COMPUTE {}", r.decision.to_uppercase()),
                            _ => r.decision.to_uppercase(),
                        },
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
            let (export, file) =
                export_audit(channel(endpoint).await?, home, &sign, &chain_id, q).await?;
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
            match export.verify(&genesis.anchor()) {
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
