//! Deterministic block execution.

use std::sync::{Arc, Mutex};

use govchain_crypto::{Sm3Hasher, merkle, sm3};
use govchain_store::{Records, Store};
use govchain_types::event::{ContractEvent, Event};
use govchain_types::{Coded, ExecError, Hash, TxError, pb};

use crate::access::accounts::{Account, registered_key_in};
use crate::access::audit;
use crate::access::policy::Policy;
use crate::contracts::{Caller, ContractHost};
use crate::{
    Admission, ChainParams, Genesis, Overlay, Result, StateError, StateWrites, VerifiedTx, anchors,
    certs, compute, custody, evidence, governance, internal, requests, tables,
};
use govchain_types::account_label;
use govchain_vm::{CallError, CallRequest, EntryKind, Vm};

/// What the block header supplies to execution.
#[derive(Debug, Clone)]
pub struct BlockContext {
    /// Height being executed.
    pub height: u64,
    /// Block time from the header, Unix ms (the only clock execution sees).
    pub time_ms: u64,
    /// Proposer id.
    pub proposer: String,
}

/// The result of executing a block.
#[derive(Debug)]
pub struct ExecutedBlock {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<pb::Receipt>,
    /// Sorted write set.
    pub writes: StateWrites,
    /// Secondary index entries.
    pub index: Vec<(Vec<u8>, Vec<u8>)>,
    /// Merkle root over transaction hashes.
    pub tx_root: Hash,
    /// Merkle root over encoded receipts.
    pub receipts_root: Hash,
    /// Merkle root over audit records.
    pub audit_root: Hash,
    /// Number of audit records.
    pub audit_count: u32,
    /// State commitment after the block.
    pub state_root: Hash,
    /// SM3 of the voting validator set the block executed on (`validators_hash`).
    pub validators_hash: Hash,
    /// SM3 of the voting validator set after the block (`next_validators_hash`).
    pub next_validators_hash: Hash,
}

/// SM3 of the voting validator set in `o`.
fn set_hash(o: &Overlay) -> Result<Hash> {
    crate::nodes::voting_set(o)
        .map(|set| set.hash())
        .map_err(|e| StateError::Node(format!("the voting validator set: {e}")))
}

/// Gas of a contract call that sets none.
pub const DEFAULT_GAS: u64 = 50_000_000;
/// Most gas one call may ask for.
pub const MAX_GAS: u64 = 1_000_000_000;

/// Executes admitted transactions against committed state.
#[derive(Debug, Clone)]
pub struct Executor {
    store: Arc<Store>,
    vm: Arc<Vm<ContractHost>>,
    /// The enforcer of the committed policy version (rebuilt when governance changes it).
    policy: Arc<Mutex<Option<Arc<Policy>>>>,
}

/// State root after a block: SM3(previous root || SM3(write set)), where the write set is
/// encoded in key order as `len(k) || k || 0` for a delete or `len(k) || k || 1 ||
/// len(v) || v` for a put, lengths u32 big-endian.
pub fn next_state_root(prev: &Hash, writes: &StateWrites) -> Hash {
    let mut h = Sm3Hasher::new();
    for (k, v) in writes {
        h.update(&(k.len() as u32).to_be_bytes());
        h.update(k);
        match v {
            None => h.update(&[0]),
            Some(v) => {
                h.update(&[1]);
                h.update(&(v.len() as u32).to_be_bytes());
                h.update(v);
            }
        }
    }
    let ws = h.finalize();
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(prev);
    both[32..].copy_from_slice(&ws);
    sm3(&both)
}

impl Executor {
    /// An executor over `store`.
    pub fn new(store: Arc<Store>) -> Result<Self> {
        let vm = Vm::new().map_err(StateError::Vm)?;
        Ok(Executor {
            store,
            vm: Arc::new(vm),
            policy: Arc::new(Mutex::new(None)),
        })
    }

    /// The policy in force for the next block: built from committed state, so a change
    /// approved in block h applies from block h+1.
    pub fn policy(&self) -> Result<Arc<Policy>> {
        self.policy_at(&Overlay::new(self.store.clone()))
    }

    /// The policy in force in the state `o` reads.
    fn policy_at(&self, o: &Overlay) -> Result<Arc<Policy>> {
        let version = crate::access::policy::version(o)?;
        let mut cached = self.policy.lock().expect("policy lock");
        if let Some(p) = cached.as_ref().filter(|p| p.version() == version) {
            return Ok(p.clone());
        }
        let _span = tracing::info_span!("load_policy", version).entered();
        let p = Arc::new(Policy::load(o)?);
        *cached = Some(p.clone());
        Ok(p)
    }

    /// Executes the genesis document as block 0.
    pub fn execute_genesis(&self, genesis: &Genesis) -> Result<ExecutedBlock> {
        let mut o = Overlay::new(self.store.clone());
        genesis.apply(&mut o)?;
        let validators_hash = set_hash(&o)?;
        let writes = o.into_writes();
        let empty: [&[u8]; 0] = [];
        Ok(ExecutedBlock {
            receipts: vec![],
            state_root: next_state_root(&[0; 32], &writes.state),
            writes: writes.state,
            index: writes.index,
            tx_root: merkle::root(&empty),
            receipts_root: merkle::root(&empty),
            audit_root: merkle::root(&empty),
            audit_count: 0,
            validators_hash,
            next_validators_hash: validators_hash,
        })
    }

    /// Executes `txs` in order on top of committed state and `base` (the writes of the
    /// uncommitted blocks below this one, oldest first; empty when the block extends the
    /// committed tip). A failing transaction gets a FAILED receipt and none of its
    /// writes; the others are unaffected.
    pub fn execute(
        &self,
        ctx: &BlockContext,
        txs: &[VerifiedTx],
        prev_state_root: &Hash,
        base: Vec<Arc<StateWrites>>,
    ) -> Result<ExecutedBlock> {
        let _span = tracing::debug_span!("execute", height = ctx.height, txs = txs.len()).entered();
        let share_verdicts = custody::check_ahead(&self.store, &base, txs);
        let mut o = Overlay::over(self.store.clone(), base);
        let policy = self.policy_at(&o)?;
        let params = chain_params(&o)?;
        let validators_hash = set_hash(&o)?;
        let env = Env {
            vm: &self.vm,
            ctx,
            policy: &policy,
            params: &params,
            share_verdicts: &share_verdicts,
        };
        let mut receipts = Vec::with_capacity(txs.len());
        for (i, tx) in txs.iter().enumerate() {
            o.begin_tx();
            let mut events = Vec::new();
            let mut receipt = pb::Receipt {
                tx_hash: tx.hash.to_vec(),
                height: ctx.height,
                index: i as u32,
                status: pb::TxStatus::Ok as i32,
                ..Default::default()
            };
            let outcome = execute_tx(&mut o, &env, tx, &mut events, &mut receipt);
            match outcome {
                Ok(()) => {
                    o.commit_tx();
                    receipt.events = events;
                }
                Err(TxFailure {
                    error: ExecError::Node(why),
                    ..
                }) => {
                    // A node-local failure (storage, a corrupt record) is not an outcome
                    // of the transaction: another node would not see it. The block is
                    // not produced, and the node stops rather than diverge.
                    return Err(StateError::Node(format!(
                        "transaction {} in block {}: {}",
                        govchain_types::HashHex(&tx.hash),
                        ctx.height,
                        why.0
                    )));
                }
                Err(TxFailure {
                    error: ExecError::Tx(error),
                    consume_nonce,
                }) => {
                    o.discard_tx();
                    if consume_nonce {
                        bump_nonce(&mut o, tx).map_err(|e| {
                            StateError::Node(format!("nonce of {}: {e}", tx.account()))
                        })?;
                    }
                    o.commit_tx();
                    receipt.status = pb::TxStatus::Failed as i32;
                    receipt.error_code = error.code() as u32;
                    receipt.error_message = error.to_string();
                }
            }
            receipts.push(receipt);
        }
        let next_set = crate::nodes::voting_set(&o)
            .map_err(|e| StateError::Node(format!("the voting validator set: {e}")))?;
        let next_validators_hash = next_set.hash();
        let writes = o.into_writes();
        let hashes: Vec<&[u8]> = txs.iter().map(|t| t.hash.as_slice()).collect();
        let encoded: Vec<Vec<u8>> = receipts.iter().map(govchain_types::encode).collect();
        let (audit_root, audit_index) = audit::block_entries(ctx.height, &writes.audit);
        let mut index = writes.index;
        index.extend(audit_index);
        // Where the set changes, what light verifiers must be told (audit exports).
        if next_validators_hash != validators_hash {
            index.push(tables::SET_CHANGE.entry(ctx.height, &next_set.to_pb()));
        }
        Ok(ExecutedBlock {
            tx_root: merkle::root(&hashes),
            receipts_root: merkle::root(&encoded),
            audit_root,
            audit_count: writes.audit.len() as u32,
            state_root: next_state_root(prev_state_root, &writes.state),
            receipts,
            writes: writes.state,
            index,
            validators_hash,
            next_validators_hash,
        })
    }

    /// Runs a read-only `query_<method>` of `contract` over committed state as of the
    /// block `ctx` describes, for `caller` (the signer of the read; nobody for an
    /// unsigned one, and a contract may refuse that); returns the output and the gas
    /// used. Nothing is written.
    pub fn query(
        &self,
        ctx: &BlockContext,
        caller: Caller,
        contract: &str,
        method: &str,
        args: Vec<u8>,
        requested_gas: u64,
    ) -> std::result::Result<(Vec<u8>, u64), ExecError> {
        let o = Overlay::new(self.store.clone());
        let rec = governance::contract(&o, contract)?;
        if !rec.queries.iter().any(|q| q == method) {
            return Err(TxError::NotFound {
                what: format!("query '{method}' of contract '{contract}'"),
            }
            .into());
        }
        let gas = gas_limit(requested_gas)?;
        let (code_hash, code) = contract_code(&self.vm, &rec.code_hash, &o)?;
        let host = ContractHost::new(o, &rec.name, caller, ctx.clone(), None);
        let req = CallRequest {
            code_hash,
            method,
            input: args,
            gas_limit: gas,
            kind: EntryKind::Query,
            max_write_bytes: 0,
        };
        let outcome = run_contract(&self.vm, code, host, req);
        match outcome.result {
            Ok(out) => Ok((out, outcome.gas_used)),
            Err(CallError::OutOfGas { limit }) => Err(TxError::OutOfGas { limit }.into()),
            Err(e) => Err(TxError::ContractFailed {
                contract: contract.into(),
                method: method.into(),
                reason: e.to_string(),
            }
            .into()),
        }
    }

    /// Runs compute job `req` (its `job_<method>`, with the code hash it was approved
    /// with) read-only over committed state at `ctx`, with `input` (the requester's
    /// arguments, the certificate and its decrypted document) as the call's input and
    /// the requester as the caller. Only the job's executor ever calls this. Returns the
    /// output or the contract's error, and the gas used.
    pub fn run_job(
        &self,
        ctx: &BlockContext,
        req: &pb::AccessRequest,
        input: Vec<u8>,
    ) -> std::result::Result<(std::result::Result<Vec<u8>, String>, u64), ExecError> {
        let job = req.job.as_ref().ok_or_else(|| TxError::InvalidArgument {
            field: "request",
            reason: format!("request {} is not a compute job", req.seq),
        })?;
        let o = Overlay::new(self.store.clone());
        let (code_hash, code) = contract_code(&self.vm, &job.code_hash, &o)?;
        let caller = Caller {
            department: req.requester.clone(),
            operator: req.operator.clone(),
            tx_hash: req.tx_hash.as_slice().try_into().unwrap_or_default(),
        };
        let host = ContractHost::new(o, &job.contract, caller, ctx.clone(), None);
        let req = CallRequest {
            code_hash,
            method: &job.method,
            input,
            gas_limit: MAX_GAS,
            kind: EntryKind::Job,
            max_write_bytes: 0,
        };
        let outcome = run_contract(&self.vm, code, host, req);
        match outcome.result {
            Ok(out) => Ok((Ok(out), outcome.gas_used)),
            Err(CallError::Fatal(why)) => Err(internal(why)),
            Err(e) => Ok((Err(e.to_string()), outcome.gas_used)),
        }
    }

    /// An admission checker over the same store.
    pub fn admission(&self) -> Result<Admission> {
        Admission::new(self.store.clone())
    }
}

struct TxFailure {
    error: ExecError,
    /// Whether the nonce is used up although the payload failed (true once the account
    /// checks passed: the transaction is on chain and must not be replayable).
    consume_nonce: bool,
}

impl From<crate::StateError> for TxFailure {
    fn from(e: crate::StateError) -> Self {
        TxFailure {
            error: internal(e),
            consume_nonce: false,
        }
    }
}

fn bump_nonce(o: &mut Overlay, tx: &VerifiedTx) -> std::result::Result<(), ExecError> {
    let key = (tx.body.sender.as_str(), tx.body.operator.as_str());
    let next = o.read_or_default(&tables::NONCE, key).map_err(internal)? + 1;
    o.write(&tables::NONCE, key, &next);
    Ok(())
}

fn chain_params(o: &Overlay) -> Result<ChainParams> {
    crate::genesis_record(o, &tables::PARAMS)
}

/// What every transaction of a block executes with.
struct Env<'a> {
    vm: &'a Vm<ContractHost>,
    ctx: &'a BlockContext,
    policy: &'a Arc<Policy>,
    params: &'a ChainParams,
    /// Verdicts on the key-share batches checked before the block's transactions ran.
    share_verdicts: &'a custody::Verdicts,
}

fn execute_tx(
    o: &mut Overlay,
    env: &Env<'_>,
    tx: &VerifiedTx,
    events: &mut Vec<pb::Event>,
    receipt: &mut pb::Receipt,
) -> std::result::Result<(), TxFailure> {
    let ctx = env.ctx;
    let body = &tx.body;
    fn pre(error: impl Into<ExecError>) -> TxFailure {
        TxFailure {
            error: error.into(),
            consume_nonce: false,
        }
    }
    // Account checks again against the state this block sees: governance may have
    // rotated a key or removed a department since admission. The signature itself was
    // verified at admission and is bound to the key compared here.
    let key = registered_key_in(o, &body.sender, &body.operator).map_err(pre)?;
    if key != tx.tx.signer_pubkey {
        return Err(pre(TxError::KeyMismatch {
            account: tx.account(),
            presented: "signer".into(),
        }));
    }
    let expected = o
        .read_or_default(&tables::NONCE, (&body.sender, &body.operator))
        .map_err(|e| pre(internal(e)))?;
    if body.nonce != expected {
        let account = account_label(&body.sender, &body.operator);
        return Err(pre(if body.nonce < expected {
            TxError::NonceReplayed {
                account,
                expected,
                got: body.nonce,
            }
        } else {
            TxError::NonceGap {
                account,
                expected,
                got: body.nonce,
            }
        }));
    }
    if body.expiry_height != 0 && body.expiry_height < ctx.height {
        return Err(pre(TxError::Expired {
            expiry: body.expiry_height,
            height: ctx.height,
        }));
    }
    bump_nonce(o, tx).map_err(pre)?;
    let kind = body
        .payload
        .as_ref()
        .and_then(|p| p.kind.as_ref())
        .ok_or_else(|| pre(TxError::MissingPayload))?;
    fn post(error: impl Into<ExecError>) -> TxFailure {
        TxFailure {
            error: error.into(),
            consume_nonce: true,
        }
    }
    use pb::payload::Kind;
    let sender = body.sender.as_str();
    // A validator account sends key generation steps, key-share releases, job results
    // and evidence and nothing else; those come from validators only.
    if matches!(Account::parse(sender), Account::Validator(_))
        && !matches!(
            kind,
            Kind::Release(_) | Kind::Result(_) | Kind::Evidence(_) | Kind::Keygen(_)
        )
    {
        return Err(post(TxError::Unauthorized {
            who: sender.to_string(),
            action: "send anything but key generation, key-share releases, job results and evidence (validator account)",
        }));
    }
    match kind {
        Kind::Anchor(a) => anchors::anchor(o, ctx, tx, a, events),
        Kind::Propose(p) => governance::propose(o, env.vm, ctx, &tx.hash, sender, p, events),
        Kind::Vote(v) => governance::vote(o, ctx, &tx.hash, sender, v, events),
        Kind::Call(c) => call_contract(o, env, tx, c, events, receipt),
        Kind::Publish(p) => {
            let max = env.params.max_document_bytes as usize;
            certs::publish(o, ctx, tx, p, max, events)
        }
        Kind::Request(r) => requests::request(o, ctx, env.policy, tx, r, events),
        Kind::Grant(g) => certs::grant(o, ctx, sender, g, events),
        Kind::Revoke(r) => certs::revoke(o, ctx, sender, r, events),
        Kind::Release(r) => custody::release(o, ctx, tx, r, env.share_verdicts, events),
        Kind::Compute(j) => compute::submit(o, ctx, env.policy, tx, j, events)
            .map(|record| events.push(requests::access_event(&record))),
        Kind::Result(r) => compute::post_result(o, ctx, tx, r, events),
        Kind::Evidence(e) => evidence::report(o, ctx, tx, e, events),
        Kind::RotateKey(r) => crate::keys::rotate(o, ctx, tx, r, events),
        Kind::Keygen(k) => crate::keygen::step(o, ctx, tx, k, events),
    }
    .map_err(post)
}

fn call_contract(
    o: &mut Overlay,
    env: &Env<'_>,
    tx: &VerifiedTx,
    c: &pb::ContractCall,
    events: &mut Vec<pb::Event>,
    receipt: &mut pb::Receipt,
) -> std::result::Result<(), ExecError> {
    let rec = governance::contract(o, &c.contract)?;
    if !rec.calls.contains(&c.method) {
        return Err(TxError::NotFound {
            what: format!("method '{}' of contract '{}'", c.method, c.contract),
        }
        .into());
    }
    let gas = gas_limit(c.gas_limit)?;
    let (code_hash, code) = contract_code(env.vm, &rec.code_hash, o)?;
    let caller = Caller {
        department: tx.body.sender.clone(),
        operator: tx.body.operator.clone(),
        tx_hash: tx.hash,
    };
    let host = ContractHost::new(
        o.take(),
        &rec.name,
        caller,
        env.ctx.clone(),
        Some(env.policy.clone()),
    );
    let req = CallRequest {
        code_hash,
        method: &c.method,
        input: c.args.clone(),
        gas_limit: gas,
        kind: EntryKind::Call,
        max_write_bytes: env.params.max_tx_write_bytes,
    };
    let outcome = run_contract(env.vm, code, host, req);
    *o = outcome.host.overlay;
    receipt.gas_used = outcome.gas_used;
    match outcome.result {
        Ok(output) => {
            for e in outcome.events {
                let event = Event::Contract(ContractEvent {
                    contract: c.contract.clone(),
                    kind: e.kind,
                    attributes: e.attributes,
                });
                events.push(event.to_pb());
            }
            receipt.output = output;
            Ok(())
        }
        Err(CallError::OutOfGas { limit }) => Err(TxError::OutOfGas { limit }.into()),
        Err(CallError::WriteLimit { limit }) => Err(TxError::WriteLimit {
            contract: c.contract.clone(),
            limit,
        }
        .into()),
        Err(CallError::Fatal(why)) => Err(internal(why)),
        Err(e) => {
            let mut reason = e.to_string();
            if let Some(denied) = outcome.host.denials.last() {
                reason.push_str(&format!(" (access gate: {denied})"));
            }
            Err(TxError::ContractFailed {
                contract: c.contract.clone(),
                method: c.method.clone(),
                reason,
            }
            .into())
        }
    }
}

/// The code hash of a deployed contract and its prepared code, read from `o` (committed
/// or pending in this block) unless the VM has it compiled, so that a cache miss never
/// changes the outcome.
fn contract_code(
    vm: &Vm<ContractHost>,
    code_hash: &[u8],
    o: &Overlay,
) -> std::result::Result<([u8; 32], Option<Vec<u8>>), ExecError> {
    let code_hash: [u8; 32] = code_hash.try_into().map_err(|_| internal("code hash"))?;
    let code = if vm.is_cached(&code_hash) {
        None
    } else {
        o.read(&tables::CODE, &code_hash).map_err(internal)?
    };
    Ok((code_hash, code))
}

/// Makes call `req` on `host`, with the contract's prepared `code` when the VM has not
/// compiled it yet.
fn run_contract(
    vm: &Vm<ContractHost>,
    code: Option<Vec<u8>>,
    host: ContractHost,
    req: CallRequest<'_>,
) -> govchain_vm::CallOutcome<ContractHost> {
    vm.call(req, host, move || {
        code.ok_or_else(|| "contract code missing from state".to_string())
    })
}

fn gas_limit(requested: u64) -> std::result::Result<u64, ExecError> {
    match requested {
        0 => Ok(DEFAULT_GAS),
        g if g > MAX_GAS => Err(TxError::InvalidArgument {
            field: "gas_limit",
            reason: format!("at most {MAX_GAS}"),
        }
        .into()),
        g => Ok(g),
    }
}
