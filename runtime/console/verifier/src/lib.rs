//! The supervisor console's browser verifier (docs/design/console.md): the same Rust
//! code as `govchain audit verify`, `govchain-proof` and `govchain-crypto`, compiled to
//! `wasm32-unknown-unknown` and reached through a tiny C-style ABI ([`abi`]): JSON in,
//! JSON out.
//!
//! | op | name | input | answer |
//! |---|---|---|---|
//! | 1 | `verify_export` | `{"export": {..}, "genesis": "<genesis JSON text>"}` | `{"ok":true,"records":n,"headers":m}` |
//! | 2 | `subject_id` | `{"salt": "<hex>", "commitment": "<genesis salt_commitment>", "national_id": ".."}` | `{"ok":true,"subject_id":"<hex>"}` |
//! | 3 | `sign_read` | `{"pem","passphrase"(or null),"chain_id","path","time_ms","request_hex"}` | `{"ok":true,"signature":"<r‖s hex>","public_key":"<SEC1 hex>"}` |
//! | 4 | `sm3` | `{"hex": ".."}` or `{"text": ".."}` | `{"ok":true,"hash":"<hex>"}` |
//!
//! Every failure is `{"ok":false,"error":"<message>"}`; nothing here panics on any input
//! (a panic would abort: the release profile has `panic = "abort"`).

use govchain_crypto::{PrivateKey, sm3};
use govchain_proof::{ExportFile, TrustAnchor, parse_salt, signed_read, subject_id};
use serde::Deserialize;
use serde_json::{Value, json};

#[cfg(target_arch = "wasm32")]
pub mod abi;

/// Op code of [`verify_export`].
pub const OP_VERIFY_EXPORT: u32 = 1;
/// Op code of [`subject`].
pub const OP_SUBJECT_ID: u32 = 2;
/// Op code of [`sign_read`].
pub const OP_SIGN_READ: u32 = 3;
/// Op code of [`hash`].
pub const OP_SM3: u32 = 4;

/// Runs `op` on the JSON `input` and returns the JSON answer.
pub fn call(op: u32, input: &[u8]) -> String {
    let answer = std::str::from_utf8(input)
        .map_err(|_| "input is not UTF-8".to_string())
        .and_then(|text| {
            serde_json::from_str::<Value>(text).map_err(|e| format!("input is not JSON: {e}"))
        })
        .and_then(|input| match op {
            OP_VERIFY_EXPORT => verify_export(input),
            OP_SUBJECT_ID => subject(input),
            OP_SIGN_READ => sign_read(input),
            OP_SM3 => hash(input),
            other => Err(format!("unknown op {other}")),
        });
    match answer {
        Ok(mut v) => {
            v["ok"] = Value::Bool(true);
            v.to_string()
        }
        Err(error) => json!({"ok": false, "error": error}).to_string(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(input: Value) -> Result<T, String> {
    serde_json::from_value(input).map_err(|e| format!("bad input: {e}"))
}

fn unhex(what: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.trim()).map_err(|e| format!("{what} is not hex: {e}"))
}

#[derive(Deserialize)]
struct VerifyInput {
    export: Value,
    genesis: String,
}

/// Op 1: checks an audit export file against the trust anchor of a genesis document,
/// exactly as `govchain audit verify` does.
fn verify_export(input: Value) -> Result<Value, String> {
    let input: VerifyInput = parse(input)?;
    let anchor = TrustAnchor::from_genesis_json(&input.genesis)?;
    let file: ExportFile = serde_json::from_value(input.export)
        .map_err(|e| format!("not a govchain audit export file: {e}"))?;
    let records = file.verify(&anchor)?;
    Ok(json!({"records": records, "headers": file.headers.len()}))
}

#[derive(Deserialize)]
struct SubjectInput {
    salt: String,
    commitment: String,
    national_id: String,
}

/// Op 2: `SM3(chain salt || national ID)` of a valid (GB 11643) national ID, with a salt
/// the genesis commits to (a node cannot hand the page another salt).
fn subject(input: Value) -> Result<Value, String> {
    let input: SubjectInput = parse(input)?;
    let salt = parse_salt(&input.salt, &input.commitment)?;
    let id = subject_id(&salt, &input.national_id).map_err(|e| e.to_string())?;
    Ok(json!({"subject_id": hex::encode(id)}))
}

#[derive(Deserialize)]
struct SignInput {
    pem: String,
    passphrase: Option<String>,
    chain_id: String,
    audience: String,
    path: String,
    time_ms: u64,
    nonce_hex: String,
    request_hex: String,
}

/// Op 3: signs the signed-read bytes of `(chain_id, audience, path, time_ms, nonce,
/// request)` with the key of a PEM file (plain or PBES2-encrypted PKCS#8, or SEC1).
fn sign_read(input: Value) -> Result<Value, String> {
    let input: SignInput = parse(input)?;
    let request = unhex("request_hex", &input.request_hex)?;
    let nonce = unhex("nonce_hex", &input.nonce_hex)?;
    let key = PrivateKey::from_pem_any(&input.pem, input.passphrase.as_deref().map(str::as_bytes))
        .map_err(|e| e.to_string())?;
    let to = signed_read::ReadTo {
        chain_id: &input.chain_id,
        audience: &input.audience,
        path: &input.path,
        time_ms: input.time_ms,
        nonce: &nonce,
    };
    let msg = signed_read::signing_bytes(&to, &request);
    let sig = key.sign(&msg);
    Ok(json!({
        "signature": hex::encode(sig.to_bytes()),
        "public_key": hex::encode(key.public_key().to_sec1()),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashInput {
    hex: Option<String>,
    text: Option<String>,
}

/// Op 4: SM3 of hex bytes or of a UTF-8 text.
fn hash(input: Value) -> Result<Value, String> {
    let input: HashInput = parse(input)?;
    let bytes = match (input.hex, input.text) {
        (Some(h), None) => unhex("hex", &h)?,
        (None, Some(t)) => t.into_bytes(),
        _ => return Err("give exactly one of 'hex' and 'text'".into()),
    };
    Ok(json!({"hash": hex::encode(sm3(&bytes))}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_crypto::{PublicKey, Signature};

    fn answer(op: u32, input: Value) -> Value {
        serde_json::from_str(&call(op, input.to_string().as_bytes())).unwrap()
    }

    fn error(op: u32, input: Value) -> String {
        let a = answer(op, input);
        assert_eq!(a["ok"], false, "{a}");
        a["error"].as_str().unwrap().to_string()
    }

    #[test]
    fn sm3_of_text_and_hex_is_the_standard_vector() {
        // GB/T 32905-2016, example 1.
        let abc = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";
        assert_eq!(answer(OP_SM3, json!({"text": "abc"}))["hash"], abc);
        assert_eq!(answer(OP_SM3, json!({"hex": "616263"}))["hash"], abc);
        assert!(error(OP_SM3, json!({"text": "a", "hex": "61"})).contains("exactly one"));
        assert!(error(OP_SM3, json!({"hex": "6"})).contains("not hex"));
    }

    #[test]
    fn subject_id_is_the_node_s_and_refuses_a_bad_check_digit_or_another_salt() {
        let salt = [7u8; 32];
        let commitment = hex::encode(govchain_proof::salt_commitment(&salt));
        let ask = |salt: &[u8], id: &str| json!({"salt": hex::encode(salt), "commitment": commitment, "national_id": id});
        let a = answer(OP_SUBJECT_ID, ask(&salt, "320102199001011232"));
        let expected = subject_id(&salt, "320102199001011232").unwrap();
        assert_eq!(a["subject_id"], hex::encode(expected));
        let e = error(OP_SUBJECT_ID, ask(&salt, "320102199001011233"));
        assert!(e.contains("check"), "{e}");
        let e = error(OP_SUBJECT_ID, ask(&[8u8; 32], "320102199001011232"));
        assert!(e.contains("not the one the genesis commits to"), "{e}");
    }

    #[test]
    fn sign_read_signs_the_signed_read_bytes_with_plain_and_encrypted_keys() {
        let key = PrivateKey::generate();
        let request = [0xabu8; 32];
        for (pem, pass) in [
            (key.to_pkcs8_pem(), None),
            (key.to_pkcs8_encrypted_pem(b"pw").unwrap(), Some("pw")),
        ] {
            let a = answer(
                OP_SIGN_READ,
                json!({"pem": pem, "passphrase": pass, "chain_id": "c", "audience": "node1",
                       "path": "/console/login", "time_ms": 1_700_000_000_000u64,
                       "nonce_hex": hex::encode(request), "request_hex": hex::encode(request)}),
            );
            let public =
                PublicKey::from_sec1(&hex::decode(a["public_key"].as_str().unwrap()).unwrap())
                    .unwrap();
            assert_eq!(public.to_sec1(), key.public_key().to_sec1());
            let sig =
                Signature::from_slice(&hex::decode(a["signature"].as_str().unwrap()).unwrap())
                    .unwrap();
            let to = signed_read::ReadTo {
                chain_id: "c",
                audience: "node1",
                path: "/console/login",
                time_ms: 1_700_000_000_000,
                nonce: &request,
            };
            public
                .verify(&signed_read::signing_bytes(&to, &request), &sig)
                .unwrap();
            for other in [
                signed_read::ReadTo {
                    time_ms: 1_700_000_000_001,
                    ..to
                },
                signed_read::ReadTo {
                    audience: "node2",
                    ..to
                },
            ] {
                let msg = signed_read::signing_bytes(&other, &request);
                assert!(public.verify(&msg, &sig).is_err());
            }
        }
        let wrong = json!({"pem": key.to_pkcs8_encrypted_pem(b"pw").unwrap(), "passphrase": "no",
                           "chain_id": "c", "audience": "n", "path": "/p", "time_ms": 1,
                           "nonce_hex": "", "request_hex": ""});
        assert!(!error(OP_SIGN_READ, wrong).is_empty());
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        assert_eq!(
            serde_json::from_str::<Value>(&call(OP_SM3, &[0xff, 0xfe])).unwrap()["error"],
            "input is not UTF-8"
        );
        assert!(call(OP_SM3, b"{").contains("input is not JSON"));
        assert!(error(99, json!({})).contains("unknown op 99"));
        assert!(error(OP_VERIFY_EXPORT, json!({"export": {}, "genesis": "{}"})).len() > 5);
        let e = error(OP_VERIFY_EXPORT, json!({"export": {"format": "x"}}));
        assert!(e.contains("genesis"), "{e}");
    }
}
