//! Benchmark (issue 13): every DNS check of `kind: dns` on 10,000 domains served by a private
//! Knot DNS, without and with DNSSEC validation, and checkdmarc (PyPI) on a 500-domain sample of
//! the same zones. Prints a table: wall time, time per domain, queries per second (counted by
//! Knot's mod-stats), peak RSS, and each row's time per domain relative to the first row.
//!
//! Run as root on Debian 12: `cargo bench --bench dns` (needs knotd/knotc, `unshare`; the
//! checkdmarc row needs `contrib/fetch-test-data --checkdmarc` first, else it prints "not run"). It does not
//! use the lab: it starts its own knotd on 127.0.9.53:53 (`MAILAUTH_BENCH_DNS_IP` to change the
//! address; port 53 because the nameserver check asks every NS on port 53) with zones generated
//! in a temporary directory, and stops it at the end, on panic and on SIGINT/SIGTERM. Nothing
//! it runs talks to anything but that server: the probes get it as their only resolver, and
//! checkdmarc runs with `-n` and, for its own HTTPS lookups (the MTA-STS policy URL), in a
//! mount namespace whose /etc/resolv.conf names it.
//!
//! The zones: `plain.test.` and `signed.test.`, each delegating to N child zones `dNNNNN.<parent>`
//! with MX (and the MX host's A), SPF with two includes (the second one passes the sending IP),
//! DMARC `p=reject`, DKIM selectors s1 and s2 (RSA 2048), `_mta-sts` and `_smtp._tls` TXT;
//! `9.0.127.in-addr.arpa.` for the PTRs of the MX and the sending IP. `signed.test.` and its
//! children are signed by Knot (ECDSA P-256, KSK + ZSK) and the parent holds each child's DS, so
//! the chain runs parent -> child as it runs TLD -> domain on the Internet; the trust anchor
//! is the parent's DNSKEY set (`global.trust_anchor`).
//!
//! Each row runs in a child process of this binary (`MAILAUTH_BENCH_DNS_ROW=<config>`), so its
//! peak RSS (VmHWM of /proc/self/status, read after the run while every outcome is still held)
//! is that row's alone; knotd's memory is not included. The child loads a generated YAML config
//! exactly as the daemon does (`Config::load`: 10,000 `domains:` with `dkim_selectors: [s1, s2]`
//! and one `sending_ips` entry, one `kind: dns` probe with `helo`), turns off the MTA-STS
//! policy fetch over HTTPS (`DnsSettings::fetch_mta_sts_policy`, which no config key sets), and
//! runs every target through the daemon's runner (`runner::Runtime::run`: deadline, resolver,
//! global semaphore `global.concurrency`, 32 unless `MAILAUTH_BENCH_DNS_CONCURRENCY`) on a tokio
//! multi-thread runtime, one task per target, all spawned at once as the scheduler spawns
//! them. The wall time covers the runs only, not the config load (printed too).
//! A last child times the resolver alone (TXT lookups of distinct names, no checks) to show
//! what the library's per-query cost allows.
//!
//! Knobs (environment): `MAILAUTH_BENCH_DNS_DOMAINS` (10000), `MAILAUTH_BENCH_DNS_CONCURRENCY`
//! (32), `MAILAUTH_BENCH_DNS_ROWS` (`plain,dnssec,checkdmarc,baseline`), `MAILAUTH_BENCH_DNS_IP`
//! (127.0.9.53), `MAILAUTH_BENCH_DNS_STATS=1` (print Knot's counters per row, by query type),
//! `MAILAUTH_BENCH_DNS_WRAP` (a command to run each row under, e.g.
//! `perf record --call-graph dwarf -o /tmp/perf.data --`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use hickory_resolver::proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_resolver::proto::dnssec::{DigestType, PublicKey as _};
use hickory_resolver::proto::rr::{RData, RecordType};
use mailauth_probe::config::{Config, ProbeSettings};
use mailauth_probe::runner::Runtime;
use mailauth_probes::State;
use mailauth_probes::resolver::{Resolver, Upstream};

mod common;
use common::*;

const DEFAULT_DOMAINS: usize = 10_000;
const SAMPLE: usize = 500;
/// `global.concurrency`'s default.
const DEFAULT_CONCURRENCY: usize = 32;
const WALL_TARGET_S: f64 = 10.0;
const RSS_TARGET_MB: f64 = 150.0;

/// Waits until every zone is served (the signed ones with their DNSKEY), then returns the DS
/// line of every signed child for the parent zone and the parent's DNSKEY set as anchor text.
async fn wait_and_collect_ds(r: &Resolver, n: usize) -> (Vec<String>, String) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let wait_for = |qname: String, rtype: RecordType| async move {
        loop {
            match r.raw_records(name(&qname), rtype, false).await {
                Ok(v) => return v,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "knotd does not serve {qname} {rtype}: {e} (see knotd.log)"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    wait_for("9.0.127.in-addr.arpa.".into(), RecordType::SOA).await;
    let plain: Vec<_> = futures::stream::iter(0..n)
        .map(|i| wait_for(format!("{}.plain.test.", label(i)), RecordType::SOA))
        .buffer_unordered(64)
        .collect()
        .await;
    assert_eq!(plain.len(), n);
    let ds: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let wait_for = &wait_for;
            async move {
                let zone = format!("{}.signed.test.", label(i));
                let keys = wait_for(zone.clone(), RecordType::DNSKEY).await;
                let ksk = keys
                    .iter()
                    .find_map(|rec| match &rec.data {
                        RData::DNSSEC(DNSSECRData::DNSKEY(k)) if k.secure_entry_point() => Some(k),
                        _ => None,
                    })
                    .expect("a KSK");
                let digest = ksk.to_digest(&name(&zone), DigestType::SHA256).unwrap();
                let ds = DS::new(
                    ksk.calculate_key_tag().unwrap(),
                    ksk.public_key().algorithm(),
                    DigestType::SHA256,
                    digest.as_ref().to_vec(),
                );
                format!("{} DS {ds}", label(i))
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let keys = wait_for("signed.test.".into(), RecordType::DNSKEY).await;
    let mut anchor = String::new();
    for rec in &keys {
        if let RData::DNSSEC(DNSSECRData::DNSKEY(k)) = &rec.data {
            let _ = writeln!(anchor, "signed.test. 3600 IN DNSKEY {k}");
        }
    }
    (ds, anchor)
}

fn write_config(
    dir: &Path,
    parent: &str,
    n: usize,
    ns: IpAddr,
    concurrency: usize,
    anchor: Option<&Path>,
) -> PathBuf {
    let mut c = format!(
        "# Written by benches/dns.rs.\nglobal:\n  resolver: [\"{ns}:53\"]\n  concurrency: {concurrency}\n"
    );
    if let Some(a) = anchor {
        let _ = writeln!(c, "  trust_anchor: {}", a.display());
    }
    c.push_str("domains:\n");
    for i in 0..n {
        let _ = writeln!(
            c,
            "  {}.{parent}: {{dkim_selectors: [s1, s2], sending_ips: [{SENDER_IP}]}}",
            label(i)
        );
    }
    let _ = write!(
        c,
        "probes:\n  - name: dns-bench\n    kind: dns\n    helo: out.{parent}\n"
    );
    let path = dir.join(format!("{parent}.yaml"));
    std::fs::write(&path, c).unwrap();
    path
}

// --- one row, in a child process ------------------------------------------------------------

/// What a finished run left behind: its worst state and its non-OK findings.
struct Summary {
    state: State,
    problems: Vec<(String, String)>,
}

fn row(config_path: &str) {
    mailauth_probe::install_crypto_provider();
    let t0 = Instant::now();
    let mut config = Config::load(Path::new(config_path)).unwrap_or_else(|e| panic!("{e}"));
    for p in &mut config.probes {
        if let ProbeSettings::Dns(d) = &mut p.settings {
            d.base.fetch_mta_sts_policy = false;
            for s in d.per_domain.values_mut() {
                s.fetch_mta_sts_policy = false;
            }
        }
    }
    let config = Arc::new(config);
    let config_s = t0.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Arc::new(
        rt.block_on(async { Runtime::new(&config) })
            .expect("runtime"),
    );
    let n = config.probes[0].targets.len();
    let rss_loaded = status_kb("VmRSS:");
    let future_bytes = {
        let probe = &config.probes[0];
        std::mem::size_of_val(&runtime.run(probe, &probe.targets[0], None))
    };
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let outcomes = rt.block_on(async {
        // One task per target spawned at once, as the scheduler does; the runner admits
        // `global.concurrency` of them at a time and starts each run's deadline on admission.
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let (config, runtime) = (config.clone(), runtime.clone());
            tasks.push(tokio::spawn(async move {
                let probe = &config.probes[0];
                runtime.run(probe, &probe.targets[i], None).await
            }));
        }
        let mut v = Vec::with_capacity(n);
        for t in tasks {
            v.push(t.await.expect("probe task"));
        }
        v
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    // Read while every outcome is still held, as the daemon's state store holds them.
    let hwm = vm_hwm_kb();
    let summaries: Vec<Summary> = outcomes
        .iter()
        .map(|o| Summary {
            state: o.state(),
            problems: o
                .findings
                .iter()
                .filter(|f| f.state != State::Ok)
                .map(|f| (f.check.clone(), f.summary.clone()))
                .collect(),
        })
        .collect();
    drop(outcomes);
    let count = |s: State| summaries.iter().filter(|x| x.state == s).count();
    let mut problems: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for s in &summaries {
        for (check, summary) in &s.problems {
            // Per-host check ids carry the domain: group by their first part.
            let key = check.split(':').take(2).collect::<Vec<_>>().join(":");
            let e = problems.entry(key).or_insert((0, summary.clone()));
            e.0 += 1;
        }
    }
    for (check, (k, example)) in &problems {
        eprintln!("  {config_path}: {k} x {check}, e.g. {example}");
    }
    println!(
        "ROW domains={n} wall={wall:.3} cpu={cpu:.3} hwm_kb={hwm} rss_loaded_kb={rss_loaded} future_bytes={future_bytes} config_s={config_s:.3} ok={} warning={} critical={} unknown={}",
        count(State::Ok),
        count(State::Warning),
        count(State::Critical),
        count(State::Unknown),
    );
}

/// The resolver alone: TXT lookups of the eight TXT names of every domain (distinct names, no
/// checks around them) through the probes' `Resolver`, as built by the runner (same options),
/// 256 in flight; prints a `ROW` line whose `domains` are lookups.
fn baseline(n: usize) {
    mailauth_probe::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = Arc::new(
        Resolver::new(
            &Upstream::Servers(vec![SocketAddr::new(ns_ip(), 53)]),
            Duration::from_secs(10),
        )
        .unwrap(),
    );
    let names: Vec<String> = (0..n)
        .flat_map(|i| {
            let d = format!("{}.plain.test", label(i));
            [
                "",
                "_spf1.",
                "_spf2.",
                "_dmarc.",
                "s1._domainkey.",
                "s2._domainkey.",
                "_mta-sts.",
                "_smtp._tls.",
            ]
            .map(|p| format!("{p}{d}"))
        })
        .collect();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let ok = rt.block_on(async {
        futures::stream::iter(names.iter())
            .map(|name| {
                let r = r.clone();
                async move { r.txt(name).await.is_ok() }
            })
            .buffer_unordered(256)
            .filter(|ok| futures::future::ready(*ok))
            .count()
            .await
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "ROW domains={} wall={wall:.3} cpu={cpu:.3} hwm_kb={} config_s=0 ok={ok} warning=0 critical=0 unknown={}",
        names.len(),
        vm_hwm_kb(),
        names.len() - ok
    );
}

struct RowResult {
    domains: usize,
    wall: f64,
    cpu: f64,
    /// knotd's CPU seconds during the row.
    knot_cpu: f64,
    queries: u64,
    rss_mb: Option<f64>,
    note: String,
}

/// With MAILAUTH_BENCH_DNS_STATS set, prints what Knot counted between two snapshots.
fn print_stats_diff(what: &str, before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) {
    if std::env::var_os("MAILAUTH_BENCH_DNS_STATS").is_none() {
        return;
    }
    for (k, v) in after {
        let d = v - before.get(k).copied().unwrap_or(0);
        if d > 0 {
            eprintln!("  {what}: {k} +{d}");
        }
    }
}

fn run_row(knot: &Knot, config: &Path) -> RowResult {
    run_child(knot, &config.display().to_string())
}

/// Runs this binary as a row child (`ROW_ENV=<what>`) and reads its `ROW` line.
fn run_child(knot: &Knot, what: &str) -> RowResult {
    let s0 = knot.stats();
    let k0 = knot.cpu_seconds();
    let q0 = s0
        .get("mod-stats.server-operation[query]")
        .copied()
        .unwrap_or(0);
    // MAILAUTH_BENCH_DNS_WRAP: a command line to run the row under, e.g. `perf record -g --`.
    let wrap = std::env::var("MAILAUTH_BENCH_DNS_WRAP").unwrap_or_default();
    let mut argv: Vec<String> = wrap.split_whitespace().map(str::to_string).collect();
    argv.push(std::env::current_exe().unwrap().display().to_string());
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env(ROW_ENV, what)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("row child");
    CHILD_PID.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().expect("row child");
    CHILD_PID.store(0, Ordering::SeqCst);
    let s1 = knot.stats();
    let knot_cpu = knot.cpu_seconds() - k0;
    let q1 = s1
        .get("mod-stats.server-operation[query]")
        .copied()
        .unwrap_or(0);
    print_stats_diff(what, &s0, &s1);
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("ROW "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("the row for {what} printed no result"));
    let kv: BTreeMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|t| t.split_once('='))
        .collect();
    let f = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let domains = f("domains") as usize;
    RowResult {
        domains,
        wall: f("wall"),
        cpu: f("cpu"),
        knot_cpu,
        queries: q1 - q0,
        rss_mb: Some(f("hwm_kb") / 1024.0),
        note: format!(
            "CPU {:.2} s ({:.2} ms/domain; knotd {knot_cpu:.2} s), {:.1} queries/domain, config load {:.2} s (RSS {:.0} MB once the config and runtime are loaded; one run's future is {:.0} KB); outcomes: {} ok, {} warning, {} critical, {} unknown",
            f("cpu"),
            f("cpu") * 1000.0 / domains.max(1) as f64,
            (q1 - q0) as f64 / domains.max(1) as f64,
            f("config_s"),
            f("rss_loaded_kb") / 1024.0,
            f("future_bytes") / 1024.0,
            f("ok"),
            f("warning"),
            f("critical"),
            f("unknown")
        ),
    }
}

// --- checkdmarc -----------------------------------------------------------------------------

/// Runs checkdmarc (the CLI's own entry point, in the venv's Python, which also writes its
/// rusage) on `domains`, with `-n` naming our server, inside `unshare -m` with our
/// resolv.conf bind-mounted, so its HTTPS lookups (MTA-STS policy URL) ask our server too.
/// checkdmarc 6 tests no TLS unless `--check-mx-tls` is given (`--skip-tls` is deprecated and
/// does nothing), so it is run without either.
fn checkdmarc(
    knot: &Knot,
    dir: &Path,
    domains: &[String],
    ns: IpAddr,
) -> Result<RowResult, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-data/checkdmarc-venv");
    let python = venv.join("bin/python");
    if !venv.join("bin/checkdmarc").exists() {
        return Err("not run (run contrib/fetch-test-data --checkdmarc)".into());
    }
    let list = dir.join("checkdmarc-domains.txt");
    std::fs::write(&list, domains.join("\n") + "\n").unwrap();
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, format!("nameserver {ns}\n")).unwrap();
    let rusage = dir.join("checkdmarc.rusage");
    let output = dir.join("checkdmarc.json");
    let script = "import os, resource, sys\n\
                  from checkdmarc._cli import _main\n\
                  sys.argv[0] = 'checkdmarc'\n\
                  try:\n    _main()\n\
                  finally:\n    r = resource.getrusage(resource.RUSAGE_SELF)\n    \
                  open(os.environ['BENCH_RUSAGE'], 'w').write(f'{r.ru_utime} {r.ru_stime} {r.ru_maxrss}')\n";
    let mut cmd = Command::new("unshare");
    // Root only needs a mount namespace; otherwise map ourselves to root in a user namespace.
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default();
    if uid != "0" {
        cmd.arg("-r");
    }
    // In the namespace: our resolv.conf, and nscd's and systemd-resolved's sockets hidden (glibc
    // would ask them, outside the namespace, before reading resolv.conf).
    let sh = "set -e; mount --bind \"$1\" /etc/resolv.conf; shift; \
              for d in /run/nscd /run/systemd/resolve; do \
              if [ -d \"$d\" ]; then mount -t tmpfs tmpfs \"$d\"; fi; done; exec \"$@\"";
    cmd.args(["-m", "sh", "-c", sh, "sh"])
        .arg(&resolv)
        .arg(&python)
        .args(["-c", script])
        .arg(&list)
        .args(["-n", &ns.to_string(), "-o"])
        .arg(&output)
        .env("BENCH_RUSAGE", &rusage)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let q0 = knot.queries();
    let k0 = knot.cpu_seconds();
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("unshare: {e}"))?;
    CHILD_PID.store(child.id(), Ordering::SeqCst);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    CHILD_PID.store(0, Ordering::SeqCst);
    let wall = start.elapsed().as_secs_f64();
    let q1 = knot.queries();
    let knot_cpu = knot.cpu_seconds() - k0;
    if !out.status.success() {
        return Err(format!(
            "failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let usage: Vec<f64> = std::fs::read_to_string(&rusage)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // Sanity: a result per domain, with valid SPF (2 lookups) and DMARC.
    let json: serde_json::Value = std::fs::read_to_string(&output)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let results = json.as_array().cloned().unwrap_or_default();
    let valid = results
        .iter()
        .filter(|d| {
            d["spf"]["valid"] == true && d["spf"]["dns_lookups"] == 2 && d["dmarc"]["valid"] == true
        })
        .count();
    let (cpu, rss_mb) = match usage[..] {
        [u, s, maxrss] => (Some(u + s), Some(maxrss / 1024.0)),
        _ => (None, None),
    };
    Ok(RowResult {
        domains: domains.len(),
        wall,
        cpu: cpu.unwrap_or(0.0),
        knot_cpu,
        queries: q1 - q0,
        rss_mb,
        note: format!(
            "checkdmarc {}: CPU {} (knotd {knot_cpu:.2} s), {:.1} queries/domain; {} results, {valid} with valid SPF (2 lookups) and DMARC; one domain at a time (it has no concurrency); the wall time includes Python's start",
            installed_version(&venv),
            cpu.map(|c| format!(
                "{c:.2} s ({:.2} ms/domain)",
                c * 1000.0 / domains.len() as f64
            ))
            .unwrap_or_else(|| "?".into()),
            (q1 - q0) as f64 / domains.len() as f64,
            results.len()
        ),
    })
}

/// The checkdmarc version in the venv, from its dist-info directory's name.
fn installed_version(venv: &Path) -> String {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|py| std::fs::read_dir(py.path().join("site-packages")).ok())
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix("checkdmarc-")?
                .strip_suffix(".dist-info")
                .map(str::to_string)
        })
        .next()
        .unwrap_or_else(|| "?".into())
}

// --- main -----------------------------------------------------------------------------------

fn main() {
    if let Ok(what) = std::env::var(ROW_ENV) {
        match what.strip_prefix("baseline:") {
            Some(n) => baseline(n.parse().expect("baseline:<domains>")),
            None => row(&what),
        }
        return;
    }
    mailauth_probe::install_crypto_provider();
    let n = env_usize("MAILAUTH_BENCH_DNS_DOMAINS", DEFAULT_DOMAINS);
    let concurrency = env_usize("MAILAUTH_BENCH_DNS_CONCURRENCY", DEFAULT_CONCURRENCY);
    let ns = ns_ip();
    if let Err(e) = std::net::UdpSocket::bind(SocketAddr::new(ns, 53)) {
        panic!(
            "cannot use {ns}:53 ({e}): something else listens there, or not root (set MAILAUTH_BENCH_DNS_IP)"
        );
    }
    let t0 = Instant::now();
    let (_tmp, dir, knot, r) = start_private_knot("mailauth-bench-dns-", n, ns);
    let setup_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ds, anchor) = setup_rt.block_on(wait_and_collect_ds(&r, n));
    let loaded = t0.elapsed().as_secs_f64();
    // The parent with every child's DS, then wait until Knot serves the new version.
    std::fs::write(
        dir.join("zones/signed.test.zone"),
        parent_zone("signed.test", n, ns, 2, &ds),
    )
    .unwrap();
    knot.knotc(&["zone-reload", "signed.test."]);
    setup_rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        let last = name(&format!("{}.signed.test.", label(n - 1)));
        while r
            .raw_records(last.clone(), RecordType::DS, false)
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "signed.test. was not reloaded with its DS records"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    drop(setup_rt);
    let anchor_path = dir.join("signed.test.dnskey");
    std::fs::write(&anchor_path, &anchor).unwrap();
    eprintln!(
        "dns bench: knotd serves {} zones ({n} signed), ready in {loaded:.1} s (+{:.1} s for the DS); knotd RSS {:.0} MB",
        2 * n + 3,
        t0.elapsed().as_secs_f64() - loaded,
        knot.rss_mb()
    );

    // MAILAUTH_BENCH_DNS_ROWS: which rows to run (plain, dnssec, checkdmarc, baseline; default
    // all).
    let rows = std::env::var("MAILAUTH_BENCH_DNS_ROWS")
        .unwrap_or_else(|_| "plain,dnssec,checkdmarc,baseline".into());
    let want = |r: &str| rows.split(',').any(|x| x.trim() == r);
    let plain = want("plain").then(|| {
        let cfg = write_config(&dir, "plain.test", n, ns, concurrency, None);
        run_row(&knot, &cfg)
    });
    let signed = want("dnssec").then(|| {
        let cfg = write_config(&dir, "signed.test", n, ns, concurrency, Some(&anchor_path));
        run_row(&knot, &cfg)
    });
    let cd = want("checkdmarc").then(|| {
        let step = (n / SAMPLE).max(1);
        let sample: Vec<String> = (0..n)
            .step_by(step)
            .take(SAMPLE)
            .map(|i| format!("{}.plain.test", label(i)))
            .collect();
        checkdmarc(&knot, &dir, &sample, ns)
    });

    let resolver_alone = want("baseline").then(|| run_child(&knot, &format!("baseline:{n}")));

    let per = |r: &RowResult| r.wall * 1000.0 / r.domains.max(1) as f64;
    let base = plain.as_ref().map(per);
    println!();
    println!(
        "| run | domains | wall s | per-domain ms | queries/s | peak RSS MB | per-domain time / row 1 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let line = |what: &str, r: &RowResult| {
        println!(
            "| {what} | {} | {:.2} | {:.3} | {:.0} | {} | {} |",
            r.domains,
            r.wall,
            per(r),
            r.queries as f64 / r.wall.max(1e-9),
            r.rss_mb
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "?".into()),
            base.map(|b| format!("{:.2}", per(r) / b.max(1e-9)))
                .unwrap_or_else(|| "-".into())
        )
    };
    let skipped = |what: &str| println!("| {what} | skipped (MAILAUTH_BENCH_DNS_ROWS) | | | | | |");
    let (w1, w2) = (
        "DNS checks, no DNSSEC",
        "DNS checks, with DNSSEC validation",
    );
    let w3 = format!("checkdmarc, {}-domain sample", SAMPLE.min(n));
    match &plain {
        Some(r) => line(w1, r),
        None => skipped(w1),
    }
    match &signed {
        Some(r) => line(w2, r),
        None => skipped(w2),
    }
    match &cd {
        Some(Ok(c)) => line(&w3, c),
        Some(Err(e)) => println!("| {w3} | {e} | | | | | |"),
        None => skipped(&w3),
    }
    println!();
    if let Some(r) = &plain {
        println!("row 1: {}", r.note);
    }
    if let Some(r) = &signed {
        println!("row 2: {}", r.note);
    }
    if let Some(Ok(c)) = &cd {
        println!("row 3: {}", c.note);
        if let (Some(p), Some(s)) = (&plain, &signed) {
            println!(
                "checkdmarc takes {:.1} times as long per domain as our DNS checks without DNSSEC ({:.1} times with)",
                per(c) / per(p).max(1e-9),
                per(c) / per(s).max(1e-9)
            );
        }
    }
    if let Some(b) = &resolver_alone {
        let cpu_us = b.cpu * 1e6 / b.domains.max(1) as f64;
        println!(
            "resolver alone: {} TXT lookups of distinct names (8 per domain, no checks), 256 in flight: {:.2} s, {:.0} queries/s, {cpu_us:.0} us CPU per lookup{}",
            b.domains,
            b.wall,
            b.queries as f64 / b.wall.max(1e-9),
            plain
                .as_ref()
                .map(|p| format!(
                    "; row 1 spends {:.0} us CPU per query",
                    p.cpu * 1e6 / p.queries.max(1) as f64
                ))
                .unwrap_or_default()
        );
    }
    println!(
        "concurrency {concurrency} (global.concurrency), tokio multi-thread runtime on {} cores; peak RSS is the row's own process (knotd: {:.0} MB)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        knot.rss_mb()
    );
    println!();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    for (what, r) in [("no DNSSEC", &plain), ("with DNSSEC", &signed)] {
        let Some(r) = r else { continue };
        println!(
            "{what}: CPU of the row's process and knotd together, over {cores} cores: {:.2} s (the least wall time this run's CPU cost allows)",
            (r.cpu + r.knot_cpu) / cores
        );
    }
    println!();
    for (what, r) in [("no DNSSEC", &plain), ("with DNSSEC", &signed)] {
        let Some(r) = r else { continue };
        if r.domains != DEFAULT_DOMAINS {
            println!("target {what}: not judged (the targets are for {DEFAULT_DOMAINS} domains)");
            continue;
        }
        let rss = r.rss_mb.unwrap_or(f64::MAX);
        println!(
            "target {what}, {} domains: wall {:.2} s < {WALL_TARGET_S} s: {}; peak RSS {rss:.1} MB < {RSS_TARGET_MB} MB: {}",
            r.domains,
            r.wall,
            if r.wall < WALL_TARGET_S {
                "met"
            } else {
                "MISSED"
            },
            if rss < RSS_TARGET_MB { "met" } else { "MISSED" }
        );
    }
    drop(knot);
}
