//! The audit trail, as the supervisor (大数据管理局) sees and checks it: the records of the
//! scenarios' first three citizens, exported with Merkle proofs and verified against
//! the validator keys in genesis.

use anyhow::ensure;
use govchain_node::output::table;
use govchain_state::access::audit::action_name;
use govchain_types::pb;
use serde_json::json;

use super::Script;
use crate::driver::Driver;

impl<D: Driver> Script<D> {
    /// The audit trail.
    pub(super) async fn audit_trail(&mut self) -> anyhow::Result<()> {
        self.say("\n== The audit trail, as the supervisor (大数据管理局) sees and checks it ==");
        let mut t = table(&[
            "seq",
            "height",
            "citizen",
            "requester",
            "owner",
            "certificate",
            "purpose",
            "action",
            "decision",
            "points",
        ]);
        let mut total = 0;
        let mut headers = 0;
        let anchor = self.d.parties().genesis.anchor();
        for who in self.citizens.clone().iter().take(3) {
            let q = pb::AuditQuery {
                subject_id: hex::decode(&who.subject)?,
                limit: 10_000,
                ..Default::default()
            };
            let (export, file) = self.d.audit_export(q).await?;
            let n = file
                .verify(&anchor)
                .map_err(|e| anyhow::anyhow!("{}'s audit records do not verify: {e}", who.name))?;
            ensure!(n > 0, "no audit records for {}", who.name);
            total += n;
            headers += file.headers.len();
            for r in &export.proofs {
                let r: pb::AuditRecord = govchain_types::decode("audit record", &r.record)?;
                let action = match action_name(r.action) {
                    "read" if !r.via.is_empty() => "read via contract",
                    "key_release" => "key share",
                    "compute" => "compute job",
                    "compute_result" => "job result",
                    other => other,
                };
                let decision = if r.decision == pb::Decision::Allow as i32 {
                    "allow"
                } else {
                    "DENY"
                };
                t.add_row([
                    r.seq.to_string(),
                    r.height.to_string(),
                    who.name.to_string(),
                    r.requester.clone(),
                    r.owner.clone(),
                    r.cert_type.clone(),
                    r.purpose.clone(),
                    action.to_string(),
                    decision.to_string(),
                    r.points.to_string(),
                ]);
            }
        }
        self.show(t);
        self.say(&format!(
            "{total} records exported with Merkle inclusion proofs and checked against {headers} block headers signed by validators registered in genesis (SM3 + SM2): nothing is taken on the node's word."
        ));
        self.report.insert(
            "audit".into(),
            json!({"records_verified": total, "headers": headers}),
        );
        Ok(())
    }
}
