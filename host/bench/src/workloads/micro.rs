//! The micro-benchmarks: instantiating a component, replaying histories
//! of realistic shape, and the memory a cached instance holds.

use std::sync::Arc;

use keel_host::history::{Event, HistoryEvent};
use keel_host::{Host, Replayer, StartWorkflow, WorkflowId};
use serde_json::json;

use super::{KITCHEN_SINK, Scale, Table};
use crate::hosts::bench_host;
use crate::measure::{Samples, now, rss};

/// The history of a closed `sequence` run of `n` steps: one activation per
/// activity, as a long-running workflow has.
async fn sequence_history(
    host: &Host,
    n: usize,
) -> anyhow::Result<(keel_host::RunId, Vec<HistoryEvent>)> {
    let id = format!("sequence-{n}");
    let run = host
        .start(StartWorkflow::new(&id, "sequence", &n)?)
        .await?
        .run_id;
    let workflow_id = WorkflowId::new(id)?;
    host.result(&workflow_id).await?;
    Ok((run, host.history(&workflow_id).await?))
}

pub(super) async fn micro(scale: &Scale, table: &mut Table<'_>) -> anyhow::Result<()> {
    let bench = bench_host(&[KITCHEN_SINK], scale.cached_instances + 50).await?;
    let replayer = Arc::new(Replayer::new(&std::fs::read(KITCHEN_SINK)?)?);

    // Instantiation: replaying a history that has only started the run.
    let (run, history) = sequence_history(&bench.host, 1).await?;
    let started: Vec<HistoryEvent> = history.iter().take(1).cloned().collect();
    let mut samples = Samples::default();
    for _ in 0..200 {
        let (replayer, started) = (replayer.clone(), started.clone());
        let (result, elapsed) = tokio::task::spawn_blocking(move || {
            let at = now();
            let result = replayer.replay(run, &started);
            (result, at.elapsed())
        })
        .await?;
        result?;
        samples.push(elapsed);
    }
    table.other(
        "micro",
        "instantiate a component",
        samples.p50_us(),
        "µs",
        "≤ 20 µs",
    );

    // Histories of realistic shape: a sequence of activities, about three
    // events and one activation per step.
    for &events in &scale.replay_events {
        let (run, history) = sequence_history(&bench.host, events.saturating_sub(4) / 3).await?;
        let activations = history
            .iter()
            .filter(|e| matches!(e.event, Event::ActivationCompleted(_)))
            .count();
        let mut samples = Samples::default();
        for _ in 0..7 {
            let (replayer, history) = (replayer.clone(), history.clone());
            let (result, elapsed) = tokio::task::spawn_blocking(move || {
                let at = now();
                let result = replayer.replay(run, &history);
                (result, at.elapsed())
            })
            .await?;
            result?;
            samples.push(elapsed);
        }
        let target = if events == 1_000 {
            "≤ 5 ms"
        } else {
            "linear"
        };
        table.other(
            "micro",
            &format!("replay {} events ({activations} act.)", history.len()),
            samples.p50_us(),
            "µs",
            target,
        );
        if events == 1_000 {
            table.other(
                "micro",
                "replay, per activation",
                samples.p50_us() / activations.max(1) as f64,
                "µs",
                "",
            );
        }
    }

    let (before, _) = rss();
    for i in 0..scale.cached_instances {
        let id = WorkflowId::new(format!("cached-{i}"))?;
        bench
            .host
            .start(StartWorkflow::new(id.as_str(), "signals", &json!(null))?)
            .await?;
        // The start returns once its first activation is recorded and its
        // instance cached. (A query would not do: it drops the instance.)
    }
    let (after, _) = rss();
    let per = after.saturating_sub(before) as f64 / scale.cached_instances as f64;
    table.other("micro", "RSS per cached live instance", per / 1e3, "KB", "");
    Ok(())
}
