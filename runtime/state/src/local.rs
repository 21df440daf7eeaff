//! An in-process chain without consensus or signatures: executes and commits blocks of
//! transactions that are taken as already admitted. It measures and tests execution
//! (`govchain bench --kind gate`, the gate's tests); a node never uses it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use govchain_crypto::{PrivateKey, sm3};
use govchain_store::{BlockCommit, Store};
use govchain_types::pb;

use crate::genesis::{
    AccessGenesis, ChainParams, Committee, Genesis, GenesisCustody, GenesisDepartment,
    GenesisValidator,
};
use crate::{BlockContext, ExecutedBlock, Executor, Result, VerifiedTx};

/// A chain of the 'nanjing' departments in a store of its own.
#[derive(Debug)]
pub struct LocalChain {
    /// The store.
    pub store: Arc<Store>,
    /// The executor.
    pub executor: Executor,
    /// The genesis document (its validator key is the tax bureau's).
    pub genesis: Genesis,
    /// Once generated, the custody key set and holder 1's (node1's) share.
    custody: Option<(govchain_custody::KeySet, govchain_custody::SecretShare)>,
    /// The transactions of the key generation block, to replay on another chain of the
    /// same genesis.
    keygen: Vec<VerifiedTx>,
    keys: BTreeMap<String, PrivateKey>,
    nonces: BTreeMap<String, u64>,
    /// Height of the last block.
    pub height: u64,
    /// Time of the last block, Unix ms.
    pub time_ms: u64,
    root: [u8; 32],
}

/// Timings of one block.
#[derive(Debug, Clone, Copy)]
pub struct BlockTimes {
    /// Execution.
    pub execute: Duration,
    /// The atomic commit.
    pub commit: Duration,
}

impl LocalChain {
    /// Writes the genesis of the 'nanjing' departments (fresh keys, the committee `tax`
    /// and `housing`, 2 of 2) with `access`, into `store` (empty: on disk for the
    /// benchmarks, [`Store::in_memory`] for tests), and generates the custody key of its
    /// one validator (1 of 1) in block 1.
    pub fn nanjing(
        store: Store,
        time_ms: u64,
        salt: [u8; 32],
        access: AccessGenesis,
    ) -> Result<Self> {
        let (mut chain, custody_keys) = Self::with_holders(store, time_ms, salt, access, 1, 1)?;
        chain.generate_key(&custody_keys)?;
        Ok(chain)
    }

    /// [`LocalChain::nanjing`] with `holders` validators `node1..=n` holding custody
    /// shares (`threshold` of them open a key), before key generation: returns their
    /// custody keys (in share-number order). Validator `node1` signs with the tax
    /// bureau's key, the others with keys of their own.
    pub fn with_holders(
        store: Store,
        time_ms: u64,
        salt: [u8; 32],
        access: AccessGenesis,
        holders: u32,
        threshold: u32,
    ) -> Result<(Self, Vec<PrivateKey>)> {
        use crate::access::accounts::validator_account;
        let mut keys: BTreeMap<String, PrivateKey> = crate::genesis::nanjing()
            .departments
            .iter()
            .map(|d| (d.id.to_string(), PrivateKey::generate()))
            .collect();
        let hex_pub = |k: &PrivateKey| hex::encode(k.public_key().to_sec1());
        // Each department has one operator, `clerk`, signing as `<department>/clerk`.
        let clerks: BTreeMap<String, PrivateKey> = crate::genesis::nanjing()
            .departments
            .iter()
            .map(|d| (format!("{}/clerk", d.id), PrivateKey::generate()))
            .collect();
        let departments = keys
            .iter()
            .map(|(id, k)| GenesisDepartment {
                id: id.clone(),
                name: id.clone(),
                public_key: hex_pub(k),
                roles: vec![],
                operators: vec![crate::genesis::GenesisOperator {
                    id: "clerk".into(),
                    name: format!("{id} clerk"),
                    public_key: hex_pub(&clerks[&format!("{id}/clerk")]),
                }],
            })
            .collect();
        // Key generation sends each holder's sub-shares to its custody key.
        let custody_keys: Vec<PrivateKey> = (0..holders).map(|_| PrivateKey::generate()).collect();
        let mut validators = vec![];
        for (n, custody_key) in (1..).zip(&custody_keys) {
            let id = format!("node{n}");
            // Validators sign their own transactions (key generation, releases).
            let key = if n == 1 {
                keys["tax"].clone()
            } else {
                PrivateKey::generate()
            };
            validators.push(GenesisValidator {
                id: id.clone(),
                department: "tax".into(),
                public_key: hex_pub(&key),
                custody_share: n,
                custody_key: hex_pub(custody_key),
                ..Default::default()
            });
            keys.insert(validator_account(&id), key);
        }
        let genesis = Genesis {
            chain_id: "local".into(),
            genesis_time_ms: time_ms,
            salt_commitment: hex::encode(govchain_proof::salt_commitment(&salt)),
            departments,
            validators,
            committee: Committee {
                members: vec!["tax".into(), "housing".into()],
                threshold: 2,
            },
            params: ChainParams::default(),
            access,
            custody: Some(GenesisCustody {
                threshold,
                release_window_ms: crate::access::release::DEFAULT_RELEASE_WINDOW_MS,
                keygen_phase_ms: crate::genesis::DEFAULT_KEYGEN_PHASE_MS,
            }),
        };
        keys.extend(clerks);
        let store = Arc::new(store);
        let executor = Executor::new(store.clone())?;
        let g = executor.execute_genesis(&genesis)?;
        let chain = LocalChain {
            store,
            executor,
            root: g.state_root,
            genesis,
            custody: None,
            keygen: vec![],
            keys,
            nonces: BTreeMap::new(),
            height: 0,
            time_ms,
        };
        chain.commit_with(0, g, &[])?;
        Ok((chain, custody_keys))
    }

    /// Runs key generation round 1 as honest holders' nodes run it, in one block at the
    /// last block's time: each holder's dealing, then each holder's (empty) complaints.
    /// Keeps the key set and holder 1's share.
    ///
    /// # Panics
    /// If a step fails: the chain's key generation is broken.
    pub fn generate_key(&mut self, custody_keys: &[PrivateKey]) -> Result<()> {
        use crate::access::accounts::validator_account;
        use govchain_custody::keygen;
        let threshold = self.genesis.custody.as_ref().map_or(1, |c| c.threshold);
        let holders: Vec<(u32, Vec<u8>)> = (1..)
            .zip(custody_keys.iter().map(|k| k.public_key().to_sec1()))
            .collect();
        let deals: Vec<keygen::Deal> = custody_keys
            .iter()
            .map(|k| {
                keygen::deal(
                    k,
                    &self.genesis.chain_id,
                    1,
                    threshold,
                    keygen::Dealt::Fresh,
                    &holders,
                )
            })
            .collect::<std::result::Result<_, _>>()
            .expect("dealings to valid keys");
        let step = |step| {
            pb::payload::Kind::Keygen(pb::CustodyKeygen {
                round: 1,
                step: Some(step),
            })
        };
        let mut txs = vec![];
        for (n, d) in (1..).zip(&deals) {
            let deal = pb::KeygenDeal {
                commitments: d.commitments.clone(),
                sub_shares: d.sub_shares.clone(),
            };
            txs.push(self.tx(
                &validator_account(&format!("node{n}")),
                step(pb::custody_keygen::Step::Deal(deal)),
            ));
        }
        for n in 1..=custody_keys.len() {
            let none = pb::custody_keygen::Step::Complaints(pb::KeygenComplaints::default());
            txs.push(self.tx(&validator_account(&format!("node{n}")), step(none)));
        }
        let (receipts, _) = self.block(&txs, 0)?;
        self.keygen = txs;
        assert!(
            receipts.iter().all(|r| r.status == pb::TxStatus::Ok as i32),
            "key generation of the local chain: {receipts:?}"
        );
        let commitments: Vec<&[Vec<u8>]> = deals.iter().map(|d| d.commitments.as_slice()).collect();
        let set = keygen::key_set(&commitments).expect("the dealings' key set");
        let stored = crate::custody::key_set(&crate::Overlay::new(self.store.clone()))
            .expect("readable state")
            .expect("a generated key set");
        assert_eq!(stored.public_key_set, set.to_bytes());
        let subs: Vec<_> = deals
            .iter()
            .map(|d| keygen::open_sub_share(&custody_keys[0], 1, &d.commitments, &d.sub_shares[0]))
            .collect::<std::result::Result<_, _>>()
            .expect("holder 1's sub-shares");
        let refs: Vec<(u32, &[u8])> = (1..).zip(subs.iter().map(|s| &s[..])).collect();
        let share = keygen::share(1, &refs, false).expect("holder 1's share");
        self.custody = Some((set, share));
        Ok(())
    }

    /// The transactions of the key generation block ([`LocalChain::generate_key`]).
    pub fn keygen_block(&self) -> &[VerifiedTx] {
        &self.keygen
    }

    /// The custody key set ([`LocalChain::generate_key`] made it).
    ///
    /// # Panics
    /// Before the key is generated.
    pub fn custody(&self) -> &govchain_custody::KeySet {
        &self
            .custody
            .as_ref()
            .expect("the custody key is generated")
            .0
    }

    /// Holder 1's (validator node1's) custody share.
    ///
    /// # Panics
    /// Before the key is generated.
    pub fn custody_share(&self) -> &govchain_custody::SecretShare {
        &self
            .custody
            .as_ref()
            .expect("the custody key is generated")
            .1
    }

    /// `key` encrypted to the custody key set for certificate `number` of type
    /// `cert_type`, and the publisher's proof: what a publisher attaches to a certificate
    /// (every call gives a new envelope, even for the same key).
    pub fn envelope(
        &self,
        cert_type: &str,
        number: &str,
        key: &[u8; govchain_custody::DATA_KEY_LEN],
    ) -> (Vec<u8>, Vec<u8>) {
        let context = govchain_custody::envelope_context(
            &self.genesis.chain_id,
            &crate::certs::cert_id(cert_type, number),
        );
        let (envelope, proof) = self
            .custody()
            .seal_key(key, &context, &govchain_crypto::random_seed())
            .expect("a valid custody key");
        (envelope, proof.to_vec())
    }

    /// Node1's released key share for allowed access request `seq`, made as its
    /// custodian makes it (to the request's recipient, bound to the chain and request).
    pub fn released_share(&self, seq: u64) -> Vec<u8> {
        let o = crate::Overlay::new(self.store.clone());
        let req = crate::custody::request(&o, seq)
            .expect("readable state")
            .expect("an allowed request");
        let cert = crate::certs::get(&o, &req.cert_id).expect("its certificate");
        let envelope = govchain_custody::Envelope::parse(&cert.key_envelope).expect("admitted");
        self.custody_share()
            .release(
                &envelope,
                &req.requester_key,
                &govchain_custody::release_context(&self.genesis.chain_id, seq),
                &govchain_crypto::random_seed(),
            )
            .expect("a valid recipient key")
    }

    /// A property title `number` of the citizen `subject` (salted ID hash) published by
    /// the real-estate registry, with a real envelope and a stand-in document: the
    /// certificate benchmarks and tests read. Returns its id and the transaction.
    pub fn property_title(&mut self, number: &str, subject: [u8; 32]) -> (String, VerifiedTx) {
        let (key_envelope, key_envelope_proof) = self.envelope("property", number, &[7; 16]);
        let tx = self.tx(
            "real-estate",
            pb::payload::Kind::Publish(pb::PublishCertificate {
                cert_type: "property".into(),
                number: number.into(),
                subject_id: subject.to_vec(),
                issued_on: "2024-05-01".into(),
                expires_on: String::new(),
                metadata: vec![
                    pb::Attribute {
                        key: "district".into(),
                        value: "鼓楼区".into(),
                    },
                    pb::Attribute {
                        key: "usage".into(),
                        value: "住宅".into(),
                    },
                ],
                content_hash: sm3(number.as_bytes()).to_vec(),
                issuer_signature: vec![0; 64],
                ciphertext: vec![0; 512],
                key_envelope,
                key_envelope_proof,
            }),
        );
        (crate::certs::cert_id("property", number), tx)
    }

    /// [`LocalChain::property_title`] `P-1` and the registry's grant of it to the tax
    /// bureau for `tax_assessment` until height 1,000: the title's id and the two
    /// transactions, publish first.
    pub fn title_granted_to_tax(&mut self) -> (String, [VerifiedTx; 2]) {
        let (cert, publish) = self.property_title("P-1", [3; 32]);
        let grant = self.tx(
            "real-estate",
            pb::payload::Kind::Grant(pb::GrantAccess {
                cert_id: cert.clone(),
                grantee: "tax".into(),
                purpose: "tax_assessment".into(),
                until_height: 1_000,
                until_date: String::new(),
            }),
        );
        (cert, [publish, grant])
    }

    /// The key account `dept` (`dept/clerk`, or `validator:node1`) signs with.
    pub fn key(&self, dept: &str) -> &PrivateKey {
        &self.keys[dept]
    }

    /// From now on, account `account` signs with `key` (after a key rotation).
    pub fn set_key(&mut self, account: &str, key: PrivateKey) {
        self.keys.insert(account.to_string(), key);
    }

    /// Proposes `action` as the tax bureau and has housing approve it (the 'nanjing'
    /// committee decides with two): the receipt of the approval that applies it, or of
    /// the proposal if that was refused.
    pub fn govern(&mut self, action: pb::proposal::Action) -> pb::Receipt {
        let propose = self.tx(
            "tax",
            pb::payload::Kind::Propose(pb::Proposal {
                action: Some(action),
                description: "a governance change".into(),
                voting_period: 0,
            }),
        );
        let r = self.block(&[propose], 1).expect("a block").0.remove(0);
        if r.status != pb::TxStatus::Ok as i32 {
            return r;
        }
        let id = r.events[0].attributes[0]
            .value
            .parse()
            .expect("a proposal id");
        let vote = self.tx(
            "housing",
            pb::payload::Kind::Vote(pb::Vote {
                proposal_id: id,
                approve: true,
            }),
        );
        self.block(&[vote], 1).expect("a block").0.remove(0)
    }

    /// Takes back the last nonce of `account`: its last transaction was refused before
    /// its nonce counted (a key or nonce mismatch).
    pub fn unsend(&mut self, account: &str) {
        if let Some(n) = self.nonces.get_mut(account) {
            *n = n.saturating_sub(1);
        }
    }

    /// A transaction of account `dept` (a department, `dept/clerk`, or `validator:node1`)
    /// with its next nonce, taken as admitted (not signed).
    pub fn tx(&mut self, dept: &str, kind: pb::payload::Kind) -> VerifiedTx {
        let nonce = self.nonces.entry(dept.to_string()).or_default();
        let (sender, operator) = dept.split_once('/').unwrap_or((dept, ""));
        let body = pb::TxBody {
            chain_id: self.genesis.chain_id.clone(),
            sender: sender.into(),
            operator: operator.into(),
            nonce: *nonce,
            expiry_height: 0,
            payload: Some(pb::Payload { kind: Some(kind) }),
        };
        *nonce += 1;
        let encoded = govchain_types::encode(&body);
        VerifiedTx {
            hash: sm3(&encoded),
            tx: pb::SignedTx {
                body: encoded,
                signer_pubkey: self.keys[dept].public_key().to_sec1(),
                signature: vec![],
            },
            body,
        }
    }

    /// Executes `txs` as the next block, `step_ms` after the last, and commits it with a
    /// header signed by the validator. Returns the receipts and the timings.
    pub fn block(
        &mut self,
        txs: &[VerifiedTx],
        step_ms: u64,
    ) -> Result<(Vec<pb::Receipt>, BlockTimes)> {
        self.height += 1;
        self.time_ms += step_ms;
        let ctx = BlockContext {
            height: self.height,
            time_ms: self.time_ms,
            proposer: "node1".into(),
        };
        let t = Instant::now();
        let e = self.executor.execute(&ctx, txs, &self.root, Vec::new())?;
        let execute = t.elapsed();
        self.root = e.state_root;
        let receipts = e.receipts.clone();
        let t = Instant::now();
        let hashes: Vec<_> = txs.iter().map(|t| t.hash).collect();
        self.commit_with(self.height, e, &hashes)?;
        Ok((
            receipts,
            BlockTimes {
                execute,
                commit: t.elapsed(),
            },
        ))
    }

    fn commit_with(&self, height: u64, e: ExecutedBlock, hashes: &[[u8; 32]]) -> Result<()> {
        let header = pb::BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height,
            time_ms: self.time_ms,
            proposer: "node1".into(),
            state_root: e.state_root.to_vec(),
            audit_root: e.audit_root.to_vec(),
            audit_count: e.audit_count,
            validators_hash: e.validators_hash.to_vec(),
            next_validators_hash: e.next_validators_hash.to_vec(),
            ..Default::default()
        };
        let header = govchain_types::encode(&header);
        // Decided by its one validator's precommit, as a single-validator chain is.
        let key = &self.keys["tax"];
        let hash = sm3(&header);
        let precommit = govchain_proof::commit::vote_bytes(
            &self.genesis.chain_id,
            height,
            0,
            pb::VoteKind::Precommit,
            &hash,
            "node1",
        );
        let block = pb::Block {
            signature: key.sign(&header).to_bytes().to_vec(),
            header,
            txs: vec![],
            commit: Some(pb::CommitCertificate {
                height,
                round: 0,
                block_hash: hash.to_vec(),
                signatures: vec![pb::CommitSignature {
                    validator: "node1".into(),
                    signature: key.sign(&precommit).to_bytes().to_vec(),
                }],
            }),
        };
        self.store.commit_block(BlockCommit {
            height,
            hash: sm3(&block.header),
            block: govchain_types::encode(&block),
            txs: hashes
                .iter()
                .copied()
                .zip(e.receipts.iter().map(govchain_types::encode))
                .collect(),
            state: e.writes,
            index: e.index,
            meta: vec![],
        })?;
        Ok(())
    }
}

/// Calls of one contract through the real runtime and host over this chain's committed
/// state, as `caller`, each from the same state (its writes are discarded): what the
/// contract benchmarks time.
pub struct CallBench {
    vm: govchain_vm::Vm<crate::contracts::ContractHost>,
    code: Vec<u8>,
    code_hash: [u8; 32],
    overlay: Option<crate::Overlay>,
    ctx: BlockContext,
    caller: String,
    policy: Arc<crate::access::policy::Policy>,
}

impl std::fmt::Debug for CallBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallBench")
            .field("caller", &self.caller)
            .finish()
    }
}

impl CallBench {
    /// Prepares `wasm` (as deployment would) for calls by `caller` in the next block.
    pub fn new(chain: &LocalChain, wasm: &[u8], caller: &str) -> Result<Self> {
        let vm = govchain_vm::Vm::new().map_err(crate::StateError::Vm)?;
        let prepared = vm
            .prepare(wasm)
            .map_err(|e| crate::StateError::Vm(e.to_string()))?;
        Ok(CallBench {
            code: prepared.code,
            code_hash: sm3(wasm),
            overlay: Some(crate::Overlay::new(chain.store.clone())),
            ctx: BlockContext {
                height: chain.height + 1,
                time_ms: chain.time_ms + 1_000,
                proposer: "node1".into(),
            },
            caller: caller.into(),
            policy: chain.executor.policy()?,
            vm,
        })
    }

    /// Instantiates the contract and calls `method` with `input`; with `gated`, its
    /// certificate reads go through the gate. Returns the gas used, or the call's error.
    pub fn call(
        &mut self,
        method: &str,
        input: &[u8],
        gated: bool,
    ) -> std::result::Result<u64, String> {
        let host = crate::contracts::ContractHost::new(
            self.overlay
                .take()
                .expect("the overlay is put back after every call"),
            "bench",
            crate::contracts::Caller {
                department: self.caller.clone(),
                tx_hash: [9; 32],
                ..Default::default()
            },
            self.ctx.clone(),
            gated.then(|| self.policy.clone()),
        );
        let req = govchain_vm::CallRequest {
            code_hash: self.code_hash,
            method,
            input: input.to_vec(),
            gas_limit: 10_000_000,
            kind: govchain_vm::EntryKind::Call,
            max_write_bytes: crate::genesis::ChainParams::default().max_tx_write_bytes,
        };
        let out = self.vm.call(req, host, || Ok(self.code.clone()));
        let mut o = out.host.overlay;
        o.discard_tx();
        self.overlay = Some(o);
        out.result
            .map(|_| out.gas_used)
            .map_err(|e| format!("{method}: {e}"))
    }
}
