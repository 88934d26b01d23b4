//! Support for Keel's end-to-end tests: the paths of the built components,
//! the native activities the test workflows call, and a host on a fresh
//! SQLite file.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_host::client::Client;
use keel_host::clock::ManualClock;
use keel_host::{Activities, ActivityContext, ActivityError, Host, HostConfig, WorkflowId};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Paths of the built workflow components.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// Input of the kitchen sink's `flaky` activity.
#[derive(Debug, Deserialize)]
pub struct Flaky {
    /// Name echoed in the result.
    pub name: String,
    /// Attempts that fail before one succeeds.
    pub fail_times: u32,
    /// Fail with the non-retryable type `Fatal` instead.
    pub non_retryable: bool,
    /// Ask for the next attempt this many ms later, if not 0, whatever the
    /// retry policy says.
    #[serde(default)]
    pub retry_after_ms: u64,
}

/// Input of one-click-buy's `do_purchase` activity.
#[derive(Debug, Deserialize)]
pub struct Purchase {
    /// The item.
    pub item_id: String,
    /// The buyer.
    pub user_id: String,
}

/// Input of the patching example's `pack` activity.
#[derive(Debug, Deserialize)]
pub struct Order {
    /// The item.
    pub item: String,
    /// How long packing takes, ms.
    pub packing_ms: u64,
}

/// Every activity the test workflows and examples call.
pub fn activities() -> Activities {
    let mut activities = Activities::new();
    activities
        .register_async("greet", |_ctx: ActivityContext, name: String| async move {
            Ok::<_, ActivityError>(format!("Hello, {name}!"))
        })
        .register_async("square", |_ctx: ActivityContext, i: u64| async move {
            Ok::<_, ActivityError>(i * i)
        })
        .register_async(
            "cleanup",
            |_ctx: ActivityContext, what: String| async move {
                Ok::<_, ActivityError>(format!("cleaned up: {what}"))
            },
        )
        .register_async("slow", |ctx: ActivityContext, ms: u64| async move {
            // Reported once: a heartbeat timeout's failure carries it.
            ctx.heartbeat(&ms);
            tokio::select! {
                () = ctx.cancelled() => Err(ActivityError::cancelled()),
                () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(ms),
            }
        })
        .register_async("flaky", |ctx: ActivityContext, input: Flaky| async move {
            if ctx.attempt() > input.fail_times {
                return Ok(format!(
                    "{} succeeded on attempt {}",
                    input.name,
                    ctx.attempt()
                ));
            }
            if input.non_retryable {
                return Err(ActivityError::retryable("Fatal", "cannot go on"));
            }
            let failed =
                ActivityError::retryable("Transient", format!("attempt {} failed", ctx.attempt()))
                    .with_details(&ctx.attempt());
            Err(match input.retry_after_ms {
                0 => failed,
                ms => failed.with_next_retry_delay(Duration::from_millis(ms)),
            })
        })
        .register_async(
            "do_purchase",
            |_ctx: ActivityContext, p: Purchase| async move {
                Ok::<_, ActivityError>(format!("bought {} for {}", p.item_id, p.user_id))
            },
        )
        .register_async(
            "fetch_length",
            |_ctx: ActivityContext, text: String| async move {
                Ok::<_, ActivityError>(text.len() as u64)
            },
        )
        .register_async("pack", |_ctx: ActivityContext, order: Order| async move {
            tokio::time::sleep(Duration::from_millis(order.packing_ms)).await;
            Ok::<_, ActivityError>(format!("packed {}", order.item))
        })
        .register_async(
            "send_receipt",
            |_ctx: ActivityContext, item: String| async move {
                Ok::<_, ActivityError>(format!("receipt for {item} sent"))
            },
        )
        .register_blocking("compute_digest", |_ctx: ActivityContext, text: String| {
            Ok::<_, ActivityError>(hex_sha256(text.as_bytes()))
        });
    activities
}

/// Lower-case hex SHA-256.
pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A config for tests: fast task retries, a short deadlock timeout.
pub fn test_config() -> HostConfig {
    let mut config = HostConfig {
        task_retry_initial: Duration::from_millis(50),
        task_retry_max: Duration::from_millis(500),
        ..HostConfig::default()
    };
    config.engine.activation_timeout = Duration::from_millis(500);
    config.engine.max_instances = 64;
    config
}

/// A host on a fresh SQLite file, and the directory holding it.
pub struct TestHost {
    /// The host.
    pub host: Host,
    /// The store file.
    pub db: PathBuf,
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl TestHost {
    /// A host with [`test_config`] and [`activities`].
    pub async fn new() -> anyhow::Result<Self> {
        Self::with_config(test_config()).await
    }

    /// The same store on a new host with [`test_config`], after this one
    /// stopped and every task of it ended: a clean restart.
    pub async fn restart(self) -> anyhow::Result<Self> {
        let TestHost { host, db, dir } = self;
        host.stop(Duration::from_secs(5)).await;
        drop(host);
        let host = open(&db, test_config()).await?;
        Ok(TestHost { host, db, dir })
    }

    /// A host with `config` and [`activities`].
    pub async fn with_config(config: HostConfig) -> anyhow::Result<Self> {
        init_logs();
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("keel.db");
        let host = open(&db, config).await?;
        Ok(TestHost { host, db, dir })
    }

    /// A host with [`test_config`] and [`activities`] whose time is
    /// `clock`'s, and that clock: it moves only when the test moves it.
    pub async fn with_manual_clock() -> anyhow::Result<(Self, Arc<ManualClock>)> {
        init_logs();
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("keel.db");
        let host = Host::builder()
            .sqlite(&db)
            .config(test_config())
            .activities(activities())
            .clock(clock.clone())
            .build()
            .await?;
        Ok((TestHost { host, db, dir }, clock))
    }

    /// Deploy the component at `path`.
    pub async fn deploy(&self, path: &str) -> anyhow::Result<()> {
        self.host.deploy(std::fs::read(path)?).await?;
        Ok(())
    }
}

/// A time-skipping test environment with [`test_config`] and
/// [`activities`].
pub async fn time_skipping() -> anyhow::Result<keel_host::testing::TestEnvironment> {
    init_logs();
    Ok(keel_host::testing::TestEnvironment::with_config(test_config(), activities()).await?)
}

/// Serve `host`'s gRPC API on a free loopback port and connect a client;
/// the server stops when the returned sender drops.
pub async fn serve(host: &Host) -> (Client, tokio::sync::oneshot::Sender<()>) {
    let listener = keel_host::api::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("bound address").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(keel_host::api::serve(host.clone(), listener, async {
        let _ = stopped.await;
    }));
    let client = Client::connect(&address)
        .await
        .expect("connect to the test server");
    (client, stop)
}

/// A host on the store at `db`.
pub async fn open(db: &Path, config: HostConfig) -> anyhow::Result<Host> {
    Ok(Host::builder()
        .sqlite(db)
        .config(config)
        .activities(activities())
        .build()
        .await?)
}

/// Poll `condition` until it holds; panics after 30 s with `what`. For
/// state that only shows from outside (a parked run, a recorded event).
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A workflow id from a literal.
pub fn id(text: &str) -> WorkflowId {
    WorkflowId::new(text).unwrap_or_else(|e| panic!("bad test id {text:?}: {e}"))
}

/// Send the host's logs to the test output (once per process).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
