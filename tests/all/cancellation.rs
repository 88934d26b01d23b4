//! The cancellation model, as in asyncio and Temporal: a workflow cancel
//! reaches the main task and the tasks it awaits; one timer, activity or
//! task can be cancelled on its own and awaited for its outcome; a shield
//! lets a step finish. And dynamic signal handlers. Each log is read by a
//! query after the run closed, so it also shows the run replays to the same
//! state. Where a cancel must come while a timer is pending, the host runs
//! on a manual clock, which moves only once the cancel is recorded.

use std::sync::Arc;
use std::time::Duration;

use keel_host::clock::ManualClock;
use keel_host::history::Event;
use keel_host::{Error, Outcome, Payload, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, guests, id};
use serde_json::{Value, json};

async fn host() -> TestHost {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::CANCELLATION).await.unwrap();
    t
}

/// A host on a manual clock.
async fn clocked() -> (TestHost, Arc<ManualClock>) {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::CANCELLATION).await.unwrap();
    (t, clock)
}

async fn start(t: &TestHost, workflow_id: &str, workflow_type: &str, input: Value) -> WorkflowId {
    let start = StartWorkflow::new(workflow_id, workflow_type, &input).unwrap();
    t.host.start(start).await.unwrap();
    id(workflow_id)
}

async fn when_timers_pending(t: &TestHost, wf: &WorkflowId, count: usize) {
    keel_tests::eventually("the timers are pending", || async {
        t.host.describe(wf).await.unwrap().pending_timers.len() == count
    })
    .await;
}

async fn log(t: &TestHost, wf: &WorkflowId) -> Vec<String> {
    let answer = t.host.query(wf, "log", Payload::default()).await.unwrap();
    answer.to_json().unwrap()
}

/// Where the first event of `kind` is in `wf`'s history.
async fn position(t: &TestHost, wf: &WorkflowId, kind: &str) -> usize {
    let history = t.host.history(wf).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.event.kind()).collect();
    kinds
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_cancel_reaches_the_main_task_and_not_a_background_task() {
    let (t, clock) = clocked().await;
    let wf = start(&t, "bg", "background", json!(null)).await;
    when_timers_pending(&t, &wf, 2).await;
    t.host.cancel(&wf, "stop").await.unwrap();
    clock.advance(Duration::from_secs(1));
    let outcome = t.host.result(&wf).await.unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome}");
    assert_eq!(
        log(&t, &wf).await,
        ["main cancelled", "background finished"]
    );
    assert!(
        position(&t, &wf, "CancelRequested").await < position(&t, &wf, "TimerFired").await,
        "the cancel came after the background timer fired: the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_cancel_passes_on_to_the_task_the_main_task_awaits() {
    let t = host().await;
    let wf = start(&t, "aw", "awaited", json!(null)).await;
    when_timers_pending(&t, &wf, 1).await;
    t.host.cancel(&wf, "stop").await.unwrap();
    let result: Vec<String> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, ["the awaited task was cancelled"]);
    assert_eq!(
        t.host.describe(&wf).await.unwrap().run.status.as_str(),
        "completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_timer_activity_or_task_is_cancelled_alone_and_awaited_for_its_outcome() {
    let t = host().await;
    let wf = start(&t, "steps", "steps", json!(600_000)).await;
    let result: Vec<String> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(
        result,
        [
            r#"timer: Err(Cancelled("timer cancelled"))"#,
            "activity: activity 'slow' cancelled",
            "task: saw cancelled: task cancelled",
            "cancel requested: false",
        ]
    );
    assert_eq!(log(&t, &wf).await, result, "the replayed run differs");
    // Waiting for the activity's cancellation to complete: the activity
    // stopped (its attempt reported cancelled) before the workflow went on.
    assert!(
        position(&t, &wf, "ActivityCancelRequested").await
            < position(&t, &wf, "ActivityCancelled").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shielded_step_finishes_and_the_cancel_reaches_the_next_step() {
    let (t, clock) = clocked().await;
    let wf = start(&t, "sh", "shielded", json!(null)).await;
    when_timers_pending(&t, &wf, 1).await;
    t.host.cancel(&wf, "stop").await.unwrap();
    clock.advance(Duration::from_secs(1));
    let outcome = t.host.result(&wf).await.unwrap();
    let Outcome::Cancelled(failure) = outcome else {
        panic!("{outcome}");
    };
    assert!(failure.message.contains("stop"), "{}", failure.message);
    assert_eq!(
        log(&t, &wf).await,
        [
            r#"shielded step: Ok("Hello, shield!")"#,
            "cancelled at the next step"
        ]
    );
    assert!(
        position(&t, &wf, "CancelRequested").await < position(&t, &wf, "TimerFired").await,
        "the cancel came after the shielded timer fired: the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_signal_handler_takes_every_name_the_type_does_not_handle() {
    let t = host().await;
    let wf = start(&t, "dyn", "dynamic", json!(null)).await;
    t.host
        .signal(&wf, "colour", Payload::json(&"blue").unwrap())
        .await
        .unwrap();
    t.host
        .signal(&wf, "size", Payload::json(&3).unwrap())
        .await
        .unwrap();
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let result: Vec<String> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, [r#"colour="blue""#, "size=3"]);

    // A type without one still refuses names it does not handle.
    let other = start(&t, "bg", "background", json!(null)).await;
    let err = t
        .host
        .signal(&other, "colour", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("colour")),
        "{err}"
    );
    t.host.terminate(&other, "done").await.unwrap();

    // A name taken by the dynamic handler is still checked as a name.
    let wf = start(&t, "dyn2", "dynamic", json!(null)).await;
    let err = t
        .host
        .signal(&wf, "two words", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("whitespace")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_passed_on_to_a_task_that_never_takes_it_comes_back() {
    let (t, clock) = clocked().await;
    let wf = start(&t, "nested", "nested-shield", json!(null)).await;
    when_timers_pending(&t, &wf, 1).await;
    t.host.cancel(&wf, "stop").await.unwrap();
    clock.advance(Duration::from_secs(1));
    let outcome = t.host.result(&wf).await.unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome}");
    assert_eq!(
        log(&t, &wf).await,
        ["task: Ok(())", "cancelled at the next step"]
    );
    assert!(
        position(&t, &wf, "CancelRequested").await < position(&t, &wf, "TimerFired").await,
        "the cancel came after the shielded timer fired: the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_cancel_does_not_cut_the_clean_up_short() {
    let (t, clock) = clocked().await;
    let wf = start(&t, "clean", "cleanup", json!(1_000)).await;
    when_timers_pending(&t, &wf, 1).await;
    t.host.cancel(&wf, "stop").await.unwrap();
    // The hour's sleep is cancelled and the clean-up's timer started.
    keel_tests::eventually("the clean-up runs", || async {
        t.host.history(&wf).await.unwrap().iter().any(
            |e| matches!(&e.event, Event::TimerStarted(started) if started.duration_ms == 1_000),
        )
    })
    .await;
    t.host.cancel(&wf, "stop, I said").await.unwrap();
    clock.advance(Duration::from_secs(1));
    let outcome = t.host.result(&wf).await.unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome}");
    assert_eq!(log(&t, &wf).await, ["cleanup: Ok(())"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_step_returned_without_a_cancel_request_fails_the_run() {
    let t = host().await;
    let wf = start(&t, "step", "step-error", json!(null)).await;
    let Outcome::Failed(failure) = t.host.result(&wf).await.unwrap() else {
        panic!("the run did not fail");
    };
    assert_eq!(failure.error_type, "Cancelled");
}
