//! The Contracts and Governance services (reads and read-only queries; writes are
//! transactions).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use govchain_consensus::Chain;
use govchain_state::BlockContext;
use govchain_types::{ErrorCode, pb};
use tonic::{Request, Response, Status};

use crate::error::{internal, status, tx_status};
use crate::rpc::*;

pub(crate) struct ContractsService {
    pub(crate) chain: Arc<Chain>,
    /// The node's bounds (query gas).
    pub(crate) query_gas: crate::ApiLimits,
    /// Queries running at once.
    pub(crate) slots: crate::limits::QuerySlots,
    pub(crate) auth: Arc<crate::auth::Authenticator>,
}

#[tonic::async_trait]
impl contracts_server::Contracts for ContractsService {
    async fn list_contracts(
        &self,
        req: Request<ListContractsRequest>,
    ) -> Result<Response<ListContractsResponse>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Contracts/ListContracts")?;
        let contracts = govchain_state::query::contracts(self.chain.store()).map_err(internal)?;
        Ok(Response::new(ListContractsResponse { contracts }))
    }

    async fn get_contract(
        &self,
        req: Request<GetContractRequest>,
    ) -> Result<Response<pb::ContractRecord>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Contracts/GetContract")?;
        let name = req.into_inner().name;
        govchain_state::query::contracts(self.chain.store())
            .map_err(internal)?
            .into_iter()
            .find(|c| c.name == name)
            .map(Response::new)
            .ok_or_else(|| status(ErrorCode::NotFound, format!("contract '{name}' not found")))
    }

    async fn query(&self, req: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        // A query runs as its signer: the contract decides what to answer it.
        let reader = self
            .auth
            .authenticate(&req, "/govchain.v1.Contracts/Query")?;
        let caller = govchain_state::contracts::Caller {
            department: reader.department,
            operator: reader.operator,
            ..Default::default()
        };
        let r = req.into_inner();
        let gas = self.query_gas.query_gas(r.gas_limit)?;
        let _slot = self.slots.take().await?;
        let tip = self.chain.tip();
        // A query sees the tip's state; its "block" is the next one, at the tip's time or
        // now, whichever is later (queries are not replicated, so the clock may be read).
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let ctx = BlockContext {
            height: tip.header.height,
            time_ms: now.max(tip.header.time_ms),
            proposer: String::new(),
        };
        let chain = self.chain.clone();
        let (output, gas_used) = tokio::task::spawn_blocking(move || {
            chain
                .executor()
                .query(&ctx, caller, &r.contract, &r.method, r.args, gas)
        })
        .await
        .map_err(internal)?
        .map_err(|e| tx_status(&e))?;
        Ok(Response::new(QueryResponse {
            output,
            gas_used,
            height: tip.header.height,
        }))
    }
}

pub(crate) struct GovernanceService {
    pub(crate) chain: Arc<Chain>,
    pub(crate) auth: Arc<crate::auth::Authenticator>,
}

#[tonic::async_trait]
impl governance_server::Governance for GovernanceService {
    async fn list_proposals(
        &self,
        req: Request<ListProposalsRequest>,
    ) -> Result<Response<ListProposalsResponse>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Governance/ListProposals")?;
        let open_only = req.into_inner().open_only;
        let store = self.chain.store();
        let proposals = govchain_state::query::proposals(store)
            .map_err(internal)?
            .into_iter()
            .filter(|p| !open_only || p.status == pb::ProposalStatus::Open as i32)
            .collect();
        let committee = govchain_state::query::committee(store).map_err(internal)?;
        Ok(Response::new(ListProposalsResponse {
            proposals,
            threshold: committee.threshold,
            committee: committee.members,
        }))
    }

    async fn get_proposal(
        &self,
        req: Request<GetProposalRequest>,
    ) -> Result<Response<pb::ProposalRecord>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Governance/GetProposal")?;
        let id = req.into_inner().id;
        govchain_state::query::proposals(self.chain.store())
            .map_err(internal)?
            .into_iter()
            .find(|p| p.id == id)
            .map(Response::new)
            .ok_or_else(|| status(ErrorCode::NotFound, format!("proposal {id} not found")))
    }
}
