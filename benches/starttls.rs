//! Benchmark (issue 14): 1,000 STARTTLS handshakes with full certificate checks against the
//! lab's MX (127.0.1.25:25), concurrency 50, by our transport code (the same `smtp::Conn`
//! and `TlsClient` the probe uses: banner, EHLO, STARTTLS, handshake + verification, EHLO,
//! QUIT) and by Debian's prometheus-blackbox-exporter with the same dialogue in its tcp
//! prober, certificate verification on. Prints a table: wall time, CPU seconds per check,
//! peak RSS, and the ratio.
//!
//! Run as root on Debian 12: `cargo bench --bench starttls` (brings the lab up; installs
//! nothing: contrib/install-deps adds prometheus-blackbox-exporter). Ours is measured in
//! process (no HTTP around it); blackbox through its `/probe` endpoint, which is how it is
//! used; both numbers are per completed check.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mailauth_probes::tls::TlsClient;
use mailauth_probes::transport::smtp::Conn;

const CHECKS: usize = 1000;
const CONCURRENCY: usize = 50;
const MX: &str = "127.0.1.25:25";

fn lab_dir() -> String {
    std::env::var("MAILAUTH_LAB_DIR").unwrap_or_else(|_| "/tmp/mailauth-lab".into())
}

/// (user + system CPU seconds, peak RSS in KiB) of a process.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

async fn one_check(tls: &TlsClient) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect(MX)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut c = Conn::new(tcp);
    let g = c.reply().await.map_err(|e| e.to_string())?;
    if g.code != 220 {
        return Err(g.text());
    }
    let e = c
        .command("EHLO bench.lab.test")
        .await
        .map_err(|e| e.to_string())?;
    if !e.has("STARTTLS") {
        return Err("no STARTTLS".into());
    }
    let s = c.command("STARTTLS").await.map_err(|e| e.to_string())?;
    if s.code != 220 {
        return Err(s.text());
    }
    let (tls_stream, report) = tls
        .handshake(c.into_inner().map_err(|e| e.to_string())?, "mx.lab.test")
        .await?;
    report.verified?;
    let mut c = Conn::new(tls_stream);
    let e = c
        .command("EHLO bench.lab.test")
        .await
        .map_err(|e| e.to_string())?;
    if e.code != 250 {
        return Err(e.text());
    }
    let _ = c.command("QUIT").await;
    Ok(())
}

fn ours() -> (f64, f64, u64, usize) {
    let ca = std::fs::read_to_string(format!("{}/pki/ca.pem", lab_dir())).expect("lab CA");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tls = Arc::new(TlsClient::new(Some(&ca)).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cpu0, _) = usage(std::process::id());
    let start = Instant::now();
    let ok = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let ok = Arc::new(AtomicUsize::new(0));
        let mut tasks = vec![];
        for _ in 0..CHECKS {
            let (sem, tls, ok) = (sem.clone(), tls.clone(), ok.clone());
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                match tokio::time::timeout(Duration::from_secs(10), one_check(&tls)).await {
                    Ok(Ok(())) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => eprintln!("ours: {e}"),
                    Err(_) => eprintln!("ours: timeout"),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        ok.load(Ordering::Relaxed)
    });
    let wall = start.elapsed().as_secs_f64();
    let (cpu1, rss) = usage(std::process::id());
    (wall, (cpu1 - cpu0) / ok.max(1) as f64, rss, ok)
}

fn blackbox() -> Option<(f64, f64, u64, usize)> {
    let bin = [
        "/usr/bin/prometheus-blackbox-exporter",
        "/usr/bin/blackbox_exporter",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())?;
    let dir = std::env::temp_dir().join(format!("bench-blackbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("blackbox.yml");
    std::fs::write(
        &cfg,
        format!(
            "modules:\n  smtp_starttls:\n    prober: tcp\n    timeout: 10s\n    tcp:\n      preferred_ip_protocol: ip4\n      tls_config:\n        ca_file: {}/pki/ca.pem\n        server_name: mx.lab.test\n      query_response:\n        - expect: \"^220 \"\n        - send: \"EHLO bench.lab.test\\r\"\n        - expect: \"^250 \"\n        - send: \"STARTTLS\\r\"\n        - expect: \"^220\"\n        - starttls: true\n        - send: \"EHLO bench.lab.test\\r\"\n        - expect: \"^250 \"\n        - send: \"QUIT\\r\"\n",
            lab_dir()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let get = |path: &str| -> Option<String> {
        let mut s = TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
        let mut b = String::new();
        s.read_to_string(&mut b).ok()?;
        Some(b)
    };
    let t0 = Instant::now();
    while get("/-/healthy").is_none() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let path = format!("/probe?module=smtp_starttls&target={MX}");
    let probe_ok = get(&path).is_some_and(|b| b.contains("probe_success 1"));
    if !probe_ok {
        eprintln!(
            "blackbox: a single probe did not succeed; its answer:\n{}",
            get(&format!("{path}&debug=true")).unwrap_or_default()
        );
    }
    let (cpu0, _) = usage(child.id());
    let ok = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CONCURRENCY {
            let (ok, next, path, get) = (ok.clone(), next.clone(), path.clone(), &get);
            s.spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < CHECKS {
                    if get(&path).is_some_and(|b| b.contains("probe_success 1")) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let (cpu1, rss) = usage(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let n = ok.load(Ordering::Relaxed);
    Some((wall, (cpu1 - cpu0) / n.max(1) as f64, rss, n))
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let up = Command::new("bash")
        .arg(format!("{root}/contrib/lab/up"))
        .stdout(Stdio::null())
        .status()
        .expect("contrib/lab/up");
    assert!(up.success(), "contrib/lab/up failed");
    let (w, c, r, n) = ours();
    println!("| tool | checks ok | wall (s) | CPU ms per check | peak RSS (MiB) |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| mailauth-probes (in process) | {n}/{CHECKS} | {w:.2} | {:.3} | {:.1} |",
        c * 1000.0,
        r as f64 / 1024.0
    );
    match blackbox() {
        Some((bw, bc, br, bn)) => {
            println!(
                "| prometheus-blackbox-exporter (/probe) | {bn}/{CHECKS} | {bw:.2} | {:.3} | {:.1} |",
                bc * 1000.0,
                br as f64 / 1024.0
            );
            println!();
            println!(
                "CPU per check, ours / blackbox: {:.2}; wall, ours / blackbox: {:.2}",
                c / bc.max(1e-9),
                w / bw.max(1e-9)
            );
        }
        None => println!(
            "| prometheus-blackbox-exporter | not installed (contrib/install-deps) | | | |"
        ),
    }
    println!(
        "\ntargets: under 2.5 s wall for {CHECKS}, and less CPU per check than blackbox_exporter"
    );
}
