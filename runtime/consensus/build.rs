//! Generates the node-to-node service, the BFT engine's `Consensus` (which uses the
//! chain's own messages from `govchain_types::pb`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: a build script binary may be reused from a checkout elsewhere.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../../proto");
    let compile = |file: &str, extern_types: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
        let mut config = tonic_prost_build::Config::new();
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
        let mut builder = tonic_prost_build::configure();
        // Type by type: a package prefix would also claim `govchain.v1.consensus`.
        for t in extern_types {
            builder = builder.extern_path(
                format!(".govchain.v1.{t}"),
                format!("::govchain_types::pb::{t}"),
            );
        }
        builder.compile_with_config(config, &[root.join(file)], std::slice::from_ref(&root))?;
        println!("cargo:rerun-if-changed={}", root.join(file).display());
        Ok(())
    };
    compile(
        "govchain/v1/consensus.proto",
        &[
            "ConsensusVote",
            "CommitSignature",
            "VoteKind",
            "SignedVote",
            "BlockProposal",
            "SignedBlockProposal",
        ],
    )
}
