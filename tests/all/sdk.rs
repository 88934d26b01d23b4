//! Every SDK feature, through the kitchen-sink component.

use keel_host::history::Event;
use keel_host::{Outcome, Payload, StartWorkflow};
use keel_tests::{TestHost, guests, id};
use serde_json::{Value, json};

async fn sink() -> TestHost {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    t
}

async fn run(t: &TestHost, workflow_id: &str, workflow_type: &str, input: Value) -> Outcome {
    let start = StartWorkflow::new(workflow_id, workflow_type, &input).unwrap();
    t.host.start(start).await.unwrap();
    t.host.result(&id(workflow_id)).await.unwrap()
}

async fn kinds(t: &TestHost, workflow_id: &str) -> Vec<&'static str> {
    let history = t.host.history(&id(workflow_id)).await.unwrap();
    history.iter().map(|e| e.event.kind()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_timer_advances_workflow_time() {
    let t = sink().await;
    let elapsed: u64 = run(&t, "t", "timers", json!(120))
        .await
        .into_result()
        .unwrap();
    assert!(elapsed >= 120, "workflow time advanced only {elapsed} ms");
    assert_eq!(
        kinds(&t, "t").await,
        [
            "WorkflowStarted",
            "TimerStarted",
            "ActivationCompleted",
            "TimerFired",
            "WorkflowCompleted",
            "ActivationCompleted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomness_and_std_are_seeded_per_run() {
    let t = sink().await;
    let a: Value = run(&t, "r1", "random", json!(null))
        .await
        .into_result()
        .unwrap();
    let b: Value = run(&t, "r2", "random", json!(null))
        .await
        .into_result()
        .unwrap();
    let sdk = a["sdk"].as_array().unwrap();
    assert_eq!(sdk.len(), 3);
    assert!(sdk[0] != sdk[1] && sdk[1] != sdk[2], "not random: {a}");
    assert_ne!(a["sdk"], b["sdk"], "two runs drew the same numbers");
    assert!(
        a["std_now_ms"].as_u64().unwrap() > 1_600_000_000_000,
        "std time is not workflow time: {a}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_retries_with_backoff_until_it_succeeds() {
    let t = sink().await;
    let input = json!({"name": "x", "fail_times": 2, "max_attempts": 5, "non_retryable": false});
    let result: String = run(&t, "ok", "activity-options", input)
        .await
        .into_result()
        .unwrap();
    assert_eq!(result, "x succeeded on attempt 3");
    let history = t.host.history(&id("ok")).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::ActivityCompleted(c) if c.attempt == 3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_fails_when_attempts_run_out_or_error_is_non_retryable() {
    let t = sink().await;
    let exhausted =
        json!({"name": "x", "fail_times": 9, "max_attempts": 3, "non_retryable": false});
    let result: String = run(&t, "out", "activity-options", exhausted)
        .await
        .into_result()
        .unwrap();
    assert_eq!(result, "failed: Transient: attempt 3 failed");
    let fatal = json!({"name": "x", "fail_times": 9, "max_attempts": 5, "non_retryable": true});
    let result: String = run(&t, "fatal", "activity-options", fatal)
        .await
        .into_result()
        .unwrap();
    assert_eq!(result, "failed: Fatal: cannot go on");
    let history = t.host.history(&id("fatal")).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::ActivityFailed(f) if f.attempt == 1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_activity_fails_with_the_registered_names() {
    let t = sink().await;
    let message: String = run(&t, "u", "unknown-activity", json!(null))
        .await
        .into_result()
        .unwrap();
    assert!(message.contains("ActivityNotRegistered"), "{message}");
    assert!(
        message.contains("no activity named 'no-such-activity'"),
        "{message}"
    );
    assert!(message.contains("greet"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_change_state_that_queries_read_and_conditions_wait_on() {
    let t = sink().await;
    let wf = id("s");
    t.host
        .start(StartWorkflow::new("s", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host
        .signal(&wf, "add", Payload::json("a").unwrap())
        .await
        .unwrap();
    t.host
        .signal(&wf, "add", Payload::json("b").unwrap())
        .await
        .unwrap();
    let items: Vec<String> = t
        .host
        .query(&wf, "items", Payload::default())
        .await
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(items, ["a", "b"]);
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let result: Vec<String> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, ["a", "b"]);
    let after: Vec<String> = t
        .host
        .query(&wf, "items", Payload::default())
        .await
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(after, ["a", "b"], "a closed run answers queries by replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_is_a_request_the_workflow_handles() {
    let t = sink().await;
    let wf = id("c");
    t.host
        .start(StartWorkflow::new("c", "cancellable", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host.cancel(&wf, "user asked").await.unwrap();
    let outcome = t.host.result(&wf).await.unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome}");
    let kinds = kinds(&t, "c").await;
    for kind in [
        "CancelRequested",
        "TimerCancelled",
        "ActivityScheduled",
        "ActivityCompleted",
        "WorkflowCancelled",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let described = t.host.describe(&wf).await.unwrap();
    assert_eq!(described.run.status.as_str(), "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_drops_the_losing_activity_which_is_cancelled() {
    let t = sink().await;
    let result: String = run(&t, "sel", "cancel-activity", json!(30_000))
        .await
        .into_result()
        .unwrap();
    assert_eq!(result, "timer won");
    let kinds = kinds(&t, "sel").await;
    // The run closes in the activation that drops the activity: the cancel
    // request is recorded before the close, which stays the last event.
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            "ActivityCancelRequested",
            "WorkflowCompleted",
            "ActivationCompleted"
        ],
        "{kinds:?}"
    );
    let fast: String = run(&t, "fast", "cancel-activity", json!(1))
        .await
        .into_result()
        .unwrap();
    assert_eq!(fast, "activity won");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_interleave_deterministically() {
    let t = sink().await;
    let result: Vec<u64> = run(&t, "sp", "spawn", json!(null))
        .await
        .into_result()
        .unwrap();
    assert_eq!(result, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_errors_fail_the_run_with_their_type() {
    let t = sink().await;
    let Outcome::Failed(failure) = run(&t, "f", "fails", json!(null)).await else {
        panic!("the run did not fail");
    };
    assert_eq!(failure.error_type, "Boom");
    assert!(failure.message.contains("it went boom"));
    let details: serde_json::Value = failure.details.unwrap().to_json().unwrap();
    assert_eq!(details, json!(["code", 7]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_longer_than_the_store_can_hold_waits_instead_of_failing() {
    let t = sink().await;
    let wf = id("forever");
    t.host
        .start(StartWorkflow::new("forever", "timers", &u64::MAX).unwrap())
        .await
        .unwrap();
    keel_tests::eventually("the timer is pending", || async {
        !t.host
            .describe(&wf)
            .await
            .unwrap()
            .pending_timers
            .is_empty()
    })
    .await;
    let described = t.host.describe(&wf).await.unwrap();
    assert_eq!(described.pending_timers[0].fire_at_ms, i64::MAX as u64);
    assert!(!kinds(&t, "forever").await.contains(&"WorkflowTaskFailed"));
    t.host.terminate(&wf, "done").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_activities_take_one_activation_each() {
    let t = sink().await;
    let sum: u64 = run(&t, "sequence", "sequence", json!(5))
        .await
        .into_result()
        .unwrap();
    assert_eq!(sum, 1 + 4 + 9 + 16);
    let kinds = kinds(&t, "sequence").await;
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
    assert_eq!(count("ActivityScheduled"), 5);
    assert_eq!(
        count("ActivationCompleted"),
        6,
        "the start and one per result"
    );
}
