fn main() -> anyhow::Result<()> {
    let built = keel_guest_build::build(&[
        "example-hello-workflow",
        "example-fan-out-workflow",
        "guest-kitchen-sink",
        "guest-kitchen-sink-v2",
    ])?;
    keel_guest_build::export_env(&built);
    Ok(())
}
