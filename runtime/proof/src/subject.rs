//! Subjects: a citizen appears on chain only as `SM3(chain salt || national ID)`, and
//! the national ID is checked (GB 11643) before it is hashed, by the CLI and in the
//! browser alike.

use govchain_crypto::Sm3Hasher;
use govchain_types::TxError;

/// Checks a Chinese resident identity number (GB 11643-1999): 18 characters, 17 digits
/// and a check character (digit or `X`) by ISO 7064 MOD 11-2, with a valid birth date.
/// Returns the normalised form (upper-case `X`).
pub fn validate_national_id(id: &str) -> Result<String, TxError> {
    let bad = |reason: String| TxError::InvalidSubject { reason };
    let id = id.trim().to_ascii_uppercase();
    let b = id.as_bytes();
    if b.len() != 18 {
        return Err(bad(format!(
            "a national ID has 18 characters, got {}",
            id.chars().count()
        )));
    }
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(bad(
            "a national ID is 17 digits followed by a digit or X".into()
        ));
    }
    let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
    match parse_date(&birth) {
        Ok(_) if (1900..=2100).contains(&id[6..10].parse::<u32>().unwrap_or(0)) => {}
        _ => {
            return Err(bad(format!(
                "birth date {birth} in the national ID is not a date"
            )));
        }
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(W)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    if b[17] != check {
        return Err(bad(format!(
            "check character is {}, expected {} (mistyped digit?)",
            b[17] as char, check as char
        )));
    }
    Ok(id)
}

/// Bytes in a chain salt.
pub const SALT_LEN: usize = 32;

/// What a genesis document commits to instead of the chain salt itself:
/// `SM3("govchain-salt-v1\0" || salt)`. The salt is a consortium secret (whoever holds it
/// can test candidate national ids against subject ids), kept in its own file beside
/// the genesis; the genesis, which verifiers outside the consortium may hold, carries
/// only this commitment, and whoever is handed a salt checks it against the commitment.
pub fn salt_commitment(salt: &[u8]) -> [u8; 32] {
    let mut h = Sm3Hasher::new();
    h.update(b"govchain-salt-v1\0");
    h.update(salt);
    h.finalize()
}

/// Parses a chain salt (hex, surrounding whitespace ignored) and checks it against the
/// genesis's `salt_commitment` (hex).
pub fn parse_salt(text: &str, commitment_hex: &str) -> Result<Vec<u8>, String> {
    let salt = hex::decode(text.trim())
        .ok()
        .filter(|s| s.len() == SALT_LEN)
        .ok_or_else(|| format!("a chain salt is {SALT_LEN} bytes of hex"))?;
    if hex::encode(salt_commitment(&salt)) != commitment_hex.to_ascii_lowercase() {
        return Err(
            "this salt is not the one the genesis commits to (salt_commitment): it belongs to another network".into(),
        );
    }
    Ok(salt)
}

/// `SM3(chain salt || national ID)` of a valid national ID.
pub fn subject_id(salt: &[u8], national_id: &str) -> Result<[u8; 32], TxError> {
    let id = validate_national_id(national_id)?;
    let mut h = Sm3Hasher::new();
    h.update(salt);
    h.update(id.as_bytes());
    Ok(h.finalize())
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !ok {
        return Err(format!("'{s}' is not a date in YYYY-MM-DD form"));
    }
    let y: i64 = s[0..4].parse().expect("digits");
    let m: u32 = s[5..7].parse().expect("digits");
    let d: u32 = s[8..10].parse().expect("digits");
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d == 0 || d > days_in[m as usize - 1] {
        return Err(format!("'{s}' is not a calendar date"));
    }
    // Days from civil (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}
