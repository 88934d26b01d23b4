//! The workloads: the SQLite baseline, W1–W4, the micro-benchmarks, the
//! compatibility check of a new version and the scaling series.

use std::time::Duration;

use futures::StreamExt;
use keel_host::{Outcome, StartWorkflow, WorkflowId};
use serde_json::json;

use crate::hosts::{Driver, bench_host, drivers};
use crate::measure::{Samples, now, rss, time};
use crate::report::Figure;

mod micro;
mod upgrades;

use micro::micro;
use upgrades::upgrades;

const HELLO: &str = env!("KEEL_GUEST_EXAMPLE_HELLO_WORKFLOW");
const FAN_OUT: &str = env!("KEEL_GUEST_EXAMPLE_FAN_OUT_WORKFLOW");
const KITCHEN_SINK: &str = env!("KEEL_GUEST_GUEST_KITCHEN_SINK");
const KITCHEN_SINK_V2: &str = env!("KEEL_GUEST_GUEST_KITCHEN_SINK_V2");

/// How many runs each workload does.
#[derive(Debug, Clone)]
pub struct Scale {
    baseline_commits: usize,
    w1_sequential: usize,
    w1_throughput: usize,
    w2_runs: usize,
    w3_runs: usize,
    w4_runs: usize,
    replay_events: Vec<usize>,
    scaling: Vec<usize>,
    cached_instances: usize,
    check_runs: Vec<usize>,
}

impl Scale {
    /// The sizes.
    pub fn full() -> Self {
        Scale {
            baseline_commits: 500,
            w1_sequential: 200,
            w1_throughput: 2_000,
            w2_runs: 200,
            w3_runs: 10_000,
            w4_runs: 200,
            replay_events: vec![10, 100, 1_000, 10_000],
            scaling: vec![1, 10, 100, 1_000],
            cached_instances: 200,
            check_runs: vec![1_000, 10_000],
        }
    }

    /// A smoke run.
    pub fn quick() -> Self {
        Scale {
            baseline_commits: 20,
            w1_sequential: 5,
            w1_throughput: 20,
            w2_runs: 5,
            w3_runs: 20,
            w4_runs: 5,
            replay_events: vec![10, 100],
            scaling: vec![1, 10],
            cached_instances: 10,
            check_runs: vec![20],
        }
    }
}

/// The bare SQLite baseline: p50 latency of one durable commit and the
/// commit rate, on the same disk as the workloads.
struct Baseline {
    commit_p50_us: f64,
    commits_per_s: f64,
}

fn baseline(commits: usize) -> anyhow::Result<Baseline> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("baseline.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute(
        "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)",
        [],
    )?;
    let row = vec![7u8; 300];
    let mut samples = Samples::default();
    let started = now();
    for k in 0..commits {
        let at = now();
        conn.execute(
            "INSERT INTO t (k, v) VALUES (?1, ?2)",
            rusqlite::params![k, row],
        )?;
        samples.push(at.elapsed());
    }
    Ok(Baseline {
        commit_p50_us: samples.p50_us(),
        commits_per_s: commits as f64 / started.elapsed().as_secs_f64(),
    })
}

struct Table<'a> {
    figures: Vec<Figure>,
    base: &'a Baseline,
}

impl Table<'_> {
    fn latency(
        &mut self,
        workload: &str,
        mode: &'static str,
        metric: &str,
        us: f64,
        target: &'static str,
    ) {
        self.figures.push(Figure {
            workload: workload.into(),
            mode: mode.into(),
            metric: metric.into(),
            value: us,
            unit: "µs".into(),
            vs_commit: Some(us / self.base.commit_p50_us),
            target: target.into(),
        });
    }

    fn rate(
        &mut self,
        workload: &str,
        mode: &'static str,
        metric: &str,
        per_s: f64,
        target: &'static str,
    ) {
        self.figures.push(Figure {
            workload: workload.into(),
            mode: mode.into(),
            metric: metric.into(),
            value: per_s,
            unit: "/s".into(),
            vs_commit: Some(per_s / self.base.commits_per_s),
            target: target.into(),
        });
    }

    fn other(
        &mut self,
        workload: &str,
        metric: &str,
        value: f64,
        unit: &'static str,
        target: &'static str,
    ) {
        self.figures.push(Figure {
            workload: workload.into(),
            mode: "in-process".into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            vs_commit: None,
            target: target.into(),
        });
    }
}

/// Run every workload (or those `only` names) and return the figures.
pub async fn run_all(scale: &Scale, only: &[String]) -> anyhow::Result<Vec<Figure>> {
    let wanted = |name: &str| {
        only.is_empty()
            || only
                .iter()
                .any(|o| name.to_lowercase().starts_with(&o.to_lowercase()))
    };
    let base = baseline(scale.baseline_commits)?;
    let mut table = Table {
        figures: Vec::new(),
        base: &base,
    };
    table.latency(
        "SQLite commit",
        "sqlite",
        "p50 of one durable commit",
        base.commit_p50_us,
        "",
    );
    table.rate(
        "SQLite commit",
        "sqlite",
        "sequential commits",
        base.commits_per_s,
        "",
    );
    eprintln!("baseline done");
    if wanted("W1") {
        w1(scale, &mut table).await?;
        eprintln!("W1 done");
    }
    if wanted("W2") {
        w2(scale, &mut table).await?;
        eprintln!("W2 done");
    }
    if wanted("W4") {
        w4(scale, &mut table).await?;
        eprintln!("W4 done");
    }
    if wanted("micro") {
        micro(scale, &mut table).await?;
        eprintln!("micro done");
    }
    if wanted("scaling") {
        scaling(scale, &mut table).await?;
        eprintln!("scaling done");
    }
    if wanted("W3") {
        w3(scale, &mut table).await?;
        eprintln!("W3 done");
    }
    // Last: its ten thousand runs would weigh on the figures after it (and
    // on W3's peak RSS).
    if wanted("upgrade") {
        upgrades(scale, &mut table).await?;
        eprintln!("upgrade done");
    }
    Ok(table.figures)
}

/// Run `count` workloads with `in_flight` at once; returns the elapsed time
/// and each one's latency.
async fn concurrently<F, Fut>(
    count: usize,
    in_flight: usize,
    run: F,
) -> anyhow::Result<(Duration, Samples)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = now();
    let mut samples = Samples::default();
    let mut runs = futures::stream::iter(0..count)
        .map(|i| time(run(i)))
        .buffer_unordered(in_flight.max(1));
    while let Some((result, elapsed)) = runs.next().await {
        result?;
        samples.push(elapsed);
    }
    Ok((started.elapsed(), samples))
}

async fn w1(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    let mut bench = bench_host(&[HELLO], 500).await?;
    for driver in drivers(&mut bench, true).await? {
        let mode = driver.mode();
        let mut samples = Samples::default();
        for i in 0..scale.w1_sequential {
            let (result, elapsed) =
                time(driver.run(&format!("w1s-{mode}-{i}"), "hello", json!("bench"))).await;
            result?;
            samples.push(elapsed);
        }
        let target = if mode != "in-process" {
            "≤ 2 ms"
        } else {
            "≤ 1 ms"
        };
        table.latency(
            "W1 hello sequential",
            mode,
            "start→result p50",
            samples.p50_us(),
            target,
        );
        table.latency(
            "W1 hello sequential",
            mode,
            "start→result p99",
            samples.percentile_us(99.0),
            "",
        );
        let (elapsed, _) = concurrently(scale.w1_throughput, 50, |i| {
            let driver = driver.clone();
            async move {
                driver
                    .run(&format!("w1t-{mode}-{i}"), "hello", json!("bench"))
                    .await
                    .map(drop)
            }
        })
        .await?;
        let target = if mode != "in-process" {
            "≥ 2,000 runs/s"
        } else {
            "≥ 5,000 runs/s"
        };
        table.rate(
            "W1 hello throughput",
            mode,
            "runs/s, 50 in flight",
            scale.w1_throughput as f64 / elapsed.as_secs_f64(),
            target,
        );
    }
    Ok(())
}

async fn w2(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    let mut bench = bench_host(&[FAN_OUT], 500).await?;
    for driver in drivers(&mut bench, false).await? {
        let mode = driver.mode();
        let (elapsed, samples) = concurrently(scale.w2_runs, 10, |i| {
            let driver = driver.clone();
            async move {
                driver
                    .run(&format!("w2-{mode}-{i}"), "fan-out", json!(20))
                    .await
                    .map(drop)
            }
        })
        .await?;
        let rate = scale.w2_runs as f64 / elapsed.as_secs_f64();
        table.rate(
            "W2 fan-out ×20",
            mode,
            "runs/s, 10 in flight",
            rate,
            "≥ 500 runs/s",
        );
        table.rate(
            "W2 fan-out ×20",
            mode,
            "activities/s",
            rate * 20.0,
            "≥ 10,000/s",
        );
        table.latency(
            "W2 fan-out ×20",
            mode,
            "start→result p50",
            samples.p50_us(),
            "",
        );
    }
    Ok(())
}

async fn w4(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    let mut bench = bench_host(&[KITCHEN_SINK], 500).await?;
    for driver in drivers(&mut bench, false).await? {
        let mode = driver.mode();
        let mut samples = Samples::default();
        for i in 0..scale.w4_runs {
            let id = WorkflowId::new(format!("w4-{mode}-{i}"))?;
            driver
                .start(StartWorkflow::new(id.as_str(), "signals", &json!(null))?)
                .await?;
            // A query is answered after the start's activation: the run now waits.
            driver.query(&id, "items").await?;
            let (outcome, elapsed) = time(async {
                driver.signal(&id, "finish").await?;
                driver.result(&id).await
            })
            .await;
            anyhow::ensure!(matches!(outcome?, Outcome::Completed(_)));
            samples.push(elapsed);
        }
        table.latency(
            "W4 signal",
            mode,
            "signal→result p50",
            samples.p50_us(),
            "≤ 2 ms (grpc)",
        );
    }
    Ok(())
}

async fn w3(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    let bench = bench_host(&[KITCHEN_SINK], 500).await?;
    let driver = Driver::Host(bench.host.clone());
    let sleep_ms = 1_000u64;
    let started = now();
    let mut last_due = Duration::ZERO;
    for i in 0..scale.w3_runs {
        driver
            .start(StartWorkflow::new(&format!("w3-{i}"), "timers", &sleep_ms)?)
            .await?;
        last_due = started.elapsed() + Duration::from_millis(sleep_ms);
    }
    let mut last_done = Duration::ZERO;
    let mut completions = futures::stream::iter(0..scale.w3_runs)
        .map(|i| {
            let driver = driver.clone();
            async move {
                driver
                    .result(&WorkflowId::new(format!("w3-{i}"))?)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffer_unordered(256);
    while let Some(outcome) = completions.next().await {
        anyhow::ensure!(matches!(outcome?, Outcome::Completed(_)));
        last_done = started.elapsed();
    }
    let lag = last_done.saturating_sub(last_due);
    let (_, peak) = rss();
    table.other(
        &format!("W3 timers ×{}", scale.w3_runs),
        "last due → last done",
        lag.as_secs_f64() * 1e3,
        "ms",
        "≤ 500 ms",
    );
    table.other(
        &format!("W3 timers ×{}", scale.w3_runs),
        "peak RSS of the process",
        peak as f64 / 1e6,
        "MB",
        "≤ 300 MB",
    );
    Ok(())
}

async fn scaling(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    let bench = bench_host(&[HELLO], 1_100).await?;
    let driver = Driver::Host(bench.host.clone());
    for &in_flight in &scale.scaling {
        let count = (in_flight * 4).max(scale.w1_throughput / 4);
        let (elapsed, _) = concurrently(count, in_flight, |i| {
            let driver = driver.clone();
            async move {
                driver
                    .run(&format!("scale-{in_flight}-{i}"), "hello", json!("x"))
                    .await
                    .map(drop)
            }
        })
        .await?;
        table.rate(
            "W1 scaling",
            "in-process",
            &format!("runs/s, {in_flight} in flight"),
            count as f64 / elapsed.as_secs_f64(),
            "",
        );
    }
    Ok(())
}
