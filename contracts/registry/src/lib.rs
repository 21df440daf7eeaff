//! A registry of entries backed by certificates. Anyone may list entry summaries; the
//! document behind an entry is read only through the node's access gate, so a
//! department sees it exactly when the on-chain policy lets it read that certificate
//! for the stated purpose (and the read is paid and audited like any other). The gate
//! returns the certificate's public record; its document stays encrypted.

use govchain_sdk::{call, query, CertificateView, Context, Map};
use serde::{Deserialize, Serialize};

const ENTRIES: Map<String, Entry> = Map::new("entries");

/// A registry entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Entry id.
    pub id: String,
    /// Department that registered it.
    pub owner: String,
    /// Certificate holding the document.
    pub cert_id: String,
    /// Public summary.
    pub summary: String,
}

/// Arguments of `register`.
#[derive(Debug, Deserialize)]
pub struct Register {
    /// Entry id (1-64 characters).
    pub id: String,
    /// Certificate holding the document.
    pub cert_id: String,
    /// Public summary (at most 200 characters).
    pub summary: String,
}

/// Arguments of `read`.
#[derive(Debug, Deserialize)]
pub struct Read {
    /// Entry id.
    pub id: String,
    /// Purpose of the read, as registered in the policy.
    pub purpose: String,
}

/// Registers an entry owned by the calling department.
#[call]
pub fn register(ctx: &mut Context, args: Register) -> Result<Entry, String> {
    if args.id.is_empty() || args.id.len() > 64 {
        return Err("id must be 1 to 64 characters".into());
    }
    if args.summary.chars().count() > 200 {
        return Err("summary must be at most 200 characters".into());
    }
    if ENTRIES.has(&args.id)? {
        return Err(format!("entry '{}' exists", args.id));
    }
    let e = Entry { id: args.id, owner: ctx.caller_department().to_string(), cert_id: args.cert_id, summary: args.summary };
    ENTRIES.set(&e.id, &e)?;
    ctx.emit("registered", &[("id", &e.id), ("owner", &e.owner)]);
    Ok(e)
}

/// Arguments of `verify`.
#[derive(Debug, Deserialize)]
pub struct Verify {
    /// Entry id.
    pub id: String,
    /// Purpose of the read.
    pub purpose: String,
    /// Certificate type the entry must be backed by.
    pub expect_type: String,
}

/// Reads the certificate behind an entry through the access gate.
#[call]
pub fn read(ctx: &mut Context, args: Read) -> Result<CertificateView, String> {
    let e = ENTRIES.get(&args.id)?.ok_or_else(|| format!("no entry '{}'", args.id))?;
    ctx.certificate(&e.cert_id, &args.purpose)
}

/// Checks that an entry is backed by a valid certificate of the expected type; fails
/// otherwise. The read is paid and audited either way.
#[call]
pub fn verify(ctx: &mut Context, args: Verify) -> Result<String, String> {
    let e = ENTRIES.get(&args.id)?.ok_or_else(|| format!("no entry '{}'", args.id))?;
    let c = ctx.certificate(&e.cert_id, &args.purpose)?;
    if c.cert_type != args.expect_type {
        return Err(format!("entry '{}' is backed by a '{}' certificate, not '{}'", e.id, c.cert_type, args.expect_type));
    }
    Ok(c.number)
}

/// Entry summaries in id order.
#[query]
pub fn list(_ctx: &Context, _args: ()) -> Result<Vec<Entry>, String> {
    Ok(ENTRIES.range(None, 100)?.into_iter().map(|(_, e)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_sdk::testing::{self, TestHost};

    fn reg(id: &str) -> Register {
        Register { id: id.into(), cert_id: format!("cert-{id}"), summary: "business licence".into() }
    }

    #[test]
    fn reads_only_what_the_gate_allows() {
        testing::reset();
        let mut ctx = TestHost::new().caller("real-estate").install();
        register(&mut ctx, reg("a")).unwrap();
        assert!(register(&mut ctx, reg("a")).unwrap_err().contains("exists"));
        let view = r#"{"id":"cert-a","type":"property","number":"A-1","subject_id":"00","issuer":"real-estate",
            "issued_on":"2024-05-01","expires_on":"","status":"valid","metadata":{"district":"鼓楼区"},"content_hash":"00","audit_seq":7}"#;
        let mut ctx = TestHost::new().caller("tax").certificate("cert-a", "tax_assessment", view.as_bytes()).install();
        let got = read(&mut ctx, Read { id: "a".into(), purpose: "tax_assessment".into() }).unwrap();
        assert_eq!((got.number.as_str(), got.metadata["district"].as_str()), ("A-1", "鼓楼区"));
        let v = |t: &str| Verify { id: "a".into(), purpose: "tax_assessment".into(), expect_type: t.into() };
        assert_eq!(verify(&mut ctx, v("property")), Ok("A-1".into()));
        assert!(verify(&mut ctx, v("household")).unwrap_err().contains("not 'household'"));
        let err = read(&mut ctx, Read { id: "a".into(), purpose: "marketing".into() }).unwrap_err();
        assert!(err.contains("denied"), "{err}");
        assert_eq!(list(&ctx, ()).unwrap()[0].owner, "real-estate");
    }
}
