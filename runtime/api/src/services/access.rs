//! The Certificates, Points and Audit services: reads of what the access gate keeps.

use std::sync::Arc;

use govchain_consensus::Chain;
use govchain_state::{audit, query};
use govchain_types::pb;
use tonic::{Request, Response, Status};

use crate::error::{internal, tx_status};
use crate::rpc::*;

pub(crate) struct CertificatesService {
    pub(crate) chain: Arc<Chain>,
}

#[tonic::async_trait]
impl certificates_server::Certificates for CertificatesService {
    async fn get_certificate(
        &self,
        req: Request<GetCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let id = req.into_inner().id;
        query::certificate(self.chain.store(), &id)
            .map(Response::new)
            .map_err(|e| tx_status(&e))
    }

    async fn list_certificates(
        &self,
        req: Request<ListCertificatesRequest>,
    ) -> Result<Response<ListCertificatesResponse>, Status> {
        query::certificates(self.chain.store(), &req.into_inner())
            .map(Response::new)
            .map_err(|e| tx_status(&e))
    }

    async fn list_grants(
        &self,
        req: Request<ListGrantsRequest>,
    ) -> Result<Response<ListGrantsResponse>, Status> {
        let grants = query::grants(self.chain.store(), &req.into_inner().cert_id)
            .map_err(|e| tx_status(&e))?;
        Ok(Response::new(ListGrantsResponse { grants }))
    }

    async fn list_cert_types(
        &self,
        _req: Request<ListCertTypesRequest>,
    ) -> Result<Response<ListCertTypesResponse>, Status> {
        let cert_types = query::cert_types(self.chain.store()).map_err(internal)?;
        Ok(Response::new(ListCertTypesResponse { cert_types }))
    }

    async fn list_purposes(
        &self,
        _req: Request<ListPurposesRequest>,
    ) -> Result<Response<ListPurposesResponse>, Status> {
        let purposes = query::purposes(self.chain.store()).map_err(internal)?;
        Ok(Response::new(ListPurposesResponse { purposes }))
    }

    async fn get_policy(
        &self,
        _req: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        query::policy(self.chain.store())
            .map(Response::new)
            .map_err(internal)
    }
}

pub(crate) struct PointsService {
    pub(crate) chain: Arc<Chain>,
}

#[tonic::async_trait]
impl points_server::Points for PointsService {
    async fn get_balances(
        &self,
        req: Request<GetBalancesRequest>,
    ) -> Result<Response<GetBalancesResponse>, Status> {
        let height = self.chain.tip().header.height;
        let mut out = query::balances(self.chain.store(), &req.into_inner().department)
            .map_err(|e| tx_status(&e))?;
        out.height = height;
        Ok(Response::new(out))
    }

    async fn get_history(
        &self,
        req: Request<GetHistoryRequest>,
    ) -> Result<Response<GetHistoryResponse>, Status> {
        let r = req.into_inner();
        query::balances(self.chain.store(), &r.department).map_err(|e| tx_status(&e))?;
        query::history(self.chain.store(), &r.department, r.after, r.limit)
            .map(Response::new)
            .map_err(|e| tx_status(&e))
    }
}

pub(crate) struct AuditService {
    pub(crate) chain: Arc<Chain>,
}

#[tonic::async_trait]
impl audit_server::Audit for AuditService {
    async fn query(&self, req: Request<AuditQuery>) -> Result<Response<AuditPage>, Status> {
        let q = req.into_inner();
        let chain = self.chain.clone();
        tokio::task::spawn_blocking(move || audit::query(chain.store(), &q, audit::MAX_QUERY))
            .await
            .map_err(internal)?
            .map(Response::new)
            .map_err(|e| tx_status(&e))
    }

    async fn export(&self, req: Request<AuditQuery>) -> Result<Response<AuditExport>, Status> {
        let q = req.into_inner();
        let chain = self.chain.clone();
        tokio::task::spawn_blocking(move || audit::export(chain.store(), chain.chain_id(), &q))
            .await
            .map_err(internal)?
            .map(Response::new)
            .map_err(|e| tx_status(&e))
    }
}
