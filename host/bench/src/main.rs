//! `keel-bench`: Keel's benchmark harness. Runs the workloads of the
//! performance targets on real components and the real SQLite store in its
//! durable mode (WAL, synchronous=FULL), in-process and through gRPC, and
//! prints each figure beside the rate of bare SQLite commits measured on the
//! same disk in the same run.
//!
//! `cargo run --release -p keel-bench` (about 5 minutes);
//! `--quick` for a smoke run; `--json FILE` to write the figures.

mod measure;
mod report;
mod workloads;

use std::path::PathBuf;

use clap::Parser;

/// Measure Keel's workloads and print the table.
#[derive(Debug, Parser)]
struct Args {
    /// A few runs per workload, to check the harness works (no targets).
    #[arg(long)]
    quick: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scale = if args.quick {
        workloads::Scale::quick()
    } else {
        workloads::Scale::full()
    };
    let figures = workloads::run_all(&scale).await?;
    report::print(&figures);
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
