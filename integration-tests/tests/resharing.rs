//! Resharing the custody key on four real validator processes (3 of 4) when governance
//! changes the holders: node4 leaves and the three others reshare among themselves; a
//! fifth node, prepared with `govchain init-node`, joins as a holder and the three
//! reshare to four. The custody public key never changes, so a certificate published
//! before both changes opens after them; a request approved before the first resharing
//! is released again under the new key set; the newcomer's share is one of the three
//! that open a certificate once node1 is down. A holder rotates its custody key the same
//! way: the holders reshare, it receives its new share under the new key, and its node
//! replaces the old key file (with which the chain's dealings gave its old share).

use std::time::{Duration, Instant};

use govchain_integration_tests::{
    Network, NodeProcess, cli_json, govchain, govern, keygen_status, wait_for_custody_key,
};
use govchain_types::pb;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

/// Waits until node `endpoint` reports a key set of round `round` or later.
async fn wait_for_round(net: &Network, endpoint: &str, round: u64) -> pb::CustodyKeySet {
    let start = Instant::now();
    loop {
        let s = keygen_status(net, endpoint).await.unwrap();
        if let Some(set) = s.custody.filter(|c| c.round >= round) {
            return set;
        }
        assert!(
            start.elapsed() < LIMIT,
            "no key set of round {round}: round {} in phase {}",
            s.state.as_ref().map_or(0, |st| st.round),
            s.state.as_ref().map_or(0, |st| st.phase)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn holders(set: &pb::CustodyKeySet) -> Vec<u32> {
    govchain_state::keygen::set_holders(set)
}

/// Prepares node `n` with `govchain init-node` (a custody key among its keys), starts it,
/// and has governance add it as a custody holder.
async fn join_as_holder(net: &Network, n: usize) -> NodeProcess {
    let id = format!("node{n}");
    let port = (net.base_port + 10 * (n as u16 - 1)).to_string();
    let prepared: Value = serde_json::from_str(
        &govchain(&[
            "--json",
            "init-node",
            "--network",
            net.root.to_str().unwrap(),
            "--id",
            &id,
            "--department",
            "tax",
            "--grpc-port",
            &port,
            "--plain-keys",
        ])
        .unwrap(),
    )
    .unwrap();
    let node = NodeProcess::start(net, n).await.unwrap();
    let field = |k: &str| prepared[k].as_str().unwrap().to_string();
    govern(
        net,
        2,
        &[
            "add-validator",
            "--id",
            &id,
            "--department",
            "tax",
            "--public-key",
            &field("public_key"),
            "--addr",
            &field("addr"),
            "--custody-key",
            &field("custody_key"),
        ],
    );
    node
}

/// Publishes a property deed (written to `deed`) as the real-estate registry; returns
/// the certificate id.
fn publish(net: &Network, endpoint: &str, deed: &std::path::Path) -> String {
    std::fs::write(
        deed,
        serde_json::json!({"number": "苏(2024)南京市不动产权第0000009号", "issued_on": "2024-05-01",
            "metadata": {"district": "鼓楼区", "usage": "住宅", "ownership": "单独所有"}})
        .to_string(),
    )
    .unwrap();
    let published = cli_json(
        endpoint,
        &net.root,
        &[
            "cert",
            "publish",
            "--type",
            "property",
            "--subject",
            "320102199001011232",
            "--file",
            deed.to_str().unwrap(),
            "--as",
            "real-estate",
        ],
        &[],
    )
    .unwrap();
    published["events"][0]["attributes"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Node `n`'s operator writes a new custody key beside the current one and restarts
/// the node; governance rotates to it. Returns the key set the resharing makes, once
/// the node has replaced its old key file with the new one.
async fn rotate_custody_key(
    net: &Network,
    nodes: &mut [Option<NodeProcess>],
    n: usize,
    round: u64,
) -> pb::CustodyKeySet {
    let file = net.root.join(format!("node{n}/custody.key"));
    let next = net.root.join(format!("node{n}/custody.key.next"));
    let new = govchain_crypto::PrivateKey::generate();
    std::fs::write(&next, new.to_pkcs8_pem()).unwrap();
    nodes[n - 1].take().unwrap().kill9();
    nodes[n - 1] = Some(NodeProcess::start(net, n).await.unwrap());
    govern(
        net,
        3,
        &[
            "rotate-custody-key",
            "--id",
            &format!("node{n}"),
            "--custody-key",
            &hex::encode(new.public_key().to_sec1()),
        ],
    );
    let set = wait_for_round(net, &net.endpoint(3), round + 1).await;
    let start = Instant::now();
    while next.exists() {
        assert!(
            start.elapsed() < LIMIT,
            "node{n} kept its old custody key file"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), new.to_pkcs8_pem());
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holders_leave_and_join_while_the_custody_key_stays_the_same() {
    let net = Network::init_bft(4, 0).unwrap();
    let mut nodes = Vec::new();
    for i in 1..=4 {
        nodes.push(Some(NodeProcess::start(&net, i).await.unwrap()));
    }
    let endpoint = net.endpoint(2);
    let cli = |args: &[&str]| cli_json(&endpoint, &net.root, args, &[]);
    let first = wait_for_custody_key(&net, &endpoint, LIMIT)
        .await
        .unwrap()
        .custody
        .unwrap();
    let key = first.public_key_set[..65].to_vec();
    let deed = net.root.join("deed.json");
    let cert = publish(&net, &endpoint, &deed);
    let request = || -> u64 {
        let r = cli(&[
            "cert",
            "request",
            &cert,
            "--purpose",
            "housing_eligibility",
            "--as",
            "housing",
        ])
        .unwrap();
        assert_eq!(r["decision"], "allow", "{r}");
        r["request"].as_u64().unwrap()
    };
    let fetch = |request: u64, out: &str| -> Value {
        let got = cli(&[
            "cert",
            "fetch",
            &request.to_string(),
            "--out",
            net.root.join(out).to_str().unwrap(),
            "--as",
            "housing",
            "--wait",
            "60",
        ])
        .unwrap();
        assert_eq!(
            std::fs::read(net.root.join(out)).unwrap(),
            std::fs::read(&deed).unwrap()
        );
        got
    };
    // a request made under the first key set, read only after the resharing
    let early = request();

    // node4 leaves: the three others reshare among themselves
    govern(&net, 2, &["remove-validator", "--id", "node4"]);
    let second = wait_for_round(&net, &endpoint, first.round + 1).await;
    nodes[3].take().unwrap().kill9();
    assert_eq!(
        second.public_key_set[..65],
        key[..],
        "the custody key is the same"
    );
    assert!(second.reshared);
    assert_eq!(holders(&second), [1, 2, 3]);
    assert_ne!(
        second.public_shares[0], first.public_shares[0],
        "new shares"
    );
    let got = fetch(early, "early.json");
    assert_eq!(got["combined"].as_array().unwrap().len(), 3, "{got}");

    // a fifth node joins as a custody holder: the three reshare to four
    nodes.push(Some(join_as_holder(&net, 5).await));
    let third = wait_for_round(&net, &endpoint, second.round + 1).await;
    assert_eq!(
        third.public_key_set[..65],
        key[..],
        "the custody key is the same"
    );
    assert_eq!(holders(&third), [1, 2, 3, 5], "number 4 is not reused");
    let status = cli(&["custody", "status", "--as", "supervision"]).unwrap();
    assert_eq!(status["kind"], "resharing", "{status}");
    assert_eq!(
        status["key_holders"],
        serde_json::json!([1, 2, 3, 5]),
        "{status}"
    );

    // node2 rotates its custody key: the holders reshare, node2 receiving under the new
    // key, and its node replaces the old key file
    let fourth = rotate_custody_key(&net, &mut nodes, 2, third.round).await;
    assert_eq!(
        fourth.public_key_set[..65],
        key[..],
        "the custody key is the same"
    );

    // node1 goes down: nodes 2 (its new share), 3 and the newcomer open the certificate
    nodes[0].take().unwrap().kill9();
    let late = request();
    let got = fetch(late, "late.json");
    let combined: Vec<&str> = got["combined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        combined.contains(&"node5") && combined.contains(&"node2"),
        "{got}"
    );
    for n in nodes.iter_mut().flatten() {
        assert!(!n.exited(), "a node exited:\n{}", n.log_text());
    }
}
