//! Generates the node-to-node Raft service.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Read at run time: a build script binary may be reused from a checkout elsewhere.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../../proto");
    tonic_prost_build::configure().compile_with_config(
        config,
        &[root.join("govchain/v1/raft.proto")],
        std::slice::from_ref(&root),
    )?;
    println!(
        "cargo:rerun-if-changed={}",
        root.join("govchain/v1/raft.proto").display()
    );
    Ok(())
}
