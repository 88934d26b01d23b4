fn main() -> anyhow::Result<()> {
    let built = keel_guest_build::build(&[
        "example-hello-workflow",
        "example-fan-out-workflow",
        "guest-kitchen-sink",
    ])?;
    keel_guest_build::export_env(&built);
    Ok(())
}
