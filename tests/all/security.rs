//! Callers: a server with a token file and TLS accepts only the tokens in
//! it, each for what its permissions allow, and only over TLS; a server
//! without tokens refuses to listen beyond loopback unless told to.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use keel_tests::guests;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::cli::{SERVER, Server};

const DEPLOYER: &str = "deployer-0123456789abcdef0123456789abcdef";
const OPERATOR: &str = "operator-0123456789abcdef0123456789abcdef";
const READER: &str = "reader-0123456789abcdef0123456789abcdef";

/// A CA, a certificate it signed for 127.0.0.1 and localhost, its key, and
/// a token file, in a temporary directory.
struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let tokens = format!(
            "[[token]]\nname = \"deployer\"\nsecret = \"{DEPLOYER}\"\npermissions = [\"deploy\"]\n\n\
             [[token]]\nname = \"operator\"\nsecret = \"{OPERATOR}\"\npermissions = [\"write\"]\n\n\
             [[token]]\nname = \"reader\"\nsecret = \"{READER}\"\npermissions = [\"read\"]\n"
        );
        for (name, text) in [
            ("ca.pem", ca.pem()),
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
            ("tokens.toml", tokens),
        ] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Secrets { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn with_token(server: &mut Server, token: &str) {
    server.env.retain(|(k, _)| k != "KEEL_TOKEN");
    server.env.push(("KEEL_TOKEN".into(), token.into()));
}

#[test]
fn tokens_and_tls_decide_who_may_call_what() {
    let secrets = Secrets::new();
    let (tokens, cert, key, ca) = (
        secrets.path("tokens.toml"),
        secrets.path("cert.pem"),
        secrets.path("key.pem"),
        secrets.path("ca.pem"),
    );
    let mut server = Server::start_with_args(
        &[
            "--auth-file",
            text(&tokens),
            "--tls-cert",
            text(&cert),
            "--tls-key",
            text(&key),
        ],
        Stdio::inherit(),
    );
    server.env.push(("KEEL_TLS_CA".into(), text(&ca).into()));

    let err = server.fails(&["deployment", "list"]);
    assert!(
        err.contains("unauthenticated") && err.contains("KEEL_TOKEN"),
        "{err}"
    );
    with_token(&mut server, &"x".repeat(40));
    let err = server.fails(&["deployment", "list"]);
    assert!(err.contains("not one this host accepts"), "{err}");

    // A reader reads, and nothing else: the hijack of a workflow type by
    // anyone who reaches the port is what this closes.
    with_token(&mut server, READER);
    server.ok(&["deployment", "list"]);
    let err = server.fails(&["deploy", guests::HELLO]);
    assert!(
        err.contains("permission denied") && err.contains("'deploy'"),
        "{err}"
    );

    with_token(&mut server, DEPLOYER);
    server.ok(&["deploy", guests::HELLO]);

    with_token(&mut server, OPERATOR);
    let err = server.fails(&["deploy", guests::HELLO]);
    assert!(err.contains("permission denied"), "{err}");
    server.ok(&[
        "workflow", "start", "hello", "--id", "h", "--input", "\"Keel\"",
    ]);
    let result = server.ok(&["workflow", "result", "h"]);
    assert!(result.contains("Hello, Keel!"), "{result}");

    with_token(&mut server, READER);
    let err = server.fails(&[
        "workflow", "start", "hello", "--id", "h2", "--input", "\"x\"",
    ]);
    assert!(err.contains("'write'"), "{err}");
    server.ok(&["workflow", "describe", "h"]);

    // Without the CA the CLI speaks plain HTTP/2, which a TLS server
    // does not answer.
    server.env.retain(|(k, _)| k != "KEEL_TLS_CA");
    let err = server.fails(&["deployment", "list"]);
    assert!(err.contains("KEEL_TLS_CA"), "{err}");
}

#[test]
fn a_server_without_tokens_listens_beyond_loopback_only_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let refused = Command::new(SERVER)
        .args(["--db", text(&db), "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--auth-file") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );

    let log = tempfile::NamedTempFile::new().unwrap();
    let server = Server::start_with_args(
        &["--listen", "0.0.0.0:0", "--insecure-no-auth"],
        Stdio::from(log.reopen().unwrap()),
    );
    server.ok(&["deployment", "list"]);
    drop(server);
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("serving without authentication on a non-loopback address"),
        "{logged}"
    );
}
