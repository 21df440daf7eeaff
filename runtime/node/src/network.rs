//! A department's side of a network: the network folder (its genesis and key files) as
//! the trust anchor, and the operations against a node that are checked against it
//! (connecting, audit exports, compute-job results). Nothing a node says is taken on
//! its word where genesis can check it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use govchain_client::rpc::{AuditExport, AuditQuery, GetReleasesRequest, GetReleasesResponse};
use govchain_client::shares::Trust;
use govchain_client::{Client, ClientError, Signer};
use govchain_crypto::{PrivateKey, PublicKey, Signature};
use govchain_state::access::audit::ExportFile;
use govchain_state::{Genesis, compute};

/// Waits up to `wait` for job `request`'s result, checks it against genesis alone (the
/// executor's SM2 signature, the job's code, the certificate's content hash) and
/// decrypts it with the requester's key (`signer`'s): the output, or why the job failed.
pub async fn await_result(
    client: &Client,
    genesis: &Genesis,
    request: u64,
    wait: Duration,
    signer: &Signer,
) -> anyhow::Result<(GetReleasesResponse, Vec<u8>)> {
    let r = wait_for_result(client, signer, request, wait).await?;
    let plain = check_result(genesis, request, &r, &signer.key)?;
    Ok((r, plain))
}

/// What the node serves for job `request` once its executor posted a result, polled
/// for up to `wait` with reads signed by `signer` (the requester, the owner or the
/// auditor); unchecked (see [`check_result`]).
pub async fn wait_for_result(
    client: &Client,
    signer: &Signer,
    request: u64,
    wait: Duration,
) -> anyhow::Result<GetReleasesResponse> {
    let started = Instant::now();
    loop {
        let req = client.signed(
            signer,
            "/govchain.v1.Certificates/GetReleases",
            GetReleasesRequest { request },
        )?;
        let r = client
            .certificates()
            .get_releases(req)
            .await
            .map_err(ClientError::from)?
            .into_inner();
        if r.result.is_some() {
            return Ok(r);
        }
        let job = r.request.as_ref().and_then(|q| q.job.as_ref());
        let Some(job) = job else {
            bail!("request {request} is a read, not a compute job");
        };
        if started.elapsed() >= wait {
            bail!(
                "job {request} has no result yet: {} key share(s) released to {}, {} needed",
                r.releases.len(),
                job.executor,
                r.custody.as_ref().map_or(0, |c| c.threshold)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the result of job `request` in `r` against genesis alone (the executor's SM2
/// signature, the job's code, the certificate's content hash) and decrypts it with the
/// requester's `key`: the output, or why the job failed.
pub fn check_result(
    genesis: &Genesis,
    request: u64,
    r: &GetReleasesResponse,
    key: &PrivateKey,
) -> anyhow::Result<Vec<u8>> {
    let req = r.request.clone().unwrap_or_default();
    let job = req.job.clone().unwrap_or_default();
    let res = r.result.clone().unwrap_or_default();
    let out = res.result.clone().unwrap_or_default();
    ensure!(
        out.request == request,
        "the node served the result of job {} for job {request}",
        out.request
    );
    ensure!(
        res.executor == job.executor,
        "the result is posted by {}, the job's executor is {}",
        res.executor,
        job.executor
    );
    let executor = genesis
        .validators
        .iter()
        .find(|v| v.id == res.executor)
        .with_context(|| {
            format!(
                "the executor {} is not a validator in genesis",
                res.executor
            )
        })?;
    PublicKey::from_sec1(&hex::decode(&executor.public_key)?)?
        .verify(
            &compute::result_digest(&genesis.chain_id, &out),
            &Signature::from_slice(&out.signature)?,
        )
        .context("the result's signature does not verify against the executor's genesis key")?;
    ensure!(
        out.code_hash == job.code_hash,
        "the result is for other code than the job's"
    );
    let cert = r.certificate.clone().unwrap_or_default();
    ensure!(
        cert.id == req.cert_id && (out.failed || out.input_hash == cert.content_hash),
        "the result was computed over another document than certificate {}",
        req.cert_id
    );
    let plain = key.decrypt(&out.output).with_context(|| {
        format!(
            "the result of job {request} is encrypted to {}'s key, not this one",
            req.requester
        )
    })?;
    let plain = compute::open_output(&plain, &out.output_hash)
        .context("the decrypted result does not open the commitment the executor signed")?;
    Ok(plain.to_vec())
}

/// Audit records matching `q` with their inclusion proofs and signed headers, asked for
/// as `sign` (a department sees its own records; the auditor all).
pub async fn export_audit(
    client: &Client,
    signer: &Signer,
    q: AuditQuery,
) -> anyhow::Result<(AuditExport, ExportFile)> {
    let request = client.signed(signer, "/govchain.v1.Audit/Export", q.clone())?;
    let export = client
        .audit()
        .max_decoding_message_size(256 << 20)
        .export(request)
        .await
        .map_err(ClientError::from)?
        .into_inner();
    let file = ExportFile::from_export(&export, &q).map_err(anyhow::Error::msg)?;
    Ok((export, file))
}

/// A connection to the node at `endpoint`, refused unless it runs the chain of
/// `<home>/genesis.json` (the trust anchor: signed reads name its chain id, and shares
/// and certificates are checked against it, never against what the node says).
pub async fn connect_checked(endpoint: &str, home: &Path) -> anyhow::Result<(Client, Genesis)> {
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let client = Client::connect_to(endpoint, &genesis.chain_id, &genesis.hash())
        .await
        .with_context(|| format!("checking the node against {}/genesis.json", home.display()))?;
    Ok((client, genesis))
}

/// The network's genesis file, `<home>/genesis.json`.
pub fn network_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (the network's genesis file; use --home for another network folder)",
            path.display()
        )
    })?;
    Ok(Genesis::from_json(&text)?)
}

/// The file holding the chain salt (hex), in a network folder and in each node's folder.
pub const SALT_FILE: &str = "chain.salt";

/// The chain salt in `dir/chain.salt`, checked against `genesis`'s commitment. The salt
/// is the consortium's secret: `init` hands it with the network folder and each node's
/// folder, and no node serves it to anyone but a signed-in console session.
pub fn chain_salt(dir: &Path, genesis: &Genesis) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(SALT_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading the chain salt {} (the consortium's secret, written by `govchain init` beside genesis.json; subject ids cannot be computed without it)",
            path.display()
        )
    })?;
    genesis
        .check_salt(&text)
        .with_context(|| format!("the chain salt {}", path.display()))
}

/// `SM3(chain salt || national ID)`, computed here: the ID never leaves this machine,
/// and the salt comes from the network folder (`chain.salt`), never from a node.
pub fn subject_of(home: &Path, national_id: &str) -> anyhow::Result<Vec<u8>> {
    let genesis = network_genesis(&home.join("genesis.json"))?;
    let salt = chain_salt(home, &genesis)?;
    let mut line = String::new();
    let national_id = if national_id == "-" {
        std::io::stdin().read_line(&mut line)?;
        line.trim()
    } else {
        national_id
    };
    let id = govchain_state::certs::subject_id(&salt, national_id)
        .map_err(|e| anyhow::anyhow!("INVALID_SUBJECT (3014): {e}"))?;
    Ok(id.to_vec())
}

/// Resolves `--as <dept>` (key from `<home>/keys/<dept>.pem`) or `--key <file>`.
pub fn signer(
    home: &Path,
    as_dept: Option<&str>,
    key: Option<&PathBuf>,
    operator: Option<&str>,
) -> anyhow::Result<Signer> {
    let Some(dept) = as_dept else {
        bail!("name the signing department with --as <department>");
    };
    // An operator's own key (`keys/<dept>.<operator>.pem`), else the department's.
    let path = match (key, operator) {
        (Some(p), _) => p.clone(),
        (None, Some(op)) => crate::init::operator_key_file(&home.join("keys"), dept, op),
        (None, None) => home.join("keys").join(format!("{dept}.pem")),
    };
    if !path.exists() {
        bail!(
            "no key for '{dept}' at {} (use --home for another network folder, or --key <file>)",
            path.display()
        );
    }
    Ok(Signer::operator(
        dept,
        operator.unwrap_or_default(),
        crate::keyfile::load(&path)?,
    ))
}

/// How long a client waits for a network just started to generate its custody key.
pub const CUSTODY_KEY_WAIT: Duration = Duration::from_secs(90);

/// The custody key set the validators generated, proven to `genesis` by the node
/// `client` talks to (`Client::custody_key`, a read signed by `signer`), asking again
/// every half second for up to `wait` while the validators are still generating it (a
/// network just started).
pub async fn wait_for_custody_key(
    client: &govchain_client::Client,
    signer: &Signer,
    genesis: &Genesis,
    wait: Duration,
) -> anyhow::Result<govchain_custody::KeySet> {
    if genesis.custody.is_none() {
        bail!(
            "this network's genesis has no custody: certificates cannot be published (re-create it with `govchain init`)"
        );
    }
    let anchor = govchain_proof::TrustAnchor::from_genesis_json(&genesis.to_json())
        .map_err(anyhow::Error::msg)?;
    let deadline = Instant::now() + wait;
    loop {
        match client.custody_key(signer, &anchor).await {
            Err(e)
                if e.code() == Some(govchain_types::ErrorCode::NotFound)
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// A requester's trust anchor: from genesis the chain id and every department's
/// registered keys (its own and its operators'), and the custody key set proven to
/// genesis by the node `client` talks to (read as `signer`).
pub async fn trust(
    client: &govchain_client::Client,
    signer: &Signer,
    genesis: &Genesis,
    wait: Duration,
) -> anyhow::Result<Trust> {
    trust_with(
        genesis,
        wait_for_custody_key(client, signer, genesis, wait).await?,
    )
}

/// [`trust`] with a custody key set the caller has proven.
pub fn trust_with(genesis: &Genesis, custody: govchain_custody::KeySet) -> anyhow::Result<Trust> {
    let mut issuers = std::collections::BTreeMap::new();
    for d in &genesis.departments {
        let keys = std::iter::once(&d.public_key)
            .chain(d.operators.iter().map(|o| &o.public_key))
            .map(hex::decode)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("genesis: a key of department '{}' is not hex", d.id))?;
        issuers.insert(d.id.clone(), keys);
    }
    Ok(Trust {
        chain_id: genesis.chain_id.clone(),
        custody,
        issuers,
    })
}
