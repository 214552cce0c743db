//! The daemon's state history (`global.history`), with no lab: the DNSBL zone is a tiny
//! loopback DNS server. `/api/v1/history` answers since when each check has been in its
//! state and when it was last OK; that survives a restart; an unusable history file is moved
//! aside, said in the log, and the daemon serves with a fresh one.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn history(d: &Daemon) -> Vec<Value> {
    let (status, body) = get(d.addr, "/api/v1/history?probe=bl");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Vec<Value>>(&body).unwrap()
}

#[test]
fn since_and_last_ok_survive_a_restart_and_a_corrupt_file_is_moved_aside() {
    let dns = slow_dnsbl(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    std::fs::write(&path, "not a database, whatever it was").unwrap();
    let config = format!(
        "global:\n  resolver: [\"{dns}\"]\n  jitter: 0\n  drain_timeout: 1s\n  history: {{ path: {}, keep: 30d }}\n\
         probes:\n  - name: bl\n    kind: dnsbl\n    interval: 1s\n    timeout: 1s\n    targets: [192.0.2.10]\n    zones: [{{ zone: dnsbl.test }}]\n",
        path.display()
    );
    let d = Daemon::start(&config);
    d.wait_for(Duration::from_secs(10), "a run is in the history", |d| {
        !history(d).is_empty()
    });
    let log = d.log_text();
    assert!(
        log.contains("not a readable SQLite database") && log.contains("moved it to"),
        "{log}"
    );
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".unusable-"))
        .collect();
    assert_eq!(aside.len(), 1);

    let first = history(&d)[0].clone();
    assert_eq!(first["target"], "192.0.2.10", "{first}");
    assert_eq!(first["state"], "OK", "{first}");
    assert_eq!(first["flaps_24h"], 0, "{first}");
    let since = first["since"].as_f64().unwrap();
    // More runs: the state did not change, so neither does since; last OK moves on.
    d.wait_for(Duration::from_secs(10), "last_ok moves", |d| {
        history(d)[0]["last_ok"].as_f64().unwrap() > since + 1.5
    });
    let later = history(&d);
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0]["since"].as_f64().unwrap(), since);
    drop(d);

    // A restart: the history is there before the first run.
    let d = Daemon::start(&config);
    let again = history(&d);
    assert_eq!(again[0]["since"].as_f64().unwrap(), since, "{again:?}");
    assert!(!d.log_text().contains("moved it to"), "{}", d.log_text());

    // A reload that removes the probe: its results go, its history stays (until retention).
    d.write_config(&config.replace("name: bl", "name: other"));
    d.signal("HUP");
    d.wait_for(Duration::from_secs(10), "the renamed probe has run", |d| {
        get(d.addr, "/api/v1/history?probe=other")
            .1
            .contains("since")
    });
    assert_eq!(history(&d)[0]["since"].as_f64().unwrap(), since);
    assert_eq!(get(d.addr, "/api/v1/results?probe=bl").1, "[]");
}

#[test]
fn without_global_history_the_endpoint_says_how_to_enable_it() {
    let dns = slow_dnsbl(Duration::ZERO);
    let d = Daemon::start(&format!(
        "global:\n  resolver: [\"{dns}\"]\nprobes:\n  - name: bl\n    kind: dnsbl\n    targets: [192.0.2.10]\n    zones: [{{ zone: dnsbl.test }}]\n"
    ));
    let (status, body) = get(d.addr, "/api/v1/history");
    assert_eq!(status, 404);
    assert!(body.contains("global.history.path"), "{body}");
}
