//! Kill a host process with SIGKILL while its runs are mid-timer and
//! mid-activity; a new process on the same store finishes every run with
//! the right result and a history without gaps or duplicates.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use keel_host::history::{Event, HistoryEvent};
use keel_host::store::{SqliteStore, Store};
use keel_host::{Outcome, Payload};
use keel_tests::{guests, id};
use serde_json::Value;

const RUNS: usize = 4;
const EXE: &str = env!("CARGO_BIN_EXE_keel-crash-host");

#[test]
fn a_killed_host_loses_nothing() {
    assert!(std::path::Path::new(guests::KITCHEN_SINK).exists());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let db_arg = db.to_str().unwrap();

    let mut first = Command::new(EXE)
        .args(["start", db_arg, &RUNS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = first.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "READY");
    assert!(
        ready,
        "the first host exited before its runs were in flight"
    );
    first.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    first.wait().unwrap();

    let second = Command::new(EXE)
        .args(["resume", db_arg, &RUNS.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(second.status.success(), "the second host failed");
    let out = String::from_utf8(second.stdout).unwrap();
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
