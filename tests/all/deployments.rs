//! Deployments: hot swap pins running runs to their versions across a
//! restart, rollback restores an earlier version, and a component built
//! into a host does not undo a rollback when the host restarts.

use keel_host::history::Event;
use keel_host::{Error, Payload, StartWorkflow};
use keel_tests::{TestHost, guests, id, open, serve, test_config};
use serde_json::json;

fn start(workflow_id: &str, workflow_type: &str, input: serde_json::Value) -> StartWorkflow {
    StartWorkflow::new(workflow_id, workflow_type, &input).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_pins_running_runs_and_rollback_restores_the_old_version() {
    let t = TestHost::new().await.unwrap();
    let (client, stop) = serve(&t.host).await;
    let v1 = client
        .deploy(std::fs::read(guests::KITCHEN_SINK).unwrap())
        .await
        .unwrap()
        .component;
    client
        .start(start("old-signal", "signals", json!(null)))
        .await
        .unwrap();
    client
        .start(start("old-timer", "timers", json!(1_500)))
        .await
        .unwrap();

    let v2 = client
        .deploy(std::fs::read(guests::KITCHEN_SINK_V2).unwrap())
        .await
        .unwrap()
        .component;
    assert_ne!(v1, v2);
    let again = client
        .deploy(std::fs::read(guests::KITCHEN_SINK_V2).unwrap())
        .await
        .unwrap();
    assert_eq!(
        again.component, v2,
        "deploying the same bytes twice is idempotent"
    );
    let err = client
        .deploy(std::fs::read(guests::FORBIDDEN_IMPORT).unwrap())
        .await;
    assert!(err.is_err());
    client
        .start(start("new-signal", "signals", json!(null)))
        .await
        .unwrap();

    // Restart in the middle: a new host on the same store keeps everything.
    drop(stop);
    t.host.shutdown();
    let host = open(&t.db, test_config()).await.unwrap();
    let (client, _stop) = serve(&host).await;
    let deployments = client.deployments().await.unwrap();
    assert_eq!(deployments.len(), 2);
    let current = deployments.iter().find(|d| d.component.id == v2).unwrap();
    assert!(current.current_for.contains(&"signals".to_string()));

    for wf in ["old-signal", "new-signal"] {
        client
            .signal(&id(wf), "add", Payload::json("a").unwrap())
            .await
            .unwrap();
        client
            .signal(&id(wf), "finish", Payload::default())
            .await
            .unwrap();
    }
    let old: Vec<String> = client
        .result(&id("old-signal"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let new: Vec<String> = client
        .result(&id("new-signal"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(old, ["a"], "the old run finished on v1");
    assert_eq!(new, ["a", "v2"], "the new run started on v2");
    assert_eq!(
        client
            .describe(&id("old-signal"))
            .await
            .unwrap()
            .run
            .component,
        v1
    );
    let elapsed: u64 = client
        .result(&id("old-timer"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert!(elapsed >= 1_500);
    let (_, history) = client.history(&id("old-timer")).await.unwrap();
    assert!(
        !history
            .iter()
            .any(|e| matches!(e.event, Event::ActivityScheduled(_))),
        "v1 code ran"
    );

    client
        .set_current("signals", &v1.to_string())
        .await
        .unwrap();
    client
        .start(start("rolled-back", "signals", json!(null)))
        .await
        .unwrap();
    client
        .signal(&id("rolled-back"), "finish", Payload::default())
        .await
        .unwrap();
    let items: Vec<String> = client
        .result(&id("rolled-back"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert!(
        items.is_empty(),
        "after rollback new runs use v1: {items:?}"
    );
    let err = client
        .set_current("signals", "sha256:00")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_built_into_the_host_does_not_undo_a_rollback_on_restart() {
    let t = TestHost::new().await.unwrap();
    let (v1, v2) = (
        std::fs::read(guests::KITCHEN_SINK).unwrap(),
        std::fs::read(guests::KITCHEN_SINK_V2).unwrap(),
    );
    let first = t.host.deploy(v1).await.unwrap().component;
    // A host whose binary embeds v2 starts, then v2 is rolled back.
    let embedded = t.host.deploy_embedded(v2.clone()).await.unwrap().component;
    let current = |host: &keel_host::Host| {
        let host = host.clone();
        async move {
            host.deployments()
                .await
                .unwrap()
                .into_iter()
                .find(|d| d.current_for.iter().any(|t| t == "signals"))
                .map(|d| d.component.id)
        }
    };
    assert_eq!(
        current(&t.host).await,
        Some(embedded.clone()),
        "a new build is deployed"
    );
    t.host.set_current("signals", &first).await.unwrap();
    t.host.stop(std::time::Duration::from_secs(5)).await;
    // The next start embeds the same v2: the rollback stays.
    let host = open(&t.db, test_config()).await.unwrap();
    host.deploy_embedded(v2).await.unwrap();
    assert_eq!(current(&host).await, Some(first), "the rollback was undone");
}
