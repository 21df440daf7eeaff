//! Credit points: non-transferable balances that make sharing pay.
//!
//! A reader pays the certificate type's price to the owner; issuers earn a capped reward
//! per certificate published; governance mints and burns (supervisors' adjustments).
//! Invariant: the sum of all balances = genesis + minted − burned. Every change is a
//! [`pb::PointsEntry`] in the department's ledger (index column).

use govchain_store::table::{Single, U64};
use govchain_store::{Records, Table};
use govchain_types::{ExecError, TxError, pb};

use crate::tables::{
    self, FREE_READS, POINTS, POINTS_BURNED, POINTS_GENESIS, POINTS_MINTED, POINTS_SEQ, REWARDS,
};
use crate::{BlockContext, Overlay, internal};

/// A counter (absent = 0).
fn counter(o: &Overlay, table: &Table<Single, U64>) -> Result<u64, ExecError> {
    o.read_or_default(table, ()).map_err(internal)
}

/// A department's balance.
pub fn balance(o: &Overlay, dept: &str) -> Result<u64, ExecError> {
    o.read_or_default(&POINTS, dept).map_err(internal)
}

/// The points parameters in force.
pub fn params(o: &Overlay) -> Result<pb::PointsParams, ExecError> {
    o.read_or_default(&tables::POINTS_PARAMS, ())
        .map_err(internal)
}

/// Checks parameters proposed to governance.
pub fn validate_params(p: &pb::PointsParams) -> Result<(), ExecError> {
    if p.period_ms < 3_600_000 {
        return Err(TxError::InvalidArgument {
            field: "points_params.period_ms",
            reason: "must be at least one hour (3600000)".into(),
        }
        .into());
    }
    Ok(())
}

/// Supply counters: (genesis, minted, burned).
pub fn supply(o: &Overlay) -> Result<(u64, u64, u64), ExecError> {
    Ok((
        counter(o, &POINTS_GENESIS)?,
        counter(o, &POINTS_MINTED)?,
        counter(o, &POINTS_BURNED)?,
    ))
}

/// The period a block time falls in.
pub fn period(p: &pb::PointsParams, time_ms: u64) -> u64 {
    time_ms / p.period_ms.max(1)
}

/// What a ledger entry records; its name is [`pb::PointsEntry::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// The genesis allocation.
    Genesis,
    /// Paid for a certificate read.
    Read,
    /// Paid for a compute job over a certificate.
    Compute,
    /// Earned from another department's read or job.
    Earn,
    /// Minted for publishing a certificate.
    Reward,
    /// Minted or burned by governance.
    Adjust,
}

impl LedgerKind {
    /// The stable name kept in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Genesis => "genesis",
            LedgerKind::Read => "read",
            LedgerKind::Compute => "compute",
            LedgerKind::Earn => "earn",
            LedgerKind::Reward => "reward",
            LedgerKind::Adjust => "adjust",
        }
    }
}

/// Where a change comes from, for its ledger entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cause<'a> {
    pub(crate) ctx: &'a BlockContext,
    pub(crate) tx_hash: &'a [u8],
    pub(crate) kind: LedgerKind,
    pub(crate) counterparty: &'a str,
    pub(crate) audit_seq: u64,
    pub(crate) note: &'a str,
}

/// Writes a number sticky (gate effects) or into the transaction layer.
fn put<K: govchain_store::KeyCodec>(
    o: &mut Overlay,
    sticky: bool,
    table: &Table<K, U64>,
    key: K::Key<'_>,
    value: u64,
) {
    if sticky {
        o.write_sticky(table, key, &value);
    } else {
        o.write(table, key, &value);
    }
}

fn next_seq(o: &Overlay) -> Result<u64, ExecError> {
    Ok(counter(o, &POINTS_SEQ)? + 1)
}

/// Writes `dept`'s new balance and its ledger entry number `seq` (the caller has read
/// and checked everything first, so writing cannot fail half-way).
#[allow(clippy::too_many_arguments)]
fn write(o: &mut Overlay, sticky: bool, dept: &str, old: u64, new: u64, seq: u64, c: &Cause<'_>) {
    put(o, sticky, &POINTS, dept, new);
    put(o, sticky, &POINTS_SEQ, (), seq);
    let entry = pb::PointsEntry {
        seq,
        department: dept.to_string(),
        height: c.ctx.height,
        time_ms: c.ctx.time_ms,
        delta: if new >= old {
            (new - old) as i64
        } else {
            -((old - new) as i64)
        },
        balance: new,
        kind: c.kind.as_str().to_string(),
        counterparty: c.counterparty.to_string(),
        audit_seq: c.audit_seq,
        note: c.note.to_string(),
        tx_hash: c.tx_hash.to_vec(),
    };
    o.add_index(&tables::POINTS_ENTRY, (dept, seq), &entry, sticky);
}

fn overflow() -> ExecError {
    internal("points overflow")
}

/// Moves `amount` from `from` to `to` for a read or a job (`c.kind`, the payer's entry;
/// the payee's is [`LedgerKind::Earn`]), sticky: it stays paid. Fails, writing nothing, if
/// `from` cannot pay.
pub(crate) fn pay(
    o: &mut Overlay,
    c: &Cause<'_>,
    from: &str,
    to: &str,
    amount: u64,
) -> Result<(), ExecError> {
    let (fb, tb, seq) = (balance(o, from)?, balance(o, to)?, next_seq(o)?);
    let rest = fb
        .checked_sub(amount)
        .ok_or_else(|| internal("read paid beyond balance"))?;
    let credited = tb.checked_add(amount).ok_or_else(overflow)?;
    write(
        o,
        true,
        from,
        fb,
        rest,
        seq,
        &Cause {
            counterparty: to,
            ..*c
        },
    );
    write(
        o,
        true,
        to,
        tb,
        credited,
        seq + 1,
        &Cause {
            kind: LedgerKind::Earn,
            counterparty: from,
            ..*c
        },
    );
    Ok(())
}

/// A free read left to `dept` in this period: (the period, reads used before this one,
/// quota). Reads only; [`use_free_read`] takes it.
pub(crate) fn free_read(
    o: &Overlay,
    ctx: &BlockContext,
    dept: &str,
) -> Result<Option<(u64, u64, u64)>, ExecError> {
    let p = params(o)?;
    if p.free_reads_per_period == 0 {
        return Ok(None);
    }
    let period = period(&p, ctx.time_ms);
    let used = o
        .read_or_default(&FREE_READS, (dept, period))
        .map_err(internal)?;
    Ok((used < p.free_reads_per_period).then_some((period, used, p.free_reads_per_period)))
}

/// Takes the free read found by [`free_read`] (sticky).
pub(crate) fn use_free_read(o: &mut Overlay, dept: &str, period: u64, used: u64) {
    put(o, true, &FREE_READS, (dept, period), used + 1);
}

/// Mints a publish reward of up to `amount` to `dept`, within the per-period cap.
/// Returns the points minted.
pub(crate) fn reward(
    o: &mut Overlay,
    c: &Cause<'_>,
    dept: &str,
    amount: u64,
) -> Result<u64, ExecError> {
    let p = params(o)?;
    let key = (dept, period(&p, c.ctx.time_ms));
    let earned = o.read_or_default(&REWARDS, key).map_err(internal)?;
    let minted = amount.min(p.reward_cap_per_period.saturating_sub(earned));
    if minted == 0 {
        return Ok(0);
    }
    mint(o, c, dept, minted)?;
    put(o, false, &REWARDS, key, earned + minted);
    Ok(minted)
}

fn mint(o: &mut Overlay, c: &Cause<'_>, dept: &str, amount: u64) -> Result<(), ExecError> {
    let (b, minted, seq) = (balance(o, dept)?, counter(o, &POINTS_MINTED)?, next_seq(o)?);
    let new = b.checked_add(amount).ok_or_else(overflow)?;
    let total = minted.checked_add(amount).ok_or_else(overflow)?;
    write(o, false, dept, b, new, seq, c);
    put(o, false, &POINTS_MINTED, (), total);
    Ok(())
}

/// A governance adjustment: mints (delta > 0) or burns (delta < 0) `dept`'s points.
pub(crate) fn adjust(
    o: &mut Overlay,
    c: &Cause<'_>,
    dept: &str,
    delta: i64,
) -> Result<(), ExecError> {
    if delta >= 0 {
        return mint(o, c, dept, delta as u64);
    }
    let (b, burned, seq) = (balance(o, dept)?, counter(o, &POINTS_BURNED)?, next_seq(o)?);
    let burn = delta.unsigned_abs();
    let new = b
        .checked_sub(burn)
        .ok_or_else(|| TxError::InvalidArgument {
            field: "adjust_points.delta",
            reason: format!("'{dept}' has {b} points, cannot burn {burn}"),
        })?;
    let total = burned.checked_add(burn).ok_or_else(overflow)?;
    write(o, false, dept, b, new, seq, c);
    put(o, false, &POINTS_BURNED, (), total);
    Ok(())
}

/// Genesis allocation of `amount` to `dept`.
pub(crate) fn allocate(
    o: &mut Overlay,
    ctx: &BlockContext,
    dept: &str,
    amount: u64,
) -> Result<(), ExecError> {
    let c = Cause {
        ctx,
        tx_hash: &[],
        kind: LedgerKind::Genesis,
        counterparty: "",
        audit_seq: 0,
        note: "genesis allocation",
    };
    let (total, seq) = (counter(o, &POINTS_GENESIS)?, next_seq(o)?);
    let total = total.checked_add(amount).ok_or_else(overflow)?;
    write(o, false, dept, 0, amount, seq, &c);
    put(o, false, &POINTS_GENESIS, (), total);
    Ok(())
}
