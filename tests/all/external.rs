//! Requests a workflow makes of other workflows (signal, cancel by id):
//! delivered through the outbox once, also across a crash, and also when
//! the requesting run closed in the same activation.

use std::time::Duration;

use keel_host::clock::{Clock, SystemClock};
use keel_host::history::{ActivationCompleted, Event, ExternalSignalRequested, WorkflowStarted};
use keel_host::store::{Batch, Op, OutboxEntry, RunRecord, SqliteStore, Store};
use keel_host::{Outcome, Payload, RequestId, RunId, RunStatus, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id, open, test_config};
use serde_json::json;

/// The outcome of `wf`, or a clear failure if it does not close in 30 s.
async fn closed(host: &keel_host::Host, wf: &WorkflowId) -> Outcome {
    tokio::time::timeout(Duration::from_secs(30), host.result(wf))
        .await
        .unwrap_or_else(|_| panic!("{wf} never closed"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_signals_and_cancels_other_workflows_by_id() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let (target, victim) = (id("target"), id("victim"));
    t.host
        .start(StartWorkflow::new("target", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host
        .start(StartWorkflow::new("victim", "cancellable", &json!(null)).unwrap())
        .await
        .unwrap();
    let start =
        StartWorkflow::new("n", "notify", &json!(["target", ["a", "b"], "victim"])).unwrap();
    t.host.start(start).await.unwrap();
    let report: Vec<String> = closed(&t.host, &id("n")).await.into_result().unwrap();
    assert_eq!(
        report,
        [
            "add a: ok",
            "add b: ok",
            "finish: ok",
            "nobody: ExternalWorkflowNotFound",
            "cancel: ok"
        ]
    );
    let items: Vec<String> = t.host.result(&target).await.unwrap().into_result().unwrap();
    assert_eq!(items, ["a", "b"]);
    let outcome = t.host.result(&victim).await.unwrap();
    assert!(matches!(outcome, Outcome::Cancelled(_)), "{outcome}");
    let history = t.host.history(&id("n")).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|e| e.event.kind()).collect();
    for kind in [
        "ExternalSignalRequested",
        "ExternalCancelRequested",
        "ExternalRequestCompleted",
        "ExternalRequestFailed",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_another_workflow_delivered_before_a_crash_is_not_delivered_again() {
    let t = TestHost::new().await.unwrap();
    let deployed = t
        .host
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();
    let (target, victim) = (id("target"), id("victim"));
    for (wf, workflow_type) in [("target", "signals"), ("victim", "cancellable")] {
        t.host
            .start(StartWorkflow::new(wf, workflow_type, &json!(null)).unwrap())
            .await
            .unwrap();
    }
    // The notifier's first request was recorded and delivered; the host
    // died before it recorded the outcome.
    let run = RunId::generate();
    let request = RequestId::new(format!("ext:{run}:1")).unwrap();
    t.host
        .signal_once(&target, "add", Payload::json(&"a").unwrap(), &request)
        .await
        .unwrap();
    t.host.stop(Duration::from_secs(5)).await;
    drop(t.host);

    let store = SqliteStore::open(&t.db).unwrap();
    let (wf, now) = (id("notifier"), SystemClock.now_ms());
    let recorded = Batch::default()
        .op(Op::InsertRun(RunRecord {
            run_id: run,
            workflow_id: wf.clone(),
            workflow_type: "notify".into(),
            component: deployed.component.clone(),
            status: RunStatus::Running,
            created_at_ms: now,
            closed_at_ms: None,
            outcome: None,
            parent: None,
        }))
        .op(Op::Append {
            run_id: run,
            time_ms: now,
            events: vec![
                Event::WorkflowStarted(WorkflowStarted {
                    workflow_id: wf.clone(),
                    workflow_type: "notify".into(),
                    input: Payload::json(&json!(["target", ["a"], "victim"])).unwrap(),
                    component: deployed.component,
                    random_seed: 7,
                    continued_from: None,
                    run_timeout_ms: None,
                    execution_deadline_ms: None,
                    task_timeout_ms: None,
                    parent: None,
                    retry_policy: None,
                    attempt: 1,
                }),
                Event::ExternalSignalRequested(ExternalSignalRequested {
                    seq: 1,
                    workflow_id: target.clone(),
                    name: "add".into(),
                    input: Payload::json(&"a").unwrap(),
                }),
                Event::ActivationCompleted(ActivationCompleted { consumed: vec![1] }),
            ],
        })
        .op(Op::InsertOutbox(OutboxEntry {
            run_id: run,
            seq: 1,
            request_id: request.clone(),
            request: Event::ExternalSignalRequested(ExternalSignalRequested {
                seq: 1,
                workflow_id: target.clone(),
                name: "add".into(),
                input: Payload::json(&"a").unwrap(),
            }),
        }));
    store.commit(recorded).await.unwrap();
    drop(store);

    let host = open(&t.db, test_config()).await.unwrap();
    let report: Vec<String> = closed(&host, &wf).await.into_result().unwrap();
    assert_eq!(
        report,
        [
            "add a: ok",
            "finish: ok",
            "nobody: ExternalWorkflowNotFound",
            "cancel: ok"
        ]
    );
    let items: Vec<String> = closed(&host, &target).await.into_result().unwrap();
    assert_eq!(items, ["a"], "the signal was delivered twice");
    assert!(matches!(
        closed(&host, &victim).await,
        Outcome::Cancelled(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_by_a_run_that_closed_is_delivered_after_a_crash() {
    let t = TestHost::new().await.unwrap();
    let deployed = t
        .host
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();
    let target = id("target");
    t.host
        .start(StartWorkflow::new("target", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host.stop(Duration::from_secs(5)).await;
    drop(t.host);

    // A run signalled and completed in one activation; the host died
    // before the signal went out.
    let store = SqliteStore::open(&t.db).unwrap();
    let (run, wf, now) = (RunId::generate(), id("closer"), SystemClock.now_ms());
    let requested = Event::ExternalSignalRequested(ExternalSignalRequested {
        seq: 1,
        workflow_id: target.clone(),
        name: "finish".into(),
        input: Payload::default(),
    });
    let recorded = Batch::default()
        .op(Op::InsertRun(RunRecord {
            run_id: run,
            workflow_id: wf.clone(),
            workflow_type: "notify".into(),
            component: deployed.component,
            status: RunStatus::Running,
            created_at_ms: now,
            closed_at_ms: None,
            outcome: None,
            parent: None,
        }))
        .op(Op::CloseRun {
            run_id: run,
            outcome: Outcome::Completed(Payload::default()),
            closed_at_ms: now,
        })
        .op(Op::InsertOutbox(OutboxEntry {
            run_id: run,
            seq: 1,
            request_id: RequestId::new(format!("ext:{run}:1")).unwrap(),
            request: requested,
        }));
    store.commit(recorded).await.unwrap();
    drop(store);

    let host = open(&t.db, test_config()).await.unwrap();
    let items: Vec<String> = closed(&host, &target).await.into_result().unwrap();
    assert!(items.is_empty(), "{items:?}");
    let store = SqliteStore::open(&t.db).unwrap();
    eventually("the delivered request leaves the outbox", || async {
        store.outbox().await.unwrap().is_empty()
    })
    .await;
}
