//! Checking a new version against the open runs (`keel deploy --check`):
//! open runs of realistic length are written to a store, a host recovers
//! them, and the check replays every one against the candidate.

use keel_host::history::{Event, HistoryEvent};
use keel_host::store::{Batch, Op, RunRecord, SqliteStore, Store};
use keel_host::{Host, HostConfig, Payload, RunId, RunStatus, StartWorkflow, WorkflowId};
use serde_json::json;

use super::{KITCHEN_SINK, KITCHEN_SINK_V2, Scale, Table};
use crate::hosts::bench_host;
use crate::measure::now;

/// Signals in each open run: about a hundred events, fifty activations.
const SIGNALS: usize = 50;

/// Runs written to the store per commit.
const RUNS_PER_COMMIT: usize = 100;

pub(super) async fn upgrades(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    for &runs in &scale.check_runs {
        let bench = bench_host(&[KITCHEN_SINK], 64).await?;
        let template = template(&bench.host).await?;
        let activations = template
            .iter()
            .filter(|e| matches!(e.event, Event::ActivationCompleted(_)))
            .count();
        let Some(Event::WorkflowStarted(started)) = template.first().map(|e| &e.event) else {
            anyhow::bail!("the template history does not start with WorkflowStarted");
        };
        let component = started.component.clone();
        bench.host.shutdown();
        let db = bench.db_path();
        let store = SqliteStore::open(&db)?;
        copy_runs(&store, &template, &component, runs).await?;
        drop(store);

        let at = now();
        let host = Host::builder()
            .sqlite(&db)
            .config(HostConfig::default())
            .build()
            .await?;
        let recovered = at.elapsed();
        anyhow::ensure!(host.recovered().runs >= runs, "the runs were not recovered");
        let what = format!(
            "{runs} open runs ({} events, {activations} act.)",
            template.len()
        );
        table.other(
            "upgrade",
            &format!("recover {what}"),
            recovered.as_secs_f64() * 1e3,
            "ms",
            "",
        );
        let candidate = std::fs::read(KITCHEN_SINK_V2)?;
        let at = now();
        let report = host.check_deployment(candidate).await?;
        let checked = at.elapsed();
        anyhow::ensure!(
            report.compatible() == report.runs.len() && report.runs.len() >= runs,
            "the check found {} of {} runs compatible",
            report.compatible(),
            report.runs.len()
        );
        table.other(
            "upgrade",
            &format!("deploy --check, {what}"),
            checked.as_secs_f64() * 1e3,
            "ms",
            "",
        );
        table.other(
            "upgrade",
            &format!("deploy --check, per run of {runs}"),
            checked.as_secs_f64() * 1e6 / runs as f64,
            "µs",
            "",
        );
        host.shutdown();
    }
    Ok(())
}

/// The history of an open `signals` run that has taken [`SIGNALS`] signals.
async fn template(host: &Host) -> anyhow::Result<Vec<HistoryEvent>> {
    let id = WorkflowId::new("template")?;
    host.start(StartWorkflow::new(id.as_str(), "signals", &json!(null))?)
        .await?;
    for i in 0..SIGNALS {
        host.signal(&id, "add", Payload::json(&format!("item {i}"))?)
            .await?;
        // Answered after the signal's activation: one activation each, as
        // signals that come one by one have.
        host.query(&id, "items", Payload::default()).await?;
    }
    Ok(host.history(&id).await?)
}

/// Write `count` open runs with `history` (same ids, same times).
async fn copy_runs(
    store: &SqliteStore,
    history: &[HistoryEvent],
    component: &keel_host::ComponentId,
    count: usize,
) -> anyhow::Result<()> {
    let mut by_time: Vec<(u64, Vec<Event>)> = Vec::new();
    for event in history {
        match by_time.last_mut() {
            Some((at, events)) if *at == event.time_ms => events.push(event.event.clone()),
            _ => by_time.push((event.time_ms, vec![event.event.clone()])),
        }
    }
    for chunk in (0..count).collect::<Vec<_>>().chunks(RUNS_PER_COMMIT) {
        let mut batch = Batch::default();
        for i in chunk {
            let run_id = RunId::generate();
            batch = batch.op(Op::InsertRun(RunRecord {
                run_id,
                workflow_id: WorkflowId::new(format!("check-{i}"))?,
                workflow_type: "signals".into(),
                component: component.clone(),
                status: RunStatus::Running,
                created_at_ms: history[0].time_ms,
                closed_at_ms: None,
                outcome: None,
                parent: None,
            }));
            for (time_ms, events) in &by_time {
                batch = batch.op(Op::Append {
                    run_id,
                    time_ms: *time_ms,
                    events: events.clone(),
                });
            }
        }
        store.commit(batch).await?;
    }
    Ok(())
}
