//! Liveness of what a read rests on: whether a certificate and a grant still hold at a
//! block. One rule, which the gate (`gate.rs`) and the key-share release
//! (`access::release::check_release`) both apply; each words its own message.

use govchain_types::{ExecError, pb};

use crate::certs::{block_date, parse_date};
use crate::{BlockContext, internal};

/// Why a certificate can no longer be read or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertLapse {
    /// Revoked by its issuer.
    Revoked,
    /// Past its expiry date (China Standard Time).
    Expired,
}

/// Whether `cert` has lapsed at the block `ctx`.
pub fn cert_lapse(
    cert: &pb::Certificate,
    ctx: &BlockContext,
) -> Result<Option<CertLapse>, ExecError> {
    if cert.status == pb::CertStatus::Revoked as i32 {
        return Ok(Some(CertLapse::Revoked));
    }
    if !cert.expires_on.is_empty()
        && parse_date(&cert.expires_on).map_err(internal)? < block_date(ctx.time_ms)
    {
        return Ok(Some(CertLapse::Expired));
    }
    Ok(None)
}

/// Why grant `g` no longer lets its grantee read at the block `ctx` (revoked, past its
/// last height or its last date), if so.
pub fn grant_lapse(g: &pb::Grant, ctx: &BlockContext) -> Result<Option<String>, ExecError> {
    Ok(if g.revoked {
        Some(format!(
            "grant {} was revoked at height {}",
            g.id, g.revoked_height
        ))
    } else if g.until_height != 0 && ctx.height > g.until_height {
        Some(format!(
            "grant {} expired at height {}",
            g.id, g.until_height
        ))
    } else if !g.until_date.is_empty()
        && parse_date(&g.until_date).map_err(internal)? < block_date(ctx.time_ms)
    {
        Some(format!("grant {} expired on {}", g.id, g.until_date))
    } else {
        None
    })
}
