//! Bad input gets a clear error naming what is wrong, never a panic.

use keel_host::{Error, Outcome, Payload, StartWorkflow};
use keel_tests::{TestHost, guests, id};
use serde_json::json;

async fn sink() -> TestHost {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_workflow_type_lists_the_known_ones() {
    let t = sink().await;
    let err = t
        .host
        .start(StartWorkflow::new("x", "nope", &json!(null)).unwrap())
        .await
        .unwrap_err();
    let Error::NotFound(message) = err else {
        panic!("{err}")
    };
    assert!(
        message.contains("\"nope\"") && message.contains("signals") && message.contains("timers"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_refused_and_a_mistyped_input_fails_the_workflow_task_clearly() {
    let t = sink().await;
    let err = Payload::parse_json("{\"n\": ").unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("malformed JSON")),
        "{err}"
    );
    let start = StartWorkflow {
        input: Payload::parse_json("{\"m\": 1}").unwrap(),
        ..StartWorkflow::new("bad", "bad-payload", &json!(null)).unwrap()
    };
    t.host.start(start).await.unwrap();
    // A bug or a caller's mistake a fixed version can get past: the
    // workflow task fails and is retried, the run stays open.
    keel_tests::eventually("the task failure shows in describe", || async {
        let described = t.host.describe(&id("bad")).await.unwrap();
        described
            .task_failure
            .is_some_and(|f| f.code == "KEEL-PANIC" && f.message.contains("missing field `n`"))
    })
    .await;
    assert_eq!(
        t.host
            .describe(&id("bad"))
            .await
            .unwrap()
            .run
            .status
            .as_str(),
        "running"
    );
    t.host.terminate(&id("bad"), "done").await.unwrap();

    // A type that opts in fails the run instead.
    let start = StartWorkflow {
        input: Payload::parse_json("{\"m\": 1}").unwrap(),
        ..StartWorkflow::new("strict", "strict-payload", &json!(null)).unwrap()
    };
    t.host.start(start).await.unwrap();
    let Outcome::Failed(failure) = t.host.result(&id("strict")).await.unwrap() else {
        panic!("not failed")
    };
    assert_eq!(failure.error_type, "PayloadError");
    assert!(
        failure.message.contains("missing field `n`"),
        "{}",
        failure.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_handler_can_fail_the_run() {
    let t = sink().await;
    let wf = id("rejected");
    t.host
        .start(StartWorkflow::new("rejected", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    t.host
        .signal(&wf, "reject", Payload::json(&"out of stock").unwrap())
        .await
        .unwrap();
    let Outcome::Failed(failure) = t.host.result(&wf).await.unwrap() else {
        panic!("not failed")
    };
    assert_eq!(failure.error_type, "Rejected");
    assert_eq!(failure.message, "out of stock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_signal_or_query_names_what_the_type_handles() {
    let t = sink().await;
    let wf = id("s");
    t.host
        .start(StartWorkflow::new("s", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    let err = t
        .host
        .signal(&wf, "nope", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("no signal \"nope\"") && m.contains("add, finish")),
        "{err}"
    );
    let err = t
        .host
        .query(&wf, "nope", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("no query \"nope\"") && m.contains("items")),
        "{err}"
    );
    let err = t
        .host
        .signal(&id("missing"), "add", Payload::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound(m) if m.contains("missing")),
        "{err}"
    );
    let err = t
        .host
        .query(&wf, "items", Payload::parse_json("[1]").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("query 'items'")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_open_run_with_the_same_id_is_refused() {
    let t = sink().await;
    t.host
        .start(StartWorkflow::new("dup", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
    let err = t
        .host
        .start(StartWorkflow::new("dup", "signals", &json!(null)).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AlreadyExists(m) if m.contains("dup")),
        "{err}"
    );
    t.host
        .signal(&id("dup"), "finish", Payload::default())
        .await
        .unwrap();
    t.host.result(&id("dup")).await.unwrap();
    t.host
        .start(StartWorkflow::new("dup", "signals", &json!(null)).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_a_component_are_rejected() {
    let t = TestHost::new().await.unwrap();
    let err = t
        .host
        .deploy(b"not wasm at all".to_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ComponentRejected(m) if m.contains("not WebAssembly")),
        "{err}"
    );
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let err = t.host.deploy(core_module).await.unwrap_err();
    assert!(
        matches!(&err, Error::ComponentRejected(m) if m.contains("a core WebAssembly module")),
        "{err}"
    );
    // A workflow crate that never lists its workflows.
    let err = t.deploy(guests::NO_EXPORT).await.unwrap_err().to_string();
    assert!(err.contains("keel_sdk::workflows!(…)"), "{err}");
    // A host build deployed by mistake.
    let native = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
    let err = t.host.deploy(native).await.unwrap_err();
    assert!(
        matches!(&err, Error::ComponentRejected(m)
            if m.contains("a native ELF binary") && m.contains("--target wasm32-wasip2")),
        "{err}"
    );
}

#[test]
fn workflow_ids_are_validated_before_anything_is_stored() {
    assert!(StartWorkflow::new("", "t", &json!(null)).is_err());
    assert!(StartWorkflow::new("a\nb", "t", &json!(null)).is_err());
    for lookalike in ["invoice-\u{202E}gnp.exe", "a\u{200B}b", "\u{FEFF}x"] {
        let Err(Error::InvalidArgument(message)) = StartWorkflow::new(lookalike, "t", &json!(null))
        else {
            panic!("{lookalike:?} was accepted");
        };
        assert!(message.contains("bidirectional-override"), "{message}");
    }
    // An error quotes a bounded part of what it refuses.
    let huge = format!("{}\n", "x".repeat(1 << 20));
    let Err(err) = StartWorkflow::new(&huge, "t", &json!(null)) else {
        panic!("accepted");
    };
    assert!(err.to_string().len() < 300, "{}", err.to_string().len());
    assert!(StartWorkflow::new("ordinary-id_1.2:ü", "t", &json!(null)).is_ok());
}
