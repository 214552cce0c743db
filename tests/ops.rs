//! The operations kit against the real programs it is written for: a real Prometheus on
//! loopback scrapes `mailauth-probe serve` running the lab config (plus a report mailbox with
//! a DMARC and a TLS-RPT report in it), loads `contrib/prometheus/alerts.yml` with its `for:`
//! durations shortened, and sends to a real Alertmanager on loopback.
//!
//! It shows that every dashboard panel's and every alert's expression is valid PromQL and that
//! the part selecting series (the expression with its comparison removed) returns at least one
//! series from what the exporter really emits, so a renamed metric or label cannot leave a panel
//! empty or an alert silent unnoticed; and that the lab's unsigned sender (`roundtrip-unsigned`)
//! makes `MailauthDkimFailing` go pending, then firing, and reach Alertmanager.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::prometheus::*;
use common::promql::{grafana_all, selecting_part};
use common::reports::*;
use common::*;

/// The shortened `for:` of every rule: long enough to see `pending`, short enough for a test.
const FOR: &str = "6s";

struct Alertmanager {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Debian's `prometheus-alertmanager` on a free loopback port, with the example config
/// (its receivers are webhooks on loopback that nobody serves: delivery failing is fine, the
/// test reads what Alertmanager received through its API), clustering off.
fn alertmanager() -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("contrib/alertmanager/alertmanager.yml");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("alertmanager.log")).unwrap())
        .spawn()
        .expect("start prometheus-alertmanager (Debian package `prometheus-alertmanager`)");
    let am = Alertmanager {
        child,
        addr,
        _dir: dir,
    };
    let start = Instant::now();
    while get_ok(am.addr, "/-/ready").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "alertmanager not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    am
}

/// Every alerting rule of alerts.yml: (name, expression).
fn alert_rules(text: &str) -> Vec<(String, String)> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).expect("alerts.yml is YAML");
    let mut out = Vec::new();
    for group in docs[0]["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            if let (Some(name), Some(expr)) = (rule["alert"].as_str(), rule["expr"].as_str()) {
                out.push((name.to_string(), expr.to_string()));
            }
        }
    }
    out
}

/// Every panel expression and variable query of every dashboard: (where, expression).
fn dashboard_queries() -> Vec<(String, String)> {
    fn panels(v: &serde_json::Value, dash: &str, out: &mut Vec<(String, String)>) {
        for p in v["panels"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) {
                    out.push((format!("{dash}: panel `{title}`"), e.to_string()));
                }
            }
            panels(p, dash, out);
        }
    }
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("dashboards"))
        .expect("dashboards/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards");
    for f in files {
        let dash = f.file_name().unwrap().to_string_lossy().to_string();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        panels(&v, &dash, &mut out);
        for var in v["templating"]["list"].as_array().into_iter().flatten() {
            if var["type"] != "query" {
                continue;
            }
            let q = var["query"]["query"]
                .as_str()
                .or(var["query"].as_str())
                .or(var["definition"].as_str())
                .unwrap_or("");
            // label_values(selector, label): the selector must select something.
            if let Some(inner) = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
            {
                let selector = match inner.rfind(',') {
                    Some(i) => &inner[..i],
                    None => inner,
                };
                let name = var["name"].as_str().unwrap_or("?");
                out.push((format!("{dash}: variable `{name}`"), selector.to_string()));
            }
        }
    }
    out
}

fn percent_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `q`; Err with Prometheus' own message when it is not valid PromQL.
fn try_query(p: &Prometheus, q: &str) -> Result<Vec<serde_json::Value>, String> {
    let (code, body) = get(
        p.addr,
        &format!("/api/v1/query?query={}", percent_encode(q)),
    );
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if code != 200 || v["status"] != "success" {
        return Err(format!("{code}: {}", v["error"]));
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// The alert rules with every `for:` set to [`FOR`].
fn shortened(rules: &str) -> String {
    rules
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("for:") {
                format!("{}for: {FOR}", &l[..l.len() - t.len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn promql_helpers_cut_comparisons_and_fill_variables() {
    assert_eq!(
        selecting_part("(time() - mailauth_x{a=\">\"}) > 3 * 86400"),
        "(time() - mailauth_x{a=\">\"})"
    );
    assert_eq!(
        selecting_part("mailauth_check_status{check=~\"dkim:.*\"} == 2"),
        "mailauth_check_status{check=~\"dkim:.*\"}"
    );
    assert_eq!(
        selecting_part("max by (probe) (x) >= 2 unless on(probe) y"),
        "max by (probe) (x)"
    );
    assert_eq!(selecting_part("a unless b"), "a");
    assert_eq!(selecting_part("sum(orange)"), "sum(orange)");
    assert_eq!(
        grafana_all(
            "rate(x{probe=~\"$probe\",t=~\"${target}\"}[$__rate_interval])",
            "5m"
        ),
        "rate(x{probe=~\".*\",t=~\".*\"}[5m])"
    );
}

#[test]
fn dashboards_and_alerts_select_real_series_and_the_dkim_alert_reaches_alertmanager() {
    lab();
    // A report mailbox with reports in it, so the report panels and alerts have series.
    let pid = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reports.sqlite");
    for m in [
        mail(
            "xml",
            "a.xml",
            "text/xml",
            dmarc_xml("Reporter Ops", &format!("{pid}-ops"), 5, 2).as_bytes(),
        ),
        mail(
            "tls",
            "t.json",
            "application/tlsrpt+json",
            tlsrpt_json("Reporter Ops", &format!("{pid}-opstls"), 20, 2).as_bytes(),
        ),
        mail("bad", "bad.xml", "text/xml", b"<feedback>not closed"),
    ] {
        smtp_deliver("dmarc@reporter.invalid", "reports@lab.test", &m);
    }
    let lab_config = std::fs::read_to_string(root().join("contrib/lab/config.yaml"))
        .unwrap()
        .replace("interval: 30s", "interval: 10s");
    let config = format!(
        "{}\n  - name: reports-ops\n    kind: reports\n    interval: 10s\n    timeout: 5s\n    store: {}\n    processed_folder: T{pid}-Processed\n    invalid_folder: T{pid}-Invalid\n    imap:\n      host: imap.lab.test\n      username: reports@lab.test\n      password_file: {}\n",
        lab_config.trim_end(),
        store.display(),
        lab_dir()
            .join("secrets/reports@lab.test.password")
            .display()
    );
    let d = Daemon::start(&config);
    let am = alertmanager();
    let rules_text = std::fs::read_to_string(root().join("contrib/prometheus/alerts.yml"))
        .expect("contrib/prometheus/alerts.yml");
    let scrape = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files: [alerts.yml]\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n\
         scrape_configs:\n\
         \x20 - job_name: mailauth\n    static_configs:\n      - targets: ['{addr}']\n",
        am = am.addr,
        addr = d.addr
    );
    let p = prometheus_with(&scrape, &[("alerts.yml", &shortened(&rules_text))]);

    // From the start: the states MailauthDkimFailing takes for the unsigned sender.
    let prom_addr = p.addr;
    let watcher = std::thread::spawn(move || {
        let mut seen: Vec<String> = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(90) && !seen.iter().any(|s| s == "firing") {
            let (_, body) = get(prom_addr, "/api/v1/alerts");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let state = v["data"]["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| {
                    a["labels"]["alertname"] == "MailauthDkimFailing"
                        && a["labels"]["probe"] == "roundtrip-unsigned"
                })
                .and_then(|a| a["state"].as_str().map(str::to_string));
            if let Some(s) = state
                && seen.last() != Some(&s)
            {
                seen.push(s);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        seen
    });

    // Every rule loaded (none rejected by Prometheus).
    let rules = alert_rules(&rules_text);
    assert!(rules.len() >= 20, "only {} alert rules", rules.len());
    let loaded = api(&p, "/api/v1/rules");
    let loaded_names: Vec<&str> = loaded["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .filter_map(|r| r["name"].as_str())
        .collect();
    for (name, _) in &rules {
        assert!(
            loaded_names.contains(&name.as_str()),
            "{name} not loaded by Prometheus"
        );
    }

    // Every expression valid; its selecting part returns series once the exporter's runs
    // are in (the round trips and the report ingestion take a few scrapes).
    let mut pending: Vec<(String, String)> = rules
        .iter()
        .map(|(n, e)| (format!("alert {n}"), e.clone()))
        .chain(
            dashboard_queries()
                .into_iter()
                .map(|(w, e)| (w, grafana_all(&e, "1m"))),
        )
        .collect();
    let total = pending.len();
    for (what, expr) in &pending {
        if let Err(e) = try_query(&p, expr) {
            panic!("{what}: `{expr}` is not valid PromQL: {e}");
        }
    }
    let start = Instant::now();
    loop {
        pending.retain(|(_, e)| {
            try_query(&p, &selecting_part(e))
                .map(|r| r.is_empty())
                .unwrap_or(true)
        });
        if pending.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let empty: Vec<String> = pending
        .iter()
        .map(|(w, e)| format!("{w}: `{}`", selecting_part(e)))
        .collect();
    assert!(
        empty.is_empty(),
        "{} of {total} expressions select no series from the exporter:\n{}",
        empty.len(),
        empty.join("\n")
    );

    // The unsigned sender: MailauthDkimFailing went pending, then firing (watched from the
    // start, in a thread), then reached Alertmanager.
    let seen = watcher.join().unwrap();
    assert_eq!(
        seen,
        ["pending", "firing"],
        "MailauthDkimFailing for roundtrip-unsigned, states in order; alerts now: {}",
        api(&p, "/api/v1/alerts")
    );
    let start = Instant::now();
    loop {
        let (code, body) = get(
            am.addr,
            "/api/v2/alerts?filter=alertname%3D%22MailauthDkimFailing%22",
        );
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let found = v.as_array().into_iter().flatten().any(|a| {
            a["labels"]["probe"] == "roundtrip-unsigned"
                && a["labels"]["severity"] == "critical"
                && a["status"]["state"] == "active"
        });
        if found {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Alertmanager never received MailauthDkimFailing: {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // And the healthy sender does not trip it.
    assert!(
        api(&p, "/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|a| !(a["labels"]["alertname"] == "MailauthDkimFailing"
                && a["labels"]["probe"] == "roundtrip-lab")),
        "the signed sender must not fire MailauthDkimFailing"
    );
}
