//! The binaries as a user runs them: check-config, run, check_mailauth exit codes and output.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn check_config_accepts_the_example() {
    let out = run(
        "mailauth-probe",
        &[
            "check-config",
            root().join("config.example.yaml").to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn check_config_accepts_the_lab_config() {
    lab();
    let out = run(
        "mailauth-probe",
        &[
            "check-config",
            root().join("contrib/lab/config.yaml").to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn check_config_names_every_error_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(
        dir.path(),
        "bad.yaml",
        "global:\n  timeout: 30 parsecs\n  colour: blue\nprobes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n    password: hunter2\n",
    );
    let out = run("mailauth-probe", &["check-config", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let file = f.display().to_string();
    for want in [
        format!("{file}:2:12: global.timeout: invalid duration"),
        format!("{file}:3:3: global.colour: unknown key `colour`"),
        format!("{file}:8:5: probes[0].password: inline secrets are not allowed"),
    ] {
        assert!(text.contains(&want), "missing `{want}` in:\n{text}");
    }
    assert!(text.contains("3 errors"), "{text}");
    assert!(!text.contains("hunter2"), "the secret leaked: {text}");
}

#[test]
fn check_mailauth_bad_arguments_are_unknown() {
    for args in [
        vec!["dnsbl"],                                 // no -H
        vec!["smtp", "-H", "192.0.2.1"],               // no such kind
        vec!["dnsbl", "-H", "192.0.2.1", "-w", "5:1"], // bad range
        vec!["--no-such-flag"],
        vec!["--config", "/nonexistent.yaml", "--probe", "x"],
        vec!["--daemon", "http://127.0.0.1:1", "--probe", "x"], // nothing listens there
    ] {
        let out = run("check_mailauth", &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stdout}");
        assert!(
            stdout.starts_with("MAILAUTH UNKNOWN - "),
            "{args:?}: {stdout}"
        );
        assert_eq!(stdout.trim_end().lines().count(), 1, "{args:?}: {stdout}");
    }
}

#[test]
fn check_mailauth_timeout_against_a_silent_dns_server_is_unknown_in_time() {
    let hole = black_hole_dns();
    let start = Instant::now();
    let out = run(
        "check_mailauth",
        &[
            "dnsbl",
            "-H",
            "192.0.2.10",
            "--zone",
            "dnsbl.test",
            "--resolver",
            &hole.addr.to_string(),
            "--timeout",
            "1",
        ],
    );
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.starts_with("MAILAUTH UNKNOWN - "), "{stdout}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

fn plugin(args: &[&str]) -> (i32, String) {
    lab();
    let mut all = vec!["--resolver", LAB_DNS];
    all.extend_from_slice(args);
    let out = run("check_mailauth", &all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_mailauth_dnsbl_clean_listed_refused() {
    let (code, out) = plugin(&["dnsbl", "-H", "192.0.2.10", "--zone", "dnsbl.test"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("MAILAUTH OK - dnsbl: "), "{out}");
    assert!(out.contains(" | 'listings'=0;;;0"), "{out}");
    assert_eq!(out.trim_end().lines().count(), 1);

    let (code, out) = plugin(&["dnsbl", "-H", "192.0.2.99", "--zone", "dnsbl.test"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with("MAILAUTH CRITICAL - dnsbl: 192.0.2.99 listed on dnsbl.test"),
        "{out}"
    );
    assert!(out.contains("'listings'=1;;;0"), "{out}");

    let (code, out) = plugin(&["dnsbl", "-H", "2001:db8::99", "--zone", "dnsbl.test"]);
    assert_eq!(code, 2, "{out}");

    let (code, out) = plugin(&["dnsbl", "-H", "spammer.test", "--zone", "dbl.test"]);
    assert_eq!(code, 2, "{out}");

    let (code, out) = plugin(&["dnsbl", "-H", "192.0.2.10", "--zone", "refusing.test"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("MAILAUTH UNKNOWN - "), "{out}");
    assert!(out.contains("127.255.255.254"), "{out}");

    // A list that lists everybody is not believed: UNKNOWN, and no listing counted.
    let (code, out) = plugin(&[
        "dnsbl",
        "-H",
        "192.0.2.10",
        "--zone",
        "everything.test",
        "-v",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("'listings'=0"), "{out}");
    assert!(out.contains("lists everything"), "{out}");

    // -w/-c on the number of listings.
    let (code, out) = plugin(&[
        "dnsbl",
        "-H",
        "192.0.2.10",
        "--zone",
        "dnsbl.test",
        "-w",
        "~:-1",
    ]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn run_prints_a_report_and_exits_with_the_worst_state() {
    lab();
    let out = run(
        "mailauth-probe",
        &[
            "run",
            "--config",
            root().join("contrib/lab/config.yaml").to_str().unwrap(),
            "--probe",
            "dnsbl-own",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = v.as_array().unwrap();
    let listed: Vec<&str> = records
        .iter()
        .filter(|r| {
            r["outcome"]["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["state"] == "CRITICAL")
        })
        .map(|r| r["target"].as_str().unwrap())
        .collect();
    let mut listed = listed;
    listed.sort();
    assert_eq!(listed, vec!["192.0.2.99", "2001:db8::99", "spammer.test"]);
}

#[test]
fn check_config_accepts_every_provider_preset() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    std::fs::write(dir.path().join("token"), "token\n").unwrap();
    let keys = [
        "gmail",
        "outlook",
        "microsoft365",
        "yahoo",
        "aol",
        "icloud",
        "fastmail",
        "gmx",
        "webde",
        "yandex",
        "mailru",
        "proton",
        "zoho",
    ];
    let mut yaml = String::from(
        "probes:\n  - name: rt\n    kind: roundtrip\n    from: probe@example.org\n    submission: { host: smtp.example.org, username: u, password_file: pw }\n    mailboxes:\n",
    );
    for key in keys {
        let auth = if matches!(key, "outlook" | "microsoft365") {
            "oauth2_token_file: token"
        } else {
            "password_file: pw"
        };
        yaml.push_str(&format!(
            "      - {{ name: {key}, provider: {key}, address: seed@{key}.example, imap: {{ {auth} }} }}\n"
        ));
    }
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = run("mailauth-probe", &["check-config", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // And an unknown one is an error with its place.
    std::fs::write(
        &file,
        "probes:\n  - name: rt\n    kind: roundtrip\n    from: probe@example.org\n    submission: { host: smtp.example.org, username: u, password_file: pw }\n    mailboxes:\n      - { name: x, provider: hotmale, address: seed@example.org, imap: { password_file: pw } }\n",
    )
    .unwrap();
    let out = run("mailauth-probe", &["check-config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unknown provider `hotmale`"), "{text}");
}
