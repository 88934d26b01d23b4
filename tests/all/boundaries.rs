//! What callers may send, checked before anything is stored: a component's
//! size and declared names, a `describe` that would not return, and request
//! sizes on the gRPC API. Each refusal is a clear typed error, and what was
//! refused leaves no trace that could break a later call.

use std::time::Duration;

use keel_host::client::ListRuns;
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

/// A start request as a client of another version, or a broken one, could
/// send it: the id and type as strings, then one field of any wire type.
#[derive(Clone, PartialEq, prost::Message)]
struct RawStart {
    #[prost(string, tag = "1")]
    workflow_id: String,
    #[prost(string, tag = "2")]
    workflow_type: String,
    /// `id_reuse_policy` in the real message.
    #[prost(int32, tag = "4")]
    id_reuse_policy: i32,
    /// `request_id`, a string in the real message: a varint does not decode.
    #[prost(uint64, optional, tag = "6")]
    request_id_as_number: Option<u64>,
}

/// Send `request` as a `StartWorkflow` call and return the status code.
async fn raw_start(t: &TestHost, request: RawStart) -> tonic::Code {
    let listener = keel_host::api::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(keel_host::api::serve(
        t.host.clone(),
        listener,
        std::future::pending(),
    ));
    let channel = tonic::transport::Endpoint::from_shared(address)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = "/keel.v1.WorkflowService/StartWorkflow".parse().unwrap();
    let codec = tonic_prost::ProstCodec::<RawStart, RawStart>::default();
    grpc.unary(tonic::Request::new(request), path, codec)
        .await
        .map_or_else(|status| status.code(), |_| tonic::Code::Ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_invalid_arguments_not_server_errors() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let request = |policy, request_id| RawStart {
        workflow_id: "raw".into(),
        workflow_type: "timers".into(),
        id_reuse_policy: policy,
        request_id_as_number: request_id,
    };
    // Bytes that are not this message: INTERNAL before.
    assert_eq!(
        raw_start(&t, request(0, Some(7))).await,
        tonic::Code::InvalidArgument
    );
    // An enum value this host does not know: silently the default before.
    assert_eq!(
        raw_start(&t, request(99, None)).await,
        tonic::Code::InvalidArgument
    );
    let all = keel_host::store::RunFilter {
        limit: 10,
        ..Default::default()
    };
    assert!(t.host.list(all).await.unwrap().is_empty());

    // A time past what the store holds: a store failure (UNAVAILABLE) before.
    let (client, _stop) = serve(&t.host).await;
    let err = client
        .list(ListRuns {
            started_after_ms: Some(u64::MAX),
            ..ListRuns::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("started_after_ms")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_list_carries_no_results_while_describe_has_them() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let (client, _stop) = serve(&t.host).await;
    let big = "b".repeat(100 << 10);
    for (name, item) in [("small", "s"), ("large", big.as_str())] {
        let wf = keel_tests::id(name);
        client
            .start(StartWorkflow::new(name, "signals", &()).unwrap())
            .await
            .unwrap();
        client
            .signal(&wf, "add", Payload::json(item).unwrap())
            .await
            .unwrap();
        client
            .signal(&wf, "finish", Payload::default())
            .await
            .unwrap();
        let items: Vec<String> = client.result(&wf).await.unwrap().into_result().unwrap();
        assert_eq!(items, [item]);
    }
    let page = client.list(ListRuns::default()).await.unwrap();
    assert_eq!(page.runs.len(), 2);
    for run in &page.runs {
        assert_eq!(run.status, keel_host::RunStatus::Completed);
        if let Some(outcome) = &run.outcome {
            assert_eq!(*outcome, keel_host::Outcome::Completed(Payload::default()));
        }
    }
    let described = client.describe(&keel_tests::id("large")).await.unwrap();
    let Some(keel_host::Outcome::Completed(result)) = described.run.outcome else {
        panic!("describe has the result");
    };
    assert!(result.len() > 100 << 10);
}
