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
    /// On SIGINT or SIGTERM, how long requests and activity attempts in
    /// flight may take to finish before the server stops anyway.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub stop_grace: Duration,
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

/// Run a host with `activities`, deploy `components` to it, and serve the
/// gRPC API until SIGINT or SIGTERM. Prints `listening on ADDR` on stdout
/// once it accepts connections. On a signal it stops accepting, finishes
/// the requests in flight and stops; every run stays safe in the store.
///
/// # Errors
/// The store cannot be opened, a component is rejected, the address cannot
/// be bound.
pub async fn serve(args: ServerArgs, activities: Activities, components: &[&[u8]]) -> Result<()> {
    let config = HostConfig {
        blocking_threads: args.blocking_threads,
        cache_capacity: args.cache,
        ..HostConfig::default()
    };
    let host = Host::builder()
        .sqlite(&args.db)
        .config(config)
        .activities(activities)
        .build()
        .await?;
    for component in components {
        host.deploy(component.to_vec()).await?;
    }
    let listener = api::bind(args.listen).await?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal("reading the bound address", e))?;
    println!("listening on {address}");
    tracing::info!(%address, db = %args.db.display(), "keel server ready");
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
    let server = api::serve(host.clone(), listener, stop_requested);
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
