//! The hosts the workloads run on and the drivers that reach them: the
//! library API in-process, and gRPC clients of the host's server, open or
//! with tokens and TLS.

use anyhow::Context;
use keel_host::api::{ServeOptions, TlsIdentity, Tokens};
use keel_host::client::{Client, ConnectOptions};
use keel_host::{Host, HostConfig, Outcome, Payload, StartWorkflow, WorkflowId};

/// A host on a fresh SQLite file, and the directory that holds it. Dropping
/// it stops the host and its server, which frees its instance pool.
pub(crate) struct Bench {
    pub(crate) host: Host,
    stop_servers: Vec<tokio::sync::oneshot::Sender<()>>,
    dir: tempfile::TempDir,
}

impl Bench {
    /// The host's store file.
    pub(crate) fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("bench.db")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop_servers.clear();
        self.host.shutdown();
    }
}

pub(crate) async fn bench_host(
    components: &[&str],
    cache_capacity: usize,
) -> anyhow::Result<Bench> {
    let dir = tempfile::tempdir()?;
    let mut activities = keel_host::Activities::new();
    activities
        .register_async("greet", |_ctx, name: String| async move {
            Ok::<_, keel_host::ActivityError>(format!("Hello, {name}!"))
        })
        .register_async("square", |_ctx, i: u64| async move {
            Ok::<_, keel_host::ActivityError>(i * i)
        });
    let mut config = HostConfig {
        cache_capacity,
        ..HostConfig::default()
    };
    config.engine.max_instances = u32::try_from(cache_capacity * 2 + 64).unwrap_or(u32::MAX);
    // Room for every cached instance (about 1 MiB each for these guests)
    // and the replays beside them: the benchmarks measure the engine, not
    // the budget's shedding.
    config.engine.memory_budget_bytes = config
        .engine
        .memory_budget_bytes
        .max((cache_capacity * 2 + 64) << 20);
    // The 10,000-event replay history is one fan-out of ~5,000 activities,
    // past the default limit of 2,000 pending activities per run.
    config.limits.max_pending_activities = 10_000;
    let host = Host::builder()
        .sqlite(dir.path().join("bench.db"))
        .config(config)
        .activities(activities)
        .build()
        .await?;
    for component in components {
        host.deploy(std::fs::read(component).with_context(|| format!("reading {component}"))?)
            .await?;
    }
    Ok(Bench {
        host,
        stop_servers: Vec::new(),
        dir,
    })
}

/// The library API or the gRPC client, for the same workload code.
#[derive(Clone)]
pub(crate) enum Driver {
    Host(Host),
    /// A client, and what its connection adds (none, or tokens and TLS).
    Grpc(Box<Client>, &'static str),
}

impl Driver {
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Driver::Host(_) => "in-process",
            Driver::Grpc(_, mode) => mode,
        }
    }

    pub(crate) async fn start(&self, start: StartWorkflow) -> keel_host::Result<()> {
        match self {
            Driver::Host(h) => h.start(start).await.map(drop),
            Driver::Grpc(c, _) => c.start(start).await.map(drop),
        }
    }

    pub(crate) async fn result(&self, id: &WorkflowId) -> keel_host::Result<Outcome> {
        match self {
            Driver::Host(h) => h.result(id).await,
            Driver::Grpc(c, _) => c.result(id).await,
        }
    }

    pub(crate) async fn signal(&self, id: &WorkflowId, name: &str) -> keel_host::Result<()> {
        match self {
            Driver::Host(h) => h.signal(id, name, Payload::default()).await,
            Driver::Grpc(c, _) => c.signal(id, name, Payload::default()).await,
        }
    }

    pub(crate) async fn query(&self, id: &WorkflowId, name: &str) -> keel_host::Result<Payload> {
        match self {
            Driver::Host(h) => h.query(id, name, Payload::default()).await,
            Driver::Grpc(c, _) => c.query(id, name, Payload::default()).await,
        }
    }

    /// Start a run and wait for its result.
    pub(crate) async fn run(
        &self,
        workflow_id: &str,
        workflow_type: &str,
        input: serde_json::Value,
    ) -> anyhow::Result<Outcome> {
        self.start(StartWorkflow::new(workflow_id, workflow_type, &input)?)
            .await?;
        let outcome = self.result(&WorkflowId::new(workflow_id)?).await?;
        anyhow::ensure!(
            matches!(outcome, Outcome::Completed(_)),
            "{workflow_id} ended {outcome}"
        );
        Ok(outcome)
    }
}

/// The drivers on one host: the host itself and a client of its open
/// server, and with `secured` also a client of a second server on the same
/// host that checks tokens and speaks TLS, as a production deployment
/// would. The servers stop when `bench` is dropped.
pub(crate) async fn drivers(bench: &mut Bench, secured: bool) -> anyhow::Result<Vec<Driver>> {
    let open = serve(bench, ServeOptions::default()).await?;
    let mut drivers = vec![
        Driver::Host(bench.host.clone()),
        Driver::Grpc(Box::new(Client::connect(&open).await?), "grpc"),
    ];
    if secured {
        let secrets = Secrets::new(bench.dir.path())?;
        let options = ServeOptions {
            tokens: Some(Tokens::from_file(&secrets.token_file)?),
            tls: Some(TlsIdentity::from_pem(secrets.cert_pem, secrets.key_pem)),
        };
        let address = serve(bench, options).await?;
        let connect = ConnectOptions {
            token: Some(TOKEN.into()),
            tls_ca_pem: Some(secrets.ca_pem.into_bytes()),
        };
        let client = Client::connect_with(&address, connect).await?;
        drivers.push(Driver::Grpc(Box::new(client), "grpc+auth+tls"));
    }
    Ok(drivers)
}

/// Serve `bench`'s host with `options` on a free port; returns the address.
async fn serve(bench: &mut Bench, options: ServeOptions) -> anyhow::Result<String> {
    let listener = keel_host::api::bind("127.0.0.1:0".parse()?).await?;
    let address = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(keel_host::api::serve_with(
        bench.host.clone(),
        listener,
        options,
        async {
            let _ = stopped.await;
        },
    ));
    bench.stop_servers.push(stop);
    Ok(address)
}

/// The secured server's one token.
const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

/// A CA, a server certificate it signed for 127.0.0.1 and its key, and a
/// token file holding [`TOKEN`].
struct Secrets {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    token_file: std::path::PathBuf,
}

impl Secrets {
    fn new(dir: &std::path::Path) -> anyhow::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&key, &ca)?;
        let token_file = dir.join("tokens.toml");
        std::fs::write(
            &token_file,
            format!(
                "[[token]]\nname = \"bench\"\nsecret = \"{TOKEN}\"\npermissions = [\"write\"]\n"
            ),
        )?;
        Ok(Secrets {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            token_file,
        })
    }
}
