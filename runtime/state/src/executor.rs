//! Deterministic block execution.

use std::collections::BTreeMap;
use std::sync::Arc;

use govchain_crypto::{Sm3Hasher, merkle, sm3};
use govchain_store::Store;
use govchain_types::{Coded, Hash, TxError, pb};

use crate::admission::{account_label, nonce_value, registered_key_in};
use crate::contracts::ContractHost;
use crate::{Admission, Genesis, Overlay, Result, StateError, VerifiedTx, governance, keys};
use govchain_vm::{CallError, CallRequest, Vm};

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
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Secondary index entries.
    pub index: Vec<(Vec<u8>, Vec<u8>)>,
    /// Merkle root over transaction hashes.
    pub tx_root: Hash,
    /// Merkle root over encoded receipts.
    pub receipts_root: Hash,
    /// Merkle root over audit records.
    pub audit_root: Hash,
    /// State commitment after the block.
    pub state_root: Hash,
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
}

/// State root after a block: SM3(previous root || SM3(write set)), where the write set is
/// encoded in key order as `len(k) || k || 0` for a delete or `len(k) || k || 1 ||
/// len(v) || v` for a put, lengths u32 big-endian.
pub fn next_state_root(prev: &Hash, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Hash {
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
        })
    }

    /// Executes the genesis document as block 0.
    pub fn execute_genesis(&self, genesis: &Genesis) -> Result<ExecutedBlock> {
        let mut o = Overlay::new(self.store.clone());
        genesis.apply(&mut o)?;
        let writes = o.into_writes();
        let empty: [&[u8]; 0] = [];
        Ok(ExecutedBlock {
            receipts: vec![],
            state_root: next_state_root(&[0; 32], &writes),
            writes,
            index: vec![],
            tx_root: merkle::root(&empty),
            receipts_root: merkle::root(&empty),
            audit_root: merkle::root(&empty),
        })
    }

    /// Executes `txs` in order on top of committed state. A failing transaction gets a
    /// FAILED receipt and none of its writes; the others are unaffected.
    pub fn execute(
        &self,
        ctx: &BlockContext,
        txs: &[VerifiedTx],
        prev_state_root: &Hash,
    ) -> Result<ExecutedBlock> {
        let _span = tracing::debug_span!("execute", height = ctx.height, txs = txs.len()).entered();
        let mut o = Overlay::new(self.store.clone());
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
            let outcome = execute_tx(&mut o, &self.vm, ctx, tx, &mut events, &mut receipt);
            match outcome {
                Ok(()) => {
                    o.commit_tx();
                    receipt.events = events;
                }
                Err(TxFailure {
                    error,
                    consume_nonce,
                }) => {
                    o.discard_tx();
                    if consume_nonce {
                        bump_nonce(&mut o, tx)?;
                        o.commit_tx();
                    }
                    receipt.status = pb::TxStatus::Failed as i32;
                    receipt.error_code = error.code() as u32;
                    receipt.error_message = error.to_string();
                }
            }
            receipts.push(receipt);
        }
        let writes = o.into_writes();
        let hashes: Vec<&[u8]> = txs.iter().map(|t| t.hash.as_slice()).collect();
        let encoded: Vec<Vec<u8>> = receipts.iter().map(govchain_types::encode).collect();
        let empty: [&[u8]; 0] = [];
        Ok(ExecutedBlock {
            tx_root: merkle::root(&hashes),
            receipts_root: merkle::root(&encoded),
            audit_root: merkle::root(&empty),
            state_root: next_state_root(prev_state_root, &writes),
            receipts,
            writes,
            index: vec![],
        })
    }

    /// Runs a read-only `query_<method>` of `contract` over committed state as of the
    /// block `ctx` describes; returns the output and the gas used. Nothing is written.
    pub fn query(
        &self,
        ctx: &BlockContext,
        contract: &str,
        method: &str,
        args: Vec<u8>,
        requested_gas: u64,
    ) -> std::result::Result<(Vec<u8>, u64), TxError> {
        let o = Overlay::new(self.store.clone());
        let rec = governance::contract(&o, contract)?;
        if !rec.queries.iter().any(|q| q == method) {
            return Err(TxError::NotFound {
                what: format!("query '{method}' of contract '{contract}'"),
            });
        }
        let gas = gas_limit(requested_gas)?;
        let outcome = run_contract(
            &self.vm,
            &rec,
            o,
            method,
            args,
            gas,
            true,
            String::new(),
            ctx,
        )?;
        match outcome.result {
            Ok(out) => Ok((out, outcome.gas_used)),
            Err(CallError::OutOfGas { limit }) => Err(TxError::OutOfGas { limit }),
            Err(e) => Err(TxError::ContractFailed {
                contract: contract.into(),
                method: method.into(),
                reason: e.to_string(),
            }),
        }
    }

    /// An admission checker over the same store.
    pub fn admission(&self) -> Result<Admission> {
        Admission::new(self.store.clone())
    }
}

struct TxFailure {
    error: TxError,
    /// Whether the nonce is used up although the payload failed (true once the account
    /// checks passed: the transaction is on chain and must not be replayable).
    consume_nonce: bool,
}

impl From<crate::StateError> for TxFailure {
    fn from(e: crate::StateError) -> Self {
        TxFailure {
            error: TxError::Internal(e.to_string()),
            consume_nonce: false,
        }
    }
}

fn bump_nonce(o: &mut Overlay, tx: &VerifiedTx) -> Result<()> {
    let key = keys::nonce(&tx.body.sender, &tx.body.operator);
    let next = nonce_value(o.get(&key)?).unwrap_or(0) + 1;
    o.put(key, next.to_be_bytes().to_vec());
    Ok(())
}

fn execute_tx(
    o: &mut Overlay,
    vm: &Vm<ContractHost>,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    events: &mut Vec<pb::Event>,
    receipt: &mut pb::Receipt,
) -> std::result::Result<(), TxFailure> {
    let body = &tx.body;
    let pre = |error| TxFailure {
        error,
        consume_nonce: false,
    };
    // Account checks again against the state this block sees: governance may have
    // rotated a key or removed a department since admission. The signature itself was
    // verified at admission and is bound to the key compared here.
    let key = registered_key_in(|k| o.get(k), &body.sender, &body.operator).map_err(pre)?;
    if key != tx.tx.signer_pubkey {
        return Err(pre(TxError::KeyMismatch {
            account: tx.account(),
            presented: "signer".into(),
        }));
    }
    let expected = nonce_value(o.get(&keys::nonce(&body.sender, &body.operator))?).map_err(pre)?;
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
    bump_nonce(o, tx)?;
    let kind = body
        .payload
        .as_ref()
        .and_then(|p| p.kind.as_ref())
        .ok_or_else(|| pre(TxError::MissingPayload))?;
    let post = |error| TxFailure {
        error,
        consume_nonce: true,
    };
    match kind {
        pb::payload::Kind::Anchor(a) => anchor(o, ctx, tx, a, events).map_err(post),
        pb::payload::Kind::Propose(p) => {
            governance::propose(o, vm, ctx, &body.sender, p, events).map_err(post)
        }
        pb::payload::Kind::Vote(v) => {
            governance::vote(o, ctx, &body.sender, v, events).map_err(post)
        }
        pb::payload::Kind::Call(c) => {
            call_contract(o, vm, ctx, tx, c, events, receipt).map_err(post)
        }
    }
}

fn call_contract(
    o: &mut Overlay,
    vm: &Vm<ContractHost>,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    c: &pb::ContractCall,
    events: &mut Vec<pb::Event>,
    receipt: &mut pb::Receipt,
) -> std::result::Result<(), TxError> {
    let rec = governance::contract(o, &c.contract)?;
    if !rec.calls.contains(&c.method) {
        return Err(TxError::NotFound {
            what: format!("method '{}' of contract '{}'", c.method, c.contract),
        });
    }
    let gas = gas_limit(c.gas_limit)?;
    let outcome = run_contract(
        vm,
        &rec,
        o.take(),
        &c.method,
        c.args.clone(),
        gas,
        false,
        tx.account(),
        ctx,
    )?;
    *o = outcome.host.overlay;
    receipt.gas_used = outcome.gas_used;
    match outcome.result {
        Ok(output) => {
            for e in outcome.events {
                let mut attributes = vec![pb::Attribute {
                    key: "contract".into(),
                    value: c.contract.clone(),
                }];
                attributes.extend(
                    e.attributes
                        .into_iter()
                        .map(|(key, value)| pb::Attribute { key, value }),
                );
                events.push(pb::Event {
                    kind: e.kind,
                    attributes,
                });
            }
            receipt.output = output;
            Ok(())
        }
        Err(CallError::OutOfGas { limit }) => Err(TxError::OutOfGas { limit }),
        Err(e) => Err(TxError::ContractFailed {
            contract: c.contract.clone(),
            method: c.method.clone(),
            reason: e.to_string(),
        }),
    }
}

/// Runs `method` of a deployed contract with `overlay` as its view of state.
#[allow(clippy::too_many_arguments)]
fn run_contract(
    vm: &Vm<ContractHost>,
    rec: &pb::ContractRecord,
    overlay: Overlay,
    method: &str,
    input: Vec<u8>,
    gas_limit: u64,
    read_only: bool,
    caller: String,
    ctx: &BlockContext,
) -> std::result::Result<govchain_vm::CallOutcome<ContractHost>, TxError> {
    let code_hash: [u8; 32] = rec
        .code_hash
        .as_slice()
        .try_into()
        .map_err(|_| TxError::Internal("code hash".into()))?;
    // Read the code (committed or pending in this block) unless the VM has it compiled,
    // so a cache miss never changes the outcome.
    let code = if vm.is_cached(&code_hash) {
        None
    } else {
        overlay
            .get(&keys::code(&code_hash))
            .map_err(|e| TxError::Internal(e.to_string()))?
    };
    let host = ContractHost::new(overlay, &rec.name, caller, ctx.height, ctx.time_ms);
    Ok(vm.call(
        CallRequest {
            code_hash,
            method,
            input,
            gas_limit,
            read_only,
        },
        host,
        move || code.ok_or_else(|| "contract code missing from state".to_string()),
    ))
}

fn gas_limit(requested: u64) -> std::result::Result<u64, TxError> {
    match requested {
        0 => Ok(DEFAULT_GAS),
        g if g > MAX_GAS => Err(TxError::InvalidArgument {
            field: "gas_limit",
            reason: format!("at most {MAX_GAS}"),
        }),
        g => Ok(g),
    }
}

fn anchor(
    o: &mut Overlay,
    ctx: &BlockContext,
    tx: &VerifiedTx,
    a: &pb::Anchor,
    events: &mut Vec<pb::Event>,
) -> std::result::Result<(), TxError> {
    if a.key.is_empty() || a.key.len() > 128 || !a.key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TxError::InvalidArgument {
            field: "anchor.key",
            reason: "must be 1 to 128 printable ASCII characters without spaces".into(),
        });
    }
    if a.digest.len() != 32 {
        return Err(TxError::InvalidArgument {
            field: "anchor.digest",
            reason: format!("must be a 32-byte SM3 digest, got {} bytes", a.digest.len()),
        });
    }
    if a.note.len() > 256 {
        return Err(TxError::InvalidArgument {
            field: "anchor.note",
            reason: format!("at most 256 bytes, got {}", a.note.len()),
        });
    }
    let key = keys::anchor(&tx.body.sender, &a.key);
    if o.get(&key)
        .map_err(|e| TxError::Internal(e.to_string()))?
        .is_some()
    {
        return Err(TxError::AlreadyExists {
            what: format!("anchor '{}' of '{}'", a.key, tx.body.sender),
        });
    }
    let rec = pb::AnchorRecord {
        department: tx.body.sender.clone(),
        key: a.key.clone(),
        digest: a.digest.clone(),
        note: a.note.clone(),
        height: ctx.height,
        tx_hash: tx.hash.to_vec(),
    };
    o.put(key, govchain_types::encode(&rec));
    events.push(pb::Event {
        kind: "anchor".into(),
        attributes: vec![
            pb::Attribute {
                key: "department".into(),
                value: tx.body.sender.clone(),
            },
            pb::Attribute {
                key: "key".into(),
                value: a.key.clone(),
            },
            pb::Attribute {
                key: "digest".into(),
                value: hex::encode(&a.digest),
            },
        ],
    });
    Ok(())
}
