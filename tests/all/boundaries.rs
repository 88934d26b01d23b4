//! What callers may send, checked before anything is stored: a component's
//! size and declared names, a `describe` that would not return, and request
//! sizes on the gRPC API. Each refusal is a clear typed error, and what was
//! refused leaves no trace that could break a later call.

use std::time::Duration;

use keel_host::{Error, Payload, StartWorkflow};
use keel_tests::{TestHost, guests, serve, test_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_declaring_a_name_with_a_line_break_is_refused_and_deployments_stay_listable() {
    let t = TestHost::new().await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let err = client
        .deploy(std::fs::read(guests::BAD_NAMES).unwrap())
        .await
        .unwrap_err();
    let Error::ComponentRejected(message) = &err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert!(
        message.contains(r#"signal name "go\nINFO keel: deployed" has whitespace"#),
        "{message}"
    );
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    // Nothing was stored: the list answers and a good deploy still works.
    assert!(client.deployments().await.unwrap().is_empty());
    client
        .deploy(std::fs::read(guests::HELLO).unwrap())
        .await
        .unwrap();
    assert_eq!(client.deployments().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_that_sleeps_is_refused_instead_of_hanging_the_deploy() {
    let t = TestHost::new().await.unwrap();
    let deploy = t.host.deploy(std::fs::read(guests::SLOW_DESCRIBE).unwrap());
    let err = tokio::time::timeout(Duration::from_secs(30), deploy)
        .await
        .expect("the deploy answers instead of sleeping for an hour")
        .unwrap_err();
    let Error::ComponentRejected(message) = &err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert!(message.contains("describe export failed"), "{message}");
    assert!(message.contains("ctx.sleep"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_over_the_size_limit_is_refused_by_the_host_and_by_the_api() {
    let component = std::fs::read(guests::HELLO).unwrap();
    let mut config = test_config();
    config.engine.max_component_bytes = component.len() - 1;
    let t = TestHost::with_config(config).await.unwrap();
    let (client, _stop) = serve(&t.host).await;

    // Just over: the host reads it and names the limit.
    let err = client.deploy(component.clone()).await.unwrap_err();
    let Error::ComponentRejected(message) = &err else {
        panic!("expected a rejection, got {err:?}");
    };
    assert!(message.contains("over the limit"), "{message}");

    // Far over: the API refuses the request before buffering it.
    let mut huge = component.clone();
    huge.resize(component.len() + (4 << 20), 0);
    let err = client.deploy(huge).await.unwrap_err();
    let Error::InvalidArgument(message) = &err else {
        panic!("expected an invalid argument, got {err:?}");
    };
    assert!(message.contains("too large"), "{message}");
    assert!(client.deployments().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_payload_limit_are_invalid_arguments_over_grpc() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let limit = test_config().engine.max_payload_bytes;
    for size in [limit + 1, 4 * limit] {
        let mut start = StartWorkflow::new("big", "timers", &0).unwrap();
        start.input = Payload::from_bytes(vec![b'x'; size]);
        let err = client.start(start).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument(_)),
            "{size} bytes: {err:?}"
        );
    }
    let reason = "r".repeat(4 * limit);
    let wf = keel_tests::id("big");
    let err = client.terminate(&wf, &reason).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}
