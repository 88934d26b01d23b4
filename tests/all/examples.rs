//! The examples' workflows, end to end.

use keel_host::history::Event;
use keel_host::{Outcome, Payload, StartWorkflow};
use keel_tests::{TestHost, guests, hex_sha256, id};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_greets_through_its_activity() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::HELLO).await.unwrap();
    t.host
        .start(StartWorkflow::new("h", "hello", "Keel").unwrap())
        .await
        .unwrap();
    let greeting: String = t
        .host
        .result(&id("h"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(greeting, "Hello, Keel!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_runs_twenty_activities_concurrently() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::FAN_OUT).await.unwrap();
    t.host
        .start(StartWorkflow::new("f", "fan-out", &20).unwrap())
        .await
        .unwrap();
    let sum: u64 = t
        .host
        .result(&id("f"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(sum, 2470);
    let history = t.host.history(&id("f")).await.unwrap();
    let first_batch = history
        .iter()
        .take_while(|e| !matches!(e.event, Event::ActivationCompleted(_)));
    assert_eq!(
        first_batch
            .filter(|e| matches!(e.event, Event::ActivityScheduled(_)))
            .count(),
        20,
        "all twenty are scheduled in the first activation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_and_async_activities_run_side_by_side() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::SYNC_ASYNC).await.unwrap();
    t.host
        .start(StartWorkflow::new("sa", "sync-async", "durable").unwrap())
        .await
        .unwrap();
    let report: Value = t
        .host
        .result(&id("sa"))
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(
        report,
        json!({"length": 7, "digest": hex_sha256(b"durable")})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_buy_is_cancelled_during_its_grace_period() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::ONE_CLICK_BUY).await.unwrap();
    let wf = id("buy");
    let purchase = json!({"item_id": "socks", "user_id": "ada"});
    t.host
        .start(StartWorkflow::new("buy", "one-click-buy", &purchase).unwrap())
        .await
        .unwrap();
    let status = t
        .host
        .query(&wf, "current_status", Payload::default())
        .await
        .unwrap();
    assert_eq!(status.to_string(), "\"PENDING\"");
    t.host.cancel(&wf, "changed my mind").await.unwrap();
    assert!(matches!(
        t.host.result(&wf).await.unwrap(),
        Outcome::Cancelled(_)
    ));
    let status = t
        .host
        .query(&wf, "current_status", Payload::default())
        .await
        .unwrap();
    assert_eq!(status.to_string(), "\"CANCELLED\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_buy_buys_the_updated_purchase_after_ten_seconds() {
    // Ten seconds of workflow time, skipped: the test does not wait them.
    let env = keel_tests::time_skipping().await.unwrap();
    env.host()
        .deploy(std::fs::read(guests::ONE_CLICK_BUY).unwrap())
        .await
        .unwrap();
    let wf = id("buy");
    let purchase = json!({"item_id": "socks", "user_id": "ada"});
    env.host()
        .start(StartWorkflow::new("buy", "one-click-buy", &purchase).unwrap())
        .await
        .unwrap();
    let update = json!({"item_id": "shoes", "user_id": "ada"});
    env.host()
        .signal(&wf, "update_purchase", Payload::json(&update).unwrap())
        .await
        .unwrap();
    let receipt: String = env.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(receipt, "bought shoes for ada");
    let status = env
        .host()
        .query(&wf, "current_status", Payload::default())
        .await
        .unwrap();
    assert_eq!(status.to_string(), "\"COMPLETED\"");
    let history = env.host().history(&wf).await.unwrap();
    let timer = history.iter().find_map(|e| match &e.event {
        Event::TimerStarted(t) => Some(t.duration_ms),
        _ => None,
    });
    assert_eq!(timer, Some(10_000));
    let (first, last) = (history[0].time_ms, history.last().unwrap().time_ms);
    assert!(
        last - first >= 10_000,
        "the grace period passed in workflow time"
    );
}
