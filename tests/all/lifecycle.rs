//! Continue-as-new: a run closes and a new run of the same workflow id
//! starts in one commit, on the type's current version or pinned to the
//! old one, and the result follows the chain, also across a restart.

use keel_host::history::Event;
use keel_host::store::RunFilter;
use keel_host::{Outcome, Payload, Replayer, RequestId, RunStatus, StartWorkflow, WorkflowId};
use keel_tests::{TestHost, guests, id};
use serde_json::json;

async fn start(t: &TestHost, workflow_id: &str, input: serde_json::Value) -> WorkflowId {
    let start = StartWorkflow::new(workflow_id, "looping", &input).unwrap();
    t.host.start(start).await.unwrap();
    id(workflow_id)
}

/// Wait until the open run of `wf` is not `previous`; the new run's id.
async fn next_run(host: &keel_host::Host, wf: &WorkflowId, previous: keel_host::RunId) {
    keel_tests::eventually("the run continued as new", || async {
        let run = host.describe(wf).await.unwrap().run;
        run.run_id != previous && run.status == RunStatus::Running
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_continues_as_new_in_one_commit_and_the_result_follows_the_chain() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = start(&t, "loop", json!([0, 3, false, false])).await;
    let result: String = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, "v1 done at 3");

    let filter = RunFilter {
        workflow_type: Some("looping".into()),
        limit: 10,
        ..RunFilter::default()
    };
    let replayer = Replayer::new(&std::fs::read(guests::KITCHEN_SINK).unwrap()).unwrap();
    let mut runs = t.host.list(filter).await.unwrap();
    runs.reverse();
    let statuses: Vec<RunStatus> = runs.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RunStatus::ContinuedAsNew,
            RunStatus::ContinuedAsNew,
            RunStatus::ContinuedAsNew,
            RunStatus::Completed
        ]
    );
    for (n, pair) in runs.windows(2).enumerate() {
        let (_, old) = t.host.history_run(&wf, Some(pair[0].run_id)).await.unwrap();
        let close = old.iter().rev().find(|e| e.event.is_terminal());
        let Some(Event::WorkflowContinuedAsNew(close)) = close.map(|e| &e.event) else {
            panic!("run {n} does not end continued as new: {old:?}");
        };
        assert_eq!(
            close.input.to_json::<serde_json::Value>().unwrap(),
            json!([n + 1, 3, false, false])
        );
        let (_, new) = t.host.history_run(&wf, Some(pair[1].run_id)).await.unwrap();
        let Event::WorkflowStarted(started) = &new[0].event else {
            panic!("run {} does not start with WorkflowStarted", n + 1);
        };
        assert_eq!(started.continued_from, Some(pair[0].run_id));
        assert_eq!(started.input, close.input);
        // The closed run replays to the same close (`keel replay`, queries).
        let outcome = replayer.replay(pair[0].run_id, &old).unwrap();
        assert!(
            matches!(outcome, Some(Outcome::ContinuedAsNew(_))),
            "{outcome:?}"
        );
    }
    let Some(Outcome::ContinuedAsNew(first)) = &runs[0].outcome else {
        panic!("{:?}", runs[0].outcome);
    };
    assert!(first.current_version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_takes_the_current_version_unless_pinned() {
    for (pinned, expected) in [(false, "v2 done at 1"), (true, "v1 done at 1")] {
        let t = TestHost::new().await.unwrap();
        t.deploy(guests::KITCHEN_SINK).await.unwrap();
        let wf = start(&t, "loop", json!([0, 1, pinned, true])).await;
        let first = t.host.describe(&wf).await.unwrap().run.run_id;
        t.deploy(guests::KITCHEN_SINK_V2).await.unwrap();
        t.host.signal(&wf, "go", Payload::default()).await.unwrap();
        next_run(&t.host, &wf, first).await;
        t.host.signal(&wf, "go", Payload::default()).await.unwrap();
        let result: String = t.host.result(&wf).await.unwrap().into_result().unwrap();
        assert_eq!(result, expected, "pinned: {pinned}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_goes_on_after_a_restart() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = start(&t, "loop", json!([0, 2, false, true])).await;
    let first = t.host.describe(&wf).await.unwrap().run.run_id;
    t.host.signal(&wf, "go", Payload::default()).await.unwrap();
    next_run(&t.host, &wf, first).await;
    let second = t.host.describe(&wf).await.unwrap().run.run_id;
    let t = t.restart().await.unwrap();
    let host = &t.host;
    host.signal(&wf, "go", Payload::default()).await.unwrap();
    next_run(host, &wf, second).await;
    host.signal(&wf, "go", Payload::default()).await.unwrap();
    let result: String = host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, "v1 done at 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_signal_is_not_applied_again_to_the_run_that_took_over() {
    let t = TestHost::new().await.unwrap();
    t.deploy(guests::KITCHEN_SINK).await.unwrap();
    let wf = start(&t, "loop", json!([0, 1, false, true])).await;
    let first = t.host.describe(&wf).await.unwrap().run.run_id;
    let request = RequestId::generate();
    t.host
        .signal_once(&wf, "go", Payload::default(), &request)
        .await
        .unwrap();
    next_run(&t.host, &wf, first).await;
    // The answer was lost; the caller sends the same request again.
    t.host
        .signal_once(&wf, "go", Payload::default(), &request)
        .await
        .unwrap();
    let (_, history) = t.host.history_run(&wf, None).await.unwrap();
    assert!(
        !history
            .iter()
            .any(|e| matches!(e.event, Event::SignalReceived(_))),
        "the retried signal reached the new run: {history:?}"
    );
    t.host.signal(&wf, "go", Payload::default()).await.unwrap();
    let result: String = t.host.result(&wf).await.unwrap().into_result().unwrap();
    assert_eq!(result, "v1 done at 1");
}
