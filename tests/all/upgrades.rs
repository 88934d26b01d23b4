//! Changing the code of running workflows: a patched version moves runs
//! mid-timer and mid-activity, a check reports what would diverge without
//! changing anything, an upgrade moves only the runs that replay cleanly,
//! and a patch removed too early is named.

use std::time::Duration;

use keel_host::history::Event;
use keel_host::{RunStatus, StartWorkflow, Verdict, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id};
use serde_json::json;

use crate::cli::Server;

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
            .contains(r#"the code does not take patched("receipt") at this point"#),
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

#[test]
fn the_cli_checks_and_upgrades_deploys_and_replays_exported_histories() {
    let server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    server.ok(&[
        "workflow", "start", "timers", "--id", "timer", "--input", "3600000",
    ]);
    server.ok(&["workflow", "start", "signals", "--id", "signals"]);
    for _ in 0..300 {
        if server
            .ok(&["workflow", "show", "timer"])
            .contains("TimerStarted")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let checked = server.keel(&["deploy", "--check", guests::KITCHEN_SINK_V2]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
    );
    assert_eq!(checked.status.code(), Some(1), "{stdout}{stderr}");
    let timer_line = stdout.lines().find(|l| l.contains("timer ")).unwrap();
    assert!(
        timer_line.contains(
            "diverges at event 2: history has [TimerStarted seq=1 duration=3600000ms] but the \
             code now does [ActivityScheduled seq=1 name=greet"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("signals ") && l.ends_with("compatible")),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 2 open runs would run on"), "{stdout}");
    assert!(
        stderr.starts_with("error: 1 of 2 open runs would not run on")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let listed = server.ok(&["deployment", "list"]);
    assert_eq!(
        listed.lines().count(),
        2,
        "a check deploys nothing: {listed}"
    );

    let upgraded = server.ok(&["deploy", "--upgrade", guests::KITCHEN_SINK_V2]);
    assert!(
        upgraded.contains("moved 1 of 2 open runs onto"),
        "{upgraded}"
    );
    let v2 = upgraded
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("deployed ")
        .to_string();
    let described = server.ok(&["workflow", "describe", "signals"]);
    assert!(described.contains(&v2), "{described}");
    let refused = server.fails(&["workflow", "upgrade", "timer", "--version", &v2]);
    assert!(
        refused.contains("stays on") && refused.contains("diverges at event 2"),
        "{refused}"
    );
    let report: serde_json::Value = serde_json::from_str(&server.ok(&[
        "deploy",
        "--upgrade",
        "--json",
        guests::KITCHEN_SINK_V2,
    ]))
    .unwrap();
    assert_eq!(
        report["report"]["runs"][0]["verdict"]["verdict"], "diverges",
        "{report}"
    );
    assert_eq!(report["deployment"]["component"], v2.as_str());

    // An exported history replays here, without the server.
    let exported = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        exported.path(),
        server.ok(&["workflow", "show", "timer", "--json"]),
    )
    .unwrap();
    let history = exported.path().to_str().unwrap();
    let clean = server.ok(&["replay", guests::KITCHEN_SINK, history]);
    assert!(
        clean.starts_with("ok: 3 events of workflow timer run run_")
            && clean.contains("was not closed by its code"),
        "{clean}"
    );
    let diverged = server.keel(&["replay", guests::KITCHEN_SINK_V2, history]);
    assert_eq!(diverged.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&diverged.stderr);
    assert!(
        stderr.starts_with("error: KEEL-ND001 non-determinism at event 2"),
        "{stderr}"
    );
    let unreadable = server.keel(&["replay", guests::KITCHEN_SINK, "/no/such/history.json"]);
    assert_eq!(unreadable.status.code(), Some(2));
}

/// Open runs in the SIGKILL test.
const KILLED_RUNS: usize = 400;

#[test]
fn a_host_killed_in_the_middle_of_an_upgrade_leaves_every_run_on_one_version() {
    let mut server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime
        .block_on(keel_host::client::Client::connect(&server.address))
        .unwrap();
    runtime.block_on(futures::future::join_all((0..KILLED_RUNS).map(|i| {
        let start = StartWorkflow::new(&format!("s-{i}"), "signals", &json!(null)).unwrap();
        let client = client.clone();
        async move { client.start(start).await.unwrap() }
    })));
    let v2 = keel_host::ComponentId::of(&std::fs::read(guests::KITCHEN_SINK_V2).unwrap());
    let moved = |db: &std::path::Path| -> usize {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row(
            "SELECT count(*) FROM runs WHERE component = ?1",
            [v2.to_string()],
            |row| row.get(0),
        )
        .unwrap_or(0)
    };
    let mut upgrade = std::process::Command::new(crate::cli::keel_binary())
        .args(["--server", &server.address, "deploy", "--upgrade"])
        .arg(guests::KITCHEN_SINK_V2)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while moved(&server.db) == 0 {
        std::thread::sleep(Duration::from_millis(2));
    }
    server.kill_and_restart();
    let _ = upgrade.wait();
    let moved_at_kill = moved(&server.db);
    assert!(
        moved_at_kill < KILLED_RUNS,
        "the kill came after the upgrade ended; nothing was tested"
    );

    // Each run is wholly on v1 or wholly on v2: its row and its history
    // agree, and it finishes on the version it is on.
    let client = runtime
        .block_on(keel_host::client::Client::connect(&server.address))
        .unwrap();
    runtime.block_on(futures::future::join_all((0..KILLED_RUNS).map(|i| {
        let (client, v2) = (client.clone(), v2.clone());
        async move {
            let wf = id(&format!("s-{i}"));
            let on_v2 = client.describe(&wf).await.unwrap().run.component == v2;
            let (_, history) = client.history_run(&wf, None).await.unwrap();
            let changes = history
                .iter()
                .filter(|e| matches!(&e.event, Event::VersionChanged(c) if c.to == v2))
                .count();
            assert_eq!(changes, usize::from(on_v2), "{wf}: {history:?}");
            client
                .signal(&wf, "finish", keel_host::Payload::default())
                .await
                .unwrap();
            let items: Vec<String> = client.result(&wf).await.unwrap().into_result().unwrap();
            assert_eq!(items == ["v2"], on_v2, "{wf} ran on the wrong version");
        }
    })));
    eprintln!("{moved_at_kill} of {KILLED_RUNS} runs had moved when the host was killed");
    assert_eq!(moved(&server.db), moved_at_kill);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_failing_its_first_task_resumes_on_a_fixing_deploy_and_survives_eviction() {
    let (t, clock) = TestHost::with_manual_clock().await.unwrap();
    t.deploy(guests::INFINITE_LOOP).await.unwrap();
    let wf = id("stuck");
    t.host
        .start(StartWorkflow::new("stuck", "spin", &json!(null)).unwrap())
        .await
        .unwrap();
    eventually("the first task fails", || {
        has(
            &t,
            &wf,
            |e| matches!(e, Event::WorkflowTaskFailed(f) if f.code == "KEEL-DEADLOCK"),
        )
    })
    .await;
    // A plain deploy of the fix re-checks the stuck run and moves it.
    let fixed = t
        .host
        .deploy(std::fs::read(guests::SPIN_FIXED).unwrap())
        .await
        .unwrap()
        .component;
    eventually("the run moved and took its first step", || {
        has(&t, &wf, |e| matches!(e, Event::TimerStarted(_)))
    })
    .await;
    assert_eq!(t.host.describe(&wf).await.unwrap().run.component, fixed);
    // Rebuilt from its whole history (not as a run never activated).
    t.host.evict_all();
    clock.advance(Duration::from_secs(1));
    let seven: u64 = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(seven, 7);
}
