//! The Certificates, Points and Audit services: reads of what the access gate keeps.

use std::sync::Arc;

use govchain_consensus::Chain;
use govchain_state::access::audit;
use govchain_state::query;
use govchain_types::pb;
use tonic::{Request, Response, Status};

use crate::auth::{Authenticator, Reader};
use crate::error::{internal, status, tx_status};
use crate::rpc::*;
use crate::scope;

pub(crate) struct CertificatesService {
    pub(crate) chain: Arc<Chain>,
    /// Most certificate records one listing examines (`api.limits.max_scan`).
    pub(crate) max_scan: usize,
    pub(crate) auth: Arc<Authenticator>,
}

#[tonic::async_trait]
impl certificates_server::Certificates for CertificatesService {
    async fn get_certificate(
        &self,
        req: Request<GetCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Certificates/GetCertificate")?;
        scope::certificate(&self.chain, &who, &req.into_inner().id).map(Response::new)
    }

    async fn list_certificates(
        &self,
        req: Request<ListCertificatesRequest>,
    ) -> Result<Response<ListCertificatesResponse>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Certificates/ListCertificates")?;
        scope::certificate_listing(&self.chain, &who, req.get_ref())?;
        query::certificates(self.chain.store(), &req.into_inner(), self.max_scan)
            .map(Response::new)
            .map_err(|e| tx_status(&e))
    }

    async fn list_grants(
        &self,
        req: Request<ListGrantsRequest>,
    ) -> Result<Response<ListGrantsResponse>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Certificates/ListGrants")?;
        let cert_id = req.into_inner().cert_id;
        // Only who may see the certificate (its issuer, a grantee, the supervisors) may
        // list its grants, with one refusal whether or not it exists.
        let owner = scope::certificate(&self.chain, &who, &cert_id)?.issuer;
        // The owner and the auditor see every grant of the certificate; a grantee its own.
        let grants = query::grants(self.chain.store(), &cert_id)
            .map_err(|e| tx_status(&e))?
            .into_iter()
            .filter(|g| scope::grant(&who, &owner, g))
            .collect();
        Ok(Response::new(ListGrantsResponse { grants }))
    }

    async fn list_revoked_grants(
        &self,
        req: Request<ListRevokedGrantsRequest>,
    ) -> Result<Response<ListGrantsResponse>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Certificates/ListRevokedGrants")?;
        let q = req.into_inner();
        scope::revoked_grants(&who, &q.grantee)?;
        let limit = match q.limit {
            0 => 256,
            n => n.min(1024) as usize,
        };
        let after = (
            q.after_height,
            (!q.after_cert.is_empty()).then_some((q.after_cert.as_str(), q.after_grant)),
        );
        let grants = query::revoked_grants(self.chain.store(), &q.grantee, after, limit)
            .map_err(|e| tx_status(&e))?;
        Ok(Response::new(ListGrantsResponse { grants }))
    }

    async fn list_cert_types(
        &self,
        req: Request<ListCertTypesRequest>,
    ) -> Result<Response<ListCertTypesResponse>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Certificates/ListCertTypes")?;
        let cert_types = query::cert_types(self.chain.store()).map_err(internal)?;
        Ok(Response::new(ListCertTypesResponse { cert_types }))
    }

    async fn list_purposes(
        &self,
        req: Request<ListPurposesRequest>,
    ) -> Result<Response<ListPurposesResponse>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Certificates/ListPurposes")?;
        let purposes = query::purposes(self.chain.store()).map_err(internal)?;
        Ok(Response::new(ListPurposesResponse { purposes }))
    }

    async fn get_custody_key(
        &self,
        req: Request<GetCustodyKeyRequest>,
    ) -> Result<Response<pb::CustodyKeyProof>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Certificates/GetCustodyKey")?;
        let store = self.chain.store();
        match govchain_state::keygen::key_proof(store, self.chain.chain_id()) {
            Ok(Some(p)) => Ok(Response::new(p)),
            Ok(None) => {
                let o = govchain_state::Overlay::new(store.clone());
                let why = govchain_state::custody::no_key_set(&o).map_err(|e| tx_status(&e))?;
                Err(status(govchain_types::ErrorCode::NotFound, why))
            }
            Err(e) => Err(tx_status(&e)),
        }
    }

    async fn get_keygen(
        &self,
        req: Request<GetKeygenRequest>,
    ) -> Result<Response<KeygenStatus>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Certificates/GetKeygen")?;
        let o = govchain_state::Overlay::new(self.chain.store().clone());
        let status = (|| -> Result<KeygenStatus, govchain_types::ExecError> {
            let Some(state) = govchain_state::keygen::state(&o)? else {
                return Ok(KeygenStatus::default());
            };
            let round = state.round;
            Ok(KeygenStatus {
                deals: govchain_state::keygen::deals(&o, round)?,
                complaints: govchain_state::keygen::complaints(&o, round)?,
                answers: govchain_state::keygen::answers(&o, round)?,
                state: Some(state),
                custody: govchain_state::custody::key_set(&o)?,
                tip_time_ms: self.chain.tip().header.time_ms,
            })
        })()
        .map_err(|e| tx_status(&e))?;
        Ok(Response::new(status))
    }

    async fn get_releases(
        &self,
        req: Request<GetReleasesRequest>,
    ) -> Result<Response<GetReleasesResponse>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Certificates/GetReleases")?;
        let request = req.into_inner().request;
        let r = match query::releases(self.chain.store(), request) {
            Ok(r) => r.into_response(self.chain.tip().header.time_ms),
            Err(e)
                if govchain_types::Coded::code(&e) == ErrorCode::NotFound
                    && !who.has_role(scope::AUDITOR) =>
            {
                return Err(scope::no_releases(&who, request));
            }
            Err(e) => return Err(tx_status(&e)),
        };
        // A request's releases (its purpose, the requester's key, a job's arguments and
        // result) are the requester's, the certificate owner's and the auditor's.
        let requester = r.request.as_ref().map_or("", |q| q.requester.as_str());
        let owner = r.certificate.as_ref().map_or("", |c| c.issuer.as_str());
        scope::releases(&who, request, requester, owner)?;
        Ok(Response::new(r))
    }

    async fn get_policy(
        &self,
        req: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Certificates/GetPolicy")?;
        query::policy(self.chain.store())
            .map(Response::new)
            .map_err(internal)
    }
}

pub(crate) struct PointsService {
    pub(crate) chain: Arc<Chain>,
    pub(crate) auth: Arc<Authenticator>,
}

/// The Points service's GetBalances (also the console's).
pub(crate) fn balances(chain: &Chain, department: &str) -> Result<GetBalancesResponse, Status> {
    let height = chain.tip().header.height;
    let mut out = query::balances(chain.store(), department).map_err(|e| tx_status(&e))?;
    out.height = height;
    Ok(out)
}

/// The Points service's GetHistory (also the console's).
pub(crate) fn history(chain: &Chain, r: &GetHistoryRequest) -> Result<GetHistoryResponse, Status> {
    query::balances(chain.store(), &r.department).map_err(|e| tx_status(&e))?;
    query::history(chain.store(), &r.department, r.after, r.limit).map_err(|e| tx_status(&e))
}

#[tonic::async_trait]
impl points_server::Points for PointsService {
    async fn get_balances(
        &self,
        req: Request<GetBalancesRequest>,
    ) -> Result<Response<GetBalancesResponse>, Status> {
        self.auth
            .authenticate(&req, "/govchain.v1.Points/GetBalances")?;
        balances(&self.chain, &req.into_inner().department).map(Response::new)
    }

    async fn get_history(
        &self,
        req: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        let who = self
            .auth
            .authenticate(&req, "/govchain.v1.Points/GetHistory")?;
        scope::ledger(&who, &req.get_ref().department)?;
        history(&self.chain, req.get_ref()).map(Response::new)
    }
}

pub(crate) struct AuditService {
    pub(crate) chain: Arc<Chain>,
    pub(crate) auth: Arc<Authenticator>,
}

/// The Audit service's Query as `who` asks it (also the console's search).
pub(crate) async fn audit_query(
    chain: &Arc<Chain>,
    who: &Reader,
    q: AuditQuery,
) -> Result<AuditPage, Status> {
    let q = scope::audit_query(who, q)?;
    let chain = chain.clone();
    tokio::task::spawn_blocking(move || audit::query(chain.store(), &q, audit::MAX_QUERY))
        .await
        .map_err(internal)?
        .map_err(|e| tx_status(&e))
}

/// The Audit service's Export as `who` asks it (also the console's export and proofs).
pub(crate) async fn audit_export(
    chain: &Arc<Chain>,
    who: &Reader,
    q: AuditQuery,
) -> Result<AuditExport, Status> {
    let q = scope::audit_query(who, q)?;
    let chain = chain.clone();
    tokio::task::spawn_blocking(move || audit::export(chain.store(), chain.chain_id(), &q))
        .await
        .map_err(internal)?
        .map_err(|e| tx_status(&e))
}

#[tonic::async_trait]
impl audit_server::Audit for AuditService {
    async fn query(&self, req: Request<AuditQuery>) -> Result<Response<AuditPage>, Status> {
        let who = self.auth.authenticate(&req, "/govchain.v1.Audit/Query")?;
        audit_query(&self.chain, &who, req.into_inner())
            .await
            .map(Response::new)
    }

    async fn export(&self, req: Request<AuditQuery>) -> Result<Response<AuditExport>, Status> {
        let who = self.auth.authenticate(&req, "/govchain.v1.Audit/Export")?;
        audit_export(&self.chain, &who, req.into_inner())
            .await
            .map(Response::new)
    }
}
