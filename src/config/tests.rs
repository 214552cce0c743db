//! A table of invalid configs, each with the errors it must produce (path, line, column,
//! words of the message), and the shipped example configs, which must load.

use std::path::Path;

use super::*;

fn errors(text: &str) -> Vec<Diagnostic> {
    match Config::from_str(text, Path::new("/nonexistent/config.yaml")) {
        Ok(_) => panic!("config unexpectedly valid:\n{text}"),
        Err(e) => e.diagnostics,
    }
}

fn has(diags: &[Diagnostic], path: &str, line: usize, column: usize, words: &str) {
    assert!(
        diags.iter().any(|d| d.path == path
            && d.mark.line == line
            && d.mark.column == column
            && d.message.contains(words)),
        "no diagnostic {path} at {line}:{column} containing `{words}` in:\n{}",
        diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

const MINIMAL_PROBE: &str = "probes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n";

#[test]
fn shipped_configs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // contrib/lab/config.yaml names the running lab's trust anchor: tests/cli.rs loads it.
    let c = Config::load(&root.join("config.example.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.probes.is_empty());
}

#[test]
fn minimal_config_has_defaults() {
    let c = Config::from_str(MINIMAL_PROBE, Path::new("c.yaml")).unwrap();
    assert_eq!(c.global.interval, Duration::from_secs(300));
    assert_eq!(c.global.timeout, Duration::from_secs(30));
    assert_eq!(c.global.resolver, Upstream::System);
    assert_eq!(c.probes[0].targets, vec!["192.0.2.1".to_string()]);
    assert_eq!(c.exporter.listen.to_string(), DEFAULT_LISTEN);
}

#[test]
fn unknown_key_bad_duration_and_inline_password_all_reported() {
    let text = "\
global:
  interval: 5 parsecs
  timeot: 30s
probes:
  - name: p
    kind: dnsbl
    targets: [192.0.2.1]
    password: hunter2
";
    let d = errors(text);
    has(&d, "global.interval", 2, 13, "invalid duration");
    has(&d, "global.timeot", 3, 3, "unknown key");
    has(&d, "probes[0].password", 8, 5, "password_file");
    // The secret itself never appears in an error.
    assert!(d.iter().all(|x| !x.message.contains("hunter2")));
}

#[test]
fn table_of_invalid_configs() {
    let cases: &[(&str, &str, usize, usize, &str)] = &[
        ("probes: {}\n", "probes", 1, 9, "must be a list"),
        ("global: {}\n", "probes", 1, 1, "no `probes:`"),
        (
            "probes:\n  - name: p\n    kind: smtp\n",
            "probes[0].kind",
            3,
            11,
            "unknown kind `smtp`",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    targets: [not_an ip!]\n",
            "probes[0].targets[0]",
            4,
            15,
            "neither an IP address nor a domain name",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    domains: [nope.example]\n",
            "probes[0].domains[0]",
            4,
            15,
            "not in the top-level `domains:`",
        ),
        (
            "global:\n  resolver: [\"127.0.0.1:99999\"]\nprobes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n",
            "global.resolver[0]",
            2,
            14,
            "not an address",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n    interval: 10s\n    timeout: 1m\n",
            "probes[0].timeout",
            6,
            14,
            "longer than the interval",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.2]\n",
            "probes[1].name",
            5,
            11,
            "duplicate probe name",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n    dqs_key_file: missing.key\n    zones:\n      - zone: zen.dq.spamhaus.net\n        dqs: true\n",
            "probes[0].dqs_key_file",
            5,
            19,
            "cannot read secret file",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n    dqs_key_env: MAILAUTH_TEST_SURELY_UNSET\n    zones:\n      - zone: zen.dq.spamhaus.net\n        dqs: true\n",
            "probes[0].dqs_key_env",
            5,
            18,
            "is not set",
        ),
        (
            "probes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n    zones:\n      - zone: z.test\n        kind: url\n",
            "probes[0].zones[0].kind",
            7,
            15,
            "url",
        ),
        (
            "exporter:\n  allow_targets: [\"bad target!\"]\nprobes:\n  - name: p\n    kind: dnsbl\n    targets: [192.0.2.1]\n",
            "exporter.allow_targets[0]",
            2,
            19,
            "neither a domain name",
        ),
        (
            "probes:\n  - name: \"has space\"\n    kind: dnsbl\n    targets: [192.0.2.1]\n",
            "probes[0].name",
            2,
            11,
            "letters, digits",
        ),
    ];
    let mut failures = Vec::new();
    for (text, path, line, column, words) in cases {
        let d = errors(text);
        let r = std::panic::catch_unwind(|| has(&d, path, *line, *column, words));
        if r.is_err() {
            failures.push(text.to_string());
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed", failures.len());
}

#[test]
fn errors_in_several_probes_are_all_reported() {
    let text = "\
probes:
  - name: a
    kind: dnsbl
    targets: [192.0.2.1]
    colour: blue
  - name: b
    kind: dnsbl
    targets: [192.0.2.1]
    interval: soon
";
    let d = errors(text);
    has(&d, "probes[0].colour", 5, 5, "unknown key");
    has(&d, "probes[1].interval", 9, 15, "invalid duration");
}

#[test]
fn dqs_key_from_a_file_reaches_only_dqs_zones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dqs.key"), "s3cretkey\n").unwrap();
    let text = "\
probes:
  - name: p
    kind: dnsbl
    targets: [192.0.2.1]
    dqs_key_file: dqs.key
    zones:
      - zone: zen.dq.spamhaus.net
        dqs: true
      - zone: other.test
";
    let c = Config::from_str(text, &dir.path().join("config.yaml")).unwrap();
    let ProbeSettings::Dnsbl(s) = &c.probes[0].settings else {
        panic!("not a dnsbl probe")
    };
    assert_eq!(s.zones[0].dqs_key.as_deref(), Some("s3cretkey"));
    assert_eq!(s.zones[1].dqs_key, None);
    // The key never shows in the config's Debug output either way it is printed.
    assert!(!format!("{:?}", c.probes[0].targets).contains("s3cret"));
}

#[test]
fn allow_list_covers_config_targets_domains_and_extra_networks() {
    let text = "\
exporter:
  allow_targets: [extra.test, 198.51.100.0/24]
domains:
  lab.test:
    sending_ips: [127.0.1.26]
probes:
  - name: p
    kind: dnsbl
    targets: [192.0.2.1]
";
    let c = Config::from_str(text, Path::new("c.yaml")).unwrap();
    for ok in [
        "192.0.2.1",
        "lab.test",
        "LAB.test.",
        "127.0.1.26",
        "extra.test",
        "198.51.100.77",
    ] {
        assert!(c.allows_target(ok), "{ok}");
    }
    for no in ["192.0.2.2", "other.test", "198.51.101.1", "sub.lab.test"] {
        assert!(!c.allows_target(no), "{no}");
    }
}

/// A roundtrip probe with `body` (the kind's keys, indented by four) and a secret file.
fn roundtrip(body: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "secret-value\n").unwrap();
    let text = format!("probes:\n  - name: rt\n    kind: roundtrip\n{body}");
    (dir, text)
}

fn load_in(dir: &Path, text: &str) -> Result<Config, ConfigErrors> {
    Config::from_str(text, &dir.join("config.yaml"))
}

const MAILBOX: &str = "    mailboxes:\n      - name: seed1\n        address: seed1@lab.test\n        authserv_id: mx.lab.test\n        imap: { host: imap.lab.test, username: seed1, password_file: pw }\n";

#[test]
fn roundtrip_config_loads_with_defaults_and_names_its_owner() {
    let (dir, text) = roundtrip(&format!(
        "    from: probe@lab.test\n    instance: host-a\n    timeout: 20s\n    submission: {{ host: submit.lab.test, username: u, password_file: pw }}\n{MAILBOX}"
    ));
    let c = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    let ProbeSettings::Roundtrip(s) = &c.probes[0].settings else {
        panic!("not a roundtrip")
    };
    assert_eq!(c.probes[0].targets, vec!["lab.test".to_string()]);
    assert_eq!(s.owner, "host-a.rt");
    assert_eq!(s.own_stray_age, Duration::from_secs(20));
    assert_eq!(s.stray_age, Duration::from_secs(3600));
    assert_eq!(s.junk_state, mailauth_probes::State::Warning);
    let m = &s.mailboxes[0];
    assert_eq!(m.trust.received_by, vec!["mx.lab.test".to_string()]);
    assert_eq!(m.trust.authserv_ids, vec!["mx.lab.test".to_string()]);
    assert!(!m.trust.fields_below);
    assert_eq!(m.imap.port, 993);
    assert_eq!(m.expect.len(), 3);
    // The password is read, and never printed.
    assert!(!format!("{s:?}").contains("secret-value"));
}

#[test]
fn roundtrip_config_errors_are_each_reported_in_place() {
    let (dir, text) = roundtrip(&format!(
        "    from: p@lab.test\n    submission: {{ host: s, username: u, password: hunter2 }}\n{MAILBOX}"
    ));
    let d = load_in(dir.path(), &text).unwrap_err().diagnostics;
    has(
        &d,
        "probes[0].submission.password",
        5,
        41,
        "inline secrets are not allowed",
    );
    let (dir, text) = roundtrip(
        "    from: not-an-address\n    submission: { host: s, username: u, password_file: pw }\n    mailboxes:\n      - name: bad name\n        address: a@b.test\n        authserv_id: mx\n        expect: { dkim: passed, smime: pass }\n        imap: { host: i, username: u, password_file: pw, oauth2_token_file: pw }\n",
    );
    let d = load_in(dir.path(), &text).unwrap_err().diagnostics;
    has(&d, "probes[0].from", 4, 11, "not an address");
    has(
        &d,
        "probes[0].mailboxes[0].name",
        7,
        15,
        "a mailbox name is",
    );
    has(
        &d,
        "probes[0].mailboxes[0].expect.dkim",
        10,
        17,
        "unknown result `passed`",
    );
    has(
        &d,
        "probes[0].mailboxes[0].expect.smime",
        10,
        17,
        "unknown method `smime`",
    );
    has(&d, "probes[0].mailboxes[0].imap", 11, 15, "exactly one of");
}

#[test]
fn roundtrip_needs_exactly_one_way_out_and_readable_token_files() {
    let (dir, text) = roundtrip(&format!("    from: p@lab.test\n{MAILBOX}"));
    let d = load_in(dir.path(), &text).unwrap_err().diagnostics;
    has(&d, "probes[0]", 2, 5, "say how the message leaves");
    let (dir, text) = roundtrip(&format!(
        "    from: p@lab.test\n    direct_to_mx: true\n    submission: {{ host: s }}\n{MAILBOX}"
    ));
    let d = load_in(dir.path(), &text).unwrap_err().diagnostics;
    has(&d, "probes[0]", 2, 5, "not both");
    let (dir, text) = roundtrip(&format!(
        "    from: p@lab.test\n    direct_to_mx: true\n{}",
        MAILBOX.replace("password_file: pw", "oauth2_token_file: missing.token")
    ));
    let d = load_in(dir.path(), &text).unwrap_err().diagnostics;
    has(
        &d,
        "probes[0].mailboxes[0].imap.oauth2_token_file",
        10,
        74,
        "cannot read the OAuth2 token file",
    );
    let (dir, text) = roundtrip(&format!(
        "    from: p@lab.test\n    direct_to_mx: true\n    dkim_sign: {{ domain: lab.test, selector: probe, key_file: pw }}\n{MAILBOX}"
    ));
    let d = load_in(dir.path(), &text).unwrap_err().diagnostics;
    has(
        &d,
        "probes[0].dkim_sign.key_file",
        6,
        63,
        "not a PEM private key",
    );
}

#[test]
fn probe_endpoint_runs_mail_sending_and_relay_tests_only_against_their_own_targets() {
    let (dir, rt) = roundtrip(&format!(
        "    from: probe@lab.test\n    submission: {{ host: submit.lab.test, username: u, password_file: pw }}\n{MAILBOX}"
    ));
    let text = format!(
        "exporter:\n  allow_targets: [other.test]\n{rt}  - name: relay\n    kind: transport\n    open_relay: true\n    targets: [mx.lab.test]\n  - name: tls\n    kind: transport\n    targets: [mx.lab.test]\n  - name: bl\n    kind: dnsbl\n    targets: [192.0.2.1]\n"
    );
    let c = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    let p = |n: &str| c.probe(n).unwrap();
    // Own targets: allowed.
    assert_eq!(c.refuses_probe_target(p("rt"), "lab.test"), None);
    assert_eq!(c.refuses_probe_target(p("relay"), "MX.lab.test."), None);
    // A round trip elsewhere, even on the allow-list: it would send mail there.
    for target in ["other.test", "192.0.2.1", "stranger.test"] {
        let why = c.refuses_probe_target(p("rt"), target).expect(target);
        assert!(
            why.contains("sends mail") && why.contains("own configured targets"),
            "{why}"
        );
    }
    // Every other probe, the relay test included: the allow-list.
    for probe in ["relay", "tls", "bl"] {
        assert_eq!(c.refuses_probe_target(p(probe), "other.test"), None);
        assert_eq!(c.refuses_probe_target(p(probe), "lab.test"), None);
        let why = c
            .refuses_probe_target(p(probe), "stranger.test")
            .expect(probe);
        assert!(why.contains("not in this exporter's allow-list"), "{why}");
    }
}

#[test]
fn exporter_public_paths_default_and_validation() {
    let c = Config::from_str("probes: []\n", Path::new("c.yaml")).unwrap();
    assert_eq!(c.exporter.public_paths, vec!["/-/healthy", "/-/ready"]);
    assert!(c.exporter.web.is_none());
    // POST /-/reload is off unless asked for (or behind basic auth).
    assert!(!c.exporter.enable_lifecycle);
    let on = "exporter:\n  enable_lifecycle: true\nprobes: []\n";
    assert!(
        Config::from_str(on, Path::new("c.yaml"))
            .unwrap()
            .exporter
            .enable_lifecycle
    );
    let err = Config::from_str(
        "exporter:\n  public_paths: [/metrics, /secret]\nprobes: []\n",
        Path::new("c.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("exporter.public_paths[1]") && err.contains("`/secret`"),
        "{err}"
    );
    let err = Config::from_str(
        "exporter:\n  web_config_file: nowhere.yml\nprobes: []\n",
        Path::new("c.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("exporter.web_config_file") && err.contains("nowhere.yml"),
        "{err}"
    );
}

/// The seed mailboxes of a roundtrip probe loaded from `mailboxes` (YAML under `mailboxes:`).
fn seeds(mailboxes: &str) -> Result<Vec<mailauth_probes::roundtrip::SeedMailbox>, ConfigErrors> {
    let (dir, text) = roundtrip(&format!(
        "    from: probe@lab.test\n    submission: {{ host: submit.lab.test, username: u, password_file: pw }}\n    mailboxes:\n{mailboxes}"
    ));
    std::fs::write(dir.path().join("token"), "t\n").unwrap();
    let c = load_in(dir.path(), &text)?;
    let ProbeSettings::Roundtrip(s) = &c.probes[0].settings else {
        panic!("not a roundtrip")
    };
    Ok(s.mailboxes.clone())
}

#[test]
fn every_provider_preset_is_accepted_and_fills_the_mailbox() {
    for p in mailauth_probes::authres::providers::PROVIDERS {
        let auth = if p.xoauth2_required {
            "oauth2_token_file: token"
        } else {
            "password_file: pw"
        };
        let m = seeds(&format!(
            "      - name: {key}\n        provider: {key}\n        address: seed@{key}.example\n        imap: {{ {auth} }}\n",
            key = p.key
        ))
        .unwrap_or_else(|e| panic!("{}: {e}", p.key));
        let m = &m[0];
        assert_eq!(m.trust, p.rule(), "{}", p.key);
        assert_eq!(m.imap.host, p.imap_host, "{}", p.key);
        assert_eq!(m.imap.port, p.imap_port, "{}", p.key);
        assert_eq!(m.imap.username, format!("seed@{}.example", p.key));
        assert_eq!(m.imap.junk_names, p.junk_folders, "{}", p.key);
    }
}

#[test]
fn a_gmail_seed_mailbox_is_three_lines_and_explicit_keys_win() {
    let m = seeds(
        "      - { name: gmail, provider: gmail, address: seed@gmail.com,\n          imap: { password_file: pw } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m[0].trust.authserv_ids, ["mx.google.com"]);
    assert!(m[0].trust.fields_below);
    assert_eq!(m[0].imap.host, "imap.gmail.com");
    assert_eq!(m[0].imap.junk_names[0], "[Gmail]/Spam");
    // Explicit keys win over the preset.
    let m = seeds(
        "      - name: gw\n        provider: gmail\n        address: seed@example.org\n        authserv_id: [mx.example.org, \"*.gw.example.org\"]\n        received_by: [mx.example.org]\n        fields_below: false\n        imap: { host: imap.example.org, port: 143, username: seed, password_file: pw, junk_folders: [Quarantine] }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let m = &m[0];
    assert_eq!(m.trust.authserv_ids, ["mx.example.org", "*.gw.example.org"]);
    assert_eq!(m.trust.received_by, ["mx.example.org"]);
    assert!(!m.trust.fields_below);
    assert_eq!(
        (m.imap.host.as_str(), m.imap.port),
        ("imap.example.org", 143)
    );
    assert_eq!(m.imap.username, "seed");
    assert_eq!(m.imap.junk_names, ["Quarantine"]);
}

#[test]
fn provider_errors_are_reported_in_place() {
    let d = seeds(
        "      - name: x\n        provider: hotmale\n        address: seed@example.org\n        imap: { password_file: pw }\n",
    )
    .unwrap_err()
    .diagnostics;
    has(
        &d,
        "probes[0].mailboxes[0].provider",
        8,
        19,
        "unknown provider `hotmale`",
    );
    // Microsoft takes no IMAP password.
    let d = seeds(
        "      - name: m\n        provider: microsoft365\n        address: seed@example.org\n        imap: { password_file: pw }\n",
    )
    .unwrap_err()
    .diagnostics;
    assert!(
        d.iter()
            .any(|x| x.path == "probes[0].mailboxes[0].imap" && x.message.contains("XOAUTH2 only")),
        "{d:?}"
    );
    // Without a preset, the authserv-id and the IMAP host are needed.
    let d = seeds(
        "      - name: n\n        address: seed@example.org\n        imap: { password_file: pw }\n",
    )
    .unwrap_err()
    .diagnostics;
    assert!(d.iter().any(|x| x.message.contains("authserv_id")), "{d:?}");
}
