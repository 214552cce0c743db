//! The exporter's edges with no lab: what a stranger's request can put into the log and into
//! an error body (bounded and escaped, once), and who may `POST /-/reload` (the config's
//! `exporter.enable_lifecycle`, or the web config's basic auth). The daemon's resolver is a
//! loopback server that never answers, so nothing leaves the machine.

mod common;

use std::time::Duration;

use common::*;

fn config(dns: &BlackHoleDns, exporter_extra: &str) -> String {
    format!(
        "global:\n  interval: 1h\n  timeout: 2s\n  resolver: [\"{}\"]\n  drain_timeout: 1s\n\
         exporter:\n  listen: 127.0.0.1:9725\n{exporter_extra}\
         probes:\n  - name: bl\n    kind: dnsbl\n    targets: [192.0.2.10]\n    zones: [{{ zone: dnsbl.test }}]\n",
        dns.addr
    )
}

#[test]
fn a_refused_probe_target_is_logged_once_bounded_and_escaped() {
    let dns = black_hole_dns();
    let d = Daemon::start(&config(&dns, ""));
    let long = "a".repeat(5000);
    // A newline and an ANSI escape try to forge a log line of their own.
    let target = format!("begin-{long}%0Aforged%20line%1B[31m");
    let (code, body) = get(d.addr, &format!("/probe?module=bl&target={target}"));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("not in this exporter's allow-list"), "{body}");
    assert!(
        body.len() < 600,
        "the body is bounded: {} bytes",
        body.len()
    );
    assert!(body.contains("more characters]"), "{body}");
    assert!(!body.contains("\nforged"), "{body}");

    d.wait_for(Duration::from_secs(2), "the refusal is logged", |d| {
        d.log_text().contains("refused /probe")
    });
    let log = d.log_text();
    let line = log.lines().find(|l| l.contains("refused /probe")).unwrap();
    assert_eq!(line.matches("begin-").count(), 1, "the target once: {line}");
    assert!(
        line.len() < 800,
        "the line is bounded: {} bytes",
        line.len()
    );
    assert!(
        !log.contains(&"a".repeat(257)),
        "no more than 256 characters of it"
    );
    assert!(!log.lines().any(|l| l.starts_with("forged")), "{log}");
    assert!(!log.contains('\u{1b}'), "the escape is escaped");

    // The module name is remote input too when it names nothing.
    let (code, body) = get(d.addr, &format!("/probe?module={long}&target=192.0.2.10"));
    assert_eq!(code, 400);
    assert!(
        body.len() < 600 && body.contains("unknown module"),
        "{body}"
    );
}

#[test]
fn reload_over_http_only_when_enabled_or_behind_basic_auth() {
    let dns = black_hole_dns();
    // Neither: 403, and the config is not re-read.
    let d = Daemon::start(&config(&dns, ""));
    let (code, body) = http("POST", d.addr, "/-/reload");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("enable_lifecycle"), "{body}");
    assert!(!d.log_text().contains("config reloaded"));
    drop(d);

    // enable_lifecycle: served.
    let d = Daemon::start(&config(&dns, "  enable_lifecycle: true\n"));
    assert_eq!(
        http("POST", d.addr, "/-/reload"),
        (200, "config reloaded\n".into())
    );
    drop(d);

    // Basic auth: served to the authenticated only, even without enable_lifecycle.
    let dir = tempfile::tempdir().unwrap();
    let web = write_temp(
        dir.path(),
        "web.yml",
        &format!("basic_auth_users:\n  ops: '{}'\n", hash_password("re-load")),
    );
    let extra = format!("  web_config_file: {}\n", web.display());
    let d = Daemon::start(&config(&dns, &extra));
    assert_eq!(http("POST", d.addr, "/-/reload").0, 401);
    let ok = basic("ops", "re-load");
    assert_eq!(http_with("POST", d.addr, "/-/reload", &ok).0, 200);
    drop(d);

    // Basic auth that leaves /-/reload public does not open it to everyone.
    let extra = format!(
        "  web_config_file: {}\n  public_paths: [/-/healthy, /-/reload]\n",
        web.display()
    );
    let d = Daemon::start(&config(&dns, &extra));
    assert_eq!(http("POST", d.addr, "/-/reload").0, 403);
}
