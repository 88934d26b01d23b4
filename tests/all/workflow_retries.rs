//! Workflow retry policies: a failed run is retried as a new run of the
//! same id with the same input after the backoff, until it succeeds, its
//! attempts are spent or its failure is not retryable; `result` follows the
//! retries; the backoff is durable and signals do not cut it short.

use std::time::Duration;

use keel_host::history::{Event, RetryPolicy};
use keel_host::store::{RunFilter, SqliteStore, Store};
use keel_host::{Host, Outcome, Payload, RunStatus, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, id};
use serde_json::json;

async fn closed(host: &Host, wf: &WorkflowId) -> Outcome {
    tokio::time::timeout(Duration::from_secs(30), host.result(wf))
        .await
        .unwrap_or_else(|_| panic!("{wf} never closed"))
        .unwrap()
}

fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        initial_interval_ms: 20,
        backoff_coefficient: 2.0,
        maximum_interval_ms: 100,
        maximum_attempts: attempts,
        non_retryable_error_types: vec!["Boom".into()],
    }
}

/// The runs of `wf`, oldest first: (status, attempt, continued from).
async fn runs(db: &std::path::Path, wf: &str) -> Vec<(RunStatus, u32, bool)> {
    let store = SqliteStore::open(db).unwrap();
    let filter = RunFilter {
        limit: 1_000,
        ..RunFilter::default()
    };
    let mut records = store.list_runs(filter).await.unwrap();
    records.retain(|r| r.workflow_id == id(wf));
    records.reverse();
    let mut runs = Vec::new();
    let mut previous = None;
    for record in records {
        let history = store.history(record.run_id).await.unwrap();
        let Event::WorkflowStarted(started) = &history[0].event else {
            panic!("{history:?}")
        };
        runs.push((
            record.status,
            started.attempt,
            started.continued_from == previous,
        ));
        previous = Some(record.run_id);
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_retried_until_it_succeeds_or_its_attempts_are_spent() {
    let t = TestHost::new().await.unwrap();
    t.deploy(keel_tests::guests::KITCHEN_SINK).await.unwrap();
    let start = |wf: &str, until: u32, attempts: u32| {
        StartWorkflow::new(wf, "fails-until", &until)
            .unwrap()
            .retry_policy(policy(attempts))
    };
    t.host.start(start("ok", 3, 5)).await.unwrap();
    t.host.start(start("spent", 9, 3)).await.unwrap();
    let ok: String = closed(&t.host, &id("ok")).await.into_result().unwrap();
    assert_eq!(ok, "succeeded at attempt 3");
    let spent = closed(&t.host, &id("spent")).await;
    assert!(
        matches!(&spent, Outcome::Failed(f) if f.error_type == "Flaky" && f.message == "attempt 3"),
        "{spent}"
    );
    use RunStatus::{Completed, Failed};
    assert_eq!(
        runs(&t.db, "ok").await,
        [(Failed, 1, true), (Failed, 2, true), (Completed, 3, true)]
    );
    assert_eq!(
        runs(&t.db, "spent").await,
        [(Failed, 1, true), (Failed, 2, true), (Failed, 3, true)]
    );

    // A failure type the policy names is not retried; neither is a run
    // without a policy.
    let boom = StartWorkflow::new("boom", "fails", &json!(null))
        .unwrap()
        .retry_policy(policy(5));
    t.host.start(boom).await.unwrap();
    closed(&t.host, &id("boom")).await;
    t.host
        .start(StartWorkflow::new("plain", "fails-until", &2).unwrap())
        .await
        .unwrap();
    closed(&t.host, &id("plain")).await;
    assert_eq!(runs(&t.db, "boom").await, [(Failed, 1, true)]);
    assert_eq!(runs(&t.db, "plain").await, [(Failed, 1, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_backoff_survives_a_restart_and_a_signal_does_not_cut_it_short() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(keel_tests::guests::KITCHEN_SINK).await.unwrap();
    let slow = RetryPolicy {
        initial_interval_ms: 60_000,
        maximum_interval_ms: 60_000,
        ..policy(2)
    };
    let start = StartWorkflow::new("slow", "fails-until", &2)
        .unwrap()
        .retry_policy(slow);
    t.host.start(start).await.unwrap();
    clock.advance(Duration::from_millis(5));
    keel_tests::eventually("the first attempt fails", || async {
        runs(&t.db, "slow").await.len() == 2
    })
    .await;
    let t = t.restart().await.unwrap();
    // The restarted host runs on the system clock; the backoff is a
    // minute away there too, so the second attempt is still held.
    t.host
        .signal(&id("slow"), "poke", Payload::json(&json!(null)).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let described = t.host.describe(&id("slow")).await.unwrap();
    assert_eq!(described.run.status, RunStatus::Running);
    let history = t.host.history(&id("slow")).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.event.kind()).collect();
    assert_eq!(
        kinds,
        ["WorkflowStarted", "SignalReceived"],
        "the retry ran before its backoff"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_times_out_is_retried_but_not_past_the_execution_timeout() {
    let t = TestHost::new().await.unwrap();
    t.deploy(keel_tests::guests::KITCHEN_SINK).await.unwrap();
    let start = StartWorkflow::new("hang", "hangs-until", &2)
        .unwrap()
        .run_timeout(Duration::from_millis(500))
        .retry_policy(policy(3));
    t.host.start(start).await.unwrap();
    let result: String = closed(&t.host, &id("hang")).await.into_result().unwrap();
    assert_eq!(result, "succeeded at attempt 2");
    use RunStatus::{Completed, TimedOut};
    assert_eq!(
        runs(&t.db, "hang").await,
        [(TimedOut, 1, true), (Completed, 2, true)]
    );

    // The execution timeout ends every attempt.
    let start = StartWorkflow::new("over", "hangs-until", &9)
        .unwrap()
        .run_timeout(Duration::from_millis(100))
        .execution_timeout(Duration::from_millis(250))
        .retry_policy(policy(0));
    t.host.start(start).await.unwrap();
    let outcome = closed(&t.host, &id("over")).await;
    assert!(matches!(outcome, Outcome::TimedOut(_)), "{outcome}");
    let attempts = runs(&t.db, "over").await;
    assert!(
        (1..=3).contains(&attempts.len()) && attempts.iter().all(|r| r.0 == TimedOut),
        "{attempts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrys_run_timeout_counts_from_its_start_and_a_cancel_ends_its_backoff() {
    let t = TestHost::new().await.unwrap();
    t.deploy(keel_tests::guests::KITCHEN_SINK).await.unwrap();
    // The backoff (1 s) is longer than the run timeout (500 ms): the
    // second attempt must not time out before its code runs (it has 500 ms
    // once it may, plenty for a loaded machine).
    let slow_retry = RetryPolicy {
        initial_interval_ms: 1_000,
        maximum_interval_ms: 1_000,
        ..policy(3)
    };
    let start = StartWorkflow::new("late", "hangs-until", &2)
        .unwrap()
        .run_timeout(Duration::from_millis(500))
        .retry_policy(slow_retry);
    t.host.start(start).await.unwrap();
    let result: String = closed(&t.host, &id("late")).await.into_result().unwrap();
    assert_eq!(result, "succeeded at attempt 2");

    // A cancel reaches a run waiting out its retry backoff at once.
    let hour = RetryPolicy {
        initial_interval_ms: 3_600_000,
        maximum_interval_ms: 3_600_000,
        ..policy(3)
    };
    let start = StartWorkflow::new("stop", "fails-until", &9)
        .unwrap()
        .retry_policy(hour);
    t.host.start(start).await.unwrap();
    keel_tests::eventually("the first attempt fails", || async {
        runs(&t.db, "stop").await.len() == 2
    })
    .await;
    t.host.cancel(&id("stop"), "enough").await.unwrap();
    let outcome = closed(&t.host, &id("stop")).await;
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome}");
}
