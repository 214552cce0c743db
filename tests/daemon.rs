//! `mailauth-probe serve` against the lab's DNS, asserted over HTTP as Prometheus, a person
//! and check_mailauth --daemon see it: listings, refusals, broken lists, /probe and its
//! allow-list, reloads by SIGHUP and HTTP, SIGTERM draining, and schedules that a hung probe
//! cannot delay.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn lab_config() -> String {
    std::fs::read_to_string(root().join("contrib/lab/config.yaml"))
        .unwrap()
        .replace("interval: 30s", "interval: 2s")
        .replace("timeout: 10s", "timeout: 2s")
}

fn listed(target: &str, zone: &str) -> String {
    format!("mailauth_dnsbl_listed{{ip_or_domain=\"{target}\",zone=\"{zone}\"}}")
}

fn status(probe: &str, target: &str, check: &str) -> String {
    format!("mailauth_check_status{{probe=\"{probe}\",target=\"{target}\",check=\"{check}\"}}")
}

fn last_run(m: &str, probe: &str, target: &str) -> Option<f64> {
    sample(
        m,
        &format!(
            "mailauth_probe_last_run_timestamp_seconds{{probe=\"{probe}\",target=\"{target}\"}}"
        ),
    )
}

fn all_ran(d: &Daemon) -> bool {
    let m = d.metrics();
    [
        ("dnsbl-own", "192.0.2.10"),
        ("dnsbl-own", "2001:db8::10"),
        ("dnsbl-own", "127.0.1.26"),
        ("dnsbl-own", "lab.test"),
        ("dnsbl-own", "192.0.2.99"),
        ("dnsbl-own", "2001:db8::99"),
        ("dnsbl-own", "spammer.test"),
        ("dnsbl-broken-lists", "192.0.2.10"),
    ]
    .iter()
    .all(|(p, t)| last_run(&m, p, t).is_some())
}

#[test]
fn dnsbl_listings_refusals_and_broken_lists_over_http() {
    lab();
    let d = Daemon::start(&lab_config());
    d.wait_for(Duration::from_secs(10), "every target ran", all_ran);
    let m = d.metrics();

    // Listed IPv4, IPv6 and domain; clean ones 0.
    for (t, z, v) in [
        ("192.0.2.99", "dnsbl.test", 1.0),
        ("2001:db8::99", "dnsbl.test", 1.0),
        ("spammer.test", "dbl.test", 1.0),
        ("192.0.2.10", "dnsbl.test", 0.0),
        ("2001:db8::10", "dnsbl.test", 0.0),
        ("127.0.1.26", "dnsbl.test", 0.0),
        ("lab.test", "dbl.test", 0.0),
    ] {
        assert_eq!(sample(&m, &listed(t, z)), Some(v), "{t} on {z}:\n{m}");
        let want = if v == 1.0 { 2.0 } else { 0.0 };
        assert_eq!(
            sample(&m, &status("dnsbl-own", t, &format!("listed:{z}"))),
            Some(want),
            "{t}"
        );
    }
    assert_eq!(
        sample(
            &m,
            "mailauth_probe_success{probe=\"dnsbl-own\",target=\"192.0.2.99\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "mailauth_probe_success{probe=\"dnsbl-own\",target=\"192.0.2.10\"}"
        ),
        Some(1.0)
    );

    // The refusing zone and the broken ones: state 3, never a listing.
    for z in ["everything.test", "refusing.test", "outside.test"] {
        assert_eq!(
            sample(
                &m,
                &status("dnsbl-broken-lists", "192.0.2.10", &format!("listed:{z}"))
            ),
            Some(3.0),
            "{z}"
        );
        assert!(!m.contains(&listed("192.0.2.10", z)), "{z} counted:\n{m}");
    }
    // ... with the reason, for a person (/) and for machines (/api/v1/results).
    let (code, page) = get(d.addr, "/");
    assert_eq!(code, 200);
    assert!(page.contains("127.255.255.254"), "{page}");
    assert!(page.contains("lists everything"), "{page}");
    let (_, api) = get(d.addr, "/api/v1/results?probe=dnsbl-broken-lists");
    assert!(
        api.contains("refuses queries through public or open resolvers"),
        "{api}"
    );
    assert_eq!(
        sample(&m, "mailauth_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(m.contains("mailauth_build_info{version=\""), "{m}");

    // check_mailauth --daemon: the same verdicts from the running daemon.
    let url = format!("http://{}", d.addr);
    for (probe, host, code) in [
        ("dnsbl-own", Some("192.0.2.10"), 0),
        ("dnsbl-own", Some("192.0.2.99"), 2),
        ("dnsbl-own", None, 2),
        ("dnsbl-broken-lists", None, 3),
    ] {
        let mut args = vec!["--daemon", &url, "--probe", probe];
        if let Some(h) = host {
            args.extend(["-H", h]);
        }
        let out = run("check_mailauth", &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stdout}");
        assert!(stdout.contains(" | 'listings'="), "{stdout}");
    }
    let out = run(
        "check_mailauth",
        &["--daemon", &url, "--probe", "no-such-probe"],
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn probe_endpoint_runs_live_for_allowed_targets_only() {
    lab();
    let d = Daemon::start(&lab_config());
    let (code, body) = get(d.addr, "/probe?module=dnsbl-own&target=192.0.2.99");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        sample(&body, &listed("192.0.2.99", "dnsbl.test")),
        Some(1.0),
        "{body}"
    );
    assert!(body.contains("mailauth_probe_success{probe=\"dnsbl-own\",target=\"192.0.2.99\"} 0"));
    // Only this run's series.
    assert!(!body.contains("192.0.2.10"), "{body}");
    assert!(!body.contains("mailauth_config_last_reload_successful"));

    // A domain of the config (IPv6 is encoded in the query string).
    let (code, body) = get(d.addr, "/probe?module=dnsbl-own&target=2001%3Adb8%3A%3A99");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        sample(&body, &listed("2001:db8::99", "dnsbl.test")),
        Some(1.0)
    );

    // Not in the allow-list: 403, and a log line.
    let (code, _) = get(d.addr, "/probe?module=dnsbl-own&target=203.0.113.5");
    assert_eq!(code, 403);
    let (code, _) = get(d.addr, "/probe?module=dnsbl-own&target=stranger.example");
    assert_eq!(code, 403);
    d.wait_for(Duration::from_secs(2), "the refusal is logged", |d| {
        d.log_text().contains("refused /probe") && d.log_text().contains("203.0.113.5")
    });
    // Unknown module, missing parameters.
    assert_eq!(get(d.addr, "/probe?module=nope&target=192.0.2.99").0, 400);
    assert_eq!(get(d.addr, "/probe").0, 400);
    // debug=true shows the outcome too.
    let (code, body) = get(
        d.addr,
        "/probe?module=dnsbl-own&target=192.0.2.99&debug=true",
    );
    assert_eq!(code, 200);
    assert!(body.contains("\"findings\""), "{body}");
}

#[test]
fn reload_bad_keeps_old_good_drops_removed_series() {
    lab();
    let d = Daemon::start(&lab_config());
    d.wait_for(Duration::from_secs(10), "every target ran", all_ran);

    // A bad config by SIGHUP: the old probes keep running, reload_successful 0.
    d.write_config("probes:\n  - name: x\n    kind: dnsbl\n    bogus: 1\n");
    d.signal("HUP");
    d.wait_for(Duration::from_secs(5), "reload_successful is 0", |d| {
        sample(&d.metrics(), "mailauth_config_last_reload_successful") == Some(0.0)
    });
    let before = last_run(&d.metrics(), "dnsbl-own", "192.0.2.99").unwrap();
    d.wait_for(Duration::from_secs(8), "the old probes still run", |d| {
        last_run(&d.metrics(), "dnsbl-own", "192.0.2.99").is_some_and(|t| t > before)
    });
    assert!(d.log_text().contains("bogus"), "the error is logged");

    // The same by HTTP: 500 with the errors, old config still in force.
    let (code, body) = http("POST", d.addr, "/-/reload");
    assert_eq!(code, 500);
    assert!(body.contains("unknown key `bogus`"), "{body}");
    assert!(d.metrics().contains("dnsbl-broken-lists"));

    // A good config without dnsbl-broken-lists: its series disappear.
    let good = lab_config();
    let cut = good.find("  # Lists that misbehave").unwrap();
    d.write_config(&good[..cut]);
    let (code, body) = http("POST", d.addr, "/-/reload");
    assert_eq!(code, 200, "{body}");
    let m = d.metrics();
    assert_eq!(
        sample(&m, "mailauth_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(!m.contains("dnsbl-broken-lists"), "{m}");
    // Kept probes keep their series.
    assert!(last_run(&m, "dnsbl-own", "192.0.2.99").is_some());

    // And SIGHUP with a good config works too.
    d.write_config(&lab_config());
    d.signal("HUP");
    d.wait_for(Duration::from_secs(8), "the re-added probe runs", |d| {
        last_run(&d.metrics(), "dnsbl-broken-lists", "192.0.2.10").is_some()
    });
    assert_eq!(get(d.addr, "/-/reload").0, 405);
}

#[test]
fn sigterm_with_a_probe_in_flight_exits_within_the_drain_bound() {
    let hole = black_hole_dns();
    let config = format!(
        "global:\n  drain_timeout: 2s\nprobes:\n  - name: hung\n    kind: dnsbl\n    interval: 1m\n    timeout: 50s\n    resolver: [\"{}\"]\n    targets: [192.0.2.10]\n    zones: [{{zone: dnsbl.test}}]\n",
        hole.addr
    );
    let mut d = Daemon::start(&config);
    // The first run starts within a second and then hangs on the silent server.
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    d.signal("TERM");
    loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "still running {:?} after SIGTERM; log:\n{}",
            start.elapsed(),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = start.elapsed();
    // It waited for the run in flight (the drain bound), and not much longer.
    assert!(
        took >= Duration::from_millis(1800),
        "exited after {took:?}: did not drain"
    );
    assert!(took < Duration::from_secs(3), "exited after {took:?}");
    assert!(d.log_text().contains("drain timeout"), "{}", d.log_text());
}

#[test]
fn a_hung_probe_does_not_delay_another_probes_schedule() {
    lab();
    let hole = black_hole_dns();
    let config = format!(
        "global:\n  resolver: [\"{LAB_DNS}\"]\n  jitter: 0\nprobes:\n  - name: hung\n    kind: dnsbl\n    interval: 30s\n    timeout: 25s\n    resolver: [\"{}\"]\n    targets: [192.0.2.10, 192.0.2.11, 192.0.2.12]\n    zones: [{{zone: dnsbl.test}}]\n  - name: healthy\n    kind: dnsbl\n    interval: 1s\n    timeout: 1s\n    targets: [192.0.2.99]\n    zones: [{{zone: dnsbl.test}}]\n",
        hole.addr
    );
    let d = Daemon::start(&config);
    d.wait_for(Duration::from_secs(5), "healthy ran once", |d| {
        last_run(&d.metrics(), "healthy", "192.0.2.99").is_some()
    });
    let first = last_run(&d.metrics(), "healthy", "192.0.2.99").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let m = d.metrics();
    let later = last_run(&m, "healthy", "192.0.2.99").unwrap();
    // Runs every second while the hung probe's runs are all still in flight.
    assert!(
        later - first >= 2.5,
        "healthy ran at {first} then only at {later}"
    );
    assert!(
        last_run(&m, "hung", "192.0.2.10").is_none(),
        "the hung probe finished?\n{m}"
    );
}

#[test]
fn runs_queued_behind_the_concurrency_limit_get_their_whole_timeout() {
    // One run at a time, four targets due at once, each run taking about 0.6 s against a
    // slow but working list: 2.4 s of work, each run within its 1.5 s timeout. A run's
    // timeout starts when it gets its slot: none may end UNKNOWN for time spent queued.
    let slow = slow_dnsbl(Duration::from_millis(300));
    let targets = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"];
    let config = format!(
        "global:\n  resolver: [\"{slow}\"]\n  concurrency: 1\n  jitter: 0\nprobes:\n  - name: queued\n    kind: dnsbl\n    interval: 60s\n    timeout: 1500ms\n    targets: [{}]\n    zones: [{{zone: slow.test}}]\n",
        targets.join(", ")
    );
    let d = Daemon::start(&config);
    d.wait_for(Duration::from_secs(15), "every target ran once", |d| {
        let m = d.metrics();
        targets.iter().all(|t| last_run(&m, "queued", t).is_some())
    });
    let m = d.metrics();
    for t in targets {
        assert_eq!(
            sample(&m, &status("queued", t, "listed:slow.test")),
            Some(0.0),
            "{t} not judged OK:\n{m}\n{}",
            d.log_text()
        );
    }
}

#[test]
fn web_config_basic_auth_guards_probe_and_reload_and_roundtrip_stays_home() {
    lab();
    let dir = tempfile::tempdir().unwrap();
    let web = write_temp(
        dir.path(),
        "web.yml",
        &format!(
            "basic_auth_users:\n  prometheus: '{}'\n",
            hash_password("scrape-s3cret")
        ),
    );
    let config = lab_config().replace(
        "exporter:\n  listen: 127.0.0.1:9725\n",
        &format!(
            "exporter:\n  listen: 127.0.0.1:9725\n  web_config_file: {}\n",
            web.display()
        ),
    );
    assert!(config.contains("web_config_file"));
    let d = Daemon::start(&config); // /-/healthy stays open
    assert_eq!(get(d.addr, "/-/ready").0, 200);

    // Without credentials, or with wrong ones: 401 with a challenge, and the daemon says so.
    let probe = "/probe?module=dnsbl-own&target=192.0.2.99";
    let (code, head) = http_with("GET", d.addr, probe, "X-Test-Head: 1\r\n");
    assert_eq!(code, 401, "{head}");
    assert!(
        head.contains("www-authenticate: Basic realm=\"mailauth-probe\""),
        "{head}"
    );
    assert_eq!(http("POST", d.addr, "/-/reload").0, 401);
    assert_eq!(get(d.addr, "/metrics").0, 401);
    assert_eq!(get(d.addr, "/").0, 401);
    let wrong = basic("prometheus", "guess");
    assert_eq!(http_with("GET", d.addr, probe, &wrong).0, 401);
    assert_eq!(http_with("POST", d.addr, "/-/reload", &wrong).0, 401);
    let nobody = basic("admin", "scrape-s3cret");
    assert_eq!(http_with("GET", d.addr, probe, &nobody).0, 401);
    d.wait_for(Duration::from_secs(2), "refusals are logged", |d| {
        let log = d.log_text();
        log.contains("refused a request without valid credentials") && log.contains("/-/reload")
    });

    // With them: served.
    let ok = basic("prometheus", "scrape-s3cret");
    let (code, body) = http_with("GET", d.addr, probe, &ok);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        sample(&body, &listed("192.0.2.99", "dnsbl.test")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(http_with("GET", d.addr, "/metrics", &ok).0, 200);
    assert_eq!(http_with("POST", d.addr, "/-/reload", &ok).0, 200);

    // A round trip sends mail: never to a target the config does not name, even with
    // credentials, and the refusal is logged.
    let (code, body) = http_with(
        "GET",
        d.addr,
        "/probe?module=roundtrip-lab&target=stranger.example",
        &ok,
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("sends mail"), "{body}");
    d.wait_for(Duration::from_secs(2), "the 403 is logged", |d| {
        d.log_text().contains("refused /probe") && d.log_text().contains("stranger.example")
    });
    // The secret never reaches the log.
    assert!(!d.log_text().contains("scrape-s3cret"));
}

#[test]
fn web_config_tls_serves_https_only() {
    lab();
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl req");
    let web = write_temp(
        dir.path(),
        "web.yml",
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
    );
    let config = lab_config().replace(
        "exporter:\n  listen: 127.0.0.1:9725\n",
        &format!(
            "exporter:\n  listen: 127.0.0.1:9725\n  web_config_file: {}\n",
            web.display()
        ),
    );
    let d = Daemon::spawn(&config);
    let curl = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(dir.path().join("cert.pem"))
            .args(["-w", "\n%{http_code}", &format!("https://{}{path}", d.addr)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    d.wait_for(Duration::from_secs(10), "HTTPS /-/healthy answers", |_| {
        curl("/-/healthy").ends_with("200")
    });
    let body = curl("/probe?module=dnsbl-own&target=192.0.2.99");
    assert!(body.ends_with("200"), "{body}");
    assert_eq!(
        sample(&body, &listed("192.0.2.99", "dnsbl.test")),
        Some(1.0),
        "{body}"
    );
    // Plain HTTP on the TLS port gets no HTTP answer, and the daemon keeps serving.
    let mut s = std::net::TcpStream::connect(d.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    use std::io::{Read, Write};
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        !String::from_utf8_lossy(&buf).contains("mailauth_"),
        "plain HTTP served"
    );
    assert!(curl("/metrics").ends_with("200"));
}

#[test]
fn oversized_request_heads_are_refused_and_the_daemon_keeps_serving() {
    use std::io::{Read, Write};
    let d = Daemon::start("probes: []\n");
    let send = |head: String| -> String {
        let mut s = std::net::TcpStream::connect(d.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(head.as_bytes());
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    };
    // One 200 KB header line, and 500 small header lines: refused (431) or cut off, never
    // served.
    let big = send(format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    ));
    assert!(
        !big.contains(" 200 "),
        "a 200 KB header was served: {big:.200}"
    );
    let many = send(format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    ));
    assert!(
        !many.contains(" 200 "),
        "500 header lines were served: {many:.200}"
    );
    assert!(
        big.is_empty() || big.starts_with("HTTP/1.1 431"),
        "{big:.200}"
    );
    assert!(
        many.is_empty() || many.starts_with("HTTP/1.1 431"),
        "{many:.200}"
    );
    // Still serving.
    assert_eq!(get(d.addr, "/metrics").0, 200);
    assert_eq!(get(d.addr, "/-/healthy").0, 200);
}
