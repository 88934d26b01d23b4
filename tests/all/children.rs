//! Child workflows: a parent starts children, awaits their results, signals
//! and cancels them; failures and cancellations reach the parent with their
//! types; the parent-close policy applies when the parent closes first; the
//! parent's `describe` lists its children. Each case runs with the instance
//! cache on and off, so every step is also taken by replay.

use std::time::Duration;

use keel_host::history::Event;
use keel_host::{Host, HostConfig, Outcome, Payload, RunStatus, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id, test_config};
use serde_json::{Value, json};

/// The outcome of `wf`, or a clear failure if it does not close in 30 s.
async fn closed(host: &Host, wf: &WorkflowId) -> Outcome {
    tokio::time::timeout(Duration::from_secs(30), host.result(wf))
        .await
        .unwrap_or_else(|_| panic!("{wf} never closed"))
        .unwrap()
}

/// Start a `parent` run `wf` and return what it reports.
async fn parent(host: &Host, wf: &str, mode: &str, child: &str, input: Value) -> String {
    parent_with(host, wf, mode, child, input, "terminate").await
}

async fn parent_with(
    host: &Host,
    wf: &str,
    mode: &str,
    child: &str,
    input: Value,
    policy: &str,
) -> String {
    let start = StartWorkflow::new(wf, "parent", &json!([mode, child, input, policy])).unwrap();
    host.start(start).await.unwrap();
    closed(host, &id(wf)).await.into_result().unwrap()
}

/// True once parent `wf` has recorded that its child started: the child
/// is registered with the host by then (its row is stored a moment before).
async fn started(host: &Host, wf: &str) -> bool {
    host.history(&id(wf))
        .await
        .unwrap()
        .iter()
        .any(|e| matches!(e.event, Event::ChildStarted(_)))
}

async fn status(host: &Host, wf: &str) -> RunStatus {
    host.describe(&id(wf)).await.unwrap().run.status
}

fn configs() -> [(&'static str, HostConfig); 2] {
    let uncached = HostConfig {
        cache_capacity: 0,
        ..test_config()
    };
    [("cached", test_config()), ("replayed", uncached)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_gets_its_childrens_results_failures_and_cancellations() {
    for (name, config) in configs() {
        let t = TestHost::with_config(config).await.unwrap();
        t.deploy(guests::KITCHEN_SINK).await.unwrap();
        let h = &t.host;
        assert_eq!(
            parent(h, "sig", "signal", "signals", json!(null)).await,
            r#"ok: ["a"]"#,
            "{name}"
        );
        assert_eq!(
            parent(h, "seq", "await", "sequence", json!(3)).await,
            "ok: 5",
            "{name}"
        );
        let failed = parent(h, "fail", "await", "fails", json!(null)).await;
        assert!(failed.starts_with("err: Boom: "), "{name}: {failed}");
        let cancelled = parent(h, "can", "cancel", "signals", json!(null)).await;
        assert!(
            cancelled.starts_with("err: ChildWorkflowCancelled: "),
            "{name}: {cancelled}"
        );
        let chain = parent(h, "loop", "await", "looping", json!([0, 3, true, false])).await;
        assert!(chain.ends_with(r#"done at 3""#), "{name}: {chain}");
        let unknown = parent(h, "unk", "await", "no-such-type", json!(null)).await;
        assert!(
            unknown.starts_with("err: WorkflowTypeNotFound: "),
            "{name}: {unknown}"
        );

        // The parent's history records the child's start and close; the
        // child's start names its parent.
        let history = h.history(&id("sig")).await.unwrap();
        let kinds: Vec<&str> = history.iter().map(|e| e.event.kind()).collect();
        for kind in ["ChildStartRequested", "ChildStarted", "ChildClosed"] {
            assert!(kinds.contains(&kind), "{name}: no {kind} in {kinds:?}");
        }
        let child = h.history(&id("sig-child")).await.unwrap();
        let Event::WorkflowStarted(started) = &child[0].event else {
            panic!("{name}: {:?}", child[0]);
        };
        let link = started.parent.as_ref().expect("the child names its parent");
        assert_eq!(link.workflow_id, id("sig"), "{name}");

        // `describe` lists a parent's children, the whole chain of one
        // that continued as new.
        let described = h.describe(&id("loop")).await.unwrap();
        assert_eq!(
            described.children.len(),
            4,
            "{name}: {:?}",
            described.children
        );
        assert!(
            described
                .children
                .iter()
                .all(|c| c.workflow_id == id("loop-child")),
            "{name}"
        );
        assert_eq!(
            described.children.last().unwrap().status,
            RunStatus::Completed
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_child_of_the_same_id_is_refused_and_the_first_is_terminated_with_its_parent() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let report = parent(&t.host, "two", "twice", "signals", json!(null)).await;
    assert!(
        report.starts_with("err: WorkflowAlreadyStarted: "),
        "{report}"
    );
    let outcome = closed(&t.host, &id("two-child")).await;
    assert!(matches!(outcome, Outcome::Terminated(_)), "{outcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_close_policy_applies_to_children_left_running() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    for (wf, policy) in [
        ("term", "terminate"),
        ("req", "request-cancel"),
        ("aban", "abandon"),
    ] {
        let report = parent_with(&t.host, wf, "leave", "signals", json!(null), policy).await;
        assert!(report.starts_with("started "), "{report}");
    }
    let terminated = closed(&t.host, &id("term-child")).await;
    assert!(matches!(terminated, Outcome::Terminated(_)), "{terminated}");
    let cancelled = closed(&t.host, &id("req-child")).await;
    assert!(matches!(cancelled, Outcome::Cancelled(_)), "{cancelled}");
    // The other two have been handled; the abandoned child runs on and
    // still takes signals.
    assert_eq!(status(&t.host, "aban-child").await, RunStatus::Running);
    t.host
        .signal(
            &id("aban-child"),
            "finish",
            Payload::json(&json!(null)).unwrap(),
        )
        .await
        .unwrap();
    let items: Vec<String> = closed(&t.host, &id("aban-child"))
        .await
        .into_result()
        .unwrap();
    assert!(items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_parent_cancels_the_child_it_awaits_and_the_parent_ends_cancelled() {
    for (name, config) in configs() {
        let t = TestHost::with_config(config).await.unwrap();
        t.deploy(guests::KITCHEN_SINK).await.unwrap();
        let start = StartWorkflow::new("p", "parent", &json!(["wait", "signals", null, "abandon"]))
            .unwrap();
        t.host.start(start).await.unwrap();
        eventually("the child starts", || started(&t.host, "p")).await;
        t.host.cancel(&id("p"), "stop").await.unwrap();
        let child = closed(&t.host, &id("p-child")).await;
        assert!(matches!(child, Outcome::Cancelled(_)), "{name}: {child}");
        let parent = closed(&t.host, &id("p")).await;
        assert!(matches!(parent, Outcome::Cancelled(_)), "{name}: {parent}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_and_its_child_carry_on_after_a_restart() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let start = StartWorkflow::new(
        "r",
        "parent",
        &json!(["await", "signals", null, "terminate"]),
    )
    .unwrap();
    t.host.start(start).await.unwrap();
    eventually("the child starts", || started(&t.host, "r")).await;
    let t = t.restart().await.unwrap();
    t.host
        .signal(
            &id("r-child"),
            "finish",
            Payload::json(&json!(null)).unwrap(),
        )
        .await
        .unwrap();
    let report: String = closed(&t.host, &id("r")).await.into_result().unwrap();
    assert_eq!(report, "ok: []");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_that_comes_before_the_child_started_reaches_it_once_it_has() {
    for (name, config) in configs() {
        let t = TestHost::with_config(config).await.unwrap();
        t.deploy(guests::KITCHEN_SINK).await.unwrap();
        // The parent's first activation has its start and the cancel: the
        // cancel reaches the step awaiting the child before the child's
        // start is even sent.
        let start = StartWorkflow::new(
            "early",
            "parent",
            &json!(["wait", "signals", null, "abandon"]),
        )
        .unwrap()
        .start_delay(Duration::from_secs(3_600));
        t.host.start(start).await.unwrap();
        t.host.cancel(&id("early"), "stop").await.unwrap();
        let parent = closed(&t.host, &id("early")).await;
        assert!(matches!(parent, Outcome::Cancelled(_)), "{name}: {parent}");
        let child = closed(&t.host, &id("early-child")).await;
        assert!(matches!(child, Outcome::Cancelled(_)), "{name}: {child}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_cannot_have_more_children_open_than_its_limit() {
    let mut config = test_config();
    config.limits.max_pending_children = 1;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    // `twice` asks for a second child while the first is open.
    let start = StartWorkflow::new(
        "many",
        "parent",
        &json!(["twice", "signals", null, "terminate"]),
    )
    .unwrap();
    t.host.start(start).await.unwrap();
    // As for other pending limits, the workflow task fails and is retried;
    // `describe` says why.
    eventually("the workflow task fails on the limit", || async {
        let described = t.host.describe(&id("many")).await.unwrap();
        described.task_failure.is_some_and(|f| {
            f.code == "KEEL-LIMIT" && f.message.contains("child workflows not closed")
        })
    })
    .await;
    t.host.terminate(&id("many"), "enough").await.unwrap();
    // The parent closed: its one child is terminated.
    let child = closed(&t.host, &id("many-child")).await;
    assert!(matches!(child, Outcome::Terminated(_)), "{child}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_with_open_children_is_not_reset_and_one_whose_children_closed_is_reset_without_them()
 {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let start = StartWorkflow::new(
        "rp",
        "parent",
        &json!(["await", "signals", null, "terminate"]),
    )
    .unwrap();
    t.host.start(start).await.unwrap();
    eventually("the child starts", || started(&t.host, "rp")).await;
    let err = t.host.reset(&id("rp"), 3, "again").await.unwrap_err();
    assert!(
        err.to_string().contains("open child workflows (rp-child)"),
        "{err}"
    );

    // Once the child has closed, the reset re-runs the parent's code after
    // its first activation, which asked for the child: the new run learns
    // how that child ended, and the child does not run again.
    t.host
        .signal(
            &id("rp-child"),
            "finish",
            Payload::json(&json!(null)).unwrap(),
        )
        .await
        .unwrap();
    let first: String = closed(&t.host, &id("rp")).await.into_result().unwrap();
    assert_eq!(first, "ok: []");
    let child = t.host.describe(&id("rp-child")).await.unwrap().run.run_id;
    t.host.reset(&id("rp"), 3, "again").await.unwrap();
    let second: String = closed(&t.host, &id("rp")).await.into_result().unwrap();
    assert_eq!(second, "ok: []");
    let after = t.host.describe(&id("rp-child")).await.unwrap().run;
    assert_eq!((after.run_id, after.status), (child, RunStatus::Completed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_cancelled_while_its_child_is_starting_cancels_the_child_once_it_has_started() {
    for (name, config) in configs() {
        let t = TestHost::with_config(config).await.unwrap();
        t.deploy(guests::KITCHEN_SINK).await.unwrap();
        t.host
            .start(StartWorkflow::new("ec", "early-cancel", &json!(null)).unwrap())
            .await
            .unwrap();
        let report: String = closed(&t.host, &id("ec")).await.into_result().unwrap();
        assert_eq!(report, "err: ChildWorkflowCancelled", "{name}");
        let child = closed(&t.host, &id("ec-child")).await;
        assert!(matches!(child, Outcome::Cancelled(_)), "{name}: {child}");
    }
}
