//! `keel`: run a Keel host, deploy components and drive workflows.

fn main() -> std::process::ExitCode {
    keel_host::cli::main(std::env::args_os())
}
