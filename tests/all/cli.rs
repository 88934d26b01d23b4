//! The real `keel` binary against a real server process: every command,
//! its output, its errors and exit codes, and a graceful SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use keel_tests::guests;

pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_keel-test-server");

/// The `keel` binary, built beside this test.
pub(crate) fn keel_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let keel = dir.join("keel");
    assert!(
        keel.exists(),
        "{} is missing: build it with `cargo build -p keel-host`",
        keel.display()
    );
    keel
}

/// A `keel-test-server` process on a fresh store, and how `keel` reaches
/// it.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: String,
    /// Environment of every `keel` command (credentials).
    pub(crate) env: Vec<(String, String)>,
    /// The store file.
    pub(crate) db: PathBuf,
    _dir: tempfile::TempDir,
}

/// A `keel-test-server` on the store `db` with `args`, on a free loopback
/// port unless `args` say where, and the address it listens on.
fn spawn_server(db: &Path, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> (Child, String) {
    let listen: &[&str] = if args.contains(&"--listen") {
        &[]
    } else {
        &["--listen", "127.0.0.1:0"]
    };
    let mut child = Command::new(SERVER)
        .args(["--db", db.to_str().unwrap()])
        .args(listen)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the server's first line")
        .replace("0.0.0.0", "127.0.0.1");
    (child, address)
}

impl Server {
    pub(crate) fn start() -> Self {
        Self::start_with(Stdio::inherit())
    }

    fn start_with(stderr: Stdio) -> Self {
        Self::start_with_args(&[], stderr)
    }

    /// A server with `args` besides its store, on a free loopback port
    /// unless `args` say where.
    pub(crate) fn start_with_args(args: &[&str], stderr: Stdio) -> Self {
        Self::start_with_env(args, &[], stderr)
    }

    /// As [`Server::start_with_args`], with `env` set for the server.
    pub(crate) fn start_with_env(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keel.db");
        let (child, address) = spawn_server(&db, args, env, stderr);
        Server {
            child,
            address,
            env: Vec::new(),
            db,
            _dir: dir,
        }
    }

    /// SIGKILL the server, then start a new one on the same store.
    pub(crate) fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let (child, address) = spawn_server(&self.db, &[], &[], Stdio::inherit());
        self.child = child;
        self.address = address;
    }

    pub(crate) fn keel(&self, args: &[&str]) -> Output {
        Command::new(keel_binary())
            .args(["--server", &self.address])
            .args(args)
            .env_remove("KEEL_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }

    /// Run `keel args`, expect success, return stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.keel(args);
        assert!(
            out.status.success(),
            "keel {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run `keel args`, expect failure, return stderr.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let out = self.keel(args);
        assert!(!out.status.success(), "keel {args:?} succeeded");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "errors are one line: {stderr}"
        );
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_cli_drives_every_workflow_command() {
    let server = Server::start();
    let deployed = server.ok(&["deploy", guests::KITCHEN_SINK]);
    assert!(deployed.starts_with("deployed sha256:"), "{deployed}");
    assert!(
        deployed.contains("signals  signals: add, finish, reject  queries: items"),
        "{deployed}"
    );

    let started = server.ok(&["workflow", "start", "signals", "--id", "c1"]);
    assert!(
        started.starts_with("started: workflow c1 run run_"),
        "{started}"
    );
    server.ok(&["workflow", "signal", "c1", "add", "--input", "\"x\""]);
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), "\"y\"").unwrap();
    server.ok(&[
        "workflow",
        "signal",
        "c1",
        "add",
        "--input",
        &format!("@{}", input.path().display()),
    ]);
    assert_eq!(
        server.ok(&["workflow", "query", "c1", "items"]).trim(),
        "[\"x\",\"y\"]"
    );
    let described = server.ok(&["workflow", "describe", "c1"]);
    assert!(
        described.contains("status:       running") && described.contains("type:         signals"),
        "{described}"
    );
    let listed = server.ok(&["workflow", "list", "--status", "running"]);
    assert!(
        listed.lines().nth(1).unwrap().starts_with("c1 "),
        "{listed}"
    );
    server.ok(&["workflow", "signal", "c1", "finish"]);
    assert_eq!(
        server.ok(&["workflow", "result", "c1"]).trim(),
        "[\"x\",\"y\"]"
    );
    let shown = server.ok(&["workflow", "show", "c1"]);
    assert!(
        shown
            .lines()
            .any(|l| l.contains("SignalReceived name=add input=\"y\"")),
        "{shown}"
    );
    let exported: keel_host::ExportedHistory =
        serde_json::from_str(&server.ok(&["workflow", "show", "c1", "--json"])).unwrap();
    assert_eq!(exported.workflow_id.as_str(), "c1");
    assert_eq!(exported.events.len(), 9, "{exported:?}");

    let with_start = server.ok(&[
        "workflow",
        "start",
        "signals",
        "--id",
        "c2",
        "--signal",
        "add",
        "--signal-input",
        "\"z\"",
    ]);
    assert!(with_start.starts_with("started:"), "{with_start}");
    let again = server.ok(&[
        "workflow", "start", "signals", "--id", "c2", "--signal", "finish",
    ]);
    assert!(again.starts_with("already open:"), "{again}");
    assert_eq!(server.ok(&["workflow", "result", "c2"]).trim(), "[\"z\"]");

    server.ok(&["workflow", "start", "cancellable", "--id", "c3"]);
    server.ok(&["workflow", "cancel", "c3", "--reason", "no longer needed"]);
    let out = server.keel(&["workflow", "result", "c3"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a cancelled run's result exits 1"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cancelled: no longer needed"));

    server.ok(&[
        "workflow", "start", "timers", "--id", "c4", "--input", "3600000",
    ]);
    // The same request id twice: applied once, and both succeed.
    for _ in 0..2 {
        server.ok(&[
            "workflow",
            "terminate",
            "c4",
            "--reason",
            "too slow",
            "--request-id",
            "stop-c4",
        ]);
    }
    let out = server.keel(&["workflow", "result", "c4"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("terminated: too slow"));

    server.ok(&[
        "workflow",
        "start",
        "timers",
        "--id",
        "c5",
        "--input",
        "3600000",
        "--run-timeout",
        "300ms",
    ]);
    let out = server.keel(&["workflow", "result", "c5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out: the run's timeout of 300 ms"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = server.ok(&["workflow", "list", "--status", "timed-out"]);
    assert!(listed.contains("c5"), "{listed}");

    // A delayed start runs at once when a signal comes.
    server.ok(&[
        "workflow",
        "start",
        "signals",
        "--id",
        "c6",
        "--start-delay",
        "1h",
    ]);
    server.ok(&["workflow", "signal", "c6", "finish"]);
    assert_eq!(server.ok(&["workflow", "result", "c6"]).trim(), "[]");
    let err = server.fails(&[
        "workflow",
        "start",
        "signals",
        "--id",
        "c1",
        "--id-reuse-policy",
        "reject-duplicate",
    ]);
    assert!(err.starts_with("error: already exists:"), "{err}");
}

#[test]
fn the_cli_manages_deployments_and_reports_bad_input_in_one_line() {
    let server = Server::start();
    let v1 = server.ok(&["deploy", guests::KITCHEN_SINK]);
    server.ok(&["deploy", guests::KITCHEN_SINK_V2]);
    let v1 = v1
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("deployed ")
        .to_string();
    let listed = server.ok(&["deployment", "list"]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    let listed: serde_json::Value =
        serde_json::from_str(&server.ok(&["deployment", "list", "--json"])).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["component"]["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&v1.trim()), "{listed}");
    let mut current: Vec<&str> = listed[1]["current_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    current.sort_unstable();
    assert_eq!(current, ["looping", "signals", "timers"], "{listed}");
    let rolled = server.ok(&["deployment", "rollback", "signals", &v1]);
    assert!(rolled.contains("new runs now start on"), "{rolled}");
    let listed = server.ok(&["deployment", "list"]);
    let v1_line = listed
        .lines()
        .find(|l| v1.contains(l.split_whitespace().next().unwrap()))
        .unwrap();
    assert!(v1_line.contains("signals"), "{listed}");

    let err = server.fails(&[
        "workflow", "start", "signals", "--id", "x", "--input", "{bad",
    ]);
    assert!(err.contains("malformed JSON"), "{err}");
    let err = server.fails(&["workflow", "describe", "nobody"]);
    assert!(err.starts_with("error: not found:"), "{err}");
    assert!(!err.contains("not found: not found"), "{err}");
    let err = server.fails(&["workflow", "start", "nope", "--id", "x"]);
    assert!(
        err.contains("no deployed component serves workflow type \"nope\""),
        "{err}"
    );
    let not_wasm = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_wasm.path(), "hello").unwrap();
    let err = server.fails(&["deploy", not_wasm.path().to_str().unwrap()]);
    assert!(err.contains("component rejected"), "{err}");
    let err = server.fails(&["deploy", guests::FORBIDDEN_IMPORT]);
    assert!(err.contains("wasi:filesystem/types"), "{err}");
    let err = server.fails(&["deploy", "/no/such/file.wasm"]);
    assert!(err.contains("cannot read /no/such/file.wasm"), "{err}");
}

/// Wait up to 60 s for `child` to exit.
fn exits(child: &mut Child, what: &str) -> std::process::ExitStatus {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("{what} did not exit within 60 s");
}

#[test]
fn the_server_stops_gracefully_on_sigterm() {
    let mut server = Server::start_with(Stdio::piped());
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    server.ok(&["deploy", guests::FAN_OUT]);
    server.ok(&[
        "workflow", "start", "timers", "--id", "t", "--input", "3600000",
    ]);
    server.ok(&["workflow", "start", "signals", "--id", "waiting"]);
    // A long poll in flight: it must not hold the stop up.
    let mut waiting = Command::new(keel_binary())
        .args(["--server", &server.address, "workflow", "result", "waiting"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // And a busy host: runs with activities in flight.
    for i in 0..20 {
        let id = format!("busy-{i}");
        server.ok(&[
            "workflow", "start", "fan-out", "--id", &id, "--input", "200",
        ]);
    }
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = exits(&mut server.child, "the server");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut server.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        status.success(),
        "the server exited with {status}: {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "the server panicked: {stderr}"
    );
    let waited = exits(&mut waiting, "the waiting `keel workflow result`");
    assert_eq!(waited.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut waiting.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("shutting down"), "{err}");
}

#[test]
fn a_workflow_that_floods_the_log_is_cut_with_a_warning() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = Server::start_with(Stdio::from(log.reopen().unwrap()));
    server.ok(&["deploy", guests::PROBES]);
    server.ok(&[
        "workflow",
        "start",
        "log-flood",
        "--id",
        "flood",
        "--input",
        "20000",
    ]);
    let result = server.ok(&["workflow", "result", "flood"]);
    assert!(result.contains("20000"), "{result}");
    drop(server);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let flood_lines = text
        .lines()
        .filter(|l| l.contains("flood line") || l.contains("flood stdout"))
        .count();
    // 40,000 lines were written; one activation keeps at most 1,000.
    assert!(
        (1..=1_000).contains(&flood_lines),
        "{flood_lines} flood lines reached the host log"
    );
    assert_eq!(
        text.matches("reached the workflow log limit").count(),
        1,
        "one warning says lines were dropped"
    );
}

#[test]
fn unreachable_server_is_one_clear_line() {
    let out = Command::new(keel_binary())
        .args(["--server", "127.0.0.1:1", "workflow", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot reach a Keel host at 127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn describe_and_list_print_json_and_a_reader_that_goes_away_ends_the_cli_quietly() {
    let server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    for id in ["j1", "j2", "j3"] {
        server.ok(&["workflow", "start", "timers", "--id", id, "--input", "0"]);
        server.ok(&["workflow", "result", id]);
    }
    let described: serde_json::Value =
        serde_json::from_str(&server.ok(&["workflow", "describe", "j1", "--json"])).unwrap();
    assert_eq!(described["run"]["workflow_id"], "j1");
    assert_eq!(described["run"]["status"], "completed");
    assert_eq!(described["pending_activities"], serde_json::json!([]));
    let page: serde_json::Value =
        serde_json::from_str(&server.ok(&["workflow", "list", "--json", "--page-size", "2"]))
            .unwrap();
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(2));
    assert!(page["next_page_token"].is_string(), "{page}");

    // `keel workflow list | head -0`: the reader is gone before the first
    // line; the CLI ends without a panic or an error.
    let mut child = Command::new(keel_binary())
        .args(["--server", &server.address, "workflow", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_earlier_run_of_a_reused_id_is_reached_with_run_id() {
    let server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    let run_of = |started: &str| started.split_whitespace().last().unwrap().to_string();
    let first = run_of(&server.ok(&[
        "workflow", "start", "timers", "--id", "again", "--input", "0",
    ]));
    server.ok(&["workflow", "result", "again"]);
    let second = run_of(&server.ok(&[
        "workflow", "start", "timers", "--id", "again", "--input", "5",
    ]));
    assert_ne!(first, second);
    let described = server.ok(&["workflow", "describe", "again", "--run-id", &first]);
    assert!(
        described.contains(&format!("run id:       {first}")),
        "{described}"
    );
    let latest = server.ok(&["workflow", "describe", "again"]);
    assert!(
        latest.contains(&format!("run id:       {second}")),
        "{latest}"
    );
    let shown = server.ok(&["workflow", "show", "again", "--run-id", &first]);
    assert_eq!(shown.lines().next(), Some(format!("run {first}").as_str()));
    // Another workflow's run, and a malformed id, are one-line errors.
    server.ok(&[
        "workflow", "start", "timers", "--id", "other", "--input", "0",
    ]);
    let err = server.fails(&["workflow", "describe", "other", "--run-id", &first]);
    assert!(err.contains("has no run"), "{err}");
    let err = server.fails(&["workflow", "show", "again", "--run-id", "nonsense"]);
    assert!(err.contains("--run-id"), "{err}");
}

#[test]
fn rust_log_keel_debug_shows_the_engine_at_work() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let server = Server::start_with_env(
        &[],
        &[("RUST_LOG", "keel=debug")],
        Stdio::from(log.reopen().unwrap()),
    );
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    server.ok(&["workflow", "start", "timers", "--id", "t", "--input", "5"]);
    server.ok(&["workflow", "result", "t"]);
    drop(server);
    let text = std::fs::read_to_string(log.path()).unwrap();
    for step in [
        "native activities served",
        "activation recorded",
        "timer due",
        "deployed",
    ] {
        assert!(text.contains(step), "no {step:?} in the debug log:\n{text}");
    }
}

#[test]
fn a_bare_keel_server_warns_that_it_serves_no_activities() {
    let dir = tempfile::tempdir().unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut server = Command::new(keel_binary())
        .args(["server", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("keel.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.reopen().unwrap()))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    server.kill().unwrap();
    server.wait().unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        text.contains("this host serves no native activities"),
        "{text}"
    );
}

#[test]
fn describe_shows_a_parents_children_and_a_childs_parent_over_grpc() {
    let server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    let input = r#"["signal", "signals", null, "abandon"]"#;
    server.ok(&[
        "workflow", "start", "parent", "--id", "fam", "--input", input,
    ]);
    let result = server.ok(&["workflow", "result", "fam"]);
    assert!(result.contains(r#"ok: [\"a\"]"#), "{result}");
    let parent = server.ok(&["workflow", "describe", "fam"]);
    assert!(
        parent.contains("child:        fam-child (run run_")
            && parent.contains("signals completed"),
        "{parent}"
    );
    let child = server.ok(&["workflow", "describe", "fam-child"]);
    assert!(
        child.contains("parent:       fam (run run_") && child.contains("on close: abandon"),
        "{child}"
    );
    let described: serde_json::Value =
        serde_json::from_str(&server.ok(&["workflow", "describe", "fam", "--json"])).unwrap();
    assert_eq!(described["children"][0]["workflow_id"], "fam-child");
    let history = server.ok(&["workflow", "show", "fam"]);
    for kind in ["ChildStartRequested", "ChildStarted", "ChildClosed"] {
        assert!(history.contains(kind), "no {kind} in {history}");
    }
}

#[test]
fn a_start_with_a_retry_policy_over_grpc_retries_the_failed_run() {
    let server = Server::start();
    server.ok(&["deploy", guests::KITCHEN_SINK]);
    server.ok(&[
        "workflow",
        "start",
        "fails-until",
        "--id",
        "flaky",
        "--input",
        "2",
        "--max-attempts",
        "3",
        "--retry-interval",
        "10ms",
    ]);
    let result = server.ok(&["workflow", "result", "flaky"]);
    assert!(result.contains("succeeded at attempt 2"), "{result}");
    let history = server.ok(&["workflow", "show", "flaky"]);
    assert!(history.contains("attempt=2"), "{history}");
    let err = server.fails(&[
        "workflow",
        "start",
        "fails-until",
        "--id",
        "x",
        "--retry-interval",
        "1s",
    ]);
    assert!(err.contains("--max-attempts"), "{err}");
}
