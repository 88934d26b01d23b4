//! Limits: what one run makes the host hold is bounded, and a workflow that
//! goes past a limit gets a failure that names it: commands and their
//! payloads per activation,
//! pending timers and activities (workflow-task failures, retried), history
//! length and size (a run failure; signals past the size are refused), failure messages (cut), cancel reasons and retry
//! intervals (refused).

use keel_host::history::Event;
use keel_host::{Error, HostConfig, Outcome, Payload, Replayer, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id, test_config};
use serde_json::{Value, json};

/// A host with small limits, so that floods stay fast.
async fn small_host() -> TestHost {
    let mut config: HostConfig = test_config();
    config.engine.max_commands_per_activation = 100;
    config.engine.max_activation_payload_bytes = 4 << 20;
    config.limits.max_pending_timers = 50;
    config.limits.max_pending_activities = 20;
    config.limits.max_pending_external_requests = 10;
    config.limits.history_warn_events = 100;
    config.limits.max_history_events = 300;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    t
}

async fn flood(t: &TestHost, wf: &str, input: Value) -> WorkflowId {
    t.host
        .start(StartWorkflow::new(wf, "flood", &input).unwrap())
        .await
        .unwrap();
    id(wf)
}

/// Wait until `wf` records a workflow task failure with `code` and a
/// message containing `text`; then check nothing of the activation was
/// recorded and stop the run.
async fn task_fails(t: &TestHost, wf: &WorkflowId, code: &str, text: &str) {
    eventually(&format!("{wf} fails its task with {code}: {text}"), || async {
        t.host.history(wf).await.unwrap().iter().any(|e| {
            matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code == code && f.message.contains(text))
        })
    })
    .await;
    let history = t.host.history(wf).await.unwrap();
    assert!(
        !history.iter().any(|e| matches!(
            e.event,
            Event::TimerStarted(_) | Event::ActivityScheduled(_)
        )),
        "an activation over a limit was recorded: {history:?}"
    );
    t.host.terminate(wf, "over a limit").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_commands_in_one_activation_fail_the_task() {
    let t = small_host().await;
    let wf = flood(&t, "commands", json!({"timers": 1_000_000})).await;
    task_fails(&t, &wf, "KEEL-LIMIT", "more than 100 commands").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payloads_of_one_activation_are_bounded_together() {
    let t = small_host().await;
    // Ten 1 MiB inputs from one guest buffer would be 10 MiB the host holds
    // (and, at the default limits, 10,000 of 2 MiB would be 20 GB).
    let over = flood(
        &t,
        "over",
        json!({"activities": 10, "input_bytes": 1 << 20}),
    )
    .await;
    task_fails(
        &t,
        &over,
        "KEEL-LIMIT",
        "bytes of payloads, over the limit of 4194304 bytes per activation",
    )
    .await;
    let within = flood(
        &t,
        "within",
        json!({"activities": 3, "input_bytes": 1 << 20, "steps": 1}),
    )
    .await;
    let steps: u32 = t.host.result(&within).await.unwrap().into_result().unwrap();
    assert_eq!(steps, 1);
    let history = t.host.history(&within).await.unwrap();
    let scheduled = history
        .iter()
        .filter(|e| matches!(e.event, Event::ActivityScheduled(_)))
        .count();
    assert_eq!(scheduled, 3, "three 1 MiB inputs fit in one activation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_pending_timers_activities_or_requests_fail_the_task() {
    let t = small_host().await;
    let timers = flood(&t, "timers", json!({"timers": 60, "steps": 1})).await;
    task_fails(
        &t,
        &timers,
        "KEEL-LIMIT",
        "61 pending timers, over the limit of 50",
    )
    .await;
    let activities = flood(&t, "activities", json!({"activities": 30, "steps": 1})).await;
    task_fails(
        &t,
        &activities,
        "KEEL-LIMIT",
        "30 pending activities, over the limit of 20",
    )
    .await;
    let externals = flood(&t, "externals", json!({"externals": 11, "steps": 1})).await;
    task_fails(
        &t,
        &externals,
        "KEEL-LIMIT",
        "11 requests to other workflows not yet delivered, over the limit of 10",
    )
    .await;
    let within = flood(
        &t,
        "within",
        json!({"timers": 49, "activities": 20, "externals": 10, "steps": 1}),
    )
    .await;
    let steps: u32 = t.host.result(&within).await.unwrap().into_result().unwrap();
    assert_eq!(steps, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_past_its_limit_fails_the_run_with_a_hint() {
    let t = small_host().await;
    let wf = flood(&t, "long", json!({"steps": 1000})).await;
    let Outcome::Failed(failure) = t.host.result(&wf).await.unwrap() else {
        panic!("the run did not fail");
    };
    assert_eq!(failure.error_type, "KEEL-HISTORY-LIMIT");
    assert!(
        failure.message.contains("continue-as-new"),
        "{}",
        failure.message
    );
    let history = t.host.history(&wf).await.unwrap();
    assert!(history.len() <= 300, "{} events", history.len());
    // The failure is recorded outside any activation: the history still
    // replays cleanly to where the code got.
    let run = t.host.describe(&wf).await.unwrap().run.run_id;
    let replayer = Replayer::new(&std::fs::read(guests::PROBES).unwrap()).unwrap();
    replayer.replay(run, &history).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_failure_messages_are_cut_and_long_reasons_refused() {
    let t = small_host().await;
    let wf = flood(&t, "loud", json!({"failure_bytes": 1_000_000})).await;
    let Outcome::Failed(failure) = t.host.result(&wf).await.unwrap() else {
        panic!("the run did not fail");
    };
    assert!(
        failure.message.len() < 40 << 10,
        "{}",
        failure.message.len()
    );
    assert!(failure.message.contains("bytes cut]"));

    let waiting = flood(&t, "waiting", json!({"steps": 1, "timers": 1})).await;
    let err = t
        .host
        .cancel(&waiting, &"x".repeat(100_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("over the limit of 4096 bytes")),
        "{err}"
    );
    let err = t
        .host
        .terminate(&waiting, &"x".repeat(100_000))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_retry_interval_is_refused() {
    let t = small_host().await;
    let wf = id("zero");
    t.host
        .start(StartWorkflow::new("zero", "bad-retry", &"zero-interval").unwrap())
        .await
        .unwrap();
    task_fails(
        &t,
        &wf,
        "KEEL-INVALID-COMMAND",
        "RetryPolicy::initial_interval is 0 ms; it must be at least 10 ms",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_history_is_bounded_in_bytes_for_signals_and_for_its_own_events() {
    let mut config: HostConfig = test_config();
    config.limits.max_history_bytes = 2 << 20;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("collector");
    t.host
        .start(StartWorkflow::new("collector", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    let item = Payload::json(&"x".repeat(600 << 10)).unwrap();
    for _ in 0..3 {
        t.host.signal(&wf, "add", item.clone()).await.unwrap();
    }
    let Err(Error::FailedPrecondition(message)) = t.host.signal(&wf, "add", item).await else {
        panic!("a signal past the history's size limit was taken");
    };
    assert!(
        message.contains("would pass its limit of 2097152 bytes"),
        "{message}"
    );
    // The run goes on; its result (the three items, 1.8 MiB) would take its
    // history past the limit, so the host fails it, recorded outside the
    // activation so that the history still replays.
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let Outcome::Failed(failure) = t.host.result(&wf).await.unwrap() else {
        panic!("the run did not fail");
    };
    assert_eq!(failure.error_type, "KEEL-HISTORY-LIMIT");
    assert!(
        failure.message.contains("limit of 2097152 bytes"),
        "{}",
        failure.message
    );
    let history = t.host.history(&wf).await.unwrap();
    let signals = history
        .iter()
        .filter(|e| matches!(e.event, Event::SignalReceived(_)))
        .count();
    assert_eq!(signals, 4, "three items and the finish");
    let run = t.host.describe(&wf).await.unwrap().run.run_id;
    let replayer = Replayer::new(&std::fs::read(guests::KITCHEN_SINK).unwrap()).unwrap();
    replayer.replay(run, &history).unwrap();
}
