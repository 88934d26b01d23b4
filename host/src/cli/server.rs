//! `keel server` and the same server inside example hosts: a host on the
//! embedded SQLite store behind the gRPC API, stopped gracefully by SIGINT
//! or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::api;
use crate::client::DEFAULT_ADDRESS;
use crate::error::{Error, Result};
use crate::host::{Host, HostConfig};
use crate::worker::Activities;

/// Options of a server.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The SQLite store file (created if missing).
    #[arg(long, env = "KEEL_DB", default_value = "keel.db")]
    pub db: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_ADDRESS)]
    pub listen: SocketAddr,
    /// Threads of the blocking-activity pool.
    #[arg(long, default_value_t = HostConfig::default().blocking_threads)]
    pub blocking_threads: usize,
    /// Live workflow instances kept in memory.
    #[arg(long, default_value_t = HostConfig::default().cache_capacity)]
    pub cache: usize,
    /// Memory all workflow instances together may use, MiB; past it idle
    /// instances are dropped and runs wait for memory.
    #[arg(long, default_value_t = HostConfig::default().engine.memory_budget_bytes >> 20)]
    pub memory_budget_mib: usize,
    /// On SIGINT or SIGTERM, how long requests and activity attempts in
    /// flight may take to finish before the server stops anyway.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub stop_grace: Duration,
    /// Token file (TOML) of the callers this server accepts and what each
    /// may do; without it every caller may do everything.
    #[arg(long, env = "KEEL_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key the API is served over
    /// TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept callers without a token on an address other than loopback.
    #[arg(long)]
    pub insecure_no_auth: bool,
}

impl ServerArgs {
    /// Who may call the server and over what, as the arguments say; refuses
    /// an open server on a non-loopback address unless asked for.
    fn serve_options(&self) -> Result<api::ServeOptions> {
        let tokens = self
            .auth_file
            .as_deref()
            .map(api::Tokens::from_file)
            .transpose()?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(api::TlsIdentity::from_files(cert, key)?),
            _ => None,
        };
        let exposed = !self.listen.ip().is_loopback();
        if exposed && tokens.is_none() {
            if !self.insecure_no_auth {
                return Err(Error::InvalidArgument(format!(
                    "listening on {} without a token file would let anyone who reaches it deploy \
                     and run code; pass --auth-file FILE, or --insecure-no-auth if the network \
                     itself is trusted",
                    self.listen
                )));
            }
            tracing::warn!(
                address = %self.listen,
                "serving without authentication on a non-loopback address (--insecure-no-auth)"
            );
        }
        if exposed && tokens.is_some() && tls.is_none() {
            tracing::warn!(
                address = %self.listen,
                "tokens travel in clear text without TLS; pass --tls-cert and --tls-key"
            );
        }
        Ok(api::ServeOptions { tokens, tls })
    }
}

/// Log to stderr, filtered by `RUST_LOG` (default `info`); colours only on
/// a terminal. For `keel server` and hosts built on this crate.
pub fn init_logs() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
}

/// Run a host with `activities`, deploy `components` to it (as
/// [`Host::deploy_embedded`]: a rollback made since an earlier start stays),
/// and serve the gRPC API until SIGINT or SIGTERM. Prints `listening on
/// ADDR` on stdout once it accepts connections. On a signal it stops accepting, finishes
/// the requests in flight and stops; every run stays safe in the store.
///
/// # Errors
/// The store cannot be opened, a component is rejected, the address cannot
/// be bound.
pub async fn serve(args: ServerArgs, activities: Activities, components: &[&[u8]]) -> Result<()> {
    init_logs();
    let options = args.serve_options()?;
    let mut config = HostConfig {
        blocking_threads: args.blocking_threads,
        cache_capacity: args.cache,
        ..HostConfig::default()
    };
    config.engine.memory_budget_bytes = args.memory_budget_mib.saturating_mul(1 << 20);
    let mut names = activities.names();
    names.sort_unstable();
    if names.is_empty() {
        tracing::warn!(
            "this host serves no native activities: a workflow's first activity fails until a \
             host that registers it runs (build one on keel_host::cli::serve with your \
             Activities, as the examples do)"
        );
    } else {
        tracing::info!(count = names.len(), activities = ?names, "native activities served");
    }
    let host = Host::builder()
        .sqlite(&args.db)
        .config(config)
        .activities(activities)
        .build()
        .await?;
    for component in components {
        host.deploy_embedded(component.to_vec()).await?;
    }
    let listener = api::bind(args.listen).await?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal("reading the bound address", e))?;
    println!("listening on {address}");
    tracing::info!(
        %address,
        db = %args.db.display(),
        tokens = options.tokens.is_some(),
        tls = options.tls.is_some(),
        "keel server ready"
    );
    let (signalled, signal) = tokio::sync::oneshot::channel();
    let stopping = host.clone();
    let stop_requested = async move {
        shutdown_signal().await;
        tracing::info!("stopping: finishing the requests and activity attempts in flight");
        // Long polls (a caller waiting for a result) end now, so that the
        // server's wait for requests in flight ends too.
        stopping.begin_stop();
        let _ = signalled.send(());
    };
    let server = api::serve_with(host.clone(), listener, options, stop_requested);
    let grace = args.stop_grace;
    tokio::select! {
        served = server => served?,
        () = async {
            if signal.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!("requests still in flight after {grace:?}; stopping anyway"),
    }
    host.stop(grace).await;
    tracing::info!("keel server stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(terminate) => terminate,
                Err(err) => {
                    tracing::warn!("cannot listen for SIGTERM: {err}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
