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
            "probes:\n  - name: p\n    kind: roundtrip\n",
            "probes[0].kind",
            3,
            11,
            "not available in this version",
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
