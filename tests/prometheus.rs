//! A real Prometheus (Debian `prometheus`, on loopback) scrapes `mailauth-probe serve` against
//! the lab: the target is up with no scrape error, and every metric of docs/metrics.md that the
//! lab config exercises is there, checked through Prometheus' HTTP API. This is the proof that
//! the OpenMetrics we write is read by the server (promtool 2.42 cannot check it).

mod common;

use std::time::{Duration, Instant};

use common::prometheus::*;
use common::*;

/// Metric names of docs/metrics.md produced by the given kinds.
fn documented(kinds: &[&str]) -> Vec<String> {
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    doc.lines()
        .filter(|l| l.starts_with("| `mailauth_"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let mut name = cols.get(1)?.trim_matches('`').to_string();
            // A histogram is stored as _bucket, _sum and _count series.
            if *cols.get(2)? == "histogram" {
                name.push_str("_count");
            }
            let produced_by = *cols.get(4)?;
            produced_by
                .split(',')
                .any(|k| kinds.contains(&k.trim()))
                .then_some(name)
        })
        .collect()
}

#[test]
fn prometheus_scrapes_metrics_and_probe_endpoints() {
    lab();
    let config = std::fs::read_to_string(root().join("contrib/lab/config.yaml"))
        .unwrap()
        .replace("interval: 30s", "interval: 2s")
        .replace("timeout: 10s", "timeout: 2s");
    let d = Daemon::start(&config);
    let scrape = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n\
         \x20 - job_name: mailauth\n    static_configs:\n      - targets: ['{addr}']\n\
         \x20 - job_name: mailauth_probe\n    metrics_path: /probe\n    params:\n      module: [dnsbl-own]\n\
         \x20   static_configs:\n      - targets: ['192.0.2.99', 'spammer.test']\n\
         \x20   relabel_configs:\n\
         \x20     - source_labels: [__address__]\n        target_label: __param_target\n\
         \x20     - source_labels: [__param_target]\n        target_label: instance\n\
         \x20     - target_label: __address__\n        replacement: '{addr}'\n",
        addr = d.addr
    );
    let p = prometheus(&scrape);

    // Every target up, with no scrape error.
    let start = Instant::now();
    loop {
        let v = api(&p, "/api/v1/targets");
        let targets = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let up = targets.len() == 3
            && targets
                .iter()
                .all(|t| t["health"] == "up" && t["lastError"] == "");
        if up {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "targets not all up: {}",
            serde_json::to_string_pretty(&targets).unwrap()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every documented metric of the kinds the lab config runs, from the scheduled endpoint.
    let names: Vec<String> =
        documented(&["all", "daemon", "dnsbl", "dns", "transport", "roundtrip"])
            .into_iter()
            // The lab's receiver marks spam with X-Spam-Flag only, no score (unit-tested in
            // src/exporter/metrics/tests.rs and probes/src/roundtrip/message.rs).
            .filter(|n| n != "mailauth_roundtrip_spam_score")
            .collect();
    assert!(names.len() >= 8, "{names:?}");
    let start = Instant::now();
    let mut missing: Vec<String> = names.clone();
    while !missing.is_empty() && start.elapsed() < Duration::from_secs(30) {
        missing.retain(|n| query(&p, &format!("{n}{{job=\"mailauth\"}}")).is_empty());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(missing.is_empty(), "not scraped by Prometheus: {missing:?}");

    // Values as Prometheus stored them.
    let listed = query(
        &p,
        "mailauth_dnsbl_listed{job=\"mailauth\",ip_or_domain=\"2001:db8::99\",zone=\"dnsbl.test\"}",
    );
    assert_eq!(listed[0]["value"][1], "1", "{listed:?}");
    // The /probe job: multi-target pattern, one live run per scrape.
    let probed = query(&p, "mailauth_dnsbl_listed{job=\"mailauth_probe\"}");
    assert_eq!(probed.len(), 2, "{probed:?}");
    assert!(probed.iter().all(|s| s["value"][1] == "1"), "{probed:?}");
}
