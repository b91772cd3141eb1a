//! Compiles the `.proto` files with protox (pure Rust, no system `protoc`), generates the
//! tonic/prost code, and writes the encoded descriptor set that server reflection serves.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "luxtensor/node/v1/node.proto",
        "luxtensor/sync/v1/sync.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("luxtensor_descriptor.bin"), fds.encode_to_vec())?;
    // Decode failures are the caller's mistake: `crate::codec` reports them as INVALID_ARGUMENT.
    tonic_prost_build::configure()
        .codec_path("crate::codec::Codec")
        .compile_fds(fds)?;
    Ok(())
}
