//! Build-script helper: compile workflow crates of the calling crate's workspace to
//! `wasm32-wasip2` components and tell Cargo where they are.
//!
//! ```no_run
//! // build.rs of a host binary
//! fn main() -> anyhow::Result<()> {
//!     let built = keel_guest_build::build(&["example-hello-workflow"])?;
//!     keel_guest_build::export_env(&built);
//!     Ok(())
//! }
//! ```
//!
//! The guests are built by a nested `cargo build --release` into their own
//! target directory (`<target>/guests`), so it never waits on the outer
//! build's lock, and only when their sources change.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use std::process::Command;

use anyhow::{Context, bail};

/// The target workflow crates are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// A built component.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The package name, e.g. `example-hello-workflow`.
    pub package: String,
    /// Where its `.wasm` component is.
    pub path: PathBuf,
}

/// Environment variables of the outer build that must not leak into the
/// nested one (they name the outer target, flags or the clippy driver).
const CLEARED_ENV: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
];

/// Build `packages` (workflow crates of the workspace that contains the
/// calling crate) and return their components.
///
/// # Errors
/// The workspace cannot be found, or the nested build fails (its output is
/// in the error).
pub fn build(packages: &[&str]) -> anyhow::Result<Vec<Guest>> {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").context("not run by cargo")?);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (workspace, members) = workspace(&cargo, &manifest_dir)?;
    let dirs = packages
        .iter()
        .map(|package| {
            members
                .iter()
                .find(|(name, _)| name == package)
                .map(|(_, dir)| dir.clone())
                .with_context(|| {
                    format!(
                        "package {package} is not a member of the workspace at {}; add it to \
                         [workspace] members",
                        workspace.display()
                    )
                })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("guests");
    for watched in ["guest-sdk", "wit", "Cargo.lock"] {
        let path = workspace.join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    for var in CLEARED_ENV {
        command.env_remove(var);
    }
    let output = command
        .output()
        .context("running cargo to build the workflow components")?;
    if !output.status.success() {
        bail!(
            "building {} for {TARGET} failed (is the target installed? `rustup target add {TARGET}`):\n{}",
            packages.join(", "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    packages
        .iter()
        .zip(dirs)
        .map(|(package, dir)| {
            println!("cargo:rerun-if-changed={}", dir.display());
            let path = target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{}.wasm", package.replace('-', "_")));
            if !path.exists() {
                bail!(
                    "{package} built, but {} is missing; is it a cdylib?",
                    path.display()
                );
            }
            Ok(Guest {
                package: package.to_string(),
                path,
            })
        })
        .collect()
}

/// Expose each component's path to the crate as an environment variable
/// `KEEL_GUEST_<PACKAGE>` (upper case, `-` as `_`), for `env!`.
pub fn export_env(guests: &[Guest]) {
    for guest in guests {
        println!(
            "cargo:rustc-env=KEEL_GUEST_{}={}",
            guest.package.to_uppercase().replace('-', "_"),
            guest.path.display()
        );
    }
}

/// The workspace around `manifest_dir`, and the directory of each of its
/// packages by name, as `cargo metadata` reports them (so any layout works).
fn workspace(
    cargo: &str,
    manifest_dir: &Path,
) -> anyhow::Result<(PathBuf, Vec<(String, PathBuf)>)> {
    let output = Command::new(cargo)
        .current_dir(manifest_dir)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let packages = metadata
        .packages
        .into_iter()
        .filter_map(|p| Some((p.name, p.manifest_path.parent()?.to_path_buf())))
        .collect();
    Ok((metadata.workspace_root, packages))
}

/// What this crate reads of `cargo metadata`.
#[derive(serde::Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    packages: Vec<Package>,
}

#[derive(serde::Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
}
