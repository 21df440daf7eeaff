//! Generates the messages of `proto/govchain/v1/consensus.proto` (the service is left
//! out), with the chain's own messages taken from `govchain_types::pb`.
//!
//! govchain-consensus generates them too, but it links RocksDB; decode_network compiles
//! the same file itself so that the short CI run stays free of RocksDB.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../proto");
    let consensus = root.join("govchain/v1/consensus.proto");
    let mut builder = tonic_prost_build::configure()
        .build_client(false)
        .build_server(false);
    for t in [
        "ConsensusVote",
        "CommitSignature",
        "VoteKind",
        "SignedVote",
        "BlockProposal",
        "SignedBlockProposal",
    ] {
        builder = builder.extern_path(
            format!(".govchain.v1.{t}"),
            format!("::govchain_types::pb::{t}"),
        );
    }
    builder.compile_with_config(
        config,
        std::slice::from_ref(&consensus),
        std::slice::from_ref(&root),
    )?;
    println!("cargo:rerun-if-changed={}", consensus.display());
    Ok(())
}
