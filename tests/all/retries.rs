//! Requests that are safe to retry: a start, signal, cancel or terminate
//! with a request id is applied once however often it is sent, and the
//! client retries a call whose answer was lost (a connection broken after
//! the host applied it) without applying it twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keel_host::client::Client;
use keel_host::{Outcome, Payload, RequestId, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, guests, id};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How many events of `kind` the latest run of `wf` has.
async fn count(t: &TestHost, wf: &WorkflowId, kind: &str) -> usize {
    let history = t.host.history(wf).await.unwrap();
    history.iter().filter(|e| e.event.kind() == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_applied_once_per_run() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = id("once");
    let start = StartWorkflow::new("once", "signals", &json!(null))
        .unwrap()
        .request_id(RequestId::new("start-1").unwrap());
    let first = t.host.start(start.clone()).await.unwrap();
    let again = t.host.start(start.clone()).await.unwrap();
    assert!(first.started && !again.started);
    assert_eq!(first.run_id, again.run_id);

    let sig = RequestId::new("sig-1").unwrap();
    for _ in 0..3 {
        let input = Payload::json("a").unwrap();
        t.host.signal_once(&wf, "add", input, &sig).await.unwrap();
    }
    let other = RequestId::new("sig-2").unwrap();
    let input = Payload::json("b").unwrap();
    t.host.signal_once(&wf, "add", input, &other).await.unwrap();
    assert_eq!(count(&t, &wf, "SignalReceived").await, 2);

    let stop = RequestId::new("term-1").unwrap();
    t.host.terminate_once(&wf, "done", &stop).await.unwrap();
    // A retry after the run closed succeeds without doing anything.
    t.host.terminate_once(&wf, "done", &stop).await.unwrap();
    t.host
        .signal_once(&wf, "add", Payload::json("a").unwrap(), &sig)
        .await
        .unwrap();
    assert_eq!(count(&t, &wf, "WorkflowTerminated").await, 1);
    assert_eq!(
        t.host.result(&wf).await.unwrap(),
        Outcome::Terminated("done".into())
    );
    // The start's retry still names the run it started, closed or not.
    let retried = t.host.start(start).await.unwrap();
    assert_eq!((retried.run_id, retried.started), (first.run_id, false));
    let fresh = StartWorkflow::new("once", "signals", &json!(null)).unwrap();
    assert!(t.host.start(fresh).await.unwrap().started);
}

/// A TCP proxy that, once armed, lets the host answer one call and then
/// breaks the connection before the answer reaches the client.
struct LosingProxy {
    address: String,
    armed: Arc<AtomicBool>,
}

impl LosingProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let armed = Arc::new(AtomicBool::new(false));
        let trigger = armed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&upstream).await.unwrap();
                tokio::spawn(relay(client, server, trigger.clone()));
            }
        });
        LosingProxy { address, armed }
    }
}

async fn relay(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if armed.swap(false, Ordering::SeqCst) {
            // The host is answering: give it time to finish applying the
            // call, then lose the answer with the connection.
            tokio::time::sleep(Duration::from_millis(200)).await;
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    upstream.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_answer_is_lost_is_retried_and_applied_once() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let listener = keel_host::api::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    tokio::spawn(keel_host::api::serve(
        t.host.clone(),
        listener,
        std::future::pending(),
    ));
    let proxy = LosingProxy::start(upstream).await;
    let client = Client::connect(&proxy.address).await.unwrap();
    let wf = id("lossy");
    client
        .start(StartWorkflow::new("lossy", "signals", &json!(null)).unwrap())
        .await
        .unwrap();

    proxy.armed.store(true, Ordering::SeqCst);
    client
        .signal(&wf, "add", Payload::json("once").unwrap())
        .await
        .unwrap();
    assert!(!proxy.armed.load(Ordering::SeqCst), "no answer was lost");
    assert_eq!(count(&t, &wf, "SignalReceived").await, 1);

    proxy.armed.store(true, Ordering::SeqCst);
    client.cancel(&wf, "stop").await.unwrap();
    assert_eq!(count(&t, &wf, "CancelRequested").await, 1);
}
