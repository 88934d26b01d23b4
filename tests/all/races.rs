//! Races between inputs and commands: a cancel delivered together with the
//! event that resolves the current step, a start and a cancel delivered
//! together, activities dropped in the activation that scheduled them or in
//! the one that closes the run, and activities racing timers. Each command
//! resolves exactly once, and no acknowledged cancel is lost.

use std::collections::HashMap;
use std::time::Duration;

use keel_host::clock::{Clock, SystemClock};
use keel_host::history::{CancelRequested, Event, TimerFired, WorkflowStarted};
use keel_host::store::{Batch, Check, Op, RunRecord, SqliteStore, Store};
use keel_host::{Outcome, RunId, RunStatus, StartWorkflow, WorkflowId};
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
async fn a_cancel_delivered_with_the_timer_it_races_reaches_the_next_step() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    let wf = id("twice");
    t.host
        .start(StartWorkflow::new("twice", "sleep-twice", &3_600_000).unwrap())
        .await
        .unwrap();
    let run = t.host.describe(&wf).await.unwrap().run.run_id;
    t.host.shutdown();
    drop(t.host);

    // While no host runs, the first timer fires and a cancel is requested:
    // the next host delivers both in one activation.
    let store = SqliteStore::open(&t.db).unwrap();
    let fired = Batch::default()
        .check(Check::TimerPending(run, 1))
        .op(Op::DeleteTimer(run, 1))
        .op(Op::Append {
            run_id: run,
            time_ms: SystemClock.now_ms(),
            events: vec![
                Event::TimerFired(TimerFired { seq: 1 }),
                Event::CancelRequested(CancelRequested {
                    reason: "stop".into(),
                }),
            ],
        });
    store.commit(fired).await.unwrap();
    drop(store);

    let host = open(&t.db, test_config()).await.unwrap();
    let Outcome::Cancelled(failure) = closed(&host, &wf).await else {
        panic!("the run was not cancelled at its second timer");
    };
    assert!(failure.message.contains("stop"), "{}", failure.message);
    let history = host.history(&wf).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::TimerCancelled(c) if c.seq == 2)),
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_and_a_cancel_delivered_together_cancel_the_first_wait() {
    let t = TestHost::new().await.unwrap();
    let deployed = t
        .host
        .deploy(std::fs::read(guests::PROBES).unwrap())
        .await
        .unwrap();
    t.host.shutdown();
    drop(t.host);

    // A run whose first workflow task never completed before a cancel came.
    let store = SqliteStore::open(&t.db).unwrap();
    let (run, wf, now) = (RunId::generate(), id("forever"), SystemClock.now_ms());
    let started = Batch::default()
        .op(Op::InsertRun(RunRecord {
            run_id: run,
            workflow_id: wf.clone(),
            workflow_type: "wait-forever".into(),
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
                    workflow_type: "wait-forever".into(),
                    input: keel_host::Payload::json(&json!(null)).unwrap(),
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
                Event::CancelRequested(CancelRequested {
                    reason: "never mind".into(),
                }),
            ],
        });
    store.commit(started).await.unwrap();
    drop(store);

    let host = open(&t.db, test_config()).await.unwrap();
    assert!(
        matches!(closed(&host, &wf).await, Outcome::Cancelled(_)),
        "the first wait_condition was not cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_dropped_in_the_activation_that_scheduled_it_never_runs() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    for i in 0..20 {
        let wf = format!("drop-{i}");
        t.host
            .start(StartWorkflow::new(&wf, "schedule-and-drop", &60_000).unwrap())
            .await
            .unwrap();
        let wf = id(&wf);
        let answer: String = closed(&t.host, &wf).await.into_result().unwrap();
        assert_eq!(answer, "dropped");
        let history = t.host.history(&wf).await.unwrap();
        assert!(
            !history.iter().any(|e| matches!(
                e.event,
                Event::ActivityScheduled(_) | Event::ActivityCancelRequested(_)
            )),
            "a dropped activity was recorded: {history:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_close_is_the_last_event_of_a_run_that_drops_an_activity_as_it_ends() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    let wf = id("closing");
    t.host
        .start(StartWorkflow::new("closing", "close-while-pending", &60_000).unwrap())
        .await
        .unwrap();
    let answer: String = closed(&t.host, &wf).await.into_result().unwrap();
    assert_eq!(answer, "closed");
    let history = t.host.history(&wf).await.unwrap();
    let close = history
        .iter()
        .position(|e| matches!(e.event, Event::WorkflowCompleted(_)))
        .unwrap();
    assert!(
        history[close + 1..]
            .iter()
            .all(|e| matches!(e.event, Event::ActivationCompleted(_))),
        "events after the close: {:?}",
        &history[close..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_racing_timers_resolve_each_command_exactly_once() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let runs = 200;
    for i in 0..runs {
        // The activity sleeps 48-52 ms against a 50 ms timer: the two often
        // resolve in the same instant.
        let ms = 48 + (i % 5);
        let start = StartWorkflow::new(&format!("race-{i}"), "cancel-activity", &ms).unwrap();
        t.host.start(start).await.unwrap();
    }
    for i in 0..runs {
        let wf = id(&format!("race-{i}"));
        let winner: String = closed(&t.host, &wf).await.into_result().unwrap();
        assert!(
            winner == "activity won" || winner == "timer won",
            "{winner}"
        );
        let mut resolutions: HashMap<(&str, u32), usize> = HashMap::new();
        let history = t.host.history(&wf).await.unwrap();
        for e in &history {
            let key = match &e.event {
                Event::TimerFired(f) => ("timer", f.seq),
                Event::TimerCancelled(c) => ("timer", c.seq),
                Event::ActivityCompleted(c) => ("activity", c.seq),
                Event::ActivityFailed(f) => ("activity", f.seq),
                Event::ActivityCancelled(c) => ("activity", c.seq),
                _ => continue,
            };
            *resolutions.entry(key).or_default() += 1;
        }
        assert!(
            resolutions.values().all(|n| *n == 1),
            "a command of {wf} resolved twice: {history:?}"
        );
    }
    eventually("no run is left open", || async {
        t.host
            .list(keel_host::store::RunFilter {
                status: Some(RunStatus::Running),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_accepted_while_the_run_completes_is_delivered_not_dropped() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let mut accepted_late = 0;
    for i in 0..200 {
        let wf = id(&format!("late-{i}"));
        let start = StartWorkflow::new(wf.as_str(), "signals", &json!(null)).unwrap();
        t.host.start(start).await.unwrap();
        let finish = keel_host::Payload::default();
        t.host.signal(&wf, "finish", finish).await.unwrap();
        // Sent while the activation that lets the run finish may be running:
        // once accepted, the workflow must see it.
        let late = keel_host::Payload::json("late").unwrap();
        let accepted = t.host.signal(&wf, "add", late).await.is_ok();
        let items: Vec<String> = closed(&t.host, &wf).await.into_result().unwrap();
        if accepted {
            accepted_late += 1;
            assert_eq!(items, ["late"], "an accepted signal was dropped by {wf}");
        } else {
            assert!(items.is_empty());
        }
    }
    assert!(accepted_late > 0, "the race never happened");
}
