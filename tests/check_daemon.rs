//! `check_mailauth --daemon https://...` against `serve` with a web config that asks for TLS
//! and basic auth, with no lab: the daemon's DNSBL zone is a tiny loopback DNS server, its
//! certificate comes from a test CA made with openssl. The plugin verifies the certificate
//! (`--ca-file`) before it sends anything, takes the password from a file or an environment
//! variable, and says UNKNOWN (exit 3) with the reason whenever it cannot read a result.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::faults::Pki;
use common::*;

const PASSWORD: &str = "n4gios-s3cret";

struct Setup {
    d: Daemon,
    pki: Pki,
    dir: tempfile::TempDir,
    url: String,
}

fn setup() -> Setup {
    let pki = Pki::new(&["IP:127.0.0.1"]);
    // Pki keeps the server's certificate and key beside the CA.
    let (cert, key) = (
        pki.ca.with_file_name("leaf.pem"),
        pki.ca.with_file_name("leaf.key"),
    );
    let dir = tempfile::tempdir().unwrap();
    let web = write_temp(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  nagios: '{}'\n",
            cert.display(),
            key.display(),
            hash_password(PASSWORD)
        ),
    );
    write_temp(dir.path(), "password", &format!("{PASSWORD}\n"));
    let dns = slow_dnsbl(Duration::ZERO);
    let config = format!(
        "global:\n  interval: 1h\n  timeout: 5s\n  resolver: [\"{dns}\"]\n  drain_timeout: 1s\n\
         exporter:\n  listen: 127.0.0.1:9725\n  web_config_file: {}\n\
         probes:\n  - name: bl\n    kind: dnsbl\n    targets: [192.0.2.10]\n    zones: [{{ zone: dnsbl.test }}]\n",
        web.display()
    );
    let d = Daemon::spawn(&config);
    let url = format!("https://{}", d.addr);
    Setup { d, pki, dir, url }
}

/// `check_mailauth --daemon URL --probe bl ARGS...` with `env`: (exit code, output).
fn plugin(url: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(bin("check_mailauth"))
        .args(["--daemon", url, "--probe", "bl", "--timeout", "10"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_mailauth_reads_a_tls_and_basic_auth_daemon() {
    let s = setup();
    let url = s.url.as_str();
    let ca = s.pki.ca.display().to_string();
    let pw_file = s.dir.path().join("password").display().to_string();
    let user = ["--daemon-user", "nagios"];
    let from_file = ["--daemon-password-file", pw_file.as_str()];
    let from_env = ["--daemon-password-env", "MAILAUTH_TEST_PW"];
    let trusted = ["--ca-file", ca.as_str()];
    let with_file = [&trusted[..], &user, &from_file].concat();
    let with_env = [&trusted[..], &user, &from_env].concat();

    // Until the first run is done the daemon has no result (UNKNOWN); then OK: not listed.
    let start = Instant::now();
    let (code, out) = loop {
        let (code, out) = plugin(url, &with_file, &[]);
        if code == 0 || start.elapsed() > Duration::from_secs(15) {
            break (code, out);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 0, "{out}\n{}", s.d.log_text());
    assert!(out.starts_with("MAILAUTH OK - bl"), "{out}");

    // The password from an environment variable; -H narrows to one target.
    let one = [&with_env[..], &["-H", "192.0.2.10"]].concat();
    let (code, out) = plugin(url, &one, &[("MAILAUTH_TEST_PW", PASSWORD)]);
    assert_eq!(code, 0, "{out}");

    // A wrong password, or none: 401, UNKNOWN with the reason.
    let (code, out) = plugin(url, &with_env, &[("MAILAUTH_TEST_PW", "guess")]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("401") && out.contains("not accepted"), "{out}");
    let (code, out) = plugin(url, &trusted, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("401") && out.contains("--daemon-user"),
        "{out}"
    );

    // Without the CA the certificate does not verify: UNKNOWN, and no request reached the
    // daemon, so no credentials were sent.
    let before = s.d.log_text().matches("refused a request").count();
    let (code, out) = plugin(url, &[&user[..], &from_file].concat(), &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("does not verify"), "{out}");
    assert_eq!(s.d.log_text().matches("refused a request").count(), before);

    // Plain http:// to the TLS port: no answer it can read, UNKNOWN.
    let (code, out) = plugin(&url.replace("https://", "http://"), &[], &[]);
    assert_eq!(code, 3, "{out}");

    // A user without a password, or credentials in the URL: refused before connecting.
    let (code, out) = plugin(url, &user, &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("--daemon-password-file"), "{out}");
    let in_url = url.replace("https://", &format!("https://nagios:{PASSWORD}@"));
    let (code, out) = plugin(&in_url, &[], &[]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("do not go in the URL"), "{out}");
    assert!(!out.contains(PASSWORD), "{out}");

    // The password never reaches the daemon's log.
    assert!(!s.d.log_text().contains(PASSWORD));
}
