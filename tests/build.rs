//! Build every workflow component the tests use and expose their paths as
//! constants in `guests.rs`.

use std::fmt::Write as _;

const GUESTS: &[&str] = &[
    "example-hello-workflow",
    "example-one-click-buy-workflow",
    "example-fan-out-workflow",
    "example-sync-async-workflow",
    "example-patching-workflow",
    "example-patching-v2-workflow",
    "guest-kitchen-sink",
    "guest-kitchen-sink-v2",
    "guest-infinite-loop",
    "guest-spin-fixed",
    "guest-memory-hog",
    "guest-forbidden-import",
    "guest-probes",
    "guest-cancellation",
    "guest-bad-names",
    "guest-slow-describe",
    "guest-no-export",
];

fn main() -> anyhow::Result<()> {
    let built = keel_guest_build::build(GUESTS)?;
    keel_guest_build::export_env(&built);
    let mut constants = String::new();
    for guest in &built {
        let name = guest
            .package
            .trim_start_matches("guest-")
            .trim_start_matches("example-")
            .trim_end_matches("-workflow")
            .to_uppercase()
            .replace('-', "_");
        writeln!(
            constants,
            "/// The `{}` component.\npub const {name}: &str = {:?};",
            guest.package,
            guest.path.display().to_string()
        )?;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("guests.rs");
    std::fs::write(out, constants)?;
    Ok(())
}
