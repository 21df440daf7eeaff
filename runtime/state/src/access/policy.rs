//! Department-level authorization: a casbin enforcer over the policy lines in chain state.
//!
//! The model (`policies/model.conf`) and the lines live in state; governance changes the
//! lines and bumps [`tables::POLICY_VERSION`]. The executor builds one [`Policy`] per
//! policy version from *committed* state, through `StateAdapter`, so a change approved
//! in block h is in force from block h+1 on every node alike.

use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, Filter, Model};
use govchain_types::{ExecError, TxError, validate_dept_id, validate_name};

use govchain_store::{Records, StoreError};

use crate::{Overlay, tables};

/// The casbin model every chain starts with (`policies/model.conf`).
pub const MODEL: &str = include_str!("../../../../policies/model.conf");
/// Genesis policy of the 'nanjing' preset (`policies/policy.csv`).
pub const NANJING_POLICY: &str = include_str!("../../../../policies/policy.csv");

/// The gate's action for reading a certificate (directly or in a contract call).
pub const READ: &str = "read";
/// Prefix of the gate's action for running a compute-to-data job over a certificate:
/// `compute:<contract>` names the approved contract that may run (the requester gets the
/// job's result, never the document).
pub const COMPUTE_PREFIX: &str = "compute:";

/// The policy action for compute jobs of `contract`.
pub fn compute_action(contract: &str) -> String {
    format!("{COMPUTE_PREFIX}{contract}")
}
/// Prefix of role names in `g` lines.
pub const ROLE_PREFIX: &str = "role:";

/// A parsed policy line: `p, sub, obj, act, purpose, eft` or `g, department, role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLine {
    /// `p` or `g`.
    pub ptype: String,
    /// The fields after the type.
    pub fields: Vec<String>,
}

impl PolicyLine {
    /// Parses one CSV line (fields separated by commas, spaces around them ignored).
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut parts = line.split(',').map(str::trim);
        let ptype = parts.next().unwrap_or_default().to_string();
        let fields: Vec<String> = parts.map(str::to_string).collect();
        if fields.iter().any(|f| f.is_empty()) {
            return Err(format!("'{line}': empty field"));
        }
        match (ptype.as_str(), fields.len()) {
            ("p", 5) => {
                match fields[2].strip_prefix(COMPUTE_PREFIX) {
                    _ if fields[2] == READ => {}
                    Some(contract) => validate_name(contract)
                        .map_err(|e| format!("'{line}': contract of the compute action {e}"))?,
                    None => {
                        return Err(format!(
                            "'{line}': action must be '{READ}' or '{COMPUTE_PREFIX}<contract>'"
                        ));
                    }
                }
                if fields[4] != "allow" && fields[4] != "deny" {
                    return Err(format!("'{line}': effect must be 'allow' or 'deny'"));
                }
                check_subject(&fields[0]).map_err(|e| format!("'{line}': {e}"))?;
                for (what, v) in [("certificate type", &fields[1]), ("purpose", &fields[3])] {
                    if v != "*" {
                        validate_name(v).map_err(|e| format!("'{line}': {what} {e}"))?;
                    }
                }
            }
            ("g", 2) => {
                validate_dept_id(&fields[0]).map_err(|e| format!("'{line}': department {e}"))?;
                if !fields[1].starts_with(ROLE_PREFIX) {
                    return Err(format!("'{line}': role must start with '{ROLE_PREFIX}'"));
                }
                check_subject(&fields[1]).map_err(|e| format!("'{line}': {e}"))?;
            }
            ("p", _) => {
                return Err(format!(
                    "'{line}': a p line has 5 fields: subject, certificate type, action, purpose, effect"
                ));
            }
            ("g", _) => return Err(format!("'{line}': a g line has 2 fields: department, role")),
            _ => return Err(format!("'{line}': line type must be 'p' or 'g'")),
        }
        Ok(PolicyLine { ptype, fields })
    }

    /// `p, a, b, ...`: the form stored in state and shown to users.
    pub fn canonical(&self) -> String {
        let mut s = self.ptype.clone();
        for f in &self.fields {
            s.push_str(", ");
            s.push_str(f);
        }
        s
    }

    /// Checks the names the line refers to against `o`: departments, certificate types
    /// and purposes must be registered (a wildcard `*` matches any type or purpose).
    pub fn check_refs(&self, o: &Overlay) -> Result<(), ExecError> {
        let line = self.canonical();
        let unknown = |what: &str, v: &str| TxError::InvalidArgument {
            field: "policy line",
            reason: format!("'{line}': unknown {what} '{v}'"),
        };
        let dept = &self.fields[0];
        if !dept.starts_with(ROLE_PREFIX)
            && !o
                .contains(&tables::DEPARTMENT, dept)
                .map_err(crate::internal)?
        {
            return Err(unknown("department", dept).into());
        }
        if self.ptype == "p" {
            let (ty, purpose) = (&self.fields[1], &self.fields[3]);
            if ty != "*"
                && !o
                    .contains(&tables::CERT_TYPE, ty)
                    .map_err(crate::internal)?
            {
                return Err(unknown("certificate type", ty).into());
            }
            if purpose != "*"
                && !o
                    .contains(&tables::PURPOSE, purpose)
                    .map_err(crate::internal)?
            {
                return Err(unknown("purpose", purpose).into());
            }
        }
        Ok(())
    }
}

fn check_subject(s: &str) -> Result<(), String> {
    match s.strip_prefix(ROLE_PREFIX) {
        Some(role) => validate_name(role).map_err(|e| format!("role {e}")),
        None => validate_dept_id(s).map_err(|e| format!("department {e}")),
    }
}

/// The policy lines of a CSV text: one per line; blank lines and `#` comments skipped.
pub fn parse_csv(text: &str) -> Result<Vec<PolicyLine>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PolicyLine::parse)
        .collect()
}

/// The policy lines in `o`, in key order.
pub fn lines(o: &Overlay) -> crate::Result<Vec<String>> {
    let table = &tables::POLICY_LINE;
    o.records(table, table.all(), None)
        .map(|r| Ok(r?.0))
        .collect()
}

/// What the policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An allow line matched and no deny line did.
    Allow(String),
    /// A deny line matched (deny wins over any allow and any grant).
    Deny(String),
    /// No line matched: secure by default, the read is not allowed by policy.
    NoMatch,
}

/// A casbin enforcer built from one version of the on-chain policy.
pub struct Policy {
    version: u64,
    enforcer: Enforcer,
    /// Verdicts already computed for this version. A verdict is a pure function of the
    /// policy version and the request, so memoising cannot change an outcome; it is
    /// only looked up, never iterated.
    verdicts: std::sync::Mutex<std::collections::HashMap<VerdictKey, Verdict>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The policy version recorded in `o`.
pub fn version(o: &Overlay) -> crate::Result<u64> {
    Ok(o.read_or_default(&tables::POLICY_VERSION, ())?)
}

impl Policy {
    /// Builds the enforcer for the policy in `o`.
    pub fn load(o: &Overlay) -> crate::Result<Self> {
        let corrupt = |reason: String| StoreError::Corrupt {
            what: "policy",
            reason,
        };
        let model = o
            .read(&tables::POLICY_MODEL, ())?
            .ok_or_else(|| corrupt("policy model missing from state".into()))?;
        let lines = lines(o)?
            .iter()
            .map(|l| PolicyLine::parse(l))
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        let version = version(o)?;
        let enforcer = futures::executor::block_on(async {
            let model = DefaultModel::from_str(&model).await?;
            Enforcer::new(model, StateAdapter { lines }).await
        })
        .map_err(|e| corrupt(format!("casbin: {e}")))?;
        Ok(Policy {
            version,
            enforcer,
            verdicts: Default::default(),
        })
    }

    /// The version this enforcer was built from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// May `department` do `action` ([`READ`] or [`compute_action`]) on certificates of
    /// `cert_type` for `purpose`?
    pub fn check(
        &self,
        department: &str,
        action: &str,
        cert_type: &str,
        purpose: &str,
    ) -> Result<Verdict, ExecError> {
        let key = (
            department.to_string(),
            action.to_string(),
            cert_type.to_string(),
            purpose.to_string(),
        );
        if let Some(v) = self.verdicts.lock().expect("verdicts").get(&key) {
            return Ok(v.clone());
        }
        let v = self.enforce(department, action, cert_type, purpose)?;
        self.verdicts
            .lock()
            .expect("verdicts")
            .insert(key, v.clone());
        Ok(v)
    }

    fn enforce(
        &self,
        department: &str,
        action: &str,
        cert_type: &str,
        purpose: &str,
    ) -> Result<Verdict, ExecError> {
        let (allowed, rules) = self
            .enforcer
            .enforce_ex((department, cert_type, action, purpose))
            .map_err(|e| crate::internal(format!("casbin: {e}")))?;
        let line = |r: &Vec<String>| {
            PolicyLine {
                ptype: "p".into(),
                fields: r.clone(),
            }
            .canonical()
        };
        if let Some(deny) = rules.iter().find(|r| r.last().is_some_and(|e| e == "deny")) {
            return Ok(Verdict::Deny(line(deny)));
        }
        match (allowed, rules.first()) {
            (true, Some(r)) => Ok(Verdict::Allow(line(r))),
            (true, None) => Ok(Verdict::Allow("policy".into())),
            (false, _) => Ok(Verdict::NoMatch),
        }
    }
}

/// Department, action, certificate type, purpose.
type VerdictKey = (String, String, String, String);

/// A casbin adapter over policy lines read from chain state. It is read-only: the
/// policy changes only through governance, never through the enforcer.
struct StateAdapter {
    lines: Vec<PolicyLine>,
}

fn read_only() -> casbin::Error {
    casbin::Error::from(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        "the on-chain policy changes only through governance proposals",
    ))
}

#[async_trait::async_trait]
impl Adapter for StateAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        for l in &self.lines {
            m.add_policy(&l.ptype, &l.ptype, l.fields.clone());
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
        Err(read_only())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Err(read_only())
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(&mut self, _s: &str, _p: &str, _r: Vec<String>) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn add_policies(
        &mut self,
        _s: &str,
        _p: &str,
        _r: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn remove_policy(&mut self, _s: &str, _p: &str, _r: Vec<String>) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn remove_policies(
        &mut self,
        _s: &str,
        _p: &str,
        _r: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }

    async fn remove_filtered_policy(
        &mut self,
        _s: &str,
        _p: &str,
        _i: usize,
        _v: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(read_only())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_lines() {
        let l = PolicyLine::parse(" p,tax , property, read, tax_assessment,allow").unwrap();
        assert_eq!(
            l.canonical(),
            "p, tax, property, read, tax_assessment, allow"
        );
        assert!(PolicyLine::parse("g, bank, role:lender").is_ok());
        for bad in [
            "p, tax, property, write, tax_assessment, allow",
            "p, tax, property, read, tax_assessment, maybe",
            "p, tax, property, read, allow",
            "g, bank, lender",
            "x, tax, property",
            "p, Tax, property, read, tax_assessment, allow",
            "p, tax, , read, tax_assessment, allow",
        ] {
            assert!(PolicyLine::parse(bad).is_err(), "{bad}");
        }
        let all = parse_csv(NANJING_POLICY).unwrap();
        assert!(all.len() > 10);
        parse_csv(MODEL).unwrap_err();
    }
}
