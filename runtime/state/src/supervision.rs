//! What the supervisor console shows beyond single records (`docs/design/console.md`):
//! data flows between departments in a period, the denied reads and the unusual
//! activity in it, and a department's points over time. Everything is computed from the
//! audit log and the points ledger the node keeps; nothing here is replicated state.

use std::collections::{BTreeMap, BTreeSet};

use govchain_store::Store;
use govchain_types::{ExecError, pb};
use serde::Serialize;

use crate::access::audit::{self, RecordView, action_name};
use crate::{certs, query};

/// Most audit records one answer examines (the answer says when the period held more).
pub const MAX_PERIOD_RECORDS: u64 = 500_000;
/// Days before a period that give a department's usual activity.
pub const BASELINE_DAYS: u64 = 28;
/// Denied reads listed.
pub const MAX_DENIED: usize = 100;
/// Record numbers a finding lists.
pub const MAX_FINDING_RECORDS: usize = 20;
/// Points entries a series holds at most.
pub const MAX_SERIES: usize = 5_000;

const DAY_MS: u64 = 86_400_000;
/// China Standard Time is UTC+8 all year.
const CST_OFFSET_MS: u64 = 8 * 3_600_000;

use crate::access::audit::{Scope, visible};

/// A gate decision (a read or a compute job), as opposed to a key release or a job
/// result, which follow one.
fn is_decision(r: &pb::AuditRecord) -> bool {
    matches!(action_name(r.action), "read" | "compute")
}

/// Reads from one department to another in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Requesting department.
    pub requester: String,
    /// Owner (issuer) of the certificates read.
    pub owner: String,
    /// Allowed decisions.
    pub allowed: u64,
    /// Denied decisions.
    pub denied: u64,
    /// Points paid by the requester to the owner.
    pub points: u64,
}

/// The flows of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flows {
    /// Period start, Unix ms.
    pub from_ms: u64,
    /// Period end, Unix ms.
    pub to_ms: u64,
    /// One per (requester, owner) pair, in that order.
    pub flows: Vec<Flow>,
    /// Records examined.
    pub scanned: u64,
    /// False when the period held more records than one answer examines.
    pub complete: bool,
}

/// Gate decisions per (requester, owner) pair with block times in `from_ms..=to_ms`.
pub fn flows(
    store: &Store,
    scope: Scope<'_>,
    from_ms: u64,
    to_ms: u64,
) -> Result<Flows, ExecError> {
    let mut pairs: BTreeMap<(String, String), Flow> = BTreeMap::new();
    let mut scanned = 0;
    let complete = audit::for_each_in_period(store, from_ms, to_ms, MAX_PERIOD_RECORDS, |r| {
        scanned += 1;
        if !is_decision(&r) || !visible(scope, &r) {
            return;
        }
        let f = pairs
            .entry((r.requester.clone(), r.owner.clone()))
            .or_insert_with(|| Flow {
                requester: r.requester.clone(),
                owner: r.owner.clone(),
                ..Flow::default()
            });
        if r.decision == pb::Decision::Allow as i32 {
            f.allowed += 1;
        } else {
            f.denied += 1;
        }
        f.points += r.points;
    })?;
    Ok(Flows {
        from_ms,
        to_ms,
        flows: pairs.into_values().collect(),
        scanned,
        complete,
    })
}

/// Which rule a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A day's reads far above the department's usual daily volume.
    Volume,
    /// Reads outside office hours (08:00–18:00 China Standard Time, Monday to Friday).
    OffHours,
    /// Reads for a purpose the department rarely or never used before.
    RarePurpose,
}

/// Something unusual in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// The requesting department.
    pub department: String,
    /// What was found, in English.
    pub summary: String,
    /// The same in Chinese.
    pub summary_zh: String,
    /// Reads concerned.
    pub count: u64,
    /// Sequence numbers of some of them (at most [`MAX_FINDING_RECORDS`]).
    pub records: Vec<u64>,
}

/// Denied reads and unusual activity of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Insights {
    /// Period start, Unix ms.
    pub from_ms: u64,
    /// Period end, Unix ms.
    pub to_ms: u64,
    /// Denied decisions, newest first (at most [`MAX_DENIED`]).
    pub denied: Vec<RecordView>,
    /// Findings: volume, then off hours, then rare purposes; by department.
    pub findings: Vec<Finding>,
    /// False when the period (with its baseline) held more records than one answer
    /// examines.
    pub complete: bool,
    /// Validators caught signing two contradicting consensus messages, recorded on
    /// chain in the period; the most recently recorded first (chain-wide: not scoped).
    pub equivocations: Vec<EquivocationView>,
}

/// A recorded equivocation as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquivocationView {
    /// The validator that signed twice.
    pub validator: String,
    /// Height and round of the two messages.
    pub height: u64,
    /// Round of the two messages.
    pub round: u32,
    /// `prevote`, `precommit` or `proposal`.
    pub step: String,
    /// The validator that reported it.
    pub reporter: String,
    /// Block that recorded it, and its time (Unix ms).
    pub recorded_height: u64,
    /// Time of that block, Unix ms.
    pub recorded_time_ms: u64,
    /// The evidence transaction, hex.
    pub tx_hash: String,
}

/// The equivocations recorded in blocks of `from_ms..=to_ms`, the most recent first.
fn equivocations(
    store: &Store,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<EquivocationView>, ExecError> {
    Ok(query::evidence(store)
        .map_err(crate::internal)?
        .iter()
        .filter(|r| (from_ms..=to_ms).contains(&r.recorded_time_ms))
        .map(EquivocationView::from)
        .collect())
}

impl From<&pb::EvidenceRecord> for EquivocationView {
    fn from(r: &pb::EvidenceRecord) -> Self {
        EquivocationView {
            validator: r.validator.clone(),
            height: r.height,
            round: r.round,
            step: r.step.clone(),
            reporter: r.reporter.clone(),
            recorded_height: r.recorded_height,
            recorded_time_ms: r.recorded_time_ms,
            tx_hash: hex::encode(&r.tx_hash),
        }
    }
}

/// China Standard Time day number of a block time.
fn cst_day(time_ms: u64) -> u64 {
    (time_ms + CST_OFFSET_MS) / DAY_MS
}

/// Whether a block time falls outside 08:00–18:00 China Standard Time on a weekday.
pub fn off_hours(time_ms: u64) -> bool {
    let local = time_ms + CST_OFFSET_MS;
    let hour = (local % DAY_MS) / 3_600_000;
    // Day 0 (1970-01-01) was a Thursday: 0 = Sunday ... 6 = Saturday.
    let weekday = (local / DAY_MS + 4) % 7;
    !(8..18).contains(&hour) || weekday == 0 || weekday == 6
}

#[derive(Default)]
struct DeptActivity {
    /// Baseline reads per CST day.
    baseline_days: BTreeMap<u64, u64>,
    baseline_total: u64,
    baseline_purposes: BTreeMap<String, u64>,
    /// Period reads per CST day, with some record numbers.
    period_days: BTreeMap<u64, (u64, Vec<u64>)>,
    off_hours: (u64, Vec<u64>),
    period_purposes: BTreeMap<String, (u64, Vec<u64>)>,
}

fn note(entry: &mut (u64, Vec<u64>), seq: u64) {
    entry.0 += 1;
    if entry.1.len() < MAX_FINDING_RECORDS {
        entry.1.push(seq);
    }
}

/// Denied reads of `from_ms..=to_ms` and what is unusual in it against the
/// [`BASELINE_DAYS`] before it:
/// - **volume**: a day's reads above max(3 × the usual daily mean, mean + 3 standard
///   deviations, 20);
/// - **off hours**: reads outside 08:00–18:00 China Standard Time or on a weekend;
/// - **rare purpose**: a purpose under 5% of the department's baseline reads (at least
///   20 of them), or never used in it.
pub fn insights(
    store: &Store,
    scope: Scope<'_>,
    from_ms: u64,
    to_ms: u64,
) -> Result<Insights, ExecError> {
    let baseline_from = from_ms.saturating_sub(BASELINE_DAYS * DAY_MS);
    let mut denied: Vec<RecordView> = Vec::new();
    let mut depts: BTreeMap<String, DeptActivity> = BTreeMap::new();
    let complete =
        audit::for_each_in_period(store, baseline_from, to_ms, MAX_PERIOD_RECORDS, |r| {
            if !is_decision(&r) || !visible(scope, &r) {
                return;
            }
            let a = depts.entry(r.requester.clone()).or_default();
            let day = cst_day(r.time_ms);
            if r.time_ms < from_ms {
                *a.baseline_days.entry(day).or_default() += 1;
                a.baseline_total += 1;
                *a.baseline_purposes.entry(r.purpose.clone()).or_default() += 1;
                return;
            }
            if r.decision != pb::Decision::Allow as i32 {
                if denied.len() == MAX_DENIED {
                    denied.remove(0);
                }
                denied.push(RecordView::from(&r));
            }
            note(a.period_days.entry(day).or_default(), r.seq);
            if off_hours(r.time_ms) {
                note(&mut a.off_hours, r.seq);
            }
            note(
                a.period_purposes.entry(r.purpose.clone()).or_default(),
                r.seq,
            );
        })?;
    denied.reverse();
    let baseline_days = (from_ms - baseline_from).div_ceil(DAY_MS).max(1);
    let mut findings = Vec::new();
    for (dept, a) in &depts {
        let mean = a.baseline_total as f64 / baseline_days as f64;
        let var = (0..baseline_days)
            .map(|i| {
                let d = cst_day(baseline_from) + i;
                let n = *a.baseline_days.get(&d).unwrap_or(&0) as f64;
                (n - mean) * (n - mean)
            })
            .sum::<f64>()
            / baseline_days as f64;
        let threshold = (3.0 * mean).max(mean + 3.0 * var.sqrt()).max(20.0);
        for (day, (n, seqs)) in &a.period_days {
            if (*n as f64) > threshold {
                let date = certs::format_date(*day as i64);
                findings.push(Finding {
                    rule: Rule::Volume,
                    department: dept.clone(),
                    summary: format!(
                        "{dept} read {n} certificates on {date}; its usual is {mean:.1} a day (threshold {threshold:.0})"
                    ),
                    summary_zh: format!(
                        "{dept} 于 {date} 读取证照 {n} 次，平时每日 {mean:.1} 次（阈值 {threshold:.0}）"
                    ),
                    count: *n,
                    records: seqs.clone(),
                });
            }
        }
    }
    for (dept, a) in &depts {
        let (n, seqs) = &a.off_hours;
        if *n > 0 {
            findings.push(Finding {
                rule: Rule::OffHours,
                department: dept.clone(),
                summary: format!(
                    "{dept} made {n} reads outside office hours (08:00–18:00 China Standard Time, Monday to Friday)"
                ),
                summary_zh: format!("{dept} 在工作时间（北京时间周一至周五 08:00–18:00）以外读取 {n} 次"),
                count: *n,
                records: seqs.clone(),
            });
        }
    }
    for (dept, a) in &depts {
        if a.baseline_total < 20 {
            continue;
        }
        for (purpose, (n, seqs)) in &a.period_purposes {
            let before = *a.baseline_purposes.get(purpose).unwrap_or(&0);
            let share = before as f64 / a.baseline_total as f64;
            if share >= 0.05 {
                continue;
            }
            let (usual, usual_zh) = if before == 0 {
                (
                    format!("never in the {BASELINE_DAYS} days before"),
                    format!("此前 {BASELINE_DAYS} 天从未使用"),
                )
            } else {
                (
                    format!(
                        "{:.1}% of its reads in the {BASELINE_DAYS} days before",
                        share * 100.0
                    ),
                    format!("此前 {BASELINE_DAYS} 天仅占其读取的 {:.1}%", share * 100.0),
                )
            };
            findings.push(Finding {
                rule: Rule::RarePurpose,
                department: dept.clone(),
                summary: format!("{dept} read for purpose '{purpose}' {n} times: {usual}"),
                summary_zh: format!("{dept} 以用途“{purpose}”读取 {n} 次：{usual_zh}"),
                count: *n,
                records: seqs.clone(),
            });
        }
    }
    Ok(Insights {
        from_ms,
        to_ms,
        denied,
        findings,
        complete,
        equivocations: equivocations(store, from_ms, to_ms)?,
    })
}

/// One point of a balance series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalancePoint {
    /// Ledger sequence number.
    pub seq: u64,
    /// Block time, Unix ms.
    pub time_ms: u64,
    /// Block height.
    pub height: u64,
    /// Balance after the entry.
    pub balance: u64,
    /// The change.
    pub delta: i64,
    /// `genesis`, `read`, `earn`, `reward`, `adjust`, `compute`.
    pub kind: String,
    /// The other department, if any.
    pub counterparty: String,
}

/// A department's balance over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointsSeries {
    /// The department.
    pub department: String,
    /// The last entry before the period (its starting balance), then every entry in it.
    pub points: Vec<BalancePoint>,
    /// False when the period held more than [`MAX_SERIES`] entries (the first are given).
    pub complete: bool,
}

/// `department`'s ledger entries with block times in `from_ms..=to_ms`, read a page at a
/// time through [`query::history`], preceded by the last entry before the period.
pub fn points_series(
    store: &Store,
    department: &str,
    from_ms: u64,
    to_ms: u64,
) -> Result<PointsSeries, ExecError> {
    let mut before: Option<BalancePoint> = None;
    let mut points = Vec::new();
    let mut after = 0;
    let mut seen = BTreeSet::new();
    let complete = 'pages: loop {
        let page = query::history(store, department, after, 1000)?;
        for e in page.entries {
            if !seen.insert(e.seq) {
                continue;
            }
            if e.time_ms > to_ms {
                break 'pages true;
            }
            let p = BalancePoint {
                seq: e.seq,
                time_ms: e.time_ms,
                height: e.height,
                balance: e.balance,
                delta: e.delta,
                kind: e.kind,
                counterparty: e.counterparty,
            };
            if p.time_ms < from_ms {
                before = Some(p);
            } else if points.len() == MAX_SERIES {
                break 'pages false;
            } else {
                points.push(p);
            }
        }
        if page.next == 0 {
            break true;
        }
        after = page.next;
    };
    Ok(PointsSeries {
        department: department.to_string(),
        points: before.into_iter().chain(points).collect(),
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_are_china_standard_time_weekdays() {
        // 2026-12-02 (a Wednesday) 01:30 UTC = 09:30 in Beijing.
        let wed_0930 = 1_796_175_000_000;
        assert!(!off_hours(wed_0930));
        // 11:00 UTC = 19:00 in Beijing.
        assert!(off_hours(wed_0930 + 9 * 3_600_000 + 1_800_000));
        // Saturday 2026-12-05, 09:30 in Beijing.
        assert!(off_hours(wed_0930 + 3 * DAY_MS));
        assert_eq!(certs::format_date(cst_day(wed_0930) as i64), "2026-12-02");
    }
}
