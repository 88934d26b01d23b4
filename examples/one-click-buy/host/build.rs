fn main() -> anyhow::Result<()> {
    keel_guest_build::export_env(&keel_guest_build::build(&[
        "example-one-click-buy-workflow",
    ])?);
    Ok(())
}
