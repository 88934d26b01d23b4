//! Replay: evicted runs rebuild to the same result, recorded histories
//! replay to the same outcome, and changed code is caught as
//! non-determinism (by the replayer and by a host, which parks the run).

use keel_host::history::Event;
use keel_host::{Outcome, Parked, Payload, ReplayError, Replayer, RunStatus, StartWorkflow};
use keel_tests::{TestHost, eventually, guests, id, open, serve, test_config};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_rebuilt_by_replay_after_eviction_finish_the_same() {
    let mut config = test_config();
    config.cache_capacity = 0;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    t.deploy(guests::FAN_OUT).await.unwrap();
    t.host
        .start(StartWorkflow::new("fan", "fan-out", &20).unwrap())
        .await
        .unwrap();
    let wf = id("sig");
    t.host
        .start(StartWorkflow::new("sig", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    for item in ["a", "b", "c"] {
        t.host
            .signal(&wf, "add", Payload::json(item).unwrap())
            .await
            .unwrap();
        t.host.evict_all();
    }
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(items, ["a", "b", "c"]);
    let sum: u64 = t
        .host
        .result(&id("fan"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(sum, (0..20u64).map(|i| i * i).sum::<u64>());
    for wf in ["fan", "sig"] {
        let history = t.host.history(&id(wf)).await.unwrap();
        assert!(
            !history
                .iter()
                .any(|e| matches!(e.event, Event::WorkflowTaskFailed(_))),
            "replay failed somewhere in {wf}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_history_replays_to_the_recorded_outcome() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let run = t
        .host
        .start(StartWorkflow::new("r", "random", &json!(null)).unwrap())
        .await
        .unwrap()
        .run_id;
    let recorded = t.host.result(&id("r")).await.unwrap();
    let history = t.host.history(&id("r")).await.unwrap();
    let bytes = std::fs::read(guests::KITCHEN_SINK).unwrap();
    let replayed = Replayer::new(&bytes)
        .unwrap()
        .replay(run, &history)
        .unwrap();
    assert_eq!(
        replayed,
        Some(recorded),
        "random, time and hashing must replay identically"
    );
    let json = serde_json::to_string(&history).unwrap();
    let parsed: Vec<keel_host::history::HistoryEvent> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, history, "histories round-trip through JSON");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replayer_names_the_event_where_changed_code_parts_from_history() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let run = t
        .host
        .start(StartWorkflow::new("t", "timers", &10).unwrap())
        .await
        .unwrap()
        .run_id;
    t.host.result(&id("t")).await.unwrap();
    let history = t.host.history(&id("t")).await.unwrap();
    let v2 = std::fs::read(guests::KITCHEN_SINK_V2).unwrap();
    let Err(ReplayError::NonDeterminism(nd)) = Replayer::new(&v2).unwrap().replay(run, &history)
    else {
        panic!("v2 replayed v1's history without complaint");
    };
    assert_eq!(nd.event_id, 2);
    let message = nd.to_string();
    assert!(
        message.starts_with("KEEL-ND001 non-determinism at event 2"),
        "{message}"
    );
    assert!(
        message.contains("history has [TimerStarted seq=1 duration=10ms]"),
        "{message}"
    );
    assert!(
        message.contains("the code now did [ActivityScheduled seq=1 name=greet"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_parks_a_non_deterministic_run_and_a_fixing_deploy_resumes_it() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("p");
    t.host
        .start(StartWorkflow::new("p", "timers", &3_600_000).unwrap())
        .await
        .unwrap();
    let v2 = t
        .host
        .deploy(std::fs::read(guests::KITCHEN_SINK_V2).unwrap())
        .await
        .unwrap();
    eventually("the timer is recorded", || async {
        t.host.history(&wf).await.unwrap().len() >= 3
    })
    .await;
    t.host.shutdown();
    drop(t.host);

    // Pin the run to v2, as a forced upgrade would: its history no longer fits.
    let conn = rusqlite::Connection::open(&t.db).unwrap();
    conn.execute("UPDATE runs SET component = ?1", [v2.component.to_string()])
        .unwrap();
    drop(conn);

    let host = open(&t.db, test_config()).await.unwrap();
    assert_eq!(host.recovered().runs, 1);
    host.cancel(&wf, "wake it").await.unwrap();
    eventually("the run is parked", || async { host.parked(&wf).is_some() }).await;
    let parked = host.parked(&wf).unwrap();
    assert!(
        parked
            .to_string()
            .starts_with("KEEL-ND001 non-determinism at event 2"),
        "{parked}"
    );
    // Over the API, `describe` says where replay diverged, typed.
    let (client, _stop) = serve(&host).await;
    let Some(Parked::NonDeterminism(nd)) = client.describe(&wf).await.unwrap().parked else {
        panic!("describe does not say the run is parked for non-determinism");
    };
    assert_eq!(nd.event_id, 2);
    assert!(nd.recorded.starts_with("TimerStarted"), "{nd:?}");
    assert!(nd.now.starts_with("ActivityScheduled"), "{nd:?}");
    assert_eq!(
        host.describe(&wf).await.unwrap().run.status,
        RunStatus::Running
    );
    let history = host.history(&wf).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code == "KEEL-ND001"))
    );
    assert!(
        history
            .iter()
            .any(|e| matches!(e.event, Event::CancelRequested(_))),
        "the input was kept"
    );
    // Deploying a version that replays its history (v1 again, as a fix
    // would) moves the run onto it, and it resumes with the input it kept.
    let fixed = host
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap();
    let Outcome::Cancelled(failure) = host.result(&wf).await.unwrap() else {
        panic!("the resumed run did not honour the cancel");
    };
    assert!(failure.message.contains("wake it"), "{failure:?}");
    assert!(host.parked(&wf).is_none());
    let history = host.history(&wf).await.unwrap();
    assert!(
        history.iter().any(|e| matches!(&e.event,
            Event::VersionChanged(c) if c.from == v2.component && c.to == fixed.component)),
        "the move is recorded"
    );
}
