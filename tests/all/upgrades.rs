//! Changing the code of running workflows: a patched version moves runs
//! mid-timer and mid-activity, a check reports what would diverge without
//! changing anything, an upgrade moves only the runs that replay cleanly,
//! and a patch removed too early is named.

use std::time::Duration;

use keel_host::history::Event;
use keel_host::{RunStatus, StartWorkflow, Verdict, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id};
use serde_json::json;

fn order(workflow_id: &str, packing_ms: u64) -> StartWorkflow {
    StartWorkflow::new(
        workflow_id,
        "shipping",
        &json!({"item": workflow_id, "packing_ms": packing_ms}),
    )
    .unwrap()
}

async fn has(t: &TestHost, wf: &WorkflowId, what: impl Fn(&Event) -> bool) -> bool {
    t.host
        .history(wf)
        .await
        .unwrap()
        .iter()
        .any(|e| what(&e.event))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patched_version_moves_runs_mid_timer_and_mid_activity_and_they_finish_on_it() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    let v1 = t
        .host
        .deploy(std::fs::read(guests::PATCHING).unwrap())
        .await
        .unwrap()
        .component;
    // One order has packed and waits for its pickup; one is still packing.
    let (waiting, packing) = (id("waiting"), id("packing"));
    t.host.start(order("waiting", 0)).await.unwrap();
    t.host.start(order("packing", 3_000)).await.unwrap();
    eventually("the first order waits for pickup", || {
        has(&t, &waiting, |e| matches!(e, Event::TimerStarted(_)))
    })
    .await;
    eventually("the second order is packing", || {
        has(&t, &packing, |e| matches!(e, Event::ActivityScheduled(_)))
    })
    .await;

    let (deployment, report) = t
        .host
        .deploy_upgrade(std::fs::read(guests::PATCHING_V2).unwrap())
        .await
        .unwrap();
    let v2 = deployment.component;
    assert!(report.upgraded);
    assert_eq!(report.runs.len(), 2, "{report:?}");
    assert_eq!(report.compatible(), 2, "{report:?}");
    assert!(report.runs.iter().all(|r| r.component == v1));
    for wf in [&waiting, &packing] {
        assert_eq!(t.host.describe(wf).await.unwrap().run.component, v2);
        assert!(
            has(
                &t,
                wf,
                |e| matches!(e, Event::VersionChanged(c) if c.from == v1 && c.to == v2)
            )
            .await
        );
    }
    // The next activations rebuild from history, on the new version.
    t.host.evict_all();
    eventually("the second order took the patch", || {
        has(&t, &packing, |e| matches!(e, Event::TimerStarted(_)))
    })
    .await;
    clock.advance(Duration::from_secs(3_601));
    let waited: String = t
        .host
        .result(&waiting)
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(
        waited, "packed waiting; picked up",
        "it had packed: no receipt"
    );
    let packed: String = t
        .host
        .result(&packing)
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(
        packed,
        "packed packing; receipt for packing sent; picked up"
    );
    assert!(
        has(
            &t,
            &packing,
            |e| matches!(e, Event::MarkerRecorded(m) if m.patch_id == "receipt")
        )
        .await
    );
    assert!(!has(&t, &waiting, |e| matches!(e, Event::MarkerRecorded(_))).await);

    // A run that recorded the marker does not replay on code without the
    // patch: the report names it.
    t.host.start(order("patched", 0)).await.unwrap();
    let patched = id("patched");
    eventually("the new order waits for pickup", || {
        has(&t, &patched, |e| matches!(e, Event::TimerStarted(_)))
    })
    .await;
    let report = t
        .host
        .check_deployment(std::fs::read(guests::PATCHING).unwrap())
        .await
        .unwrap();
    assert_eq!(report.runs.len(), 1, "{report:?}");
    let Verdict::Diverges(nd) = &report.runs[0].verdict else {
        panic!("{report:?}");
    };
    assert!(
        nd.recorded
            .contains(r#"the code no longer calls patched("receipt")"#),
        "{nd:?}"
    );
    assert!(nd.now.starts_with("TimerStarted"), "{nd:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_changes_nothing_and_an_upgrade_leaves_divergent_runs_where_they_are() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    let v1 = t
        .host
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap()
        .component;
    let (timer, signals) = (id("timer"), id("signals"));
    t.host
        .start(StartWorkflow::new("timer", "timers", &60_000).unwrap())
        .await
        .unwrap();
    t.host
        .start(StartWorkflow::new("signals", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    eventually("the timer is recorded", || {
        has(&t, &timer, |e| matches!(e, Event::TimerStarted(_)))
    })
    .await;
    let v2_bytes = std::fs::read(guests::KITCHEN_SINK_V2).unwrap();

    let report = t.host.check_deployment(v2_bytes.clone()).await.unwrap();
    assert!(!report.upgraded);
    assert_eq!(
        (report.compatible(), report.incompatible()),
        (1, 1),
        "{report:?}"
    );
    let divergent = report.runs.iter().find(|r| r.workflow_id == timer).unwrap();
    let Verdict::Diverges(nd) = &divergent.verdict else {
        panic!("{report:?}");
    };
    assert_eq!(nd.event_id, 2);
    assert_eq!(nd.recorded, "TimerStarted seq=1 duration=60000ms");
    assert!(
        nd.now.starts_with("ActivityScheduled seq=1 name=greet"),
        "{nd:?}"
    );
    for wf in [&timer, &signals] {
        assert_eq!(t.host.describe(wf).await.unwrap().run.component, v1);
        assert!(!has(&t, wf, |e| matches!(e, Event::VersionChanged(_))).await);
    }
    assert!(
        t.host.deployments().await.unwrap().len() == 1,
        "a check deploys nothing"
    );

    let (deployment, report) = t.host.deploy_upgrade(v2_bytes).await.unwrap();
    assert_eq!(
        (report.compatible(), report.incompatible()),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(t.host.describe(&timer).await.unwrap().run.component, v1);
    assert_eq!(
        t.host.describe(&signals).await.unwrap().run.component,
        deployment.component
    );
    t.host
        .signal(&signals, "add", keel_host::Payload::json("a").unwrap())
        .await
        .unwrap();
    t.host
        .signal(&signals, "finish", keel_host::Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = t
        .host
        .result(&signals)
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(items, ["a", "v2"], "the moved run finished on v2");
    // The pinned run goes on, on v1.
    clock.advance(Duration::from_secs(61));
    let slept: u64 = t.host.result(&timer).await.unwrap().into_result().unwrap();
    assert!(slept >= 60_000, "{slept}");
    assert_eq!(
        t.host.describe(&timer).await.unwrap().run.status,
        RunStatus::Completed
    );
}
