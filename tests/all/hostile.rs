//! Hostile workflows: a blocking call, an option history cannot hold, a
//! damaged history and queries that try to change the run are each
//! contained to their run, with a clear error, and never stall or brick the
//! host; and a stopping host finishes what is in flight instead of dropping
//! it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keel_host::history::Event;
use keel_host::{
    ActivityContext, ActivityError, Error, Host, Parked, Payload, RunStatus, StartWorkflow,
    WorkflowId,
};
use keel_tests::{TestHost, eventually, guests, id, open, test_config};
use serde_json::json;

/// True once `wf`'s history has a workflow task failure with `code` whose
/// message contains `text`.
async fn task_failed(t: &TestHost, wf: &WorkflowId, code: &str, text: &str) -> bool {
    t.host.history(wf).await.unwrap().iter().any(|e| {
        matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code == code && f.message.contains(text))
    })
}

/// Starts `hello`-like work next to the probe and checks it completes.
async fn neighbour_completes(t: &TestHost, name: &str) {
    t.host
        .start(StartWorkflow::new(name, "timers", &1).unwrap())
        .await
        .unwrap();
    let slept: u64 = t
        .host
        .result(&id(name))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert!(slept >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_sleep_in_workflow_code_fails_its_task_without_holding_a_thread() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    // An hour of `std::thread::sleep` in workflow code: if it blocked a host
    // thread, neither the start nor anything below would come back.
    let sleeper = id("sleeper");
    t.host
        .start(StartWorkflow::new("sleeper", "thread-sleep", &3_600_000).unwrap())
        .await
        .unwrap();
    eventually("the blocking call is recorded", || {
        task_failed(&t, &sleeper, "KEEL-BLOCKING", "use ctx.sleep")
    })
    .await;
    neighbour_completes(&t, "neighbour").await;
    let described = t.host.describe(&sleeper).await.unwrap();
    assert_eq!(described.run.status, RunStatus::Running);
    t.host.terminate(&sleeper, "blocked").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nan_retry_option_fails_the_task_and_the_host_still_restarts() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let nan = id("nan");
    t.host
        .start(StartWorkflow::new("nan", "bad-retry", &"nan").unwrap())
        .await
        .unwrap();
    eventually("the invalid option is named", || {
        task_failed(
            &t,
            &nan,
            "KEEL-INVALID-COMMAND",
            "RetryPolicy::backoff_coefficient is NaN",
        )
    })
    .await;
    assert!(
        !t.host
            .history(&nan)
            .await
            .unwrap()
            .iter()
            .any(|e| matches!(e.event, Event::ActivityScheduled(_))),
        "nothing of the invalid command is recorded"
    );
    t.host.shutdown();
    drop(t.host);
    let host = open(&t.db, test_config()).await.unwrap();
    assert_eq!(host.recovered().runs, 1);
    assert_eq!(
        host.describe(&nan).await.unwrap().run.status,
        RunStatus::Running
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_history_cannot_be_read_is_parked_and_the_host_serves_the_rest() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    for wf in ["damaged", "healthy"] {
        t.host
            .start(StartWorkflow::new(wf, "signals", &json!(null)).unwrap())
            .await
            .unwrap();
    }
    let damaged = t.host.describe(&id("damaged")).await.unwrap().run.run_id;
    t.host.shutdown();
    drop(t.host);

    let conn = rusqlite::Connection::open(&t.db).unwrap();
    let changed = conn
        .execute(
            "UPDATE events SET body = 'not json' WHERE run_id = ?1",
            [damaged.to_string()],
        )
        .unwrap();
    assert!(changed > 0);
    drop(conn);

    let host = open(&t.db, test_config()).await.unwrap();
    assert_eq!(host.recovered().runs, 1, "the readable run is recovered");
    let parked = host
        .parked(&id("damaged"))
        .expect("the damaged run is parked");
    assert!(
        matches!(&parked, Parked::Unreadable { message } if message.contains("KEEL-UNREADABLE")),
        "{parked}"
    );
    let healthy = id("healthy");
    host.signal(&healthy, "add", Payload::json("x").unwrap())
        .await
        .unwrap();
    host.signal(&healthy, "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = host.result(&healthy).await.unwrap().into_result().unwrap();
    assert_eq!(items, ["x"]);
    host.terminate(&id("damaged"), "repaired by hand")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_cannot_change_what_the_workflow_does_next() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    let wf = id("probe");
    t.host
        .start(StartWorkflow::new("probe", "query-probe", &json!(null)).unwrap())
        .await
        .unwrap();
    for round in 1..=3 {
        // Between rounds, queries that would advance std's hash keys if
        // they reached the live instance.
        for _ in 0..3 {
            t.host.query(&wf, "hash", Payload::default()).await.unwrap();
        }
        t.host
            .signal(&wf, "next", Payload::default())
            .await
            .unwrap();
        eventually("the round's activities are recorded", || async {
            let history = t.host.history(&wf).await.unwrap();
            let done = history
                .iter()
                .filter(|e| matches!(e.event, Event::ActivityCompleted(_)))
                .count();
            done == 8 * round
        })
        .await;
    }
    // Rebuild the run from its history alone: it must replay cleanly.
    t.host.evict_all();
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let rounds: Vec<Vec<String>> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(rounds.len(), 3);
    for pair in rounds.iter().flatten() {
        let (name, greeting) = pair.split_once(": ").unwrap();
        assert_eq!(
            greeting,
            format!("Hello, {name}!"),
            "rebuilt wrongly: {rounds:?}"
        );
    }
    let history = t.host.history(&wf).await.unwrap();
    assert!(
        !history
            .iter()
            .any(|e| matches!(e.event, Event::WorkflowTaskFailed(_))),
        "replay diverged after queries: {history:?}"
    );
    // A closed run answers queries by replay, too.
    t.host.query(&wf, "hash", Payload::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_that_panic_or_draw_randomness_fail_with_a_clear_message() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    let wf = id("panics");
    t.host
        .start(StartWorkflow::new("panics", "query-probe", &json!(null)).unwrap())
        .await
        .unwrap();
    let err = t
        .host
        .query(&wf, "panic", Payload::json("the question").unwrap())
        .await
        .unwrap_err();
    let Error::QueryFailed(message) = &err else {
        panic!("{err}");
    };
    assert!(
        message.contains("panicked: no answer for the question (at "),
        "{message}"
    );
    assert!(!message.contains("wasm backtrace"), "{message}");
    let refused = t.host.query(&wf, "rounds", Payload::default()).await;
    assert!(
        matches!(&refused, Err(Error::QueryFailed(m)) if m.contains("query 'rounds': no round has started yet")),
        "{refused:?}"
    );
    t.host
        .signal(&wf, "next", Payload::default())
        .await
        .unwrap();
    eventually("the round is answered", || async {
        t.host
            .query(&wf, "rounds", Payload::default())
            .await
            .is_ok()
    })
    .await;
    let refused = t
        .host
        .query(&wf, "random", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::QueryFailed(m) if m.contains("ctx.random() is not allowed in a query")),
        "{refused}"
    );
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let rounds: Vec<Vec<String>> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(rounds.len(), 1, "the failed queries changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_lets_activity_attempts_in_flight_finish() {
    // `slow`, counting the attempts that have begun: the stop must wait for
    // exactly those, so the test waits until all ten are under way.
    let started = Arc::new(AtomicUsize::new(0));
    let mut activities = keel_tests::activities();
    let counter = started.clone();
    activities.register_async("slow", move |_ctx: ActivityContext, ms: u64| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, ActivityError>(ms)
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let host = Host::builder()
        .sqlite(&db)
        .config(test_config())
        .activities(activities)
        .build()
        .await
        .unwrap();
    host.deploy(std::fs::read(guests::PROBES).unwrap())
        .await
        .unwrap();
    let runs: Vec<WorkflowId> = (0..10).map(|i| id(&format!("slow-{i}"))).collect();
    for wf in &runs {
        let start = StartWorkflow::new(wf.as_str(), "slow-activity", &300).unwrap();
        host.start(start).await.unwrap();
    }
    eventually("every attempt has begun", || async {
        started.load(Ordering::SeqCst) == runs.len()
    })
    .await;
    // The stop waits for the attempts in flight and records their results
    // instead of dropping them.
    host.stop(Duration::from_secs(20)).await;
    let mut finished = 0;
    for wf in &runs {
        let history = host.history(wf).await.unwrap();
        finished += history
            .iter()
            .filter(|e| matches!(e.event, Event::ActivityCompleted(_)))
            .count();
    }
    assert_eq!(finished, runs.len(), "attempts in flight were dropped");
    drop(host);
    let host = open(&db, test_config()).await.unwrap();
    assert_eq!(host.recovered().activities, 0, "nothing to run again");
    for wf in &runs {
        let ms: u64 = host.result(wf).await.unwrap().into_result().unwrap();
        assert_eq!(ms, 300);
    }
}
