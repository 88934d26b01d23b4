//! Reset: a workflow re-runs from an earlier activation boundary on the
//! current version of its type, as a new run; an open run is terminated
//! naming it, the signals after the boundary are delivered again, and both
//! histories stay.

use keel_host::history::{Event, HistoryEvent};
use keel_host::{Error, Outcome, Payload, RunStatus, StartWorkflow};
use keel_tests::{guests, id, time_skipping};
use serde_json::json;

use crate::cli::Server;

/// Ids of the `ActivationCompleted` events of `history`.
fn boundaries(history: &[HistoryEvent]) -> Vec<u64> {
    history
        .iter()
        .filter(|e| matches!(e.event, Event::ActivationCompleted(_)))
        .map(|e| e.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_run_reset_before_a_step_runs_it_again_on_the_fixed_version() {
    let env = time_skipping().await.unwrap();
    let host = env.host();
    host.deploy(std::fs::read(guests::PATCHING).unwrap())
        .await
        .unwrap();
    let wf = id("order");
    let order = json!({"item": "socks", "packing_ms": 0});
    host.start(StartWorkflow::new("order", "shipping", &order).unwrap())
        .await
        .unwrap();
    let first: String = env.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(first, "packed socks; picked up");
    let old = host.describe(&wf).await.unwrap().run;
    let old_history = host.history(&wf).await.unwrap();

    // The fix: version 2 sends a receipt after packing. Reset to the end of
    // the first activation, before packing completed.
    let v2 = host
        .deploy(std::fs::read(guests::PATCHING_V2).unwrap())
        .await
        .unwrap()
        .component;
    let boundary = boundaries(&old_history)[0];
    let new = host.reset(&wf, boundary, "send the receipt").await.unwrap();
    assert_ne!(new, old.run_id);
    let second: String = env.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(second, "packed socks; receipt for socks sent; picked up");
    let run = host.describe(&wf).await.unwrap().run;
    assert_eq!((run.run_id, run.component), (new, v2));
    let history = host.history(&wf).await.unwrap();
    assert_eq!(
        history[..boundary as usize],
        old_history[..boundary as usize],
        "the new run goes on from the same history"
    );
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::MarkerRecorded(m) if m.patch_id == "receipt"))
    );
    // The old run is kept as it was.
    let kept = host.describe_run(&wf, Some(old.run_id)).await.unwrap().run;
    assert_eq!(kept.status, RunStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_run_reset_is_terminated_and_its_later_signals_reach_the_new_run() {
    let env = time_skipping().await.unwrap();
    let host = env.host();
    host.deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();
    let wf = id("sig");
    host.start(StartWorkflow::new("sig", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    let old = host.describe(&wf).await.unwrap().run.run_id;
    for item in ["a", "b"] {
        host.signal(&wf, "add", Payload::json(item).unwrap())
            .await
            .unwrap();
    }
    let items = env
        .run(host.query(&wf, "items", Payload::default()))
        .await
        .unwrap();
    assert_eq!(items.to_string(), r#"["a","b"]"#);
    let history = host.history(&wf).await.unwrap();
    let refused = host.reset(&wf, 1, "not a boundary").await.unwrap_err();
    assert!(
        matches!(&refused, Error::InvalidArgument(m) if m.contains("is not an activation boundary")),
        "{refused}"
    );
    // Back to just after the start: both signals come again.
    let new = host
        .reset(&wf, boundaries(&history)[0], "replay the signals")
        .await
        .unwrap();
    let Outcome::Terminated(reason) = host
        .describe_run(&wf, Some(old))
        .await
        .unwrap()
        .run
        .outcome
        .unwrap()
    else {
        panic!("the old run was not terminated");
    };
    assert!(reason.contains(&new.to_string()), "{reason}");
    host.signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = env.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(items, ["a", "b"]);
}

#[test]
fn the_cli_resets_a_workflow_to_an_event_it_shows() {
    let server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    server.ok(&["workflow", "start", "signals", "--id", "r"]);
    server.ok(&["workflow", "signal", "r", "add", "--input", "\"x\""]);
    let reset = server.ok(&["workflow", "reset", "r", "--to", "2"]);
    assert!(
        reset.starts_with("reset: workflow r goes on from event 2 as run run_"),
        "{reset}"
    );
    let refused = server.fails(&["workflow", "reset", "r", "--to", "1"]);
    assert!(
        refused.contains("is not an activation boundary"),
        "{refused}"
    );
    server.ok(&["workflow", "signal", "r", "finish"]);
    assert_eq!(server.ok(&["workflow", "result", "r"]).trim(), r#"["x"]"#);
}
