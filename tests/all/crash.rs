//! Kill a host process with SIGKILL while its runs are mid-timer and
//! mid-activity, or mid-way through a chain of continue-as-new and a series
//! of signals to another workflow; a new process on the same store finishes
//! every run with the right result and a history without gaps or
//! duplicates, the chain unbroken and every signal delivered once.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use keel_host::history::{Event, HistoryEvent};
use keel_host::store::{RunFilter, SqliteStore, Store};
use keel_host::{Outcome, Payload, RunStatus};
use keel_tests::{guests, id};
use serde_json::Value;

const RUNS: usize = 4;
const EXE: &str = env!("CARGO_BIN_EXE_keel-crash-host");

/// Run the crash host with `args` until it prints `READY` (its work in
/// flight), then SIGKILL it: no shutdown, no flush.
fn kill_when_ready(args: &[&str]) {
    let mut first = Command::new(EXE)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = first.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "READY");
    assert!(ready, "the first host exited before its work was in flight");
    first.kill().unwrap();
    first.wait().unwrap();
}

/// Run the crash host with `args` on the killed host's store to the end;
/// what it printed.
fn resume(args: &[&str]) -> String {
    let second = Command::new(EXE)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(second.status.success(), "the second host failed");
    String::from_utf8(second.stdout).unwrap()
}

#[test]
fn a_killed_host_loses_nothing() {
    assert!(std::path::Path::new(guests::KITCHEN_SINK).exists());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let db_arg = db.to_str().unwrap();

    kill_when_ready(&["start", db_arg, &RUNS.to_string()]);
    let out = resume(&["resume", db_arg, &RUNS.to_string()]);
    let mut lines = out.lines();
    let recovered: Vec<usize> = lines
        .next()
        .unwrap()
        .split(' ')
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        recovered,
        [2 * RUNS, RUNS, RUNS],
        "runs, timers and activities in flight at the kill"
    );
    for line in lines {
        let line: Value = serde_json::from_str(line).unwrap();
        let wf = line["id"].as_str().unwrap();
        let outcome: Outcome = serde_json::from_value(line["outcome"].clone()).unwrap();
        let Outcome::Completed(result) = outcome else {
            panic!("{wf} ended {outcome}")
        };
        check_result(wf, &result);
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db).unwrap();
        for i in 0..RUNS {
            for wf in [format!("timer-{i}"), format!("hello-{i}")] {
                let run = store.latest_run(&id(&wf)).await.unwrap().unwrap();
                check_history(&wf, &store.history(run.run_id).await.unwrap());
            }
        }
    });
}

/// Links of the continue-as-new chain, and signals sent through the outbox.
const CHAIN: usize = 150;

#[test]
fn a_host_killed_mid_chain_and_mid_delivery_breaks_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let db_arg = db.to_str().unwrap();
    let n = CHAIN.to_string();

    kill_when_ready(&["chain", db_arg, &n]);
    let out = resume(&["resume-chain", db_arg, &n]);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("recovered 3"),
        "the kill did not land with a link of the chain, the target and the notifier open"
    );
    let outcomes: Vec<(String, Outcome)> = lines
        .map(|line| {
            let line: Value = serde_json::from_str(line).unwrap();
            let outcome = serde_json::from_value(line["outcome"].clone()).unwrap();
            (line["id"].as_str().unwrap().to_string(), outcome)
        })
        .collect();
    let result = |wf: &str| -> Value {
        let (_, outcome) = outcomes.iter().find(|(id, _)| id == wf).unwrap();
        let Outcome::Completed(result) = outcome else {
            panic!("{wf} ended {outcome}")
        };
        result.to_json().unwrap()
    };
    assert_eq!(result("loop"), Value::from(format!("v1 done at {CHAIN}")));
    let expected: Vec<String> = (0..CHAIN).map(|i| i.to_string()).collect();
    assert_eq!(
        result("target"),
        serde_json::json!(expected),
        "a signal was lost, repeated or reordered"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db).unwrap();
        for wf in ["target", "notifier"] {
            let run = store.latest_run(&id(wf)).await.unwrap().unwrap();
            check_history(wf, &store.history(run.run_id).await.unwrap());
        }
        // The chain: one run per link, each started by the one before.
        let filter = RunFilter {
            workflow_type: Some("looping".into()),
            limit: CHAIN + 10,
            ..RunFilter::default()
        };
        let mut runs = store.list_runs(filter).await.unwrap();
        runs.reverse();
        assert_eq!(runs.len(), CHAIN + 1, "links of the chain");
        let mut previous = None;
        for (link, run) in runs.iter().enumerate() {
            let history = store.history(run.run_id).await.unwrap();
            check_history(&format!("loop link {link}"), &history);
            let Event::WorkflowStarted(started) = &history[0].event else {
                unreachable!("checked above");
            };
            assert_eq!(started.continued_from, previous, "link {link}");
            assert_eq!(
                started.input.to_json::<Value>().unwrap()[0],
                Value::from(link),
                "link {link}"
            );
            let expected = match link {
                CHAIN => RunStatus::Completed,
                _ => RunStatus::ContinuedAsNew,
            };
            assert_eq!(run.status, expected, "link {link}");
            previous = Some(run.run_id);
        }
        assert!(
            store.outbox().await.unwrap().is_empty(),
            "undelivered requests"
        );
    });
}

/// Parents in the family crash test, each with one child.
const FAMILY: usize = 24;

#[test]
fn a_host_killed_while_children_run_and_report_starts_and_reports_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let db_arg = db.to_str().unwrap();
    let n = FAMILY.to_string();

    kill_when_ready(&["family", db_arg, &n]);
    let out = resume(&["resume-family", db_arg, &n]);
    // Each child sums the squares of 0..40.
    let sum: u64 = (0..40u64).map(|i| i * i).sum();
    let mut lines = out.lines();
    let recovered: usize = lines
        .next()
        .and_then(|l| l.strip_prefix("recovered "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        recovered > 0,
        "the kill did not land while families were open"
    );
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), FAMILY, "{out}");
    for line in lines {
        let line: Value = serde_json::from_str(line).unwrap();
        let outcome: Outcome = serde_json::from_value(line["outcome"].clone()).unwrap();
        let Outcome::Completed(result) = outcome else {
            panic!("{} ended {outcome}", line["id"])
        };
        assert_eq!(
            result.to_json::<String>().unwrap(),
            format!("ok: {sum}"),
            "{}",
            line["id"]
        );
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db).unwrap();
        for i in 0..FAMILY {
            let parent = store
                .latest_run(&id(&format!("parent-{i}")))
                .await
                .unwrap()
                .unwrap();
            let history = store.history(parent.run_id).await.unwrap();
            check_history(&format!("parent-{i}"), &history);
            for kind in ["ChildStartRequested", "ChildStarted", "ChildClosed"] {
                let count = history.iter().filter(|e| e.event.kind() == kind).count();
                assert_eq!(count, 1, "parent-{i}: {kind} recorded {count} times");
            }
            // One child run, started once, closed once.
            let children = store.children(parent.run_id).await.unwrap();
            assert_eq!(children.len(), 1, "parent-{i}: {children:?}");
            assert_eq!(children[0].status, RunStatus::Completed);
            let child = store.history(children[0].run_id).await.unwrap();
            check_history(&format!("parent-{i}-child"), &child);
        }
        assert!(
            store.outbox().await.unwrap().is_empty(),
            "undelivered starts or reports"
        );
    });
}

fn check_result(wf: &str, result: &Payload) {
    if let Some(i) = wf.strip_prefix("hello-") {
        assert_eq!(
            result.to_json::<String>().unwrap(),
            format!("Hello, run {i}!")
        );
    } else {
        assert!(
            result.to_json::<u64>().unwrap() >= 3_000,
            "{wf} woke early: {result}"
        );
    }
}

/// Ids run 1..=n; one start, one close at the end; every command and every
/// completion recorded once; every input delivered exactly once.
fn check_history(wf: &str, history: &[HistoryEvent]) {
    let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=history.len() as u64).collect::<Vec<_>>(),
        "{wf}: gaps in {ids:?}"
    );
    assert!(
        matches!(history[0].event, Event::WorkflowStarted(_)),
        "{wf}"
    );
    let closes = history.iter().filter(|e| e.event.is_terminal()).count();
    assert_eq!(closes, 1, "{wf}: {closes} closing events");
    let mut seen = HashSet::new();
    for event in history {
        let key = match &event.event {
            Event::TimerStarted(e) => ("TimerStarted", e.seq),
            Event::TimerFired(e) => ("TimerFired", e.seq),
            Event::ActivityScheduled(e) => ("ActivityScheduled", e.seq),
            Event::ActivityCompleted(e) => ("ActivityCompleted", e.seq),
            Event::ExternalSignalRequested(e) => ("ExternalSignalRequested", e.seq),
            Event::ExternalRequestCompleted(e) => ("ExternalRequestCompleted", e.seq),
            Event::ExternalRequestFailed(e) => ("ExternalRequestFailed", e.seq),
            _ => continue,
        };
        assert!(seen.insert(key), "{wf}: {key:?} recorded twice");
    }
    let mut consumed = HashSet::new();
    for event in history {
        if let Event::ActivationCompleted(a) = &event.event {
            for input in &a.consumed {
                assert!(
                    consumed.insert(*input),
                    "{wf}: input {input} delivered twice"
                );
            }
        }
    }
    let inputs: HashSet<u64> = history
        .iter()
        .filter(|e| e.event.is_input())
        .map(|e| e.id)
        .collect();
    assert_eq!(consumed, inputs, "{wf}: every input delivered once");
}
