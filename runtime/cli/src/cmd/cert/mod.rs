//! `cert …`: publishing, listing, requesting, fetching, granting and revoking
//! certificates through the access gate.

mod fetch;
mod publish;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use govchain_client::event::Access;
use govchain_client::rpc::*;
use govchain_client::{Client, ClientError};
use govchain_node::network::{connect_checked, subject_of};
use govchain_node::output::{emit, kv, table};
use govchain_types::pb;
use serde_json::{Value, json};

use crate::client::SignArgs;
use crate::cmd::chain::{submit_quiet, transact};

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
        /// Who asks: any department lists by subject, an issuer its own; listings across
        /// issuers are for the nodes' departments and the auditor.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// One certificate (to its issuer, its grantees, the nodes' departments and the
    /// auditor).
    Show {
        /// Certificate id.
        id: String,
        #[command(flatten)]
        sign: SignArgs,
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
    /// Grants of a certificate: all of them to its owner and the auditor, a grantee's
    /// own to a grantee (a signed read).
    Grants {
        /// Certificate id.
        id: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Registered certificate types: fields, issuers, price, publish reward.
    Types {
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Registered purposes of use.
    Purposes {
        #[command(flatten)]
        sign: SignArgs,
    },
    /// The casbin policy lines in force.
    Policy {
        #[command(flatten)]
        sign: SignArgs,
    },
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
pub(super) fn document_defaults(doc: &[u8]) -> serde_json::Map<String, Value> {
    match serde_json::from_slice::<Value>(doc) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

pub(super) fn str_of(m: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_string)
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
            publish::publish(
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
            let (client, _) = connect_checked(endpoint, home).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Certificates/ListCertificates",
                request,
            )?;
            let r = client
                .certificates()
                .list_certificates(request)
                .await
                .map_err(ClientError::from)?
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
        CertCmd::Show { id, sign } => {
            let client = Client::connect(endpoint).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Certificates/GetCertificate",
                GetCertificateRequest { id },
            )?;
            let c = client
                .certificates()
                .get_certificate(request)
                .await
                .map_err(ClientError::from)?
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
                    ("content hash", hex::encode(&c.content_hash)),
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
            let r = submit_quiet(endpoint, home, &sign, payload).await?;
            let a = r
                .event::<Access>()
                .context("the receipt holds no gate decision")?;
            let value = json!({
                "request": a.request, "cert": a.cert, "decision": a.decision, "reason": a.reason,
                "points": a.points, "owner": a.owner,
                "height": r.receipt.height, "tx_hash": hex::encode(&r.tx_hash),
            });
            emit(json_out, &value, || {
                println!(
                    "{}",
                    kv(&[
                        ("request", a.request.to_string()),
                        ("decision", a.decision.to_uppercase()),
                        ("reason", a.reason.clone()),
                        (
                            "points paid",
                            match a.points {
                                0 => "0".to_string(),
                                p => format!("{p} (to {})", a.owner),
                            }
                        ),
                        ("height", r.receipt.height.to_string()),
                    ])
                );
                if a.allowed() {
                    println!(
                        "decrypt it with: govchain cert fetch {} --out <file> --as {}",
                        a.request,
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
        } => fetch::fetch(endpoint, home, request, &out, wait, &sign, json_out).await,
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
        CertCmd::Grants { id, sign } => {
            let client = Client::connect(endpoint).await?;
            let req = client.signed(
                &sign.signer(home)?,
                "/govchain.v1.Certificates/ListGrants",
                ListGrantsRequest { cert_id: id },
            )?;
            let r = client
                .certificates()
                .list_grants(req)
                .await
                .map_err(ClientError::from)?
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
        CertCmd::Types { sign } => {
            let client = Client::connect(endpoint).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Certificates/ListCertTypes",
                ListCertTypesRequest {},
            )?;
            let r = client
                .certificates()
                .list_cert_types(request)
                .await
                .map_err(ClientError::from)?
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
        CertCmd::Purposes { sign } => {
            let client = Client::connect(endpoint).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Certificates/ListPurposes",
                ListPurposesRequest {},
            )?;
            let r = client
                .certificates()
                .list_purposes(request)
                .await
                .map_err(ClientError::from)?
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
        CertCmd::Policy { sign } => {
            let client = Client::connect(endpoint).await?;
            let request = sign.read(
                home,
                &client,
                "/govchain.v1.Certificates/GetPolicy",
                GetPolicyRequest {},
            )?;
            let r = client
                .certificates()
                .get_policy(request)
                .await
                .map_err(ClientError::from)?
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
