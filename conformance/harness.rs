//! The conformance harness, shared by every crate's conformance test (each includes this
//! file with `#[path]`): it reads `vectors.json` (next to this file, compiled in), hands
//! out a vector's inputs and the fixed keys, and compares what the product code computes
//! with the pinned hex, naming the vector and showing expected and actual bytes.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::Value;

/// The vectors, compiled in so that a change to them rebuilds the tests.
const VECTORS: &str = include_str!("vectors.json");

/// The parsed vector file.
pub(crate) fn file() -> &'static Value {
    static FILE: OnceLock<Value> = OnceLock::new();
    FILE.get_or_init(|| serde_json::from_str(VECTORS).expect("conformance/vectors.json is JSON"))
}

/// A shared fixture (`fixtures.<name>`).
pub(crate) fn fixture(name: &str) -> &'static Value {
    let f = &file()["fixtures"][name];
    assert!(
        !f.is_null(),
        "conformance/vectors.json has no fixture '{name}'"
    );
    f
}

/// The genesis fixture as the JSON text `Genesis::from_json` and
/// `TrustAnchor::from_genesis_json` read.
pub(crate) fn genesis_json() -> String {
    serde_json::to_string_pretty(fixture("genesis")).expect("serialises")
}

/// The names of the fixed keys, in file order.
pub(crate) fn key_names() -> Vec<&'static str> {
    file()["keys"]
        .as_object()
        .expect("keys is an object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The secret scalar of fixed key `name`, 32 bytes big-endian.
pub(crate) fn key_secret(name: &str) -> [u8; 32] {
    let hex_secret = file()["keys"][name]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("conformance/vectors.json has no key '{name}'"));
    hex::decode(hex_secret)
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| panic!("key '{name}': secret is not 32 bytes of hex"))
}

/// DER of a PKCS#8 SM2 private key up to its 32 secret bytes (version 0, algorithm
/// id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301, then an ECPrivateKey of
/// version 1 without the optional parameters and public key).
const PKCS8_SM2_PREFIX: &str =
    "3041020100301306072a8648ce3d020106082a811ccf5501822d042730250201010420";

/// Fixed key `name` as the PKCS#8 PEM `PrivateKey::from_pkcs8_pem` reads: the key is its
/// secret bytes and nothing else.
pub(crate) fn key_pem(name: &str) -> String {
    let mut der = hex::decode(PKCS8_SM2_PREFIX).expect("hex");
    der.extend_from_slice(&key_secret(name));
    let b64 = base64(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The vectors a test file checks (`checked_by`), by name.
pub(crate) fn names_checked_by(test_file: &str) -> BTreeSet<&'static str> {
    file()["vectors"]
        .as_array()
        .expect("vectors is an array")
        .iter()
        .filter(|v| v["checked_by"] == test_file)
        .map(|v| v["name"].as_str().expect("a vector has a name"))
        .collect()
}

/// Fails unless the vectors `test_file` is named to check are exactly `names`: a vector
/// added to the file without a test, or a test whose vector was removed, is an error.
pub(crate) fn assert_file_covered(test_file: &str, names: &[&str]) {
    let listed = names_checked_by(test_file);
    let tested: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(
        listed, tested,
        "conformance/vectors.json names these vectors for {test_file} (left); the file tests these (right)"
    );
}

/// One vector being checked: its inputs, and the outputs compared so far.
#[derive(Debug)]
pub(crate) struct Vector {
    name: &'static str,
    v: &'static Value,
    checked: RefCell<BTreeSet<String>>,
    failures: RefCell<Vec<String>>,
}

/// The vector called `name`.
pub(crate) fn vector(name: &str) -> Vector {
    let v = file()["vectors"]
        .as_array()
        .expect("vectors is an array")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("conformance/vectors.json has no vector '{name}'"));
    Vector {
        name: v["name"].as_str().expect("a name"),
        v,
        checked: RefCell::default(),
        failures: RefCell::default(),
    }
}

impl Vector {
    /// Input `key` as JSON.
    pub(crate) fn input(&self, key: &str) -> &'static Value {
        let i = &self.v["inputs"][key];
        assert!(!i.is_null(), "vector '{}' has no input '{key}'", self.name);
        i
    }

    /// A text input.
    pub(crate) fn text(&self, key: &str) -> &'static str {
        self.input(key)
            .as_str()
            .unwrap_or_else(|| panic!("vector '{}': input '{key}' is not a string", self.name))
    }

    /// A hex input, as bytes.
    pub(crate) fn bytes(&self, key: &str) -> Vec<u8> {
        hex::decode(self.text(key))
            .unwrap_or_else(|e| panic!("vector '{}': input '{key}' is not hex: {e}", self.name))
    }

    /// A hex input of exactly `N` bytes.
    pub(crate) fn array<const N: usize>(&self, key: &str) -> [u8; N] {
        self.bytes(key)
            .try_into()
            .unwrap_or_else(|_| panic!("vector '{}': input '{key}' is not {N} bytes", self.name))
    }

    /// A number input.
    pub(crate) fn u64(&self, key: &str) -> u64 {
        self.input(key)
            .as_u64()
            .unwrap_or_else(|| panic!("vector '{}': input '{key}' is not a number", self.name))
    }

    /// A boolean input.
    pub(crate) fn bool(&self, key: &str) -> bool {
        self.input(key)
            .as_bool()
            .unwrap_or_else(|| panic!("vector '{}': input '{key}' is not a boolean", self.name))
    }

    /// Compares `actual` with the pinned hex of output `output`.
    pub(crate) fn check(&self, output: &str, actual: impl AsRef<[u8]>) {
        self.check_text(output, &hex::encode(actual));
    }

    /// Compares `actual` with the pinned text of output `output`.
    pub(crate) fn check_text(&self, output: &str, actual: &str) {
        self.checked.borrow_mut().insert(output.to_string());
        let expected = self.v["expected"][output].as_str();
        if expected != Some(actual) {
            self.failures.borrow_mut().push(format!(
                "conformance vector '{}', output '{output}' differs\n  expected: {}\n  actual:   {actual}",
                self.name,
                expected.unwrap_or("(not in conformance/vectors.json)")
            ));
        }
    }

    /// Fails with every mismatch found, or if an output pinned in the file was not
    /// compared (the test and the file disagree on what the vector covers).
    pub(crate) fn finish(self) {
        let mut failures = self.failures.into_inner();
        let checked = self.checked.into_inner();
        for pinned in self.v["expected"]
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
        {
            if !checked.contains(pinned) {
                failures.push(format!(
                    "conformance vector '{}', output '{pinned}' is pinned but not checked",
                    self.name
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{}\n(vector '{}': {})",
            failures.join("\n"),
            self.name,
            self.v["description"].as_str().unwrap_or_default()
        );
    }
}

/// The text field `k` of `v`.
pub(crate) fn text(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("'{k}' is not text"))
        .to_string()
}

/// The hex field `k` of `v`, decoded.
pub(crate) fn unhex(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap_or_else(|| panic!("'{k}' is not text"))).unwrap()
}

/// The number field `k` of `v`.
pub(crate) fn num(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("'{k}' is not a number"))
}
