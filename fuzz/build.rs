//! Generates the messages of `proto/govchain/v1/raft.proto` (the service is left out).
//!
//! govchain-consensus generates them too, but it links RocksDB; decode_network compiles
//! the same file itself so that the short CI run stays free of RocksDB.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../proto");
    let raft = root.join("govchain/v1/raft.proto");
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_with_config(
            config,
            std::slice::from_ref(&raft),
            std::slice::from_ref(&root),
        )?;
    println!("cargo:rerun-if-changed={}", raft.display());
    Ok(())
}
