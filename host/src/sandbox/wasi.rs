//! The deterministic WASI subset: clocks read workflow time (`clocks.rs`),
//! randomness is seeded from history, stdout and stderr go to the workflow
//! log (muted on replay), environment, arguments and stdin are empty, and
//! there is no file system, network or anything else.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi_io::bindings::wasi::io;
use wasmtime_wasi_io::bytes::Bytes;
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamResult};

use super::clocks::WorkflowClock;
use super::log::{MAX_MESSAGE, escape, truncate};
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
    let l = linker;
    io::error::add_to_linker::<HostState, HasIo>(l, |s| &mut s.table)?;
    sync::io::poll::add_to_linker::<HostState, HasIo>(l, |s| &mut s.table)?;
    sync::io::streams::add_to_linker::<HostState, HasIo>(l, |s| &mut s.table)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, |s| s.clocks())?;
    // Workflow time, and no waiting: see `clocks.rs`.
    clocks::monotonic_clock::add_to_linker::<HostState, HasSelf<HostState>>(l, |s| s)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, random_ctx)?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, random_ctx)?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, random_ctx)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    Ok(())
}

/// The resource table, as `wasi:io` needs it.
struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

fn random_ctx(state: &mut HostState) -> &mut wasmtime_wasi::random::WasiRandomCtx {
    state.wasi.random()
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
        let text = String::from_utf8_lossy(bytes);
        if self.stream == "stderr" {
            self.shared.keep_stderr(&text);
        }
        if self.shared.replaying.load(Ordering::Relaxed) {
            return;
        }
        let text = escape(truncate(text.trim_end_matches('\n'), MAX_MESSAGE));
        if !text.is_empty()
            && self
                .shared
                .log_budget
                .admit(text.len(), &self.workflow_id, &self.run_id)
        {
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
