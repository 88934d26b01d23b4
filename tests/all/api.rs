//! The gRPC API through the Rust client: every workflow call, the id
//! policies, error statuses, and what describe shows.

use keel_host::client::ListRuns;
use keel_host::history::Event;
use keel_host::{
    Error, IdConflictPolicy, IdReusePolicy, Outcome, Payload, RunStatus, StartWorkflow,
};
use keel_tests::{TestHost, eventually, guests, id, open, serve, test_config};
use serde_json::json;

fn start(workflow_id: &str, workflow_type: &str, input: serde_json::Value) -> StartWorkflow {
    StartWorkflow::new(workflow_id, workflow_type, &input).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workflow_call_works_through_grpc() {
    let t = TestHost::new().await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let deployed = client
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();
    assert!(
        deployed
            .workflow_types
            .iter()
            .any(|t| t.name == "signals" && t.queries == ["items"])
    );

    let wf = id("s");
    let started = client
        .start(start("s", "signals", json!(null)))
        .await
        .unwrap();
    assert!(started.started);
    client
        .signal(&wf, "add", Payload::json("a").unwrap())
        .await
        .unwrap();
    let items = client
        .query(&wf, "items", Payload::default())
        .await
        .unwrap();
    assert_eq!(items.to_json::<Vec<String>>().unwrap(), ["a"]);
    let described = client.describe(&wf).await.unwrap();
    assert_eq!(described.run.status, RunStatus::Running);
    assert_eq!(described.run.component, deployed.component);
    client
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let result: Vec<String> = client.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, ["a"]);
    let (run, history) = client.history(&wf).await.unwrap();
    assert_eq!(run, started.run_id);
    assert!(
        history
            .iter()
            .any(|e| matches!(e.event, Event::SignalReceived(_)))
    );

    let sleeper = id("sleeper");
    client
        .start(start("sleeper", "timers", json!(3_600_000)))
        .await
        .unwrap();
    eventually("the timer is pending", || async {
        !client
            .describe(&sleeper)
            .await
            .unwrap()
            .pending_timers
            .is_empty()
    })
    .await;
    let described = client.describe(&sleeper).await.unwrap();
    assert_eq!(described.pending_timers[0].seq, 1);
    client.terminate(&sleeper, "enough").await.unwrap();
    assert_eq!(
        client.result(&sleeper).await.unwrap(),
        Outcome::Terminated("enough".into())
    );
    assert!(
        client
            .describe(&sleeper)
            .await
            .unwrap()
            .pending_timers
            .is_empty()
    );

    let cancelled = id("c");
    client
        .start(start("c", "cancellable", json!(null)))
        .await
        .unwrap();
    client.cancel(&cancelled, "stop").await.unwrap();
    assert!(matches!(
        client.result(&cancelled).await.unwrap(),
        Outcome::Cancelled(_)
    ));

    let first = client
        .list(ListRuns {
            page_size: 2,
            ..ListRuns::default()
        })
        .await
        .unwrap();
    assert_eq!(
        first
            .runs
            .iter()
            .map(|r| r.workflow_id.as_str())
            .collect::<Vec<_>>(),
        ["c", "sleeper"]
    );
    let token = first.next_page_token.expect("a second page");
    let second = client
        .list(ListRuns {
            page_size: 2,
            page_token: token,
            ..ListRuns::default()
        })
        .await
        .unwrap();
    assert_eq!(
        second
            .runs
            .iter()
            .map(|r| r.workflow_id.as_str())
            .collect::<Vec<_>>(),
        ["s"]
    );
    assert_eq!(second.next_page_token, None);
    let terminated = ListRuns {
        status: Some(RunStatus::Terminated),
        ..ListRuns::default()
    };
    assert_eq!(client.list(terminated).await.unwrap().runs.len(), 1);
    let by_type = ListRuns {
        workflow_type: Some("signals".into()),
        started_after_ms: Some(described.run.created_at_ms.saturating_sub(60_000)),
        ..ListRuns::default()
    };
    assert_eq!(client.list(by_type).await.unwrap().runs.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_reuse_and_conflict_policies() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let wf = id("w");

    let first = client
        .start(start("w", "signals", json!(null)))
        .await
        .unwrap();
    let err = client
        .start(start("w", "signals", json!(null)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("open run")),
        "{err}"
    );
    let reused = start("w", "signals", json!(null)).id_conflict(IdConflictPolicy::UseExisting);
    let reused = client.start(reused).await.unwrap();
    assert_eq!((reused.run_id, reused.started), (first.run_id, false));
    let replacing =
        start("w", "signals", json!(null)).id_conflict(IdConflictPolicy::TerminateExisting);
    let second = client.start(replacing).await.unwrap();
    assert_ne!(second.run_id, first.run_id);
    let runs = client.list(ListRuns::default()).await.unwrap().runs;
    assert_eq!(
        runs.iter()
            .filter(|r| r.status == RunStatus::Terminated)
            .count(),
        1
    );

    client
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    client.result(&wf).await.unwrap();
    let err = client
        .start(start("w", "signals", json!(null)).id_reuse(IdReusePolicy::RejectDuplicate))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("rejects duplicates")),
        "{err}"
    );
    let err = client
        .start(start("w", "signals", json!(null)).id_reuse(IdReusePolicy::AllowDuplicateFailedOnly))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("completed successfully")),
        "{err}"
    );

    client
        .start(start("f", "fails", json!(null)))
        .await
        .unwrap();
    client.result(&id("f")).await.unwrap();
    let again = start("f", "fails", json!(null)).id_reuse(IdReusePolicy::AllowDuplicateFailedOnly);
    assert!(
        client.start(again).await.unwrap().started,
        "a failed run's id may be reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_with_start_starts_once_then_signals() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let wf = id("sws");
    let first = client
        .signal_with_start(
            start("sws", "signals", json!(null)),
            "add",
            Payload::json("x").unwrap(),
        )
        .await
        .unwrap();
    let second = client
        .signal_with_start(
            start("sws", "signals", json!(null)),
            "add",
            Payload::json("y").unwrap(),
        )
        .await
        .unwrap();
    assert!(first.started && !second.started);
    assert_eq!(first.run_id, second.run_id);
    client
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = client.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(items, ["x", "y"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_statuses() {
    let t = TestHost::new().await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let err = client.deploy(b"\0asm nonsense".to_vec()).await.unwrap_err();
    assert!(
        matches!(&err, Error::ComponentRejected(m) if m.contains("not a valid WebAssembly component")),
        "{err}"
    );
    let err = client
        .deploy(std::fs::read(guests::FORBIDDEN_IMPORT).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ComponentRejected(m) if m.contains("wasi:filesystem/types")),
        "{err}"
    );
    client
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();

    let err = client.describe(&id("nobody")).await.unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("nobody")),
        "{err}"
    );
    let err = client
        .start(start("x", "no-such-type", json!(null)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("no-such-type")),
        "{err}"
    );
    let malformed = StartWorkflow {
        input: Payload::from_bytes(b"{\"n\": ".to_vec()),
        ..start("x", "bad-payload", json!(null))
    };
    let err = client.start(malformed).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("malformed JSON")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_on_a_run_whose_version_is_gone_is_a_failed_precondition() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    t.host
        .start(start("s", "signals", json!(null)))
        .await
        .unwrap();
    t.host
        .signal(&id("s"), "finish", Payload::default())
        .await
        .unwrap();
    t.host.result(&id("s")).await.unwrap();
    t.host.shutdown();
    let conn = rusqlite::Connection::open(&t.db).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM components;")
        .unwrap();
    drop(conn);
    let host = open(&t.db, test_config()).await.unwrap();
    let (client, _stop) = serve(&host).await;
    let err = client
        .query(&id("s"), "items", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::FailedPrecondition(m) if m.contains("not in the store")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_says_why_an_activity_is_retrying() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let input = json!({"name": "x", "fail_times": 1000, "max_attempts": 0, "non_retryable": false});
    t.host
        .start(StartWorkflow::new("retrying", "activity-options", &input).unwrap())
        .await
        .unwrap();
    let wf = id("retrying");
    eventually("the activity has failed twice", || async {
        let described = client.describe(&wf).await.unwrap();
        described
            .pending_activities
            .first()
            .is_some_and(|a| a.attempt >= 3)
    })
    .await;
    let described = client.describe(&wf).await.unwrap();
    let activity = &described.pending_activities[0];
    let failure = activity.last_failure.as_ref().expect("the last failure");
    assert_eq!(failure.error_type, "Transient");
    assert!(
        failure.message.starts_with("attempt ") && failure.message.ends_with(" failed"),
        "{}",
        failure.message
    );
    t.host.terminate(&wf, "enough").await.unwrap();
}
