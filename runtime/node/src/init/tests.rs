//! `init` and `init-node` write loadable networks and node folders.

use super::*;

#[test]
fn writes_a_loadable_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let r = init(&InitOptions {
        out: out.clone(),
        validators: 3,
        observers: 1,
        threshold: None,
        preset: "nanjing".into(),
        chain_id: "t".into(),
        plain_keys: true,
        base_port: 17545,
        block_interval_ms: 100,
        operated_by: vec![],
        initial_points: None,
        supervisors: vec![DEFAULT_SUPERVISOR.into()],
    })
    .unwrap();
    assert_eq!(r.configs.len(), 4);
    assert!(r.genesis.validators[3].observer);
    assert_eq!(r.genesis.validators[2].addr, "127.0.0.1:17566");
    assert_eq!(r.genesis.departments.len(), 8);
    let g =
        Genesis::from_json(&std::fs::read_to_string(out.join("genesis.json")).unwrap()).unwrap();
    assert_eq!(g, r.genesis);
    // The salt is in its own owner-only file (the network's and each node's), the
    // genesis only commits to it.
    let salt = crate::network::chain_salt(&out, &g).unwrap();
    assert_eq!(
        crate::network::chain_salt(&out.join("node4"), &g).unwrap(),
        salt
    );
    let genesis_text = std::fs::read_to_string(out.join("genesis.json")).unwrap();
    assert!(!genesis_text.contains(&hex::encode(&salt)));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out.join("chain.salt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "chain.salt is readable by its owner only");
    let c = NodeConfig::load(&out.join("node2/config.toml")).unwrap();
    assert_eq!(c.node_id, "node2");
    // node2's credential signs in as the department that runs it, not the auditor;
    // the supervisor has an account (an operator of the auditor) and a key of their own
    assert_eq!(
        c.console.as_ref().unwrap().department,
        g.validators[1].department
    );
    let auditor = g
        .departments
        .iter()
        .find(|d| d.id == "supervision")
        .unwrap();
    assert_eq!(auditor.operators[0].id, DEFAULT_SUPERVISOR);
    let sk = keyfile::load(&operator_key_file(
        &out.join("keys"),
        "supervision",
        DEFAULT_SUPERVISOR,
    ))
    .unwrap();
    assert_eq!(hex_pub(&sk), auditor.operators[0].public_key);
    assert_eq!(c.api.grpc.port(), 17555);
    let vk = keyfile::load(&c.validator_key).unwrap();
    assert_eq!(hex_pub(&vk), g.validators[1].public_key);
    // 2 of the 3 validators; each holds the custody key genesis names (its own, not
    // its signing key), the observer none; no file anywhere holds a share.
    let custody = g.custody.as_ref().unwrap();
    assert_eq!(custody.threshold, 2);
    assert_eq!(g.validators[1].custody_share, 2);
    assert_eq!(g.validators[3].custody_share, 0);
    let ck = keyfile::load(c.custody_key.as_ref().unwrap()).unwrap();
    assert_eq!(hex_pub(&ck), g.validators[1].custody_key);
    assert_ne!(g.validators[1].custody_key, g.validators[1].public_key);
    assert!(g.validators[3].custody_key.is_empty());
    assert!(
        NodeConfig::load(&out.join("node4/config.toml"))
            .unwrap()
            .custody_key
            .is_none()
    );
    let tax = keyfile::load(&out.join("keys/tax.pem")).unwrap();
    let d = g.departments.iter().find(|d| d.id == "tax").unwrap();
    assert_eq!(hex_pub(&tax), d.public_key);
    // A second init into the same folder is refused.
    assert!(
        init(&InitOptions {
            out,
            validators: 1,
            observers: 0,
            threshold: None,
            preset: "nanjing".into(),
            chain_id: "t".into(),
            plain_keys: true,
            base_port: 1,
            block_interval_ms: 1,
            operated_by: vec![],
            initial_points: None,
            supervisors: vec![DEFAULT_SUPERVISOR.into()],
        })
        .is_err()
    );
}
