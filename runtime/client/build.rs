//! Generates the gRPC clients of the node's services (their messages come from
//! govchain-types), so that a client needs neither the node nor its storage.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Read at run time: a build script binary may be reused from a checkout elsewhere.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../../proto");
    let services = [
        "govchain/v1/chain.proto",
        "govchain/v1/contracts.proto",
        "govchain/v1/access.proto",
    ];
    let paths: Vec<_> = services.iter().map(|f| root.join(f)).collect();
    tonic_prost_build::configure()
        .build_server(false)
        .extern_path(".govchain.v1", "::govchain_types::pb")
        .compile_with_config(config, &paths, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
