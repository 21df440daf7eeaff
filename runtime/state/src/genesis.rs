//! The genesis document: who is on the chain at height 0 and under which parameters.
//!
//! Genesis is a JSON file written by `govchain init` and shared by every node. Its hash
//! (SM3 of its canonical JSON encoding, see [`Genesis::hash`]) is the `prev_hash` of
//! block 0, so nodes started from different genesis files can never agree on a block.

use govchain_crypto::{PublicKey, sm3};
use govchain_types::{pb, validate_dept_id};
use serde::{Deserialize, Serialize};

use crate::{Overlay, Result, StateError, keys};

/// Parameters every node must agree on (consensus rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// Largest accepted encoded `SignedTx`, bytes.
    pub max_tx_bytes: u64,
    /// Most transactions in one block.
    pub max_block_txs: u32,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            max_tx_bytes: 256 * 1024,
            max_block_txs: 10_000,
        }
    }
}

/// A department at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDepartment {
    /// Stable id, e.g. `tax`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
    /// Roles, e.g. `issuer`, `committee`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Operators allowed to sign for the department.
    #[serde(default)]
    pub operators: Vec<GenesisOperator>,
}

/// An operator at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOperator {
    /// Operator id, unique within its department.
    pub id: String,
    /// Name.
    pub name: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
}

/// A validator at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Validator (node) id, e.g. `node1`.
    pub id: String,
    /// Department that runs it.
    pub department: String,
    /// SM2 public key, SEC1 uncompressed, hex.
    pub public_key: String,
}

/// The management committee that approves governance proposals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Committee {
    /// Member department ids.
    pub members: Vec<String>,
    /// Approvals needed (k of n).
    pub threshold: u32,
}

/// The genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id every transaction must name.
    pub chain_id: String,
    /// Time of block 0, Unix milliseconds.
    pub genesis_time_ms: u64,
    /// Salt for subject ids, 32 bytes hex: `subject_id = SM3(salt || national id)`.
    pub chain_salt: String,
    /// Departments.
    pub departments: Vec<GenesisDepartment>,
    /// Validators.
    pub validators: Vec<GenesisValidator>,
    /// Management committee.
    pub committee: Committee,
    /// Consensus parameters.
    #[serde(default)]
    pub params: ChainParams,
}

fn key_from_hex(what: &str, hex_key: &str) -> Result<PublicKey> {
    let bytes = hex::decode(hex_key)
        .map_err(|e| StateError::Genesis(format!("{what}: public key is not hex: {e}")))?;
    PublicKey::from_sec1(&bytes)
        .map_err(|e| StateError::Genesis(format!("{what}: bad SM2 public key: {e}")))
}

impl Genesis {
    /// Parses and validates a genesis JSON document.
    pub fn from_json(json: &str) -> Result<Self> {
        let g: Genesis =
            serde_json::from_str(json).map_err(|e| StateError::Genesis(e.to_string()))?;
        g.validate()?;
        Ok(g)
    }

    /// Pretty JSON, as written to `genesis.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serialises")
    }

    /// SM3 of the canonical (compact, field-ordered) JSON encoding.
    pub fn hash(&self) -> [u8; 32] {
        sm3(&serde_json::to_vec(self).expect("genesis serialises"))
    }

    /// Checks ids, keys, references and the committee threshold.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(StateError::Genesis(m));
        if self.chain_id.is_empty() || self.chain_id.len() > 64 {
            return err("chain_id must be 1 to 64 characters".into());
        }
        match hex::decode(&self.chain_salt) {
            Ok(s) if s.len() == 32 => {}
            _ => return err("chain_salt must be 32 bytes of hex".into()),
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.departments {
            if let Err(why) = validate_dept_id(&d.id) {
                return err(format!("department id '{}' {why}", d.id));
            }
            if !seen.insert(d.id.as_str()) {
                return err(format!("department '{}' listed twice", d.id));
            }
            key_from_hex(&format!("department '{}'", d.id), &d.public_key)?;
            let mut ops = std::collections::BTreeSet::new();
            for o in &d.operators {
                if let Err(why) = validate_dept_id(&o.id) {
                    return err(format!("operator id '{}/{}' {why}", d.id, o.id));
                }
                if !ops.insert(o.id.as_str()) {
                    return err(format!("operator '{}/{}' listed twice", d.id, o.id));
                }
                key_from_hex(&format!("operator '{}/{}'", d.id, o.id), &o.public_key)?;
            }
        }
        if self.validators.is_empty() {
            return err("at least one validator is required".into());
        }
        let mut vids = std::collections::BTreeSet::new();
        for v in &self.validators {
            if let Err(why) = validate_dept_id(&v.id) {
                return err(format!("validator id '{}' {why}", v.id));
            }
            if !vids.insert(v.id.as_str()) {
                return err(format!("validator '{}' listed twice", v.id));
            }
            if !seen.contains(v.department.as_str()) {
                return err(format!(
                    "validator '{}' names unknown department '{}'",
                    v.id, v.department
                ));
            }
            key_from_hex(&format!("validator '{}'", v.id), &v.public_key)?;
        }
        for m in &self.committee.members {
            if !seen.contains(m.as_str()) {
                return err(format!("committee member '{m}' is not a department"));
            }
        }
        let n = self.committee.members.len() as u32;
        if self.committee.threshold == 0 || self.committee.threshold > n {
            return err(format!(
                "committee threshold {} must be between 1 and {n}",
                self.committee.threshold
            ));
        }
        if self.params.max_block_txs == 0 || self.params.max_tx_bytes < 512 {
            return err("params: max_block_txs must be > 0 and max_tx_bytes >= 512".into());
        }
        Ok(())
    }

    /// The chain salt bytes.
    pub fn salt(&self) -> Vec<u8> {
        hex::decode(&self.chain_salt).expect("validated")
    }

    /// Writes the genesis records into an empty overlay.
    pub fn apply(&self, o: &mut Overlay) -> Result<()> {
        o.put(keys::CHAIN_ID.to_vec(), self.chain_id.as_bytes().to_vec());
        o.put(keys::CHAIN_SALT.to_vec(), self.salt());
        o.put(
            keys::PARAMS.to_vec(),
            serde_json::to_vec(&self.params).expect("serialises"),
        );
        o.put(
            keys::COMMITTEE.to_vec(),
            serde_json::to_vec(&self.committee).expect("serialises"),
        );
        for d in &self.departments {
            let rec = pb::Department {
                id: d.id.clone(),
                name: d.name.clone(),
                public_key: hex::decode(&d.public_key).expect("validated"),
                roles: d.roles.clone(),
                operators: d
                    .operators
                    .iter()
                    .map(|op| pb::Operator {
                        id: op.id.clone(),
                        name: op.name.clone(),
                        public_key: hex::decode(&op.public_key).expect("validated"),
                    })
                    .collect(),
            };
            o.put(keys::department(&d.id), govchain_types::encode(&rec));
        }
        for v in &self.validators {
            let rec = pb::Validator {
                id: v.id.clone(),
                department: v.department.clone(),
                public_key: hex::decode(&v.public_key).expect("validated"),
            };
            o.put(keys::validator(&v.id), govchain_types::encode(&rec));
        }
        o.commit_tx();
        Ok(())
    }
}

/// A department of a preset: id, English name, Chinese name, roles.
#[derive(Debug, Clone, Copy)]
pub struct PresetDepartment {
    /// Id.
    pub id: &'static str,
    /// English name.
    pub name: &'static str,
    /// Chinese name.
    pub name_zh: &'static str,
    /// Roles.
    pub roles: &'static [&'static str],
}

/// The 'nanjing' preset: the seven departments of the housing-purchase eligibility
/// workflow (购房资格证明) of a municipal government chain.
pub const NANJING: &[PresetDepartment] = &[
    PresetDepartment {
        id: "public-security",
        name: "Nanjing Municipal Public Security Bureau",
        name_zh: "南京市公安局",
        roles: &["issuer", "committee"],
    },
    PresetDepartment {
        id: "civil-affairs",
        name: "Nanjing Municipal Civil Affairs Bureau",
        name_zh: "南京市民政局",
        roles: &["issuer", "committee"],
    },
    PresetDepartment {
        id: "real-estate",
        name: "Nanjing Real Estate Registration Center",
        name_zh: "南京市不动产登记中心",
        roles: &["issuer", "committee"],
    },
    PresetDepartment {
        id: "tax",
        name: "Nanjing Municipal Tax Service, State Taxation Administration",
        name_zh: "国家税务总局南京市税务局",
        roles: &["issuer", "committee"],
    },
    PresetDepartment {
        id: "social-security",
        name: "Nanjing Municipal Human Resources and Social Security Bureau",
        name_zh: "南京市人力资源和社会保障局",
        roles: &["issuer", "committee"],
    },
    PresetDepartment {
        id: "housing",
        name: "Nanjing Municipal Housing Security and Real Estate Bureau",
        name_zh: "南京市住房保障和房产局",
        roles: &["issuer", "committee"],
    },
    PresetDepartment {
        id: "bank",
        name: "Bank of Nanjing",
        name_zh: "南京银行",
        roles: &["issuer"],
    },
];

/// Looks up a preset by name.
pub fn preset(name: &str) -> Option<&'static [PresetDepartment]> {
    match name {
        "nanjing" => Some(NANJING),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_crypto::PrivateKey;

    pub(crate) fn sample() -> Genesis {
        let key = || hex::encode(PrivateKey::generate().public_key().to_sec1());
        Genesis {
            chain_id: "test-chain".into(),
            genesis_time_ms: 1_700_000_000_000,
            chain_salt: hex::encode([7u8; 32]),
            departments: NANJING
                .iter()
                .map(|d| GenesisDepartment {
                    id: d.id.into(),
                    name: d.name.into(),
                    public_key: key(),
                    roles: d.roles.iter().map(|r| r.to_string()).collect(),
                    operators: vec![],
                })
                .collect(),
            validators: vec![GenesisValidator {
                id: "node1".into(),
                department: "public-security".into(),
                public_key: key(),
            }],
            committee: Committee {
                members: vec!["tax".into(), "housing".into()],
                threshold: 2,
            },
            params: ChainParams::default(),
        }
    }

    #[test]
    fn roundtrip_and_hash() {
        let g = sample();
        let back = Genesis::from_json(&g.to_json()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.hash(), g.hash());
    }

    #[test]
    fn rejects_bad_documents() {
        let mut g = sample();
        g.committee.threshold = 3;
        assert!(g.validate().unwrap_err().to_string().contains("threshold"));
        let mut g = sample();
        g.validators[0].department = "nobody".into();
        assert!(
            g.validate()
                .unwrap_err()
                .to_string()
                .contains("unknown department")
        );
        let mut g = sample();
        g.departments[1].id = g.departments[0].id.clone();
        assert!(g.validate().unwrap_err().to_string().contains("twice"));
        let mut g = sample();
        g.departments[0].public_key = "04abcd".into();
        assert!(g.validate().unwrap_err().to_string().contains("public key"));
        assert!(Genesis::from_json("{\"chain_id\": 1}").is_err());
    }
}
