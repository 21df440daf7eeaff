//! Governance through the gateway (`govern` scope): the department, as a member of the
//! management committee, proposes (a contract to deploy, policy lines, a certificate
//! type, a purpose, a points adjustment) and votes; anyone with `read` lists the
//! proposals and reads the access policy in force. Proposals and votes are transactions like every other: journaled and
//! idempotent, signed with the token's operator's key (the chain counts the vote for
//! the department).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use govchain_client::rpc::{GetPolicyRequest, GetProposalRequest, ListProposalsRequest};
use govchain_types::pb;
use serde::Deserialize;
use serde_json::json;

use crate::api::{Answer, App, body_of};
use crate::op::Op;
use crate::problem::Problem;
use crate::tokens::Scope;

/// A metadata field of a certificate type.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FieldBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    required: bool,
}

/// What a proposal does (one of).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ActionBody {
    /// Deploy contract code (the wasm module, base64) under a name, or upgrade it.
    DeployContract {
        name: String,
        /// The wasm module as built, base64.
        #[schema(format = Byte)]
        code: String,
    },
    /// Add and remove casbin policy lines.
    Policy {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Register or update a certificate type.
    CertType {
        id: String,
        name: String,
        #[serde(default)]
        name_zh: String,
        issuers: Vec<String>,
        #[serde(default)]
        fields: Vec<FieldBody>,
        #[serde(default)]
        price: u64,
        #[serde(default)]
        publish_reward: u64,
    },
    /// Register or update a purpose of use.
    Purpose {
        id: String,
        description: String,
        #[serde(default)]
        legal_basis: String,
    },
    /// Mint (delta > 0) or burn points of a department.
    AdjustPoints {
        department: String,
        delta: i64,
        reason: String,
    },
}

impl ActionBody {
    fn into_pb(self) -> Result<pb::proposal::Action, Problem> {
        use pb::proposal::Action;
        Ok(match self {
            ActionBody::DeployContract { name, code } => Action::Deploy(pb::DeployContract {
                name,
                code: B64.decode(code).map_err(|e| {
                    Problem::bad("action.deploy_contract.code", format!("not base64: {e}"))
                })?,
            }),
            ActionBody::Policy { add, remove } => Action::Policy(pb::PolicyChange { add, remove }),
            ActionBody::CertType {
                id,
                name,
                name_zh,
                issuers,
                fields,
                price,
                publish_reward,
            } => Action::CertType(pb::CertType {
                id,
                name,
                name_zh,
                issuers,
                fields: fields
                    .into_iter()
                    .map(|f| pb::MetadataField {
                        name: f.name,
                        description: f.description,
                        required: f.required,
                    })
                    .collect(),
                price,
                publish_reward,
            }),
            ActionBody::Purpose {
                id,
                description,
                legal_basis,
            } => Action::Purpose(pb::Purpose {
                id,
                description,
                legal_basis,
            }),
            ActionBody::AdjustPoints {
                department,
                delta,
                reason,
            } => Action::AdjustPoints(pb::PointsAdjustment {
                department,
                delta,
                reason,
            }),
        })
    }
}

/// The body of `POST /v1/proposals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProposalBody {
    action: ActionBody,
    /// Why, for the committee.
    #[serde(default)]
    description: String,
    /// Blocks it stays open; 0: the chain's default.
    #[serde(default)]
    voting_period: u64,
}

/// `POST /v1/proposals` (scope govern): the proposal's id.
#[utoipa::path(
    post,
    path = "/v1/proposals",
    operation_id = "propose",
    tag = "governance",
    summary = "Propose as the department: a contract, policy lines, a certificate type, a purpose, a points adjustment (scope govern)",
    params(crate::openapi::Idempotency),
    request_body = ProposalBody,
    responses((status = 201, description = "proposal_id, action, expiry_height, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
pub(crate) async fn propose(State(app): State<App>, headers: HeaderMap, body: Body) -> Answer {
    let caller = app.allowed(&headers, Scope::Govern)?;
    let (b, raw): (ProposalBody, _) = body_of(&app, body).await?;
    let action = b.action.into_pb()?;
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        "POST /v1/proposals",
        &raw,
        Op::Propose,
        move |_| async move {
            Ok(pb::payload::Kind::Propose(pb::Proposal {
                action: Some(action),
                description: b.description,
                voting_period: b.voting_period,
            }))
        },
    )
    .await
}

/// The body of `POST /v1/proposals/{id}/votes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VoteBody {
    approve: bool,
}

/// `POST /v1/proposals/{id}/votes` (scope govern): the department's vote.
#[utoipa::path(
    post,
    path = "/v1/proposals/{id}/votes",
    operation_id = "vote",
    tag = "governance",
    summary = "The department's vote (scope govern)",
    params(("id" = u64, Path, description = "proposal"), crate::openapi::Idempotency),
    request_body = VoteBody,
    responses((status = 201, description = "proposal_id, approve, events, height, tx_hash"), crate::problem::Pending, crate::problem::Refused)
)]
pub(crate) async fn vote(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Govern)?;
    let id = crate::api::number("proposal", &id)?;
    let (b, raw): (VoteBody, _) = body_of(&app, body).await?;
    crate::journal::idempotent(
        &app,
        &caller,
        &headers,
        &format!("POST /v1/proposals/{id}/votes"),
        &raw,
        Op::Vote,
        move |_| async move {
            Ok(pb::payload::Kind::Vote(pb::Vote {
                proposal_id: id,
                approve: b.approve,
            }))
        },
    )
    .await
}

/// The query of `GET /v1/proposals`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Closed ones too.
    #[serde(default)]
    all: bool,
}

/// `GET /v1/proposals` (scope read): the committee, the approvals a proposal needs, and
/// the proposals (open ones unless `all`).
#[utoipa::path(
    get,
    path = "/v1/proposals",
    operation_id = "list_proposals",
    tag = "governance",
    summary = "The committee, the approvals needed, and the proposals (scope read)",
    params(ListQuery),
    responses((status = 200, description = "committee, threshold, proposals"), crate::problem::Refused)
)]
pub(crate) async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let q = crate::api::query_of(q)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let r = app
        .chain
        .call(|c| async move {
            let req = c.signed(
                signer,
                "/govchain.v1.Governance/ListProposals",
                ListProposalsRequest { open_only: !q.all },
            )?;
            Ok(c.governance().list_proposals(req).await?.into_inner())
        })
        .await?;
    let proposals: Vec<_> = r
        .proposals
        .iter()
        .map(govchain_node::output::proposal_json)
        .collect();
    Ok(Json(json!({
        "committee": r.committee, "threshold": r.threshold, "proposals": proposals,
    }))
    .into_response())
}

/// `GET /v1/proposals/{id}` (scope read).
#[utoipa::path(
    get,
    path = "/v1/proposals/{id}",
    operation_id = "get_proposal",
    tag = "governance",
    summary = "A proposal (scope read)",
    params(("id" = u64, Path, description = "proposal")),
    responses((status = 200, description = "id, proposer, status, action, approvals, rejections, heights, description"), crate::problem::Refused)
)]
pub(crate) async fn get(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let id = crate::api::number("proposal", &id)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let p = app
        .chain
        .call(|c| async move {
            let req = c.signed(
                signer,
                "/govchain.v1.Governance/GetProposal",
                GetProposalRequest { id },
            )?;
            Ok(c.governance().get_proposal(req).await?.into_inner())
        })
        .await?;
    Ok(Json(govchain_node::output::proposal_json(&p)).into_response())
}

/// `GET /v1/policy` (scope read): the access policy in force (casbin model and lines).
#[utoipa::path(
    get,
    path = "/v1/policy",
    operation_id = "get_policy",
    tag = "governance",
    summary = "The access policy in force (scope read)",
    responses((status = 200, description = "version, model, lines"), crate::problem::Refused)
)]
pub(crate) async fn policy(State(app): State<App>, headers: HeaderMap) -> Answer {
    let caller = app.allowed(&headers, Scope::Read)?;
    let signer = app.chain.signer(&caller.record.operator)?;
    let p = app
        .chain
        .call(|c| async move {
            let req = c.signed(
                signer,
                "/govchain.v1.Certificates/GetPolicy",
                GetPolicyRequest {},
            )?;
            Ok(c.certificates().get_policy(req).await?.into_inner())
        })
        .await?;
    Ok(Json(json!({ "version": p.version, "model": p.model, "lines": p.lines })).into_response())
}
