//! E-certificates (电子证照): publishing, grants and revocation, and the identifiers and
//! dates they use.
//!
//! A certificate's id is derived from its type and number, so a number is unique within
//! its type by construction. Subjects appear only as `SM3(chain salt || national ID)`.
//! Dates are calendar dates in China Standard Time (UTC+8) of the block time.

pub use govchain_proof::certificate::{cert_id, content_hash, signing_bytes};
use govchain_store::Records;
use govchain_types::event::{
    CertificatePublished, CertificateRevoked, Event, GrantCreated, GrantRevoked,
};
use govchain_types::{ExecError, TxError, pb, validate_name};

use crate::access::points;
use crate::internal;
use crate::{BlockContext, Overlay, VerifiedTx, tables};

/// Longest certificate number.
pub const MAX_NUMBER: usize = 64;
/// Longest metadata value.
pub const MAX_METADATA_VALUE: usize = 256;
/// Smallest SM4-GCM envelope: 12-byte nonce and 16-byte tag.
pub const MIN_ENVELOPE: usize = 28;

pub use govchain_proof::{parse_date, subject_id, validate_national_id};

/// `YYYY-MM-DD` of a day number.
pub fn format_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The China Standard Time date of a block time, as a day number.
pub fn block_date(time_ms: u64) -> i64 {
    ((time_ms / 1000 + 8 * 3600) / 86_400) as i64
}

fn date_field(field: &'static str, s: &str) -> Result<i64, TxError> {
    parse_date(s).map_err(|reason| TxError::InvalidArgument { field, reason })
}

/// A certificate type.
pub fn cert_type(o: &Overlay, id: &str) -> Result<pb::CertType, ExecError> {
    o.read(&tables::CERT_TYPE, id)
        .map_err(internal)?
        .ok_or_else(|| TxError::UnknownCertType {
            cert_type: id.to_string(),
        })
        .map_err(Into::into)
}

/// A registered purpose.
pub fn purpose(o: &Overlay, id: &str) -> Result<pb::Purpose, ExecError> {
    o.read(&tables::PURPOSE, id)
        .map_err(internal)?
        .ok_or_else(|| TxError::UnknownPurpose {
            purpose: id.to_string(),
        })
        .map_err(Into::into)
}

/// A certificate.
pub fn get(o: &Overlay, id: &str) -> Result<pb::Certificate, ExecError> {
    o.read(&tables::CERTIFICATE, id)
        .map_err(internal)?
        .ok_or_else(|| TxError::NotFound {
            what: format!("certificate '{id}'"),
        })
        .map_err(Into::into)
}

/// The grants of a certificate, in id order.
pub fn grants(o: &Overlay, cert_id: &str) -> Result<Vec<pb::Grant>, ExecError> {
    crate::values(o, &tables::GRANT, tables::GRANT.within(cert_id))
}

/// Checks a certificate type proposed to governance.
pub fn validate_cert_type(o: &Overlay, t: &pb::CertType) -> Result<(), ExecError> {
    let invalid = |field, reason: String| TxError::InvalidArgument { field, reason };
    validate_name(&t.id).map_err(|e| invalid("cert_type.id", e.into()))?;
    if t.name.is_empty() || t.name.len() > 128 || t.name_zh.len() > 128 {
        return Err(invalid("cert_type.name", "1 to 128 bytes".into()).into());
    }
    if t.issuers.is_empty() {
        return Err(TxError::MissingField {
            field: "cert_type.issuers".into(),
        }
        .into());
    }
    for d in &t.issuers {
        if !o.contains(&tables::DEPARTMENT, d).map_err(internal)? {
            return Err(TxError::UnknownDepartment {
                department: d.clone(),
            }
            .into());
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for f in &t.fields {
        validate_name(&f.name)
            .map_err(|e| invalid("cert_type.fields", format!("'{}' {e}", f.name)))?;
        if !names.insert(&f.name) {
            return Err(invalid("cert_type.fields", format!("'{}' twice", f.name)).into());
        }
    }
    if t.fields.len() > 32 {
        return Err(invalid("cert_type.fields", "at most 32".into()).into());
    }
    Ok(())
}

/// Checks a purpose proposed to governance.
pub fn validate_purpose(p: &pb::Purpose) -> Result<(), ExecError> {
    validate_name(&p.id).map_err(|e| TxError::InvalidArgument {
        field: "purpose.id",
        reason: e.into(),
    })?;
    if p.description.is_empty() || p.description.len() > 512 || p.legal_basis.len() > 512 {
        return Err(TxError::InvalidArgument {
            field: "purpose.description",
            reason: "1 to 512 bytes (legal basis at most 512)".into(),
        }
        .into());
    }
    Ok(())
}

/// Publishes a certificate.
#[expect(
    clippy::too_many_lines,
    reason = "the publish checks in their documented order; they move to the publish handler module"
)]
pub(crate) fn publish(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    p: &pb::PublishCertificate,
    max_document: usize,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let issuer = tx.body.sender.as_str();
    if p.cert_type.is_empty() {
        return Err(TxError::MissingField {
            field: "cert_type".into(),
        }
        .into());
    }
    let ty = cert_type(o, &p.cert_type)?;
    if !ty.issuers.iter().any(|d| d == issuer) {
        return Err(TxError::Unauthorized {
            who: issuer.to_string(),
            action: "issue certificates of this type",
        }
        .into());
    }
    if p.number.is_empty() {
        return Err(TxError::MissingField {
            field: "number".into(),
        }
        .into());
    }
    if p.number.len() > MAX_NUMBER || p.number.chars().any(|c| c.is_control() || c == '/') {
        return Err(TxError::InvalidArgument {
            field: "number",
            reason: format!("at most {MAX_NUMBER} bytes, no control characters or '/'"),
        }
        .into());
    }
    if p.subject_id.len() != 32 {
        return Err(TxError::InvalidSubject {
            reason: format!(
                "subject_id must be the 32-byte SM3(chain salt || national ID), got {} bytes",
                p.subject_id.len()
            ),
        }
        .into());
    }
    if p.issued_on.is_empty() {
        return Err(TxError::MissingField {
            field: "issued_on".into(),
        }
        .into());
    }
    let issued = date_field("issued_on", &p.issued_on)?;
    if !p.expires_on.is_empty() && date_field("expires_on", &p.expires_on)? < issued {
        return Err(TxError::InvalidArgument {
            field: "expires_on",
            reason: format!("{} is before the issue date {}", p.expires_on, p.issued_on),
        }
        .into());
    }
    let mut metadata = p.metadata.clone();
    metadata.sort_by(|a, b| a.key.cmp(&b.key));
    for w in metadata.windows(2) {
        if w[0].key == w[1].key {
            return Err(TxError::InvalidArgument {
                field: "metadata",
                reason: format!("'{}' given twice", w[0].key),
            }
            .into());
        }
    }
    for m in &metadata {
        if !ty.fields.iter().any(|f| f.name == m.key) {
            return Err(TxError::InvalidArgument {
                field: "metadata",
                reason: format!(
                    "'{}' is not a field of '{}' (fields: {})",
                    m.key,
                    ty.id,
                    ty.fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
            .into());
        }
        if m.value.len() > MAX_METADATA_VALUE {
            return Err(TxError::InvalidArgument {
                field: "metadata",
                reason: format!("'{}' is over {MAX_METADATA_VALUE} bytes", m.key),
            }
            .into());
        }
    }
    for f in ty.fields.iter().filter(|f| f.required) {
        if !metadata
            .iter()
            .any(|m| m.key == f.name && !m.value.is_empty())
        {
            return Err(TxError::MissingField {
                field: format!("metadata.{}", f.name),
            }
            .into());
        }
    }
    if p.content_hash.len() != 32 {
        return Err(TxError::InvalidArgument {
            field: "content_hash",
            reason: format!(
                "must be a 32-byte SM3 digest, got {} bytes",
                p.content_hash.len()
            ),
        }
        .into());
    }
    if p.ciphertext.is_empty() {
        return Err(TxError::MissingField {
            field: "ciphertext".into(),
        }
        .into());
    }
    if p.ciphertext.len() < MIN_ENVELOPE {
        return Err(TxError::InvalidArgument {
            field: "ciphertext",
            reason: format!("an SM4-GCM envelope has at least {MIN_ENVELOPE} bytes"),
        }
        .into());
    }
    if p.ciphertext.len() > max_document {
        return Err(TxError::DocumentTooLarge {
            size: p.ciphertext.len(),
            max: max_document,
        }
        .into());
    }
    if crate::custody::key_set(o)?.is_none() {
        return Err(TxError::InvalidArgument {
            field: "key_envelope",
            reason: crate::custody::no_key_set(o)?,
        }
        .into());
    }
    // Admission checked the envelope and its proof; decoding it again costs microseconds.
    let envelope = govchain_custody::Envelope::parse(&p.key_envelope)
        .map_err(|e| TxError::InvalidArgument {
            field: "key_envelope",
            reason: e.to_string(),
        })?
        .tag();
    // An envelope opens to one data key: reused on a second certificate, it would let
    // that certificate's issuer obtain shares of another issuer's key.
    let id = cert_id(&p.cert_type, &p.number);
    if let Some(other) = o.read(&tables::ENVELOPE, &envelope[..]).map_err(internal)? {
        return Err(TxError::InvalidArgument {
            field: "key_envelope",
            reason: format!(
                "already backs certificate {other}: encrypt every document's key afresh"
            ),
        }
        .into());
    }
    if o.contains(&tables::CERTIFICATE, &id).map_err(internal)? {
        return Err(TxError::DuplicateCertificate {
            cert_type: p.cert_type.clone(),
            number: p.number.clone(),
            id,
        }
        .into());
    }
    let rec = pb::Certificate {
        id: id.clone(),
        cert_type: p.cert_type.clone(),
        number: p.number.clone(),
        subject_id: p.subject_id.clone(),
        issuer: issuer.to_string(),
        operator: tx.body.operator.clone(),
        issued_on: p.issued_on.clone(),
        expires_on: p.expires_on.clone(),
        status: pb::CertStatus::Valid as i32,
        metadata,
        content_hash: p.content_hash.clone(),
        issuer_signature: p.issuer_signature.clone(),
        signer_pubkey: tx.tx.signer_pubkey.clone(),
        ciphertext: p.ciphertext.clone(),
        key_envelope: p.key_envelope.clone(),
        height: ctx.height,
        tx_hash: tx.hash.to_vec(),
        revoked_height: 0,
        revoke_reason: String::new(),
    };
    o.write(&tables::CERTIFICATE, &id, &rec);
    o.write(&tables::ENVELOPE, &envelope[..], &id);
    o.write(&tables::CERT_BY_SUBJECT, (&p.subject_id, &id), &());
    o.write(&tables::CERT_BY_ISSUER, (issuer, &id), &());
    let reward = points::reward(
        o,
        &points::Cause {
            ctx,
            tx_hash: &tx.hash,
            kind: points::LedgerKind::Reward,
            counterparty: "",
            audit_seq: 0,
            note: &format!("published {id}"),
        },
        issuer,
        ty.publish_reward,
    )?;
    events.push(
        Event::from(CertificatePublished {
            id,
            cert_type: p.cert_type.clone(),
            number: p.number.clone(),
            issuer: issuer.to_string(),
            reward,
        })
        .to_pb(),
    );
    Ok(())
}

fn owned(
    o: &Overlay,
    sender: &str,
    cert_id: &str,
    action: &'static str,
) -> Result<pb::Certificate, ExecError> {
    let cert = get(o, cert_id)?;
    if cert.issuer != sender {
        return Err(TxError::Unauthorized {
            who: sender.to_string(),
            action,
        }
        .into());
    }
    Ok(cert)
}

/// Grants one department access to one certificate for one purpose.
pub(crate) fn grant(
    o: &mut Overlay,
    ctx: &BlockContext,
    sender: &str,
    g: &pb::GrantAccess,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    let cert = owned(
        o,
        sender,
        &g.cert_id,
        "grant access to another issuer's certificate",
    )?;
    if cert.status == pb::CertStatus::Revoked as i32 {
        return Err(TxError::InvalidArgument {
            field: "cert_id",
            reason: format!("certificate {} is revoked", cert.id),
        }
        .into());
    }
    if !o
        .contains(&tables::DEPARTMENT, &g.grantee)
        .map_err(internal)?
    {
        return Err(TxError::UnknownDepartment {
            department: g.grantee.clone(),
        }
        .into());
    }
    if g.grantee == sender {
        return Err(TxError::InvalidArgument {
            field: "grantee",
            reason: "an issuer always reads its own certificates".into(),
        }
        .into());
    }
    purpose(o, &g.purpose)?;
    if !g.until_date.is_empty()
        && date_field("until_date", &g.until_date)? < block_date(ctx.time_ms)
    {
        return Err(TxError::InvalidArgument {
            field: "until_date",
            reason: format!("{} is in the past", g.until_date),
        }
        .into());
    }
    if g.until_height != 0 && g.until_height < ctx.height {
        return Err(TxError::InvalidArgument {
            field: "until_height",
            reason: format!(
                "{} is below the current height {}",
                g.until_height, ctx.height
            ),
        }
        .into());
    }
    let id = o
        .read_or_default(&tables::NEXT_GRANT, ())
        .map_err(internal)?
        .max(1);
    o.write(&tables::NEXT_GRANT, (), &(id + 1));
    let rec = pb::Grant {
        id,
        cert_id: cert.id.clone(),
        grantor: sender.to_string(),
        grantee: g.grantee.clone(),
        purpose: g.purpose.clone(),
        until_height: g.until_height,
        until_date: g.until_date.clone(),
        height: ctx.height,
        revoked: false,
        revoked_height: 0,
    };
    o.write(&tables::GRANT, (&cert.id, id), &rec);
    events.push(
        Event::from(GrantCreated {
            grant: id,
            cert: cert.id,
            grantee: g.grantee.clone(),
            purpose: g.purpose.clone(),
        })
        .to_pb(),
    );
    Ok(())
}

/// Revokes a certificate or one of its grants.
pub(crate) fn revoke(
    o: &mut Overlay,
    ctx: &BlockContext,
    sender: &str,
    r: &pb::Revoke,
    events: &mut Vec<pb::Event>,
) -> Result<(), ExecError> {
    if r.reason.len() > 256 {
        return Err(TxError::InvalidArgument {
            field: "reason",
            reason: "at most 256 bytes".into(),
        }
        .into());
    }
    let mut cert = owned(o, sender, &r.cert_id, "revoke another issuer's certificate")?;
    if r.grant_id == 0 {
        if cert.status == pb::CertStatus::Revoked as i32 {
            return Err(TxError::InvalidArgument {
                field: "cert_id",
                reason: format!("certificate {} is already revoked", cert.id),
            }
            .into());
        }
        cert.status = pb::CertStatus::Revoked as i32;
        cert.revoked_height = ctx.height;
        cert.revoke_reason = r.reason.clone();
        o.write(&tables::CERTIFICATE, &cert.id, &cert);
        events.push(Event::from(CertificateRevoked { cert: cert.id }).to_pb());
        return Ok(());
    }
    let key = (cert.id.as_str(), r.grant_id);
    let mut g = o
        .read(&tables::GRANT, key)
        .map_err(internal)?
        .ok_or_else(|| TxError::NotFound {
            what: format!("grant {} of certificate {}", r.grant_id, cert.id),
        })?;
    if g.revoked {
        return Err(TxError::InvalidArgument {
            field: "grant_id",
            reason: format!("grant {} is already revoked", g.id),
        }
        .into());
    }
    g.revoked = true;
    g.revoked_height = ctx.height;
    o.write(&tables::GRANT, key, &g);
    o.write(
        &tables::GRANT_REVOKED,
        (&g.grantee, (ctx.height, (&cert.id, g.id))),
        &(),
    );
    events.push(
        Event::from(GrantRevoked {
            cert: cert.id,
            grant: g.id,
        })
        .to_pb(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_ids() {
        assert_eq!(
            validate_national_id("320102199001011232").unwrap(),
            "320102199001011232"
        );
        assert_eq!(
            validate_national_id("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        for bad in [
            "320102199001011234",
            "32010219900101123",
            "3201021990010112A2",
            "320102199013011232",
        ] {
            let e = validate_national_id(bad).unwrap_err();
            assert_eq!(
                govchain_types::Coded::code(&e),
                govchain_types::ErrorCode::InvalidSubject,
                "{bad}"
            );
        }
        let salt = [1u8; 32];
        assert_eq!(
            subject_id(&salt, "320102199001011232").unwrap(),
            subject_id(&salt, " 320102199001011232").unwrap()
        );
        assert_ne!(
            subject_id(&salt, "320102199001011232").unwrap(),
            subject_id(&[2u8; 32], "320102199001011232").unwrap()
        );
    }

    #[test]
    fn dates_roundtrip() {
        for d in [
            "1970-01-01",
            "2000-02-29",
            "2026-11-23",
            "2099-12-31",
            "1949-10-01",
        ] {
            assert_eq!(format_date(parse_date(d).unwrap()), d);
        }
        assert_eq!(parse_date("1970-01-02").unwrap(), 1);
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "20261101",
            "2026-11-31",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
        // 2026-11-23 16:00 UTC is 2026-11-24 00:00 in China Standard Time.
        let ms = (parse_date("2026-11-23").unwrap() as u64 * 86_400 + 16 * 3600) * 1000;
        assert_eq!(format_date(block_date(ms)), "2026-11-24");
        assert_eq!(format_date(block_date(ms - 1)), "2026-11-23");
    }

    #[test]
    fn ids_are_stable() {
        assert_eq!(cert_id("property", "A1").len(), 32);
        assert_ne!(cert_id("property", "A1"), cert_id("propert", "yA1"));
    }
}
