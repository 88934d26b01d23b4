//! The sandbox: forbidden imports are rejected at deploy, a guest that
//! never yields is stopped without stopping the host, and a guest that
//! exhausts its memory fails alone.

use std::time::Duration;

use keel_host::history::Event;
use keel_host::{Error, IdReusePolicy, Outcome, RunStatus, StartWorkflow};
use keel_tests::{TestHost, eventually, guests, id, test_config};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_the_file_system_is_rejected_with_the_imports_named() {
    let t = TestHost::new().await.unwrap();
    let bytes = std::fs::read(guests::FORBIDDEN_IMPORT).unwrap();
    let Err(Error::ComponentRejected(message)) = t.host.deploy(bytes).await else {
        panic!("a component importing wasi:filesystem was accepted");
    };
    assert!(message.contains("wasi:filesystem/types@0.2."), "{message}");
    assert!(
        message.contains("wasi:filesystem/preopens@0.2."),
        "{message}"
    );
    let start = StartWorkflow::new("fs", "reader", &json!(null)).unwrap();
    assert!(
        matches!(t.host.start(start).await, Err(Error::NotFound(_))),
        "the type must not be served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_may_shorten_its_workflow_task_timeout_but_not_pass_the_hosts() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::INFINITE_LOOP).await.unwrap();
    let start = StartWorkflow::new("short", "spin", &json!(null))
        .unwrap()
        .task_timeout(Duration::from_millis(150));
    t.host.start(start).await.unwrap();
    eventually("the short deadline stops the activation", || async {
        t.host
            .describe(&id("short"))
            .await
            .unwrap()
            .task_failure
            .is_some_and(|f| f.code == "KEEL-DEADLOCK" && f.message.contains("150 ms"))
    })
    .await;
    t.host.terminate(&id("short"), "stuck").await.unwrap();
    // The host's activation timeout (500 ms in tests) bounds every run.
    let long = StartWorkflow::new("long", "spin", &json!(null))
        .unwrap()
        .task_timeout(Duration::from_secs(60));
    let err = t.host.start(long).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("over the host's activation timeout"),
        "{err}"
    );
    let tiny = StartWorkflow::new("tiny", "spin", &json!(null))
        .unwrap()
        .task_timeout(Duration::from_millis(5));
    let err = t.host.start(tiny).await.unwrap_err();
    assert!(err.to_string().contains("must be at least 100ms"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_never_yields_is_stopped_and_others_keep_running() {
    let mut config = test_config();
    config.engine.activation_timeout = Duration::from_millis(200);
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::INFINITE_LOOP).await.unwrap();
    let spin = id("spin");
    t.host
        .start(StartWorkflow::new("spin", "spin", &json!(null)).unwrap())
        .await
        .unwrap();
    for i in 0..3 {
        let wf = format!("ok-{i}");
        t.host
            .start(StartWorkflow::new(&wf, "ok", &json!(null)).unwrap())
            .await
            .unwrap();
        let answer: u64 = t
            .host
            .result(&id(&wf))
            .await
            .unwrap()
            .into_result()
            .unwrap();
        assert_eq!(answer, 42);
    }
    eventually("the deadlock is recorded", || async {
        t.host.history(&spin).await.unwrap().iter().any(
            |e| matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code == "KEEL-DEADLOCK" && f.message.contains("200 ms")),
        )
    })
    .await;
    assert_eq!(
        t.host.describe(&spin).await.unwrap().run.status,
        RunStatus::Running,
        "a deadlock fails the task, not the run"
    );
    t.host.terminate(&spin, "stuck").await.unwrap();
    assert_eq!(
        t.host.result(&spin).await.unwrap(),
        Outcome::Terminated("stuck".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_over_its_memory_limit_fails_alone() {
    let mut config = test_config();
    config.engine.memory_limit_bytes = 32 << 20;
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::MEMORY_HOG).await.unwrap();
    t.host
        .start(StartWorkflow::new("hog", "hog", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host
        .start(StartWorkflow::new("ok", "ok", &json!(null)).unwrap())
        .await
        .unwrap();
    let Outcome::Failed(failure) = t.host.result(&id("hog")).await.unwrap() else {
        panic!("the hog did not fail");
    };
    assert_eq!(failure.error_type, "KEEL-MEMORY");
    assert!(
        failure.message.contains("memory limit of 32 MiB"),
        "{}",
        failure.message
    );
    let answer: u64 = t
        .host
        .result(&id("ok"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(answer, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_activation_that_fails_is_recorded_once_not_run_again_at_once() {
    let mut config = test_config();
    config.engine.activation_timeout = Duration::from_millis(300);
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::INFINITE_LOOP).await.unwrap();
    t.host
        .start(StartWorkflow::new("spin", "spin", &json!(null)).unwrap())
        .await
        .unwrap();
    // The failure of the activation the start ran is recorded before the
    // start returns; it is retried after a backoff, not run again at once.
    let history = t.host.history(&id("spin")).await.unwrap();
    let failures = history
        .iter()
        .filter(|e| matches!(&e.event, Event::WorkflowTaskFailed(f) if f.code == "KEEL-DEADLOCK"))
        .count();
    assert_eq!(failures, 1, "{history:?}");
    t.host.terminate(&id("spin"), "stuck").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_its_reuse_policy_refuses_runs_no_workflow_code() {
    let mut config = test_config();
    config.engine.activation_timeout = Duration::from_secs(1);
    let t = TestHost::with_config(config).await.unwrap();
    t.deploy(guests::INFINITE_LOOP).await.unwrap();
    t.host
        .start(StartWorkflow::new("once", "spin", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host.terminate(&id("once"), "stuck").await.unwrap();
    let again = StartWorkflow::new("once", "spin", &json!(null))
        .unwrap()
        .id_reuse(IdReusePolicy::RejectDuplicate);
    let at = tokio::time::Instant::now();
    let refused = t.host.start(again).await;
    assert!(
        matches!(refused, Err(Error::AlreadyExists(_))),
        "{refused:?}"
    );
    assert!(
        at.elapsed() < Duration::from_millis(500),
        "the refused start ran the workflow's first activation ({:?})",
        at.elapsed()
    );
}
