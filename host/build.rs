//! Compile the gRPC protos with a pure-Rust protobuf compiler (no protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["keel/v1/workflow.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .codec_path("crate::api::codec::Codec")
        .compile_fds(descriptors)?;
    Ok(())
}
