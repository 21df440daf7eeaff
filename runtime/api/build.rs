//! Generates the gRPC servers (their messages come from govchain-types; the clients are
//! govchain-client's) and embeds the
//! supervisor console's built front end (`runtime/console/web/dist`, built by
//! `scripts/setup.sh`).
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
        .build_client(false)
        .extern_path(".govchain.v1", "::govchain_types::pb")
        .compile_with_config(config, &paths, std::slice::from_ref(&root))?;
    println!("cargo:rerun-if-changed={}", root.display());
    embed_console(std::path::Path::new(&manifest).join("../console/web/dist"))?;
    Ok(())
}

/// Writes `console_assets.rs`: every file of the built console as (path, bytes).
fn embed_console(dist: std::path::PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files = Vec::new();
    let mut stack = vec![dist.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        println!(
            "cargo:warning=the console front end is not built ({} is empty): run scripts/setup.sh; the node will answer its page with 503",
            dist.display()
        );
    }
    let mut out = String::from(
        "/// The built console: (URL path, file contents).\npub(crate) static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for f in &files {
        let rel = f.strip_prefix(&dist)?.to_string_lossy().replace('\\', "/");
        out.push_str(&format!(
            "    (\"/{rel}\", include_bytes!({:?})),\n",
            f.canonicalize()?
        ));
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR")?).join("console_assets.rs");
    std::fs::write(dest, out)?;
    Ok(())
}
