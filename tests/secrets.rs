//! No configured secret ever leaves the process: a full lab run (every probe kind, round trips
//! with a password and with an XOAUTH2 token, a report mailbox, a DNSBL with a DQS key, wrong
//! credentials that make servers refuse us, the exporter's basic auth) is scanned where a
//! secret could slip out: the daemon's debug log, `/metrics`, `/`, `/api/v1/results`,
//! `/probe?debug=true`, `run`'s text and JSON output with its debug log, `check_mailauth -v`
//! (from the config and from the daemon), and the errors `check-config` prints for a config
//! that writes secrets inline. Each secret is searched raw and inside base64 at every
//! alignment (what SMTP AUTH PLAIN, IMAP AUTHENTICATE and HTTP Basic carry it as).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::reports::*;
use common::*;

/// The strings that give `secret` away: itself, and for each of the three byte alignments it
/// can have inside a base64-encoded string, the base64 characters that depend on its bytes
/// alone (they appear in any encoding that contains it at that alignment).
fn tell_tales(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let b64 = base64::engine::general_purpose::STANDARD;
    for pad in 0..3usize {
        let mut bytes = vec![0u8; pad];
        bytes.extend_from_slice(secret.as_bytes());
        let enc = b64.encode(&bytes);
        // Characters fully determined by the secret: skip those touching the padding before
        // it, and the last group (it depends on what follows).
        let skip = (pad * 8).div_ceil(6);
        let full = (bytes.len() * 8) / 6;
        if full > skip + 4 {
            out.push(enc[skip..full - 1].to_string());
        }
    }
    out
}

/// Every place in `text` where a secret of `secrets` shows, as "name (form) in what".
fn leaks(what: &str, text: &str, secrets: &[(String, String)]) -> Vec<String> {
    let mut found = vec![];
    for (name, value) in secrets {
        for (i, t) in tell_tales(value).iter().enumerate() {
            if text.contains(t.as_str()) {
                let form = if i == 0 { "raw" } else { "base64" };
                found.push(format!("{name} ({form}) in {what}"));
            }
        }
    }
    found
}

fn read_secret(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_full_lab_run_never_shows_a_configured_secret() {
    lab();
    let pid = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let secrets_dir = lab_dir().join("secrets");
    let wrong_password = format!("wrong-Pa55-{pid}-zq");
    let wrong = write_temp(dir.path(), "wrong.password", &format!("{wrong_password}\n"));
    let dqs_key = format!("dqskey{pid}x7w");
    let dqs = write_temp(dir.path(), "dqs.key", &format!("{dqs_key}\n"));
    let web_password = format!("scrape-{pid}-Pw");
    let web_hash = bcrypt::hash(&web_password, 4).unwrap();
    let web = write_temp(
        dir.path(),
        "web.yml",
        &format!("basic_auth_users:\n  prometheus: '{web_hash}'\n"),
    );
    let mut secrets: Vec<(String, String)> = vec![
        ("the wrong password".into(), wrong_password.clone()),
        ("the DQS key".into(), dqs_key.clone()),
        ("the exporter password".into(), web_password.clone()),
    ];
    for f in [
        "sender@lab.test.password",
        "seed1@lab.test.password",
        "seed2@lab.test.password",
        "seed2@lab.test.oauth2-token",
        "reports@lab.test.password",
    ] {
        secrets.push((f.to_string(), read_secret(&secrets_dir.join(f))));
    }
    for (name, v) in &secrets {
        assert!(v.len() >= 8, "{name} too short to search for");
    }

    // A report waiting in the mailbox, so the reports probe logs in and reads.
    smtp_deliver(
        "dmarc@reporter.invalid",
        "reports@lab.test",
        &mail(
            "xml",
            "a.xml",
            "text/xml",
            dmarc_xml("Reporter Secrets", &format!("{pid}-sec"), 3, 1).as_bytes(),
        ),
    );

    let lab_config = std::fs::read_to_string(root().join("contrib/lab/config.yaml"))
        .unwrap()
        .replace(
            "exporter:\n  listen: 127.0.0.1:9725\n",
            &format!(
                "exporter:\n  listen: 127.0.0.1:9725\n  web_config_file: {}\n  public_paths: [/-/healthy, /-/ready, /api/v1/results]\n",
                web.display()
            ),
        );
    assert!(lab_config.contains("web_config_file"));
    let extra = format!(
        "
  - name: rt-oauth
    kind: roundtrip
    interval: 1m
    timeout: 20s
    instance: secrets-{pid}
    from: probe@lab.test
    helo: probe.lab.test
    submission:
      host: submit.lab.test
      port: 587
      username: sender@lab.test
      password_file: {sender}
    mailboxes:
      - name: oauth
        address: seed2@lab.test
        authserv_id: mx.lab.test
        imap:
          host: imap.lab.test
          username: seed2@lab.test
          oauth2_token_file: {token}
  - name: rt-refused
    kind: roundtrip
    interval: 1m
    timeout: 10s
    instance: secrets-refused-{pid}
    from: probe@lab.test
    helo: probe.lab.test
    submission:
      host: submit.lab.test
      port: 587
      username: sender@lab.test
      password_file: {wrong}
    mailboxes:
      - name: refused
        address: seed1@lab.test
        authserv_id: mx.lab.test
        imap:
          host: imap.lab.test
          username: seed1@lab.test
          password_file: {wrong}
  - name: reports-secrets
    kind: reports
    interval: 1m
    timeout: 10s
    store: {store}
    processed_folder: S{pid}-Processed
    invalid_folder: S{pid}-Invalid
    imap:
      host: imap.lab.test
      username: reports@lab.test
      password_file: {reports}
  - name: dnsbl-dqs
    kind: dnsbl
    interval: 1m
    targets: [192.0.2.99]
    dqs_key_file: {dqs}
    zones:
      - zone: dnsbl.test
        dqs: true
",
        sender = secrets_dir.join("sender@lab.test.password").display(),
        token = secrets_dir.join("seed2@lab.test.oauth2-token").display(),
        wrong = wrong.display(),
        store = dir.path().join("reports.sqlite").display(),
        reports = secrets_dir.join("reports@lab.test.password").display(),
        dqs = dqs.display(),
    );
    let config_text = format!("{}\n{}", lab_config.trim_end(), extra);
    let config = write_temp(dir.path(), "config.yaml", &config_text);

    let mut found = vec![];

    // The daemon, at debug level, until every probe has run once.
    let d = Daemon::start(&config_text);
    let auth = {
        let v =
            base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{web_password}"));
        format!("Authorization: Basic {v}\r\n")
    };
    let probes = [
        "dnsbl-own",
        "dns-lab",
        "transport-lab",
        "roundtrip-lab",
        "rt-oauth",
        "rt-refused",
        "reports-secrets",
        "dnsbl-dqs",
    ];
    d.wait_for(Duration::from_secs(60), "every probe ran once", |d| {
        let (_, m) = http_with("GET", d.addr, "/metrics", &auth);
        probes.iter().all(|p| {
            m.contains(&format!(
                "mailauth_probe_last_run_timestamp_seconds{{probe=\"{p}\""
            ))
        })
    });
    // The refusals we provoked did happen (else this test would prove little).
    let (_, results) = get(d.addr, "/api/v1/results?probe=rt-refused");
    assert!(
        results.contains("\"UNKNOWN\"") || results.contains("\"CRITICAL\""),
        "{results}"
    );
    for path in [
        "/metrics",
        "/",
        "/api/v1/results",
        "/probe?module=dnsbl-dqs&target=192.0.2.99&debug=true",
        "/probe?module=rt-refused&target=stranger.example",
    ] {
        let (code, body) = http_with("GET", d.addr, path, &auth);
        assert!(code == 200 || code == 403, "{path}: {code}");
        found.extend(leaks(path, &body, &secrets));
    }
    // check_mailauth -v reading the daemon.
    for probe in ["rt-refused", "dnsbl-dqs", "reports-secrets", "rt-oauth"] {
        let text = output(Command::new(bin("check_mailauth")).args([
            "--daemon",
            &format!("http://{}", d.addr),
            "--probe",
            probe,
            "-v",
        ]));
        found.extend(leaks(
            &format!("check_mailauth --daemon --probe {probe} -v"),
            &text,
            &secrets,
        ));
    }
    let log = d.log_text();
    assert!(
        log.contains("DEBUG"),
        "the daemon logged nothing at debug level"
    );
    found.extend(leaks("the daemon's debug log", &log, &secrets));
    drop(d);

    // One-shot runs and the plugin from the config, with their debug logs.
    for format in ["text", "json"] {
        let text = output(
            Command::new(bin("mailauth-probe"))
                .args(["--log-level", "debug", "run", "--config"])
                .arg(&config)
                .args(["--format", format])
                .args([
                    "--probe",
                    "rt-refused",
                    "--probe",
                    "dnsbl-dqs",
                    "--probe",
                    "rt-oauth",
                ]),
        );
        assert!(text.contains("rt-refused"), "{text}");
        found.extend(leaks(&format!("run --format {format}"), &text, &secrets));
    }
    for probe in ["rt-refused", "dnsbl-dqs"] {
        let text = output(
            Command::new(bin("check_mailauth"))
                .arg("--config")
                .arg(&config)
                .args(["--probe", probe, "-v"]),
        );
        found.extend(leaks(
            &format!("check_mailauth --config --probe {probe} -v"),
            &text,
            &secrets,
        ));
    }

    // Errors: secrets written inline are refused without being repeated.
    let inline = format!(
        "probes:\n  - name: x\n    kind: dnsbl\n    targets: [192.0.2.1]\n    dqs_key: {dqs_key}\n  - name: y\n    kind: reports\n    store: s.sqlite\n    imap: {{ host: imap.lab.test, username: u, password: {wrong_password} }}\n"
    );
    let bad = write_temp(dir.path(), "inline.yaml", &inline);
    let text = output(
        Command::new(bin("mailauth-probe"))
            .arg("check-config")
            .arg(&bad),
    );
    assert!(
        text.contains("inline.yaml:"),
        "check-config reported nothing: {text}"
    );
    found.extend(leaks("check-config errors", &text, &secrets));

    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}

#[test]
fn tell_tales_find_base64_at_every_alignment() {
    let secret = "s3cret-value";
    let b64 = base64::engine::general_purpose::STANDARD;
    for prefix in ["", "a", "ab", "\0user\0", "user=x\x01auth=Bearer "] {
        let enc = b64.encode(format!("{prefix}{secret}\x01\x01"));
        assert!(
            tell_tales(secret)
                .iter()
                .skip(1)
                .any(|t| enc.contains(t.as_str())),
            "{prefix:?}: {enc}"
        );
    }
    // And nothing in a text without it.
    assert!(leaks("x", "nothing to see", &[("s".into(), secret.into())]).is_empty());
}
