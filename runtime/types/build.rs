//! Compiles proto/govchain/v1/*.proto messages (services are generated in govchain-api).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The vendored protoc keeps a fresh machine free of a system protobuf-compiler step.
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Read at run time: a build script binary may be reused from a checkout elsewhere.
    let manifest = std::env::var("CARGO_MANIFEST_DIR")?;
    let root = std::path::Path::new(&manifest).join("../../proto");
    let files = [
        "govchain/v1/types.proto",
        "govchain/v1/chain.proto",
        "govchain/v1/contracts.proto",
        "govchain/v1/access.proto",
    ];
    let paths: Vec<_> = files.iter().map(|f| root.join(f)).collect();
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_with_config(config, &paths, std::slice::from_ref(&root))?;
    for p in &paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    Ok(())
}
