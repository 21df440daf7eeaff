//! The supervisor console (`docs/design/console.md`): its JSON API under `/api/v1/`
//! (described by `/api/openapi.json`) and its front end, served on the node's HTTP
//! port beside `/metrics`.
//!
//! Every answer about audit records or points goes through the same functions as the
//! Audit and Points gRPC services (`services::access`): the scope rules, the queries
//! and the export are theirs. The console adds sessions, the period views of
//! [`govchain_state::supervision`] and nothing that decides who may see what.

mod guard;
mod session;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use govchain_consensus::Chain;
use govchain_state::access::audit;
use govchain_state::access::audit::{ExportFile, RecordView};
use govchain_state::{Genesis, supervision};
use govchain_store::Records;
use govchain_types::{ErrorCode, HashHex, decode, pb};
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::{Code, Status};

pub use session::Credential;
use session::{COOKIE, LOGIN_PATH, SESSION_MS, Session, Sessions};

use crate::auth::{Authenticator, Reader, SignedRead};
use crate::error::{detail_of, internal, status, tx_status};
use crate::scope::AUDITOR;
use crate::services::access::{audit_export, audit_query, balances};

/// The OpenAPI document of the console API.
pub const OPENAPI: &str = include_str!("openapi.json");

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// What the console needs besides the chain.
#[derive(Clone)]
pub struct ConsoleConfig {
    /// The genesis document (served to browsers, which verify against its keys).
    pub genesis: Arc<Genesis>,
    /// The chain salt, checked against the genesis: served to signed-in sessions only,
    /// which hash national ids with it in the browser (never printed: `Debug` says
    /// only whether there is one).
    pub salt: Option<Vec<u8>>,
    /// The node's supervisor credential, if configured.
    pub credential: Option<Credential>,
    /// Host names the console answers to besides its own address (`api.console_hosts`).
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("chain_id", &self.genesis.chain_id)
            .field("salt", &self.salt.as_ref().map(|_| "<secret>"))
            .field("credential", &self.credential)
            .field("hosts", &self.hosts)
            .finish()
    }
}

#[derive(Clone)]
struct App {
    chain: Arc<Chain>,
    node_id: String,
    auth: Arc<Authenticator>,
    genesis_json: Arc<Vec<u8>>,
    salt: Option<Arc<String>>,
    credential: Option<Credential>,
    sessions: Arc<Sessions>,
    /// Served over TLS: cookies are `Secure` and sign-in origins are `https://`.
    tls: bool,
}

/// The console's routes with the node's own (`node`: `/metrics`, `/healthz`), for a
/// console listening on `port`, over TLS if `tls`; all behind the Host check.
pub(crate) fn router(
    auth: Arc<Authenticator>,
    cfg: ConsoleConfig,
    port: u16,
    tls: bool,
    node: axum::Router,
) -> axum::Router {
    let guard = Arc::new(guard::Guard::new(port, tls, &cfg.hosts));
    let app = App {
        chain: auth.chain().clone(),
        node_id: auth.node_id().to_string(),
        auth,
        // The canonical encoding: its SM3 is the genesis hash block 0 names.
        genesis_json: Arc::new(serde_json::to_vec(&*cfg.genesis).expect("genesis serialises")),
        salt: cfg.salt.map(|s| Arc::new(hex::encode(s))),
        credential: cfg.credential,
        sessions: Arc::new(Sessions::default()),
        tls,
    };
    axum::Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/v1/info", get(info))
        .route("/api/v1/genesis", get(genesis))
        .route("/api/v1/salt", get(salt))
        .route("/api/v1/session/challenge", post(challenge))
        .route(
            "/api/v1/session",
            post(sign_in).get(whoami).delete(sign_out),
        )
        .route("/api/v1/audit", get(audit_page))
        .route("/api/v1/audit/export", get(export))
        .route("/api/v1/audit/{seq}", get(record))
        .route("/api/v1/flows", get(flows))
        .route("/api/v1/insights", get(insights))
        .route("/api/v1/points", get(points))
        .route("/api/v1/points/{department}/history", get(points_history))
        .fallback(get(asset))
        .with_state(app)
        .merge(node)
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
}

/// An error as the console API answers it: the HTTP status that fits the gRPC code,
/// and `{code, name, message}` with our stable error code.
#[derive(Debug)]
struct ApiError(Status);

impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        ApiError(s)
    }
}

fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Internal | Code::Unknown | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, message) = match detail_of(&self.0) {
            Some(d) => (d.code, d.message),
            None => (ErrorCode::Internal as i32, self.0.message().to_string()),
        };
        let name = ErrorCode::try_from(code).map_or("INTERNAL", |c| c.as_str_name());
        (
            http_status(self.0.code()),
            Json(json!({"code": code, "name": name, "message": message})),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad_param(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError(status(
        ErrorCode::InvalidArgument,
        format!("parameter '{name}': {reason}"),
    ))
}

/// Query parameters, taken one by one; any left over is an error.
struct Params(BTreeMap<String, String>);

impl Params {
    fn text(&mut self, name: &str) -> String {
        self.0.remove(name).unwrap_or_default()
    }

    fn number(&mut self, name: &str) -> ApiResult<u64> {
        match self.0.remove(name) {
            None => Ok(0),
            Some(v) if v.is_empty() => Ok(0),
            Some(v) => v
                .parse()
                .map_err(|_| bad_param(name, format!("'{v}' is not a whole number"))),
        }
    }

    fn finish(self) -> ApiResult<()> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(k) => Err(bad_param(k, "unknown parameter")),
        }
    }

    /// The Audit service's filters.
    fn audit_query(&mut self) -> ApiResult<pb::AuditQuery> {
        let subject = self.text("subject_id");
        let subject_id = if subject.is_empty() {
            vec![]
        } else {
            hex::decode(&subject)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| {
                    bad_param(
                        "subject_id",
                        "64 hex digits: SM3(chain salt || national ID), computed by the page",
                    )
                })?
        };
        let decision = match self.text("decision").as_str() {
            "" => 0,
            "allow" => pb::Decision::Allow as i32,
            "deny" => pb::Decision::Deny as i32,
            other => return Err(bad_param("decision", format!("'{other}': allow or deny"))),
        };
        Ok(pb::AuditQuery {
            requester: self.text("requester"),
            owner: self.text("owner"),
            party: self.text("party"),
            subject_id,
            cert_id: self.text("cert_id"),
            purpose: self.text("purpose"),
            decision,
            from_ms: self.number("from_ms")?,
            to_ms: self.number("to_ms")?,
            after: self.number("after")?,
            limit: u32::try_from(self.number("limit")?)
                .map_err(|_| bad_param("limit", "too large"))?,
        })
    }

    /// A period: `to_ms` defaults to the tip's block time, `from_ms` to 30 days before.
    fn period(&mut self, chain: &Chain) -> ApiResult<(u64, u64)> {
        let to = match self.number("to_ms")? {
            0 => chain.tip().header.time_ms,
            t => t,
        };
        let from = match self.number("from_ms")? {
            0 => to.saturating_sub(30 * 86_400_000),
            f => f,
        };
        if from > to {
            return Err(bad_param("from_ms", "after to_ms"));
        }
        Ok((from, to))
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The cookie attribute that keeps the session cookie off plain HTTP: for a console
/// served over TLS, or signed in on an `https://` page (a TLS proxy in front).
fn secure(tls: bool) -> &'static str {
    if tls { "; Secure" } else { "" }
}

impl App {
    /// The signed-in user, or UNAUTHENTICATED.
    fn session(&self, headers: &HeaderMap) -> ApiResult<Session> {
        cookie_token(headers)
            .and_then(|t| self.sessions.get(&t))
            .ok_or_else(|| {
                ApiError(status(
                    ErrorCode::Unauthenticated,
                    "sign in to the console first (a department key file or the node's supervisor credential)",
                ))
            })
    }
}

fn session_json(s: &Session) -> Value {
    json!({
        "department": s.reader.department,
        "operator": s.reader.operator,
        "roles": s.reader.roles,
        "auditor": s.reader.has_role(AUDITOR),
        "expires_ms": s.expires_ms,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, govchain_types::ExecError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(internal)?
        .map_err(|e| ApiError(tx_status(&e)))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn info(State(app): State<App>) -> Json<Value> {
    let tip = app.chain.tip();
    let mut sign_in = vec!["key"];
    if app.credential.is_some() {
        sign_in.push("credential");
    }
    Json(json!({
        "chain_id": app.chain.chain_id(),
        "node_id": app.node_id,
        "height": tip.header.height,
        "tip_time_ms": tip.header.time_ms,
        "genesis_hash": HashHex(&app.chain.genesis_hash()).to_string(),
        "sign_in": sign_in,
        "credential_department": app.credential.as_ref().map(|c| c.department.clone()),
    }))
}

async fn genesis(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.genesis_json.as_ref().clone(),
    )
}

/// The chain salt, to a signed-in session: every member searches its records by a
/// citizen's national id, hashed in the browser. Never to anyone else.
async fn salt(State(app): State<App>, headers: HeaderMap) -> ApiResult<impl IntoResponse> {
    app.session(&headers)?;
    let salt = app.salt.as_ref().ok_or_else(|| {
        ApiError(status(
            ErrorCode::NotFound,
            "this node has no chain salt (config `salt`): search by subject id",
        ))
    })?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "salt": salt.as_str() })),
    ))
}

async fn challenge(State(app): State<App>) -> ApiResult<Json<Value>> {
    let (c, expires) = app.sessions.challenge()?;
    Ok(Json(json!({
        "challenge": hex::encode(c),
        "chain_id": app.chain.chain_id(),
        "node_id": app.node_id,
        "path": LOGIN_PATH,
        "expires_ms": expires,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    #[serde(default)]
    department: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    time_ms: u64,
    #[serde(default)]
    signature: String,
    #[serde(default)]
    credential: Option<String>,
}

/// The origin of a sign-in: a browser's `Origin` must name this console (its scheme,
/// and the host and port the Host header names), so a page of another site can neither
/// sign in here nor use a signature made on it (a key's signature covers the origin).
fn sign_in_origin(app: &App, headers: &HeaderMap) -> ApiResult<String> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let (origin, host) = (text(header::ORIGIN), text(header::HOST));
    // Behind a TLS proxy a plain console is reached as https://.
    let schemes: &[&str] = if app.tls {
        &["https"]
    } else {
        &["http", "https"]
    };
    let fits = origin
        .split_once("://")
        .is_some_and(|(scheme, rest)| schemes.contains(&scheme) && rest.eq_ignore_ascii_case(host));
    if fits {
        return Ok(origin.to_string());
    }
    let expected = format!("{}://{host}", schemes[0]);
    Err(ApiError(status(
        ErrorCode::Unauthorized,
        if origin.is_empty() {
            format!(
                "a sign-in names the page it comes from in the Origin header, as browsers do: send Origin: {expected}"
            )
        } else {
            format!(
                "the sign-in comes from '{origin}', not from this console ({expected}): sign in on the console's own page"
            )
        },
    )))
}

async fn sign_in(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let origin = sign_in_origin(&app, &headers)?;
    let s: SignIn = serde_json::from_slice(&body).map_err(|e| {
        ApiError(status(
            ErrorCode::InvalidArgument,
            format!("sign-in body: {e}"),
        ))
    })?;
    let reader = match &s.credential {
        Some(given) => {
            let c = app.credential.as_ref().ok_or_else(|| {
                ApiError(status(
                    ErrorCode::Unauthenticated,
                    "this node has no supervisor credential configured: sign in with a department key file",
                ))
            })?;
            if !c.matches(given) {
                tracing::warn!("console sign-in with a wrong supervisor credential");
                return Err(ApiError(status(
                    ErrorCode::Unauthenticated,
                    "wrong supervisor credential",
                )));
            }
            // The credential is the node operator's: it signs in as the department
            // that runs this node on chain, never another (a config that names the
            // auditor's department does not make the operator a supervisor).
            let runs = govchain_state::query::validators(app.chain.store())
                .map_err(internal)?
                .into_iter()
                .find(|v| v.id == app.node_id)
                .map(|v| v.department);
            if runs.as_deref() != Some(c.department.as_str()) {
                return Err(ApiError(status(
                    ErrorCode::Unauthorized,
                    format!(
                        "this node's credential is configured for '{}', but the department running node {} on chain is {}: a node's credential signs in as that department only (supervisors sign in with their own keys)",
                        c.department,
                        app.node_id,
                        runs.map_or("none (not in the validator set)".into(), |d| format!(
                            "'{d}'"
                        ))
                    ),
                )));
            }
            reader_of(&app.chain, &c.department)?
        }
        None => {
            if s.department.is_empty() {
                return Err(bad_param(
                    "department",
                    "name the department whose key signed the challenge",
                ));
            }
            let challenge =
                hex::decode(&s.challenge).map_err(|_| bad_param("challenge", "not hex"))?;
            app.sessions.redeem(&challenge)?;
            // The challenge is the nonce: single use, and issued by this node; the
            // signed request is the origin.
            let read = SignedRead {
                department: &s.department,
                operator: &s.operator,
                time_ms: s.time_ms,
                nonce: challenge.clone(),
                signature: &s.signature,
            };
            app.auth.check(&read, LOGIN_PATH, origin.as_bytes())?
        }
    };
    tracing::info!(department = %reader.department, operator = %reader.operator, "console sign-in");
    let (token, session) = app.sessions.open(reader)?;
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_MS / 1000,
        secure(app.tls || origin.starts_with("https://"))
    );
    let mut resp = Json(session_json(&session)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(internal)?,
    );
    Ok(resp)
}

/// The reader a department signs in as, with its roles in chain state.
fn reader_of(chain: &Chain, department: &str) -> ApiResult<Reader> {
    let d = chain
        .store()
        .read(&govchain_state::tables::DEPARTMENT, department)
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError(status(
                ErrorCode::UnknownDepartment,
                format!("the credential's department '{department}' is not on chain"),
            ))
        })?;
    Ok(Reader {
        department: department.to_string(),
        operator: String::new(),
        roles: d.roles,
    })
}

async fn whoami(State(app): State<App>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    Ok(Json(session_json(&app.session(&headers)?)))
}

async fn sign_out(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie_token(&headers) {
        app.sessions.close(&t);
    }
    (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            format!(
                "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
                secure(app.tls)
            ),
        )],
    )
        .into_response()
}

async fn audit_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let who = app.session(&headers)?.reader;
    let mut p = Params(params);
    let q = p.audit_query()?;
    p.finish()?;
    let page = audit_query(&app.chain, &who, q).await?;
    let records: Vec<RecordView> = page.records.iter().map(RecordView::from).collect();
    Ok(Json(
        json!({"records": records, "next": page.next, "scanned": page.scanned}),
    ))
}

async fn export(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    let who = app.session(&headers)?.reader;
    let mut p = Params(params);
    let q = p.audit_query()?;
    let format = p.text("format");
    p.finish()?;
    let csv = match format.as_str() {
        "" | "json" => false,
        "csv" => true,
        other => return Err(bad_param("format", format!("'{other}': json or csv"))),
    };
    let e = audit_export(&app.chain, &who, q.clone()).await?;
    let file = ExportFile::from_export(&e, &q).map_err(internal)?;
    let name = format!(
        "govchain-audit-{}-{}.{}",
        app.chain.chain_id(),
        file.records.first().map_or(0, |r| r.record.seq),
        if csv { "csv" } else { "json" }
    );
    let (ctype, body) = if csv {
        let mut out = String::from(audit::CSV_HEADER);
        out.push('\n');
        for r in &file.records {
            out.push_str(&r.record.csv_row());
            out.push('\n');
        }
        ("text/csv; charset=utf-8", out.into_bytes())
    } else {
        (
            "application/json",
            serde_json::to_vec_pretty(&file).map_err(internal)?,
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (
                header::HeaderName::from_static("x-govchain-next"),
                e.next.to_string(),
            ),
        ],
        body,
    )
        .into_response())
}

fn payload_name(p: &Option<pb::Payload>) -> &'static str {
    use pb::payload::Kind;
    match p.as_ref().and_then(|p| p.kind.as_ref()) {
        Some(Kind::Anchor(_)) => "anchor",
        Some(Kind::Propose(_)) => "propose",
        Some(Kind::Vote(_)) => "vote",
        Some(Kind::Call(_)) => "contract call",
        Some(Kind::Publish(_)) => "publish certificate",
        Some(Kind::Request(_)) => "request access",
        Some(Kind::Grant(_)) => "grant access",
        Some(Kind::Revoke(_)) => "revoke",
        Some(Kind::Release(_)) => "release key shares",
        Some(Kind::Compute(_)) => "compute job",
        Some(Kind::Result(_)) => "compute result",
        Some(Kind::Evidence(_)) => "evidence",
        Some(Kind::RotateKey(_)) => "rotate key",
        Some(Kind::Keygen(_)) => "custody key generation",
        None => "none",
    }
}

async fn record(
    State(app): State<App>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = app.session(&headers)?.reader;
    let seq: u64 = seq
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| bad_param("seq", "an audit sequence number (1, 2, …)"))?;
    let chain = app.chain.clone();
    let r = blocking(move || audit::record(chain.store(), seq)).await?;
    crate::scope::audit_record(
        &who,
        seq,
        r.as_ref().map(|r| (r.requester.as_str(), r.owner.as_str())),
    )?;
    let r = r.expect("audit_record refuses a missing record");
    // The export's own scope check decides; it needs the side the reader is on.
    let mut q = pb::AuditQuery {
        after: seq - 1,
        limit: 1,
        ..Default::default()
    };
    if r.owner == who.department {
        q.owner = r.owner.clone();
    } else {
        q.requester = r.requester.clone();
    }
    let e = audit_export(&app.chain, &who, q.clone()).await?;
    let proof = ExportFile::from_export(&e, &q).map_err(internal)?;
    if proof.records.first().map(|x| x.record.seq) != Some(seq) {
        return Err(internal(format!("the export of record {seq} holds another record")).into());
    }
    let chain = app.chain.clone();
    let tx_hash = r.tx_hash.clone();
    let (transaction, block) = blocking(move || tx_and_block(&chain, &tx_hash, r.height)).await?;
    Ok(Json(json!({
        "record": proof.records[0].record,
        "proof": proof,
        "transaction": transaction,
        "block": block,
    })))
}

/// The transaction `hash` (with its receipt) and the header of block `height`.
fn tx_and_block(
    chain: &Chain,
    hash: &[u8],
    height: u64,
) -> Result<(Value, Value), govchain_types::ExecError> {
    let store = chain.store();
    let io = |e: govchain_store::StoreError| {
        govchain_types::ExecError::from(govchain_types::NodeError::new(e))
    };
    let raw = store.block(height).map_err(io)?.ok_or_else(|| {
        govchain_types::ExecError::from(govchain_types::NodeError(format!(
            "block {height} missing"
        )))
    })?;
    let b: pb::Block = decode("block", &raw)?;
    let h: pb::BlockHeader = decode("block header", &b.header)?;
    let block = json!({
        "height": h.height,
        "hash": HashHex(&govchain_crypto::sm3(&b.header)).to_string(),
        "time_ms": h.time_ms,
        "proposer": h.proposer,
        "tx_count": h.tx_count,
        "audit_count": h.audit_count,
        "audit_root": hex::encode(&h.audit_root),
        "state_root": hex::encode(&h.state_root),
    });
    let mut transaction = json!({"hash": hex::encode(hash)});
    if let Some(loc) = store.tx_location(hash).map_err(io)?
        && let Some(t) = b
            .txs
            .get(loc.index as usize)
            .filter(|_| loc.height == height)
    {
        let body: pb::TxBody = decode("transaction body", &t.body)?;
        transaction["sender"] = json!(body.sender);
        transaction["operator"] = json!(body.operator);
        transaction["nonce"] = json!(body.nonce);
        transaction["payload"] = json!(payload_name(&body.payload));
        transaction["index"] = json!(loc.index);
        if let Some(raw) = store.receipt(hash).map_err(io)? {
            let rc: pb::Receipt = decode("receipt", &raw)?;
            let ok = rc.status == pb::TxStatus::Ok as i32;
            transaction["status"] = json!(if ok { "ok" } else { "failed" });
            transaction["error"] = json!(rc.error_message);
        }
    }
    Ok((transaction, block))
}

async fn flows(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<supervision::Flows>> {
    let who = app.session(&headers)?.reader;
    let mut p = Params(params);
    let (from, to) = p.period(&app.chain)?;
    p.finish()?;
    let chain = app.chain.clone();
    let scope = crate::scope::audit_scope(&who).map(str::to_string);
    blocking(move || supervision::flows(chain.store(), scope.as_deref(), from, to))
        .await
        .map(Json)
}

async fn insights(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<supervision::Insights>> {
    let who = app.session(&headers)?.reader;
    let mut p = Params(params);
    let (from, to) = p.period(&app.chain)?;
    p.finish()?;
    let chain = app.chain.clone();
    let scope = crate::scope::audit_scope(&who).map(str::to_string);
    blocking(move || supervision::insights(chain.store(), scope.as_deref(), from, to))
        .await
        .map(Json)
}

async fn points(State(app): State<App>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let s = app.session(&headers)?;
    let b = balances(&app.chain, "")?;
    // Every department's balance to the auditor; a department its own, and the supply.
    let mine = |d: &str| s.reader.has_role(AUDITOR) || d == s.reader.department;
    Ok(Json(json!({
        "balances": b.balances.iter().filter(|x| mine(&x.department)).map(|x| json!({"department": x.department, "balance": x.balance})).collect::<Vec<_>>(),
        "genesis": b.genesis,
        "minted": b.minted,
        "burned": b.burned,
        "height": b.height,
    })))
}

async fn points_history(
    State(app): State<App>,
    headers: HeaderMap,
    Path(department): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> ApiResult<Json<supervision::PointsSeries>> {
    let s = app.session(&headers)?;
    crate::scope::ledger(&s.reader, &department)?;
    let mut p = Params(params);
    let (from, to) = p.period(&app.chain)?;
    p.finish()?;
    // Through the Points service: an unknown department is its NOT_FOUND-like error.
    balances(&app.chain, &department)?;
    let chain = app.chain.clone();
    blocking(move || supervision::points_series(chain.store(), &department, from, to))
        .await
        .map(Json)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("css") => "text/css",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// Content security policy of the page: its own scripts, styles and wasm only.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

async fn asset(uri: axum::http::Uri) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        p => p,
    };
    let Some((_, body)) = assets::ASSETS.iter().find(|(p, _)| *p == path) else {
        if assets::ASSETS.is_empty() && path == "/index.html" {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "The supervisor console is not built into this node: run scripts/setup.sh, then rebuild govchain.\n",
            )
                .into_response();
        }
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, cache),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        *body,
    )
        .into_response()
}
