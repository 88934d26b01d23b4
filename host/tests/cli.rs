//! The `keel` binary's own checks: every command has help, usage errors exit
//! 2. (Its end-to-end use against a server is in the keel-tests crate.)

use std::process::Command;

const KEEL: &str = env!("CARGO_BIN_EXE_keel");

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["server"],
        &["deploy"],
        &["workflow"],
        &["workflow", "start"],
        &["workflow", "signal"],
        &["workflow", "query"],
        &["workflow", "cancel"],
        &["workflow", "terminate"],
        &["workflow", "result"],
        &["workflow", "describe"],
        &["workflow", "show"],
        &["workflow", "list"],
        &["deployment"],
        &["deployment", "list"],
        &["deployment", "rollback"],
    ];
    for command in commands {
        let out = Command::new(KEEL)
            .args(*command)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "keel {command:?} --help failed");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(
            help.contains("Usage: keel"),
            "keel {command:?} --help: {help}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(KEEL)
        .args(["workflow", "start"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(KEEL)
        .args([
            "workflow",
            "start",
            "t",
            "--id",
            "x",
            "--id-reuse-policy",
            "sometimes",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
