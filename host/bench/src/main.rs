//! `keel-bench`: Keel's benchmark harness. Runs the workloads of the
//! performance targets on real components and the real SQLite store in its
//! durable mode (WAL, synchronous=FULL), in-process and through gRPC, and
//! prints each figure beside the rate of bare SQLite commits measured on the
//! same disk in the same run.
//!
//! `cargo run --release -p keel-bench` (three runs, medians; about 8
//! minutes on 2 cores); `--quick` for a smoke run; `--json FILE` to write
//! the figures.

mod hosts;
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
    /// Repeat the whole harness this many times and report medians
    /// (default 3, or 1 with --quick).
    #[arg(long)]
    runs: Option<usize>,
    /// Only the workloads whose names start with one of these (baseline,
    /// W1, W2, W3, W4, micro, scaling, upgrade), for comparing two builds
    /// on one figure; the SQLite baseline always runs.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One run of the harness in a fresh process, so repetitions do not share
/// memory, threads or caches.
fn run_in_child(quick: bool, only: &[String]) -> anyhow::Result<Vec<report::Figure>> {
    let out = tempfile::NamedTempFile::new()?;
    let mut child = std::process::Command::new(std::env::current_exe()?);
    child.args(["--runs", "1", "--json"]).arg(out.path());
    if quick {
        child.arg("--quick");
    }
    if !only.is_empty() {
        child.arg("--only").arg(only.join(","));
    }
    let status = child.stdout(std::process::Stdio::null()).status()?;
    anyhow::ensure!(status.success(), "a run of the harness failed ({status})");
    Ok(serde_json::from_slice(&std::fs::read(out.path())?)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scale = if args.quick {
        workloads::Scale::quick()
    } else {
        workloads::Scale::full()
    };
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let figures = if runs == 1 {
        workloads::run_all(&scale, &args.only).await?
    } else {
        let mut all = Vec::with_capacity(runs);
        for run in 1..=runs {
            eprintln!("run {run} of {runs}");
            all.push(run_in_child(args.quick, &args.only)?);
        }
        report::medians(all)
    };
    println!("medians of {runs} run(s):");
    report::print(&figures);
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
