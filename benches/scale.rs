//! Benchmark (issue 18): one `mailauth-probe serve` with 1,000 configured domains, each checked
//! by the dns, transport and dnsbl probes on a compressed schedule, soaked for a bounded time.
//! Prints a table: steady-state RSS, CPU seconds per probe run, `/metrics` render time and
//! size, and whether memory or open file descriptors grow over the soak, against the targets
//! (RSS under 200 MB, `/metrics` under 250 ms, no growth).
//!
//! Run as root on Debian 12 with the lab up (`contrib/lab/up`, then `cargo bench --bench
//! scale`). The domains are `d00000.plain.test` .. `d00999.plain.test`, served by a private
//! knotd on 127.0.9.53 (zones of benches/common: MX, SPF with includes, DMARC, two DKIM keys,
//! MTA-STS and TLS-RPT records); their MX hosts resolve to the lab's Postfix MX (127.0.1.25,
//! STARTTLS with the lab's certificate, which names mx.lab.test: every domain gets real TLS
//! findings); the dnsbl probe asks the lab's lists (127.0.1.53). The daemon is the release
//! binary, started as an operator would start it, and measured from outside through /proc and
//! HTTP, so what is measured is what runs.
//!
//! Knobs (environment): `MAILAUTH_BENCH_SCALE_DOMAINS` (1000), `MAILAUTH_BENCH_SCALE_INTERVAL`
//! (seconds between runs of each probe, 60), `MAILAUTH_BENCH_SCALE_SOAK` (seconds measured
//! after the warm-up, 300), `MAILAUTH_BENCH_SCALE_WARMUP` (intervals after the first full
//! cycle, with /metrics scraped every 5 s, before the soak is measured; 3),
//! `MAILAUTH_BENCH_DNS_IP` (127.0.9.53).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;

const RSS_TARGET_MB: f64 = 200.0;
const METRICS_TARGET_MS: f64 = 250.0;
const LAB_MX: &str = "127.0.1.25";
const LAB_DNS: &str = "127.0.1.53:53";
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// One look at the daemon from outside.
struct Sample {
    at: f64,
    rss_mb: f64,
    fds: usize,
    cpu_s: f64,
    metrics_ms: f64,
    metrics_bytes: usize,
    series: usize,
    /// (probe, target) → last run timestamp.
    last_runs: BTreeMap<(String, String), String>,
    /// mailauth_probe_success by probe: (1s, 0s).
    success: BTreeMap<String, (usize, usize)>,
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// GET `path`; (milliseconds until the whole body was read, body).
fn http_get(addr: SocketAddr, path: &str) -> (f64, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (ms, body)
}

/// The value of label `key` in a sample line's label set.
fn label_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}=\""))? + key.len() + 2;
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

fn sample(pid: u32, addr: SocketAddr, t0: Instant) -> Sample {
    let (metrics_ms, body) = http_get(addr, "/metrics");
    let mut last_runs = BTreeMap::new();
    let mut success: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut series = 0;
    for l in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        series += 1;
        if l.starts_with("mailauth_probe_last_run_timestamp_seconds{") {
            if let (Some(p), Some(t)) = (label_value(l, "probe"), label_value(l, "target")) {
                let v = l.rsplit(' ').next().unwrap_or("").to_string();
                last_runs.insert((p.to_string(), t.to_string()), v);
            }
        } else if l.starts_with("mailauth_probe_success{")
            && let Some(p) = label_value(l, "probe")
        {
            let e = success.entry(p.to_string()).or_default();
            if l.ends_with(" 1") || l.ends_with(" 1.0") {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }
    Sample {
        at: t0.elapsed().as_secs_f64(),
        rss_mb: proc_status_kb(&pid.to_string(), "VmRSS:") as f64 / 1024.0,
        fds: fds(pid),
        cpu_s: proc_cpu_seconds(&pid.to_string()),
        metrics_ms,
        metrics_bytes: body.len(),
        series,
        last_runs,
        success,
    }
}

/// Runs that finished between two samples: (probe, target) whose timestamp changed or appeared.
fn runs_between(a: &Sample, b: &Sample) -> usize {
    b.last_runs
        .iter()
        .filter(|(k, v)| a.last_runs.get(*k) != Some(v))
        .count()
}

fn write_config(dir: &Path, n: usize, ns: std::net::IpAddr, interval: u64) -> std::path::PathBuf {
    let mut c = format!(
        "# Written by benches/scale.rs.\nglobal:\n  resolver: [\"{ns}:53\"]\n  interval: {interval}s\n  timeout: {}s\n  ca_file: /tmp/mailauth-lab/pki/ca.pem\ndomains:\n",
        interval.min(30)
    );
    for i in 0..n {
        let _ = writeln!(
            c,
            "  {}.plain.test: {{dkim_selectors: [s1, s2], sending_ips: [{SENDER_IP}]}}",
            label(i)
        );
    }
    let _ = write!(
        c,
        "probes:\n  - name: dns\n    kind: dns\n    helo: out.plain.test\n  - name: transport\n    kind: transport\n    open_relay: false\n  - name: dnsbl\n    kind: dnsbl\n    resolver: [\"{LAB_DNS}\"]\n    zones:\n      - zone: dnsbl.test\n      - {{zone: dbl.test, kind: domain}}\n"
    );
    let path = dir.join("scale.yaml");
    std::fs::write(&path, c).unwrap();
    path
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() {
    mailauth_probe::install_crypto_provider();
    if std::env::var_os("MAILAUTH_BENCH_MX_IP").is_none() {
        // SAFETY: no other thread runs yet; the zones read it once, below.
        unsafe { std::env::set_var("MAILAUTH_BENCH_MX_IP", LAB_MX) };
    }
    let n = env_usize("MAILAUTH_BENCH_SCALE_DOMAINS", 1000);
    let interval = env_usize("MAILAUTH_BENCH_SCALE_INTERVAL", 60) as u64;
    let soak = env_usize("MAILAUTH_BENCH_SCALE_SOAK", 300) as f64;
    // RSS climbs for about 90 s once /metrics is scraped every 5 s (each render is a 4 MB
    // body, and each worker thread's allocator arena keeps one), then stays flat (a 50-minute
    // soak did), so the warm-up scrapes as the soak does and lasts three intervals.
    let warmup = env_usize("MAILAUTH_BENCH_SCALE_WARMUP", 3) as u64;
    let ns = ns_ip();
    let mx: SocketAddr = format!("{LAB_MX}:25").parse().unwrap();
    TcpStream::connect_timeout(&mx, Duration::from_secs(2)).unwrap_or_else(|e| {
        panic!("the lab's MX ({mx}) does not answer ({e}): run contrib/lab/up first")
    });
    let t0 = Instant::now();
    let (_tmp, dir, knot, r) = start_private_knot("mailauth-bench-scale-", n, ns);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(600);
        for i in [0, n - 1] {
            let zone = name(&format!("{}.plain.test.", label(i)));
            while r
                .raw_records(
                    zone.clone(),
                    hickory_resolver::proto::rr::RecordType::SOA,
                    false,
                )
                .await
                .is_err()
            {
                assert!(Instant::now() < deadline, "knotd does not serve {zone}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    eprintln!(
        "scale bench: knotd serves {n} domains, ready in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let config = write_config(&dir, n, ns, interval);
    let listen: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailauth-probe"))
        .args(["--log-level", "warn", "serve", "--config"])
        .arg(&config)
        .args(["--listen", &listen.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mailauth-probe serve");
    let pid = child.id();
    CHILD_PID.store(pid, Ordering::SeqCst);
    let started = Instant::now();
    while TcpStream::connect(listen).is_err() {
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || started.elapsed() > Duration::from_secs(60) {
            panic!(
                "serve did not listen ({exited:?}):\n{}",
                std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let load_s = started.elapsed().as_secs_f64();

    // Warm-up: until every (probe, target) has run once, then `warmup` more intervals for the
    // first cycle's stragglers and the allocator's working size to settle.
    let targets_expected;
    loop {
        let s = sample(pid, listen, started);
        let by_probe = |p: &str| s.last_runs.keys().filter(|(q, _)| q == p).count();
        let (d, t, b) = (by_probe("dns"), by_probe("transport"), by_probe("dnsbl"));
        if d >= n && t >= n && b > n {
            targets_expected = s.last_runs.len();
            eprintln!(
                "scale bench: first cycle done after {:.0} s ({} targets: dns {d}, transport {t}, dnsbl {b})",
                s.at,
                s.last_runs.len()
            );
            break;
        }
        assert!(
            s.at < 3.0 * interval as f64 + 120.0,
            "first cycle not done after {:.0} s: dns {d}, transport {t}, dnsbl {b} of {n}",
            s.at
        );
        std::thread::sleep(SAMPLE_EVERY);
    }
    // Scraped as during the soak (as Prometheus would), so the soak starts from the
    // working size, not from a daemon nobody has asked for /metrics for a while.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(interval * warmup) {
        std::thread::sleep(SAMPLE_EVERY);
        let _ = sample(pid, listen, started);
    }

    // The soak.
    let mut samples: Vec<Sample> = vec![sample(pid, listen, started)];
    let soak_start = Instant::now();
    while soak_start.elapsed().as_secs_f64() < soak {
        std::thread::sleep(SAMPLE_EVERY);
        samples.push(sample(pid, listen, started));
    }
    // /metrics back to back, for its render time without the sampling pauses.
    let burst: Vec<f64> = (0..20).map(|_| http_get(listen, "/metrics").0).collect();
    let _ = child.kill();
    let _ = child.wait();
    CHILD_PID.store(0, Ordering::SeqCst);

    let first = &samples[0];
    let last = samples.last().unwrap();
    let runs: usize = samples.windows(2).map(|w| runs_between(&w[0], &w[1])).sum();
    let cpu = last.cpu_s - first.cpu_s;
    let rss: Vec<f64> = samples.iter().map(|s| s.rss_mb).collect();
    let third = (samples.len() / 3).max(1);
    let rss_early = mean(&rss[..third]);
    let rss_late = mean(&rss[rss.len() - third..]);
    let fds_v: Vec<usize> = samples.iter().map(|s| s.fds).collect();
    let fds_early = *fds_v[..third].iter().max().unwrap();
    let fds_late = *fds_v[fds_v.len() - third..].iter().max().unwrap();
    let metrics_ms: Vec<f64> = samples
        .iter()
        .map(|s| s.metrics_ms)
        .chain(burst.iter().copied())
        .collect();
    let m_median = median(metrics_ms.clone());
    let m_max = metrics_ms.iter().cloned().fold(0.0, f64::max);
    let rss_max = rss.iter().cloned().fold(0.0, f64::max);
    let rss_median = median(rss.clone());
    let growth_mb = rss_late - rss_early;
    // Growth: more than 5 % (and 5 MB) from the first third of the soak to the last, or
    // more descriptors at the end than ever in the first third (plus what runs in flight use).
    let mem_grows = growth_mb > (rss_early * 0.05).max(5.0);
    let fds_grow = fds_late > fds_early + 40;

    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!(
        "{n} domains, 3 probes (dns, transport, dnsbl), every {interval} s; {} targets, {} series, soak {:.0} s after the first cycle and {warmup} more intervals, {} samples",
        targets_expected,
        last.series,
        soak,
        samples.len()
    );
    println!();
    println!("| measure | value | target | verdict |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| steady-state RSS, median (max) | {rss_median:.1} MB ({rss_max:.1} MB) | < {RSS_TARGET_MB:.0} MB | {} |",
        verdict(rss_max < RSS_TARGET_MB)
    );
    println!(
        "| `/metrics` render and transfer, median (max) | {m_median:.1} ms ({m_max:.1} ms) | < {METRICS_TARGET_MS:.0} ms | {} |",
        verdict(m_max < METRICS_TARGET_MS)
    );
    println!(
        "| `/metrics` size | {:.2} MB, {} series ({:.1} per domain) | | |",
        last.metrics_bytes as f64 / 1e6,
        last.series,
        last.series as f64 / n as f64
    );
    println!(
        "| CPU per probe run (all kinds) | {:.2} ms ({runs} runs, {cpu:.1} s CPU) | | |",
        cpu * 1000.0 / runs.max(1) as f64
    );
    println!(
        "| RSS, first third of the soak → last third | {rss_early:.1} → {rss_late:.1} MB ({growth_mb:+.1} MB) | no growth | {} |",
        verdict(!mem_grows)
    );
    println!(
        "| open file descriptors, max in first third → last third | {fds_early} → {fds_late} | no growth | {} |",
        verdict(!fds_grow)
    );
    println!();
    println!(
        "config load and listen: {load_s:.1} s; daemon CPU over the soak: {:.0} % of one core; knotd CPU {:.1} s, RSS {:.0} MB",
        cpu * 100.0 / (last.at - first.at).max(1e-9),
        knot.cpu_seconds(),
        knot.rss_mb()
    );
    let mut outcome = String::new();
    for (p, (ok, bad)) in &last.success {
        let _ = write!(outcome, "{p}: {ok} success, {bad} not; ");
    }
    println!("last sample, mailauth_probe_success by probe: {outcome}");
    // The trend, for telling an allocator that settles from a leak: mean RSS and max open
    // descriptors in each tenth of the soak.
    let tenth = samples.len().div_ceil(10).max(1);
    let mut trend = String::new();
    for w in samples.chunks(tenth) {
        let r: Vec<f64> = w.iter().map(|s| s.rss_mb).collect();
        let f = w.iter().map(|s| s.fds).max().unwrap_or(0);
        let _ = write!(
            trend,
            "{:.0} s: {:.1} MB, {f} fds; ",
            w[0].at - first.at,
            mean(&r)
        );
    }
    println!("RSS by tenth of the soak (from its start): {trend}");
}
