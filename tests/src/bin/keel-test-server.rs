//! `keel server` with the test activities, for the CLI tests:
//! `keel-test-server --db FILE --listen 127.0.0.1:0`.

use clap::Parser;
use keel_host::cli::{ServerArgs, init_logs, serve};

/// Serve the gRPC API with every activity the test workflows call.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As `keel server` logs: to stderr, `info` unless RUST_LOG says.
    init_logs();
    serve(Args::parse().server, keel_tests::activities(), &[]).await?;
    Ok(())
}
