//! TLS certificates issued by a chain CA that `govchain init` creates: each node's for
//! the validators' mutual TLS, and a node console's for its HTTP port
//! (`govchain console-cert`). Certificates use ECDSA P-256: rustls offers no SM2 cipher
//! suites. Transactions and blocks are SM2-signed regardless; TLS protects the link.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// Years a certificate is valid.
const VALID_YEARS: i32 = 10;

fn this_year() -> i32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + (secs / 31_556_952) as i32
}

/// The CA's parameters: rebuilt identically from the chain id to issue later
/// certificates with the same CA key.
fn ca_params(chain_id: &str) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, format!("{chain_id} node CA"));
    p.distinguished_name
        .push(DnType::OrganizationName, "govchain");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let y = this_year();
    p.not_before = date_time_ymd(y - 1, 1, 1);
    p.not_after = date_time_ymd(y + VALID_YEARS, 1, 1);
    Ok(p)
}

/// A new CA: (certificate PEM, key PEM).
pub fn new_ca(chain_id: &str) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let cert = ca_params(chain_id)?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Issues a certificate for `node_id` (its DNS subject name, for both server and
/// client use): (certificate PEM, key PEM).
pub fn issue(ca_key_pem: &str, chain_id: &str, node_id: &str) -> anyhow::Result<(String, String)> {
    issue_for(
        ca_key_pem,
        chain_id,
        node_id,
        &[node_id.to_string()],
        &[
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    )
}

/// Issues the certificate of `node_id`'s console (its HTTP port) for the host names and
/// IP addresses `names`, for server use only: (certificate PEM, key PEM).
pub fn issue_console(
    ca_key_pem: &str,
    chain_id: &str,
    node_id: &str,
    names: &[String],
) -> anyhow::Result<(String, String)> {
    issue_for(
        ca_key_pem,
        chain_id,
        &format!("{node_id} console"),
        names,
        &[ExtendedKeyUsagePurpose::ServerAuth],
    )
}

fn issue_for(
    ca_key_pem: &str,
    chain_id: &str,
    common_name: &str,
    names: &[String],
    usages: &[ExtendedKeyUsagePurpose],
) -> anyhow::Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("reading the CA key")?;
    let issuer = Issuer::new(ca_params(chain_id)?, ca_key);
    let key = KeyPair::generate()?;
    // An IP address becomes an IP address name, anything else a DNS name.
    let mut p = CertificateParams::new(names.to_vec())?;
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.extended_key_usages = usages.to_vec();
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let y = this_year();
    p.not_before = date_time_ymd(y - 1, 1, 1);
    p.not_after = date_time_ymd(y + VALID_YEARS, 1, 1);
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}
