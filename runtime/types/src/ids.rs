//! Identifiers and hash helpers.

use std::fmt;

/// A 32-byte SM3 digest.
pub type Hash = [u8; 32];

/// Displays a hash (or any bytes) as lowercase hex.
#[derive(Clone, Copy)]
pub struct HashHex<'a>(pub &'a [u8]);

impl fmt::Display for HashHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for HashHex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Checks a department, operator or validator id: 1..=64 characters of `a-z`, `0-9`
/// and `-`, starting with a letter. Returns the reason it is invalid.
pub fn validate_dept_id(id: &str) -> Result<(), &'static str> {
    check_id(id, false, "may contain only a-z, 0-9 and '-'")
}

/// Checks a certificate type, purpose or policy name: 1..=64 characters of `a-z`,
/// `0-9`, `-` and `_`, starting with a letter. Returns the reason it is invalid.
pub fn validate_name(id: &str) -> Result<(), &'static str> {
    check_id(id, true, "may contain only a-z, 0-9, '-' and '_'")
}

fn check_id(id: &str, underscore: bool, charset: &'static str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("must start with a lowercase letter");
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (underscore && c == '_')
    };
    if id.chars().all(allowed) {
        Ok(())
    } else {
        Err(charset)
    }
}

/// The account of a department's key or one of its operators': `department` or
/// `department/operator` (nonces, audit records and releases name accounts so).
pub fn account_label(dept: &str, operator: &str) -> String {
    if operator.is_empty() {
        dept.to_string()
    } else {
        format!("{dept}/{operator}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_dept_id("real-estate").is_ok());
        assert!(validate_dept_id("tax2").is_ok());
        assert!(validate_dept_id("").is_err());
        assert!(validate_dept_id("Tax").is_err());
        assert!(validate_dept_id("2tax").is_err());
        assert!(validate_dept_id("tax bureau").is_err());
        assert!(validate_dept_id(&"a".repeat(65)).is_err());
        assert!(validate_name("tax_assessment").is_ok());
        assert!(validate_name("_x").is_err());
    }

    #[test]
    fn hex() {
        assert_eq!(HashHex(&[0, 0xab, 0x10]).to_string(), "00ab10");
    }
}
