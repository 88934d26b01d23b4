//! The deterministic WASI subset: clocks read workflow time, randomness is
//! seeded from history, stdout and stderr go to the workflow log (muted on
//! replay), environment, arguments and stdin are empty, and there is no
//! file system, network or anything else.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::p2::bindings::{cli, random};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

use super::log::truncate;
use super::{HostState, RunFacts, Shared};

/// Offsets that derive WASI's generators from the run's seed, so they do not
/// repeat the keel random stream.
const SECURE_STREAM: u64 = 0x5EC0_0001;
const INSECURE_STREAM: u64 = 0x5EC0_0002;

/// The WASI context of one instance.
pub(super) fn context(facts: &RunFacts, shared: &Arc<Shared>) -> WasiCtx {
    let log = |stream| LogOutput {
        stream,
        workflow_id: facts.workflow_id.clone(),
        run_id: facts.run_id.clone(),
        shared: shared.clone(),
    };
    let seed = facts.random_seed;
    WasiCtx::builder()
        .stdout(log("stdout"))
        .stderr(log("stderr"))
        .wall_clock(WorkflowClock(shared.clone()))
        .monotonic_clock(WorkflowClock(shared.clone()))
        .secure_random(super::random::generator(seed ^ SECURE_STREAM))
        .insecure_random(super::random::generator(seed ^ INSECURE_STREAM))
        .insecure_random_seed(u128::from(seed) << 64 | u128::from(seed.rotate_left(17)))
        .build()
}

/// Link the WASI subset.
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // io, wall and monotonic clocks, random, stdin, stdout, stderr.
    wasmtime_wasi::p2::add_to_linker_proxy_interfaces_sync(linker)?;
    let l = linker;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, random_ctx)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, random_ctx)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    Ok(())
}

fn random_ctx(state: &mut HostState) -> &mut wasmtime_wasi::random::WasiRandomCtx {
    state.wasi.random()
}

/// Both WASI clocks read workflow time.
struct WorkflowClock(Arc<Shared>);

impl HostWallClock for WorkflowClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms.load(Ordering::Relaxed))
    }
}

impl HostMonotonicClock for WorkflowClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }

    fn now(&self) -> u64 {
        self.0
            .now_ms
            .load(Ordering::Relaxed)
            .saturating_mul(1_000_000)
    }
}

/// stdout or stderr of a workflow, written to the log unless replaying.
#[derive(Clone)]
struct LogOutput {
    stream: &'static str,
    workflow_id: String,
    run_id: String,
    shared: Arc<Shared>,
}

impl LogOutput {
    fn emit(&self, bytes: &[u8]) {
        if self.shared.replaying.load(Ordering::Relaxed) {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        let text = truncate(text.trim_end_matches('\n'), 16 * 1024);
        if !text.is_empty() {
            tracing::info!(
                target: "keel::workflow",
                workflow_id = %self.workflow_id,
                run_id = %self.run_id,
                stream = self.stream,
                "{text}"
            );
        }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for LogOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.emit(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.emit(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
