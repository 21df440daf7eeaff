//! The access gate through the executor: a fresh 'nanjing' chain (`LocalChain` over
//! `Store::in_memory`, RocksDB) runs an arbitrary sequence of blocks of publishes,
//! grants, read requests and revocations by the preset departments, with block times
//! a few seconds, an hour or a day apart (the input's encoding: `govchain_fuzz::gate`).
//!
//! A model follows every receipt, in order, and checks it: who may publish, grant and
//! revoke (the exact error code when not); a read of a revoked or expired certificate is
//! denied; an issuer's read of its own live certificate is allowed free; a read allowed
//! through a grant rests on a grant that is live and matches (grantee, purpose); an
//! allowed read pays the type's price, a denied one pays nothing; publish rewards stay
//! within the per-period cap. After every block:
//! - points are conserved: every balance is what the receipts say it is, and their sum
//!   is genesis + minted − burned, with minted = the rewards of the receipts and
//!   nothing burned; every department's ledger adds up to its balance;
//! - no read without an audit record: the access decisions of the block's receipts are
//!   the audit records appended in the block, one each, numbered in order, with the
//!   same decision, parties, purpose and points, and the block's audit span counts them.
#![no_main]

use std::collections::BTreeMap;

use govchain_crypto::sm3;
use govchain_fuzz::gate::{Op, Step};
use govchain_fuzz::rules::{Intent, Rules, UNREGISTERED};
use govchain_state::access::audit;
use govchain_state::certs::{block_date, cert_id, format_date};
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_state::{VerifiedTx, query, tables};
use govchain_store::{Records, Store};
use govchain_types::{ErrorCode, pb};

/// Genesis time: 2026-11-23 00:00 UTC.
const T0: u64 = 1_795_392_000_000;
const SALT: [u8; 32] = [9; 32];
/// Operations of one input that are carried out (the rest is ignored).
const MAX_OPS: usize = 64;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let ops: Vec<Op> = Op::decode_all(data).take(MAX_OPS).collect();
    Run::new().run(&ops);
});

/// The chain, the preset's names, and the model of what the receipts did.
struct Run {
    chain: LocalChain,
    departments: Vec<String>,
    purposes: Vec<String>,
    /// Every certificate id a publish named, published or not: what requests pick from.
    named: Vec<String>,
    rules: Rules,
    balances: BTreeMap<String, u64>,
    /// Rewards earned per (department, period).
    rewards: BTreeMap<(String, u64), u64>,
    params: pb::PointsParams,
    genesis: u64,
    minted: u64,
    audit_seq: u64,
    /// Publishes so far: seeds each key envelope (every certificate needs its own).
    publishes: u64,
}

impl Run {
    fn new() -> Self {
        let store = Store::in_memory().expect("an in-memory store opens");
        let chain =
            LocalChain::nanjing(store, T0, SALT, nanjing_access()).expect("the genesis applies");
        let store = &chain.store;
        let departments: Vec<String> = query::departments(store)
            .expect("departments")
            .into_iter()
            .map(|d| d.id)
            .collect();
        let cert_types = query::cert_types(store).expect("certificate types");
        let mut purposes: Vec<String> = query::purposes(store)
            .expect("purposes")
            .into_iter()
            .map(|p| p.id)
            .collect();
        purposes.push(UNREGISTERED.into());
        let b = query::balances(store, "").expect("balances");
        assert_eq!(b.balances.len(), departments.len());
        assert_eq!((b.minted, b.burned), (0, 0));
        Run {
            balances: b
                .balances
                .iter()
                .map(|x| (x.department.clone(), x.balance))
                .collect(),
            genesis: b.genesis,
            params: b.params.expect("points parameters"),
            chain,
            departments,
            rules: Rules::new(cert_types),
            purposes,
            named: Vec::new(),
            rewards: BTreeMap::new(),
            minted: 0,
            audit_seq: 0,
            publishes: 0,
        }
    }

    /// Runs `ops` as blocks and checks every receipt and every block.
    fn run(mut self, ops: &[Op]) {
        let mut block = Vec::new();
        for op in ops {
            match op {
                Op::EndBlock(step) => self.block(std::mem::take(&mut block), step.ms()),
                op => block.push(self.tx(op)),
            }
        }
        if !block.is_empty() {
            self.block(block, Step::Seconds.ms());
        }
    }

    fn pick<'a>(list: &'a [String], i: u8) -> &'a str {
        &list[usize::from(i) % list.len()]
    }

    /// A certificate id: one a publish named, or (one choice more) one never named.
    fn cert(&self, i: u8) -> String {
        let i = usize::from(i) % (self.named.len() + 1);
        self.named
            .get(i)
            .cloned()
            .unwrap_or_else(|| cert_id("property", "never-published"))
    }

    /// The day number `offset` days after the day before yesterday, at genesis.
    fn day(offset: u8) -> i64 {
        block_date(T0) + i64::from(offset) - 2
    }

    /// The transaction of `op` (not an end of block) and its intent.
    fn tx(&mut self, op: &Op) -> (VerifiedTx, Intent) {
        match *op {
            Op::Publish {
                issuer,
                cert_type,
                number,
                expires,
            } => {
                let issuer = Self::pick(&self.departments, issuer).to_string();
                let types = &self.rules.cert_types;
                let ty = &types[usize::from(cert_type) % types.len()];
                let number = format!("N-{number}");
                let id = cert_id(&ty.id, &number);
                let expires = expires.map(Self::day);
                self.publishes += 1;
                let p = pb::PublishCertificate {
                    cert_type: ty.id.clone(),
                    number: number.clone(),
                    subject_id: sm3(number.as_bytes()).to_vec(),
                    issued_on: "2024-05-01".into(),
                    expires_on: expires.map(format_date).unwrap_or_default(),
                    metadata: ty
                        .fields
                        .iter()
                        .map(|f| pb::Attribute {
                            key: f.name.clone(),
                            value: "v".into(),
                        })
                        .collect(),
                    content_hash: sm3(number.as_bytes()).to_vec(),
                    issuer_signature: vec![0; 64],
                    ciphertext: vec![7; 64],
                    key_envelope: self
                        .chain
                        .custody
                        .seal_key(&[7; 16], id.as_bytes(), &sm3(&self.publishes.to_be_bytes()))
                        .expect("the chain's custody key")
                        .0,
                    key_envelope_proof: vec![],
                };
                let intent = Intent::Publish {
                    issuer: issuer.clone(),
                    cert_type: ty.id.clone(),
                    id: id.clone(),
                    expires,
                };
                self.named.push(id);
                (
                    self.chain.tx(&issuer, pb::payload::Kind::Publish(p)),
                    intent,
                )
            }
            Op::Grant {
                sender,
                cert,
                grantee,
                purpose,
                until_height,
                until,
            } => {
                let sender = Self::pick(&self.departments, sender).to_string();
                let g = pb::GrantAccess {
                    cert_id: self.cert(cert),
                    grantee: Self::pick(&self.departments, grantee).to_string(),
                    purpose: Self::pick(&self.purposes, purpose).to_string(),
                    until_height: u64::from(until_height),
                    until_date: until.map(|d| format_date(Self::day(d))).unwrap_or_default(),
                };
                let intent = Intent::Grant {
                    sender: sender.clone(),
                    cert: g.cert_id.clone(),
                    grantee: g.grantee.clone(),
                    purpose: g.purpose.clone(),
                    until_height: g.until_height,
                    until: until.map(Self::day),
                };
                (self.chain.tx(&sender, pb::payload::Kind::Grant(g)), intent)
            }
            Op::Request {
                sender,
                cert,
                purpose,
            } => {
                let sender = Self::pick(&self.departments, sender).to_string();
                let r = pb::RequestAccess {
                    cert_id: self.cert(cert),
                    purpose: Self::pick(&self.purposes, purpose).to_string(),
                };
                let intent = Intent::Request {
                    sender: sender.clone(),
                    cert: r.cert_id.clone(),
                    purpose: r.purpose.clone(),
                };
                (
                    self.chain.tx(&sender, pb::payload::Kind::Request(r)),
                    intent,
                )
            }
            Op::Revoke {
                sender,
                cert,
                grant,
            } => {
                let sender = Self::pick(&self.departments, sender).to_string();
                let cert = self.cert(cert);
                // One of the certificate's grants, or (one choice more) one it never had.
                let grant = grant.map(|i| {
                    let ids = self
                        .rules
                        .certs
                        .get(&cert)
                        .map_or(&[][..], |c| &c.grants[..]);
                    ids.get(usize::from(i) % (ids.len() + 1))
                        .copied()
                        .unwrap_or(u64::MAX)
                });
                let r = pb::Revoke {
                    cert_id: cert.clone(),
                    grant_id: grant.unwrap_or(0),
                    reason: String::new(),
                };
                let intent = Intent::Revoke {
                    sender: sender.clone(),
                    cert,
                    grant,
                };
                (self.chain.tx(&sender, pb::payload::Kind::Revoke(r)), intent)
            }
            Op::EndBlock(_) => unreachable!("a block end is not a transaction"),
        }
    }

    /// Executes and commits `txs` as the next block, `step_ms` after the last, then
    /// checks its receipts in order and the state after it.
    fn block(&mut self, txs: Vec<(VerifiedTx, Intent)>, step_ms: u64) {
        let (txs, intents): (Vec<_>, Vec<_>) = txs.into_iter().unzip();
        let (receipts, _) = self
            .chain
            .block(&txs, step_ms)
            .expect("execution has no node-local failure");
        assert_eq!(receipts.len(), txs.len());
        let first_seq = self.audit_seq + 1;
        for (intent, receipt) in intents.iter().zip(&receipts) {
            self.receipt(intent, receipt);
        }
        self.check_points();
        self.check_audit_span(first_seq);
    }

    /// The block being checked: its height and its China Standard Time day.
    fn now(&self) -> (u64, i64) {
        (self.chain.height, block_date(self.chain.time_ms))
    }

    /// Checks one receipt against the model, then updates the model.
    fn receipt(&mut self, intent: &Intent, r: &pb::Receipt) {
        let outcome = if r.status == pb::TxStatus::Ok as i32 {
            Ok(())
        } else {
            Err(ErrorCode::try_from(r.error_code as i32).expect("a known error code"))
        };
        let (height, today) = self.now();
        let expected = self.rules.expected(intent, height, today);
        assert_eq!(outcome, expected, "{intent:?}: {}", r.error_message);
        if outcome.is_err() {
            assert!(r.events.is_empty(), "a failed transaction has no events");
            return;
        }
        let mut grant = None;
        match intent {
            Intent::Publish {
                issuer, cert_type, ..
            } => {
                let ty = self.rules.cert_type(cert_type);
                let period = self.chain.time_ms / self.params.period_ms.max(1);
                let earned = self.rewards.entry((issuer.clone(), period)).or_default();
                let reward = ty
                    .publish_reward
                    .min(self.params.reward_cap_per_period.saturating_sub(*earned));
                assert_eq!(
                    attr(r, "certificate_published", "reward"),
                    reward.to_string()
                );
                *earned += reward;
                self.minted += reward;
                *self.balances.get_mut(issuer).expect("a department") += reward;
            }
            Intent::Grant { .. } => {
                grant = Some(
                    attr(r, "grant_created", "grant")
                        .parse()
                        .expect("a grant id"),
                );
            }
            Intent::Request {
                sender,
                cert,
                purpose,
            } => self.read(r, sender, cert, purpose, height, today),
            Intent::Revoke { .. } => {}
        }
        self.rules.apply(intent, grant);
    }

    /// Checks the gate's decision of an executed request and its audit record.
    fn read(
        &mut self,
        r: &pb::Receipt,
        sender: &str,
        cert_id: &str,
        purpose: &str,
        height: u64,
        today: i64,
    ) {
        let seq: u64 = attr(r, "access", "request").parse().expect("a sequence");
        self.audit_seq += 1;
        assert_eq!(seq, self.audit_seq, "audit records are numbered in order");
        let record = audit::record(&self.chain.store, seq)
            .expect("the index column reads")
            .unwrap_or_else(|| panic!("a read decision without audit record {seq}"));
        let allowed = attr(r, "access", "decision") == "allow";
        let points: u64 = attr(r, "access", "points").parse().expect("points");
        let cert = &self.rules.certs[cert_id];
        let decision = if allowed {
            pb::Decision::Allow
        } else {
            pb::Decision::Deny
        };
        assert_eq!(
            (
                record.decision,
                record.requester.as_str(),
                record.owner.as_str(),
                record.cert_id.as_str(),
                record.purpose.as_str(),
                record.points,
                record.height,
                record.tx_hash.as_slice(),
            ),
            (
                decision as i32,
                sender,
                cert.issuer.as_str(),
                cert_id,
                purpose,
                points,
                height,
                r.tx_hash.as_slice(),
            ),
            "the audit record is the decision"
        );
        assert_eq!(attr(r, "access", "owner"), cert.issuer);
        let own = sender == cert.issuer;
        if cert.lapsed(today) {
            assert!(
                !allowed,
                "a revoked or expired certificate was read: {record:?}"
            );
        } else if own {
            assert!(allowed && points == 0, "an issuer's own read: {record:?}");
        }
        if !allowed {
            assert_eq!(points, 0, "a denied read paid");
            if record.reason.starts_with("insufficient points") {
                let price = self.rules.cert_type(&cert.cert_type).price;
                assert!(self.balances[sender] < price, "{record:?}");
            }
            return;
        }
        if record.grant_id != 0 {
            let g = self.rules.grants.get(&record.grant_id).unwrap_or_else(|| {
                panic!(
                    "a read allowed through grant {} that was never created",
                    record.grant_id
                )
            });
            assert!(
                g.live(height, today)
                    && g.cert == cert_id
                    && g.grantee == sender
                    && g.purpose == purpose,
                "a read allowed through grant {}: {g:?}",
                record.grant_id
            );
        }
        if !own {
            let price = self.rules.cert_type(&cert.cert_type).price;
            assert_eq!(points, price, "an allowed read pays the type's price");
            let issuer = cert.issuer.clone();
            let payer = self.balances.get_mut(sender).expect("a department");
            *payer = payer
                .checked_sub(price)
                .expect("a read paid beyond the balance");
            *self.balances.get_mut(&issuer).expect("a department") += price;
        }
    }

    /// Points conservation after a block: balances, supply counters and ledgers.
    fn check_points(&self) {
        let store = &self.chain.store;
        let b = query::balances(store, "").expect("balances");
        let balances: BTreeMap<String, u64> = b
            .balances
            .iter()
            .map(|x| (x.department.clone(), x.balance))
            .collect();
        assert_eq!(
            balances, self.balances,
            "balances are what the receipts say"
        );
        assert_eq!(
            (b.genesis, b.minted, b.burned),
            (self.genesis, self.minted, 0),
            "supply counters"
        );
        let sum: u64 = balances.values().sum();
        assert_eq!(sum, b.genesis + b.minted - b.burned, "points conserved");
        for (dept, balance) in &balances {
            let mut total: i64 = 0;
            let mut last = None;
            let mut after = 0;
            loop {
                let page = query::history(store, dept, after, 0).expect("the ledger reads");
                for e in &page.entries {
                    assert_eq!(&e.department, dept);
                    total += e.delta;
                    assert_eq!(
                        u64::try_from(total),
                        Ok(e.balance),
                        "ledger of {dept}: {e:?}"
                    );
                    last = Some(e.balance);
                }
                if page.next == 0 {
                    break;
                }
                after = page.next;
            }
            assert_eq!(
                last,
                Some(*balance),
                "the ledger of {dept} ends at its balance"
            );
        }
    }

    /// The block's audit records: the sequence counter and the block's span.
    fn check_audit_span(&self, first_seq: u64) {
        let store = &self.chain.store;
        let seq = store
            .read_or_default(&tables::AUDIT_SEQ, ())
            .expect("the audit sequence reads");
        assert_eq!(seq, self.audit_seq, "one audit record per read decision");
        let span = store
            .read(&tables::AUDIT_BLOCK, self.chain.height)
            .expect("the audit span reads");
        let count = self.audit_seq + 1 - first_seq;
        let expected = (count > 0).then_some(tables::AuditSpan {
            first: first_seq,
            count: u32::try_from(count).expect("few records"),
        });
        assert_eq!(span, expected, "the block's audit span");
    }
}

/// The value of attribute `key` of the receipt's `kind` event.
fn attr<'a>(r: &'a pb::Receipt, kind: &str, key: &str) -> &'a str {
    let event = r
        .events
        .iter()
        .find(|e| e.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {r:?}"));
    event
        .attributes
        .iter()
        .find(|a| a.key == key)
        .map(|a| a.value.as_str())
        .unwrap_or_else(|| panic!("no {key} in the {kind} event"))
}
