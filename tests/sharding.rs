//! Scale past one machine on Prometheus itself: 10,000 lab domains sharded by `hashmod` over
//! two Prometheus servers, each scraping `/probe` on its own `mailauth-probe serve` replica,
//! with the configuration `contrib/prometheus/prometheus-sharded.yml` documents (rendered per
//! shard with its documented `sed`, `modulus` 2, addresses and intervals of this test). The
//! union of the two servers must hold every domain exactly once: none lost, none probed
//! twice.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::prometheus::*;
use common::*;

const DOMAINS: usize = 10_000;
const SHARDS: usize = 2;

/// The domains, as the targets of a file_sd file.
fn domains() -> Vec<String> {
    (0..DOMAINS)
        .map(|i| format!("d{i:05}.shard.test"))
        .collect()
}

/// The exporter's config: the lab's resolver, one cheap domain DNSBL module, and the 10,000
/// domains on the `/probe` allow-list (nothing is scheduled for them: Prometheus schedules).
fn exporter_config(domains: &[String]) -> String {
    format!(
        "global:\n  resolver: [\"127.0.1.53:53\"]\n  timeout: 10s\nexporter:\n  allow_targets:\n{}probes:\n  - name: dbl-shard\n    kind: dnsbl\n    interval: 24h\n    targets: [lab.test]\n    zones:\n      - zone: dbl.test\n        kind: domain\n",
        domains
            .iter()
            .map(|d| format!("    - {d}\n"))
            .collect::<String>()
    )
}

/// contrib/prometheus/prometheus-sharded.yml for shard `k` of [`SHARDS`], as docs/alerts.md
/// renders it, pointed at `replica` and with intervals a test can wait for.
fn shard_config(k: usize, replica: std::net::SocketAddr) -> String {
    let text = std::fs::read_to_string(root().join("contrib/prometheus/prometheus-sharded.yml"))
        .expect("contrib/prometheus/prometheus-sharded.yml");
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        if l.trim_end().ends_with("# SHARD") {
            // The documented rendering: the first "0" of each such line is the shard number.
            l = l.replacen('0', &k.to_string(), 1);
            l = l.replace(
                &format!("mailauth-probe-{k}.internal:9725"),
                &replica.to_string(),
            );
        }
        out.push_str(&l);
        out.push('\n');
    }
    assert!(
        out.contains("modulus: 3"),
        "the documented example shards over 3"
    );
    out.replace("modulus: 3", &format!("modulus: {SHARDS}"))
        .replace("scrape_interval: 1m", "scrape_interval: 30s")
        .replace("scrape_interval: 2m", "scrape_interval: 60s")
        .replace("scrape_timeout: 1m", "scrape_timeout: 20s")
        // No Alertmanager in this test.
        .replace("'127.0.0.1:9093'", "'127.0.0.1:1'")
}

/// The `instance` (= domain) of every /probe series a server holds, with how often.
fn probed(p: &Prometheus) -> Vec<String> {
    query(
        p,
        "group by (instance) (mailauth_probe_success{job=\"mailauth_probe\"})",
    )
    .iter()
    .map(|s| s["metric"]["instance"].as_str().unwrap().to_string())
    .collect()
}

#[test]
fn ten_thousand_domains_sharded_over_two_prometheus_servers_each_once() {
    lab();
    let domains = domains();
    let config = exporter_config(&domains);
    let replicas: Vec<Daemon> = (0..SHARDS).map(|_| Daemon::start(&config)).collect();
    let targets = format!(
        "- targets:\n{}  labels:\n    module: dbl-shard\n",
        domains
            .iter()
            .map(|d| format!("    - {d}\n"))
            .collect::<String>()
    );
    let alerts = std::fs::read_to_string(root().join("contrib/prometheus/alerts.yml")).unwrap();
    let servers: Vec<Prometheus> = replicas
        .iter()
        .enumerate()
        .map(|(k, r)| {
            prometheus_with(
                &shard_config(k, r.addr),
                &[("targets/shard.yml", &targets), ("alerts.yml", &alerts)],
            )
        })
        .collect();

    // Every target lands in one bucket: each server discovers only its own share.
    let start = Instant::now();
    let shares: Vec<usize> = loop {
        let shares: Vec<usize> = servers
            .iter()
            .map(|p| {
                query(p, "count(up{job=\"mailauth_probe\"})")
                    .first()
                    .and_then(|s| s["value"][1].as_str().map(|v| v.parse().unwrap()))
                    .unwrap_or(0)
            })
            .collect();
        if shares.iter().sum::<usize>() >= DOMAINS || start.elapsed() > Duration::from_secs(240) {
            break shares;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(
        shares.iter().sum::<usize>(),
        DOMAINS,
        "targets per server: {shares:?}"
    );
    for s in &shares {
        assert!(
            *s > DOMAINS / 4,
            "hashmod should split 10,000 targets roughly evenly: {shares:?}"
        );
    }

    // Each server probes its share through its replica; wait for one scrape of each target.
    let start = Instant::now();
    let seen: Vec<Vec<String>> = loop {
        let seen: Vec<Vec<String>> = servers.iter().map(probed).collect();
        let done = seen.iter().zip(&shares).all(|(v, s)| v.len() >= *s);
        if done || start.elapsed() > Duration::from_secs(240) {
            break seen;
        }
        std::thread::sleep(Duration::from_secs(5));
    };
    let counts: Vec<usize> = seen.iter().map(Vec::len).collect();
    let union: BTreeSet<&String> = seen.iter().flatten().collect();
    let expected: BTreeSet<&String> = domains.iter().collect();
    let missing: Vec<_> = expected.difference(&union).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} domains in neither server (e.g. {missing:?}); per server {counts:?}",
        DOMAINS - union.len()
    );
    assert_eq!(
        counts.iter().sum::<usize>(),
        DOMAINS,
        "a domain is in both servers: per server {counts:?}"
    );
    assert_eq!(union.len(), DOMAINS);
    // And every probe answered as a probe: the domain list's verdict, not a refusal.
    for p in &servers {
        let refused = query(p, "count(up{job=\"mailauth_probe\"} == 0)");
        assert!(
            refused.is_empty(),
            "some /probe scrapes failed: {refused:?}"
        );
    }
}
