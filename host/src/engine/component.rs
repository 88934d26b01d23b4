//! A validated, compiled component: its `InstancePre` and the workflow types
//! it serves.

use wasmtime::Store;
use wasmtime::component::Component;

use super::instance::deadline_store;
use super::{WasmEngine, names};
use crate::error::{Error, Result};
use crate::ids::ComponentId;
use crate::sandbox::{self, BindingsPre, HostState, Mode};
use crate::store::WorkflowTypeInfo;

/// See the module docs.
pub struct LoadedComponent {
    id: ComponentId,
    pub(super) pre: BindingsPre<HostState>,
    types: Vec<WorkflowTypeInfo>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("id", &self.id)
            .field("types", &self.types)
            .finish()
    }
}

impl LoadedComponent {
    pub(super) fn compile(engine: &WasmEngine, id: ComponentId, bytes: &[u8]) -> Result<Self> {
        let reject = |what: &str, e: wasmtime::Error| {
            Error::ComponentRejected(format!("{what}: {}", flatten(&e)))
        };
        if let Some(what) = not_a_component(bytes) {
            return Err(Error::ComponentRejected(format!(
                "this is {what}, not a WebAssembly component; build the workflow with \
                 `--target wasm32-wasip2` and deploy the .wasm file"
            )));
        }
        let component = Component::new(&engine.engine, bytes)
            .map_err(|e| reject("not a valid WebAssembly component", e))?;
        let forbidden = sandbox::check_imports(&engine.engine, &component);
        if !forbidden.is_empty() {
            return Err(Error::ComponentRejected(format!(
                "it imports what the workflow sandbox does not offer: {}; workflows may use only \
                 keel:workflow and deterministic WASI (clocks, random, stdio, environment, exit)",
                forbidden.join(", ")
            )));
        }
        let instance_pre = engine
            .linker
            .instantiate_pre(&component)
            .map_err(|e| reject("it cannot be linked", e))?;
        let pre = BindingsPre::new(instance_pre).map_err(|e| {
            reject(
                "it does not export keel:workflow/guest@0.1.0: list the crate's workflows \
                 with keel_sdk::workflows!(…) in its lib.rs (and build it as a cdylib for \
                 wasm32-wasip2)",
                e,
            )
        })?;
        let types = describe(engine, &pre)?;
        names::check(&types).map_err(Error::ComponentRejected)?;
        Ok(LoadedComponent { id, pre, types })
    }

    /// The component's id.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// The workflow types it serves.
    pub fn workflow_types(&self) -> &[WorkflowTypeInfo] {
        &self.types
    }

    /// The type named `name`, if served.
    pub fn workflow_type(&self, name: &str) -> Option<&WorkflowTypeInfo> {
        self.types.iter().find(|t| t.name == name)
    }
}

/// Call `describe` on a throwaway instance.
fn describe(engine: &WasmEngine, pre: &BindingsPre<HostState>) -> Result<Vec<WorkflowTypeInfo>> {
    let state = engine.host_state(super::instance::describe_facts());
    let mut store: Store<HostState> = deadline_store(engine, state);
    store.data_mut().begin(0, false, Mode::ReadOnly);
    let reject = |e: wasmtime::Error| {
        Error::ComponentRejected(format!("its describe export failed: {}", flatten(&e)))
    };
    let bindings = pre.instantiate(&mut store).map_err(reject)?;
    let types = bindings
        .keel_workflow_guest()
        .call_describe(&mut store)
        .map_err(reject)?;
    Ok(types
        .into_iter()
        .map(|t| WorkflowTypeInfo {
            name: t.name,
            signals: t.signals,
            queries: t.queries,
        })
        .collect())
}

/// A core module starts with the same magic as a component but a different
/// layer/version field.
/// What `bytes` are if they are plainly not a component: a core module, a
/// native binary, or not WebAssembly at all.
fn not_a_component(bytes: &[u8]) -> Option<&'static str> {
    const NATIVE: &[(&[u8], &str)] = &[
        (b"\x7fELF", "a native ELF binary or shared library"),
        (b"MZ", "a native Windows binary"),
        (&[0xcf, 0xfa, 0xed, 0xfe], "a native Mach-O binary"),
        (&[0xca, 0xfe, 0xba, 0xbe], "a native Mach-O binary"),
    ];
    if !bytes.starts_with(b"\0asm") {
        return Some(
            NATIVE
                .iter()
                .find(|(magic, _)| bytes.starts_with(magic))
                .map_or(
                    "not WebAssembly (it does not start with \\0asm)",
                    |(_, what)| what,
                ),
        );
    }
    (bytes.len() >= 8 && bytes[4..8] == [1, 0, 0, 0]).then_some("a core WebAssembly module")
}

/// An error with its causes on one line (wasmtime's messages may span
/// several).
pub(crate) fn flatten(err: &wasmtime::Error) -> String {
    err.chain()
        .map(|cause| {
            cause
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(": ")
}
