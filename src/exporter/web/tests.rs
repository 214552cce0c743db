//! The web-config file: what loads, what is refused with which words, and who gets in.

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A low bcrypt cost keeps the tests fast; the format is the same.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

#[test]
fn basic_auth_users_admit_the_right_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: '{}'\n  ops: '{}'\n",
            hash("s3cret"),
            hash("other")
        ),
    );
    let w = WebConfig::load(&f).unwrap();
    assert!(w.requires_auth());
    assert!(w.tls.is_none());
    assert!(w.authorized(Some(&basic("prometheus", "s3cret"))));
    // Twice: the second answer comes from the verified cache and must agree.
    assert!(w.authorized(Some(&basic("prometheus", "s3cret"))));
    assert!(w.authorized(Some(&basic("ops", "other"))));
    assert!(!w.authorized(Some(&basic("prometheus", "other"))));
    assert!(!w.authorized(Some(&basic("ops", "s3cret"))));
    assert!(!w.authorized(Some(&basic("nobody", "s3cret"))));
    assert!(!w.authorized(None));
    assert!(!w.authorized(Some("Bearer abc")));
    assert!(!w.authorized(Some("Basic !!!not-base64")));
    // The cache is keyed by user and password together.
    assert!(!w.authorized(Some(&basic("prometheus", "s3cret2"))));
    // Debug output names users, never hashes.
    let dbg = format!("{w:?}");
    assert!(dbg.contains("prometheus") && !dbg.contains("$2"), "{dbg}");
}

#[test]
fn an_empty_file_requires_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "web.yml", "");
    let w = WebConfig::load(&f).unwrap();
    assert!(!w.requires_auth());
    assert!(w.tls.is_none());
}

#[test]
fn what_we_do_not_implement_or_cannot_read_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "http_server_config:\n  http2: false\n",
            "`http_server_config` is not supported",
        ),
        (
            "basic_auth_users:\n  p: plaintext\n",
            "basic_auth_users.p: not a bcrypt hash",
        ),
        (
            "basic_auth_users: [a, b]\n",
            "basic_auth_users: expected a mapping",
        ),
        ("- a\n", "expected a mapping"),
        ("a: [\n", "not YAML"),
        (
            "tls_server_config:\n  key_file: k.pem\n",
            "cert_file is required",
        ),
        (
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n",
            "cert_file `",
        ),
        (
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [x]\n",
            "tls_server_config.cipher_suites is not supported",
        ),
    ];
    for (text, want) in cases {
        let f = write(dir.path(), "web.yml", text);
        let err = WebConfig::load(&f).unwrap_err();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(err.contains("web.yml"), "the error names the file: {err}");
    }
    let err = WebConfig::load(&dir.path().join("absent.yml")).unwrap_err();
    assert!(
        err.contains("absent.yml") && err.contains("cannot read"),
        "{err}"
    );
}

/// A self-signed certificate made by openssl (always on the machines this builds on).
fn self_signed(dir: &Path) -> bool {
    std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn tls_server_config_resolves_files_next_to_the_web_config() {
    let dir = tempfile::tempdir().unwrap();
    assert!(self_signed(dir.path()), "openssl req failed");
    let f = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS13\n",
    );
    let w = WebConfig::load(&f).unwrap();
    let tls = w.tls.clone().expect("TLS configured");
    assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
    assert!(!w.requires_auth());

    let f = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let err = WebConfig::load(&f).unwrap_err();
    assert!(err.contains("client_ca_file is required"), "{err}");
    let f = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: cert.pem\n",
    );
    assert!(WebConfig::load(&f).unwrap().tls.is_some());
    let f = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS10\n",
    );
    let err = WebConfig::load(&f).unwrap_err();
    assert!(err.contains("min_version `TLS10`"), "{err}");
    // A key that is not a key.
    let f = write(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: cert.pem\n",
    );
    let err = WebConfig::load(&f).unwrap_err();
    assert!(err.contains("key_file `"), "{err}");
}
