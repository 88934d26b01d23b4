//! Host memory: all instances together stay within the host's memory
//! budget (idle instances are dropped first, a run that finds no room waits
//! and `describe` says so), and the host memory a workflow holds outside
//! its linear memory (WASI resources) is bounded too.

use std::time::Duration;

use keel_host::history::Event;
use keel_host::{HostConfig, Payload, RunStatus, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, eventually, guests, id, serve, test_config};
use serde_json::json;

const MIB: u64 = 1 << 20;

/// The resident memory of this test process, MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib / 1024
}

async fn budget_host(budget_mib: usize, activation_timeout: Duration) -> TestHost {
    let mut config: HostConfig = test_config();
    config.engine.memory_limit_bytes = 32 << 20;
    config.engine.memory_budget_bytes = budget_mib << 20;
    config.engine.activation_timeout = activation_timeout;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::MEMORY_HOG).await.unwrap();
    t
}

async fn ballast(t: &TestHost, wf: &str, mib: u32, spin: bool) -> WorkflowId {
    t.host
        .start(StartWorkflow::new(wf, "ballast", &json!([mib, spin])).unwrap())
        .await
        .unwrap();
    id(wf)
}

async fn completed_activations(t: &TestHost, wf: &WorkflowId) -> usize {
    t.host
        .history(wf)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event, Event::ActivationCompleted(_)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_holding_four_times_the_budget_stay_within_it_and_all_complete() {
    const RUNS: usize = 24;
    let t = budget_host(48, Duration::from_secs(2)).await;
    let before = rss_mib();
    let mut runs = Vec::new();
    for i in 0..RUNS {
        runs.push(ballast(&t, &format!("ballast-{i}"), 8, false).await);
    }
    for wf in &runs {
        eventually(&format!("{wf} holds its ballast"), || async {
            completed_activations(&t, wf).await == 1
        })
        .await;
    }
    let grown = rss_mib().saturating_sub(before);
    // 24 runs of 8 MiB are 192 MiB of guest memory without a budget.
    assert!(
        grown < 48 + 40,
        "the process grew by {grown} MiB holding {RUNS} runs of 8 MiB under a 48 MiB budget"
    );
    for wf in &runs {
        t.host
            .signal(wf, "release", Payload::default())
            .await
            .unwrap();
    }
    for wf in &runs {
        let sum: u64 = t.host.result(wf).await.unwrap().into_result().unwrap();
        assert_eq!(sum, 8 * MIB, "{wf} lost its ballast");
    }
    let grown = rss_mib().saturating_sub(before);
    assert!(grown < 48 + 40, "grew by {grown} MiB after the replays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waits_for_memory_a_busy_run_holds_and_describe_says_so() {
    let t = budget_host(40, Duration::from_secs(3)).await;
    let spinner = ballast(&t, "spinner", 20, true).await;
    // The spinner holds its 20 MiB inside an activation, where it cannot
    // be dropped, until the deadline ends it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = ballast(&t, "waiting", 20, false).await;
    // Over the API, as `keel workflow describe` sees it.
    let (client, _stop) = serve(&t.host).await;
    eventually("the second run waits for memory", || async {
        client.describe(&waiting).await.unwrap().waiting_for_memory
    })
    .await;
    let history = t.host.history(&waiting).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::WorkflowTaskFailed(f)
            if f.code == "KEEL-MEMORY-BUDGET" && f.message.contains("memory budget of 40 MiB"))),
        "{history:?}"
    );
    t.host.terminate(&spinner, "done spinning").await.unwrap();
    eventually("the second run gets its memory", || async {
        completed_activations(&t, &waiting).await == 1
    })
    .await;
    assert!(!t.host.describe(&waiting).await.unwrap().waiting_for_memory);
    t.host
        .signal(&waiting, "release", Payload::default())
        .await
        .unwrap();
    let sum: u64 = t
        .host
        .result(&waiting)
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(sum, 20 * MIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasi_resources_a_workflow_holds_are_bounded() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::PROBES).await.unwrap();
    let start = |wf: &str, count: u32| StartWorkflow::new(wf, "resource-hog", &json!(count));
    t.host.start(start("few", 500).unwrap()).await.unwrap();
    let made: u32 = t
        .host
        .result(&id("few"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(made, 500);
    t.host
        .start(start("many", 1_000_000).unwrap())
        .await
        .unwrap();
    let many = id("many");
    eventually("the run over the resource limit fails its task", || async {
        t.host.history(&many).await.unwrap().iter().any(|e| {
            matches!(&e.event, Event::WorkflowTaskFailed(f)
                if f.code == "KEEL-LIMIT" && f.message.contains("more than 1000 WASI resources"))
        })
    })
    .await;
    t.host.terminate(&many, "leaks resources").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_dropped_from_the_compiled_cache_is_compiled_again_for_its_runs() {
    let mut config = test_config();
    config.engine.compiled_components = 1;
    config.cache_capacity = 0;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("pinned");
    t.host
        .start(StartWorkflow::new("pinned", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    // The next version takes the only compiled slot; the run stays on the
    // first, which must come back from the store.
    t.deploy(guests::KITCHEN_SINK_V2).await.unwrap();
    t.host
        .signal(&wf, "add", Payload::json("a").unwrap())
        .await
        .unwrap();
    t.host
        .signal(&wf, "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(items, ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_growth_the_workflow_survives_does_not_mark_its_later_failures() {
    let t = budget_host(64, Duration::from_millis(300)).await;
    let wf = ballast(&t, "survivor", 1, false).await;
    eventually("the run holds its ballast", || async {
        completed_activations(&t, &wf).await == 1
    })
    .await;
    // 1 GiB is past the instance's 32 MiB: refused, and the code carries on.
    t.host
        .signal(&wf, "try-grow", Payload::default())
        .await
        .unwrap();
    eventually(
        "the activation with the refused growth completes",
        || async { completed_activations(&t, &wf).await == 2 },
    )
    .await;
    t.host
        .signal(&wf, "spin", Payload::default())
        .await
        .unwrap();
    eventually("the spin is a deadlock", || async {
        t.host
            .history(&wf)
            .await
            .unwrap()
            .iter()
            .any(|e| matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code == "KEEL-DEADLOCK"))
    })
    .await;
    let history = t.host.history(&wf).await.unwrap();
    assert!(
        !history.iter().any(
            |e| matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code.starts_with("KEEL-MEMORY"))
        ),
        "{history:?}"
    );
    assert_eq!(
        t.host.describe(&wf).await.unwrap().run.status,
        RunStatus::Running,
        "a deadlock is retried; only a memory failure would end the run"
    );
    t.host.terminate(&wf, "done").await.unwrap();
}
