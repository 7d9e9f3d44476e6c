//! Compiles `proto/*.proto` into `$OUT_DIR/tablesafe.pb.rs` with protox (pure Rust,
//! no system `protoc`) and prost-build.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_dir = manifest_dir.join("proto");
    println!("cargo:rerun-if-changed={}", proto_dir.display());
    let files = ["table_store.proto", "table_store_filter.proto", "search.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={}", proto_dir.join(f).display());
    }
    let fds = protox::compile(files, [&proto_dir])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
