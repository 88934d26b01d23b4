//! Time: every wait of the host (timers, activity retry backoffs) is on the
//! host's clock, so a test with a manual clock skips an hour at once and
//! nothing moves while the clock stands still; the time-skipping test
//! environment moves it to the next wait whenever the host is idle.

use std::time::Duration;

use keel_host::clock::{Clock, ManualClock};
use keel_host::history::Event;
use keel_host::store::RunFilter;
use keel_host::testing::TestEnvironment;
use keel_host::{Outcome, Payload, RunStatus, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id};
use serde_json::json;

async fn attempt(t: &TestHost, wf: &WorkflowId) -> Option<u32> {
    let described = t.host.describe(wf).await.unwrap();
    described.pending_activities.first().map(|a| a.attempt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_long_timer_fires_when_the_clock_moves_an_hour() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("hour");
    t.host
        .start(StartWorkflow::new("hour", "timers", &json!(3_600_000)).unwrap())
        .await
        .unwrap();
    eventually("the timer is armed", || async {
        t.host.describe(&wf).await.unwrap().pending_timers.len() == 1
    })
    .await;
    clock.advance(Duration::from_secs(3_599));
    let early = tokio::time::timeout(Duration::from_millis(200), t.host.result(&wf)).await;
    assert!(early.is_err(), "the timer fired a second early");
    clock.advance(Duration::from_secs(1));
    let passed: u64 = tokio::time::timeout(Duration::from_secs(10), t.host.result(&wf))
        .await
        .expect("the timer fires as soon as its hour has passed on the host's clock")
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(passed, 3_600_000, "workflow time is the host's clock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_retries_wait_on_the_hosts_clock() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("flaky");
    let input = json!({"name": "x", "fail_times": 2, "max_attempts": 5, "non_retryable": false});
    t.host
        .start(StartWorkflow::new("flaky", "activity-options", &input).unwrap())
        .await
        .unwrap();
    eventually("the first attempt fails", || async {
        attempt(&t, &wf).await == Some(2)
    })
    .await;
    // The second attempt is 10 ms away on a clock that does not move.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(attempt(&t, &wf).await, Some(2), "a retry ran on real time");
    clock.advance(Duration::from_millis(10));
    eventually("the second attempt fails", || async {
        attempt(&t, &wf).await == Some(3)
    })
    .await;
    clock.advance(Duration::from_millis(20));
    let echoed: String = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert!(echoed.contains('x'), "{echoed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_error_may_set_the_delay_before_the_next_attempt() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("later");
    let input = json!({"name": "x", "fail_times": 1, "max_attempts": 3, "non_retryable": false,
        "retry_after_ms": 60_000});
    t.host
        .start(StartWorkflow::new("later", "activity-options", &input).unwrap())
        .await
        .unwrap();
    eventually("the first attempt fails", || async {
        attempt(&t, &wf).await == Some(2)
    })
    .await;
    // The policy says 10 ms; the activity asked for a minute.
    clock.advance(Duration::from_secs(59));
    let early = tokio::time::timeout(Duration::from_millis(300), t.host.result(&wf)).await;
    assert!(
        early.is_err(),
        "the retry did not wait the minute asked for"
    );
    clock.advance(Duration::from_secs(1));
    let echoed: String = tokio::time::timeout(Duration::from_secs(10), t.host.result(&wf))
        .await
        .expect("the retry runs once its minute has passed")
        .unwrap()
        .into_result()
        .unwrap();
    assert!(echoed.contains("attempt 2"), "{echoed}");
}

/// Move the clock `step` at a time until `wf` closes; its result.
async fn advance_until_closed(t: &TestHost, clock: &ManualClock, wf: &WorkflowId) -> String {
    for _ in 0..200 {
        clock.advance(Duration::from_secs(1));
        if let Ok(outcome) =
            tokio::time::timeout(Duration::from_millis(50), t.host.result(wf)).await
        {
            return outcome.unwrap().into_result().unwrap();
        }
    }
    panic!("{wf} did not close within 200 s of the host's clock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_timeouts_end_attempts_on_the_hosts_clock() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    let hour = 3_600_000;
    let cases = [
        // Two attempts, each cut at 5 s, then the run sees the timeout.
        (
            "start-to-close",
            json!({"slow_ms": hour, "start_to_close_ms": 5_000, "max_attempts": 2}),
            "failed: StartToCloseTimeout",
            2,
        ),
        // Silent past its heartbeat timeout.
        (
            "heartbeat",
            json!({"slow_ms": hour, "start_to_close_ms": hour, "heartbeat_ms": 2_000, "max_attempts": 1}),
            // The last heartbeat's details come with the failure.
            "failed: HeartbeatTimeout (details 3600000)",
            1,
        ),
        // Past schedule-to-close no attempt is left, whatever the policy.
        (
            "schedule-to-close",
            json!({"slow_ms": hour, "start_to_close_ms": 60_000, "schedule_to_close_ms": 3_000}),
            "failed: ScheduleToCloseTimeout",
            1,
        ),
    ];
    for (wf, input, expected, attempts) in cases {
        t.host
            .start(StartWorkflow::new(wf, "timeouts", &input).unwrap())
            .await
            .unwrap();
        let wf = id(wf);
        assert_eq!(advance_until_closed(&t, &clock, &wf).await, expected);
        let failed = t
            .host
            .history(&wf)
            .await
            .unwrap()
            .into_iter()
            .find_map(|e| match e.event {
                keel_host::history::Event::ActivityFailed(f) => Some(f.attempt),
                _ => None,
            });
        assert_eq!(failed, Some(attempts), "{wf}: attempts");
    }
}

/// A time-skipping environment with the test activities and fast task
/// retries, and the kitchen-sink deployed.
async fn skipping() -> TestEnvironment {
    let env = keel_tests::time_skipping().await.unwrap();
    env.host()
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();
    env
}

const HOUR_MS: u64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_day_sleep_ends_at_once_in_the_time_skipping_environment() {
    let env = skipping().await;
    let month = 30 * 24 * HOUR_MS;
    env.host()
        .start(StartWorkflow::new("month", "timers", &month).unwrap())
        .await
        .unwrap();
    let passed: u64 = env
        .result(&id("month"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(passed, month, "exactly thirty days of workflow time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_time_brings_timers_and_retries_due_in_order() {
    let env = skipping().await;
    let started = env.clock().now_ms();
    for (wf, hours) in [("three", 3), ("one", 1), ("two", 2)] {
        env.host()
            .start(StartWorkflow::new(wf, "timers", &(hours * HOUR_MS)).unwrap())
            .await
            .unwrap();
    }
    // An activity that fails twice, retried after 10 and 20 ms.
    let input = json!({"name": "x", "fail_times": 2, "max_attempts": 5, "non_retryable": false});
    env.host()
        .start(StartWorkflow::new("flaky", "activity-options", &input).unwrap())
        .await
        .unwrap();
    let echoed: String = env
        .result(&id("flaky"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert!(echoed.contains("attempt 3"), "{echoed}");
    // Ninety minutes in, only the one-hour timer has fired.
    let before = env.clock().now_ms();
    env.sleep(Duration::from_secs(90 * 60)).await;
    assert_eq!(env.clock().now_ms(), before + 90 * 60_000);
    let status = async |wf: &str| env.host().describe(&id(wf)).await.unwrap().run.status;
    assert_eq!(status("one").await, RunStatus::Completed);
    assert_eq!(status("two").await, RunStatus::Running);
    let mut closed = Vec::new();
    for wf in ["three", "two"] {
        let passed: u64 = env.result(&id(wf)).await.unwrap().into_result().unwrap();
        let run = env.host().describe(&id(wf)).await.unwrap().run;
        closed.push((run.closed_at_ms.unwrap() - started, passed));
    }
    assert_eq!(
        closed,
        [(3 * HOUR_MS, 3 * HOUR_MS), (2 * HOUR_MS, 2 * HOUR_MS)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_run_timeout_is_closed_as_timed_out() {
    let env = skipping().await;
    let wf = id("slow");
    let start = StartWorkflow::new("slow", "timers", &json!(2 * HOUR_MS))
        .unwrap()
        .run_timeout(Duration::from_secs(3_600));
    env.host().start(start).await.unwrap();
    let Outcome::TimedOut(message) = env.result(&wf).await.unwrap() else {
        panic!("the run did not time out");
    };
    assert!(message.contains("run's timeout"), "{message}");
    let described = env.host().describe(&wf).await.unwrap();
    assert_eq!(described.run.status, RunStatus::TimedOut);
    let history = env.host().history(&wf).await.unwrap();
    assert!(
        matches!(
            history
                .iter()
                .rev()
                .find(|e| e.event.is_terminal())
                .map(|e| &e.event),
            Some(Event::WorkflowTimedOut(_))
        ),
        "{history:?}"
    );
    // A run that finishes in time is not touched by its deadline.
    let start = StartWorkflow::new("quick", "timers", &json!(HOUR_MS))
        .unwrap()
        .run_timeout(Duration::from_secs(7_200));
    env.host().start(start).await.unwrap();
    let slept: u64 = env
        .result(&id("quick"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(slept, HOUR_MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execution_timeout_spans_the_runs_that_continue_as_new() {
    let env = skipping().await;
    let wf = id("loop");
    // Each run sleeps a millisecond and continues as new, 1,000 times.
    let start = StartWorkflow::new("loop", "looping", &json!([0, 1_000, false, false]))
        .unwrap()
        .execution_timeout(Duration::from_millis(20))
        .run_timeout(Duration::from_secs(3_600));
    env.host().start(start).await.unwrap();
    let Outcome::TimedOut(message) = env.result(&wf).await.unwrap() else {
        panic!("the workflow did not time out");
    };
    assert!(message.contains("execution timeout"), "{message}");
    let filter = RunFilter {
        workflow_type: Some("looping".into()),
        limit: 1_000,
        ..RunFilter::default()
    };
    let runs = env.host().list(filter).await.unwrap();
    assert!(
        (2..100).contains(&runs.len()),
        "{} runs: the deadline did not pass on to the runs continuing the first",
        runs.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_timeout_survives_a_restart() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("restart");
    let start = StartWorkflow::new("restart", "timers", &json!(HOUR_MS))
        .unwrap()
        .run_timeout(Duration::from_millis(500));
    t.host.start(start).await.unwrap();
    let t = t.restart().await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), t.host.result(&wf))
        .await
        .expect("the run timed out after the restart")
        .unwrap();
    assert!(matches!(outcome, Outcome::TimedOut(_)), "{outcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_start_runs_the_code_once_the_delay_has_passed() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("later");
    let start = StartWorkflow::new("later", "timers", &json!(1))
        .unwrap()
        .start_delay(Duration::from_secs(3_600));
    t.host.start(start).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kinds: Vec<&str> = t
        .host
        .history(&wf)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(kinds, ["WorkflowStarted"], "the code ran before its delay");
    assert!(
        t.host
            .describe(&wf)
            .await
            .unwrap()
            .pending_timers
            .is_empty()
    );
    clock.advance(Duration::from_secs(3_600));
    eventually("the code runs", || async {
        t.host.describe(&wf).await.unwrap().pending_timers.len() == 1
    })
    .await;
    clock.advance(Duration::from_millis(1));
    let slept: u64 = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(slept, 1);
    let history = t.host.history(&wf).await.unwrap();
    let first_activation = history
        .iter()
        .find(|e| e.event.kind() == "ActivationCompleted")
        .unwrap();
    assert!(first_activation.time_ms >= history[0].time_ms + 3_600_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_starts_a_delayed_run_at_once_also_after_a_restart() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("held");
    let start = StartWorkflow::new("held", "signals", &json!(null))
        .unwrap()
        .start_delay(Duration::from_secs(3_600));
    t.host.start(start).await.unwrap();
    let t = t.restart().await.unwrap();
    let host = &t.host;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = host.history(&wf).await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "the code ran before its delay: {history:?}"
    );
    host.signal(&wf, "add", Payload::json(&"a").unwrap())
        .await
        .unwrap();
    host.signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = tokio::time::timeout(Duration::from_secs(30), host.result(&wf))
        .await
        .expect("the signal started the run")
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(items, ["a"]);
}
