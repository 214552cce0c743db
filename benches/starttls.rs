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

mod common;

use common::{proc_cpu_seconds, proc_status_kb};
use mailauth_probes::tls::TlsClient;
use mailauth_probes::transport::smtp::Conn;

const CHECKS: usize = 1000;
const CONCURRENCY: usize = 50;
const MX: &str = "127.0.1.25:25";
/// The argument that makes the bench binary the minimal listener (a child process).
const LISTENER_ARG: &str = "--starttls-listener";

fn lab_dir() -> String {
    std::env::var("MAILAUTH_LAB_DIR").unwrap_or_else(|_| "/tmp/mailauth-lab".into())
}

/// (user + system CPU seconds, peak RSS in KiB) of a process.
fn usage(pid: u32) -> (f64, u64) {
    let pid = pid.to_string();
    (proc_cpu_seconds(&pid), proc_status_kb(&pid, "VmHWM:"))
}

/// CPU seconds the whole machine spent busy so far (all cores, /proc/stat): with the measured
/// process' own CPU subtracted, what the server side (Postfix, its milters, the kernel's
/// loopback work) cost during a row.
fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or("");
    let f: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    let busy: f64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    busy / 100.0
}

async fn one_check(tls: &TlsClient, mx: &str) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect(mx)
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

fn ours(mx: &str) -> (f64, f64, u64, usize, f64) {
    let ca = std::fs::read_to_string(format!("{}/pki/ca.pem", lab_dir())).expect("lab CA");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tls = Arc::new(TlsClient::new(mailauth_probe::trust::system_roots(), Some(&ca)).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cpu0, _) = usage(std::process::id());
    let busy0 = machine_busy();
    let start = Instant::now();
    let ok = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let ok = Arc::new(AtomicUsize::new(0));
        let mut tasks = vec![];
        for _ in 0..CHECKS {
            let (sem, tls, ok, mx) = (sem.clone(), tls.clone(), ok.clone(), mx.to_string());
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                match tokio::time::timeout(Duration::from_secs(10), one_check(&tls, &mx)).await {
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
    let busy = machine_busy() - busy0;
    let (cpu1, rss) = usage(std::process::id());
    (
        wall,
        (cpu1 - cpu0) / ok.max(1) as f64,
        rss,
        ok,
        busy - (cpu1 - cpu0),
    )
}

fn blackbox(mx: &str) -> Option<(f64, f64, u64, usize, f64)> {
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
    let path = format!("/probe?module=smtp_starttls&target={mx}");
    let probe_ok = get(&path).is_some_and(|b| b.contains("probe_success 1"));
    if !probe_ok {
        eprintln!(
            "blackbox: a single probe did not succeed; its answer:\n{}",
            get(&format!("{path}&debug=true")).unwrap_or_default()
        );
    }
    let (cpu0, _) = usage(child.id());
    let busy0 = machine_busy();
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
    let busy = machine_busy() - busy0;
    let (cpu1, rss) = usage(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let n = ok.load(Ordering::Relaxed);
    Some((
        wall,
        (cpu1 - cpu0) / n.max(1) as f64,
        rss,
        n,
        busy - (cpu1 - cpu0),
    ))
}

/// The minimal STARTTLS listener: the dialogue the checks speak and nothing else (no milters,
/// no logging, no process per session), with the lab MX's own certificate and key, so the
/// handshake and the chain the client verifies are the lab MX's. Prints its address, then
/// serves until killed. A child process of the bench, so its CPU is not counted as the client's.
fn listener() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let pki = format!("{}/pki", lab_dir());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{pki}/mx.lab.test.pem"))
            .expect("the lab MX certificate")
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{pki}/mx.lab.test.key")).expect("its key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                // One line of at most 1 KiB; None at EOF or error.
                async fn line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<String> {
                    let mut s = String::new();
                    let n = r.take(1024).read_line(&mut s).await.ok()?;
                    (n > 0).then_some(s)
                }
                let mut plain = BufReader::new(tcp);
                plain.write_all(b"220 mx.lab.test ESMTP\r\n").await.ok()?;
                line(&mut plain).await?;
                plain
                    .write_all(b"250-mx.lab.test\r\n250 STARTTLS\r\n")
                    .await
                    .ok()?;
                line(&mut plain).await?;
                plain
                    .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                    .await
                    .ok()?;
                let tls = acceptor.accept(plain.into_inner()).await.ok()?;
                let mut tls = BufReader::new(tls);
                line(&mut tls).await?;
                tls.write_all(b"250 mx.lab.test\r\n").await.ok()?;
                line(&mut tls).await?;
                tls.write_all(b"221 2.0.0 Bye\r\n").await.ok()?;
                tls.shutdown().await.ok()
            });
        }
    });
}

/// Starts [`listener`] as a child; (the child, its address).
fn start_listener() -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(LISTENER_ARG)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the listener");
    let mut addr = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut addr)
        .expect("the listener's address");
    (child, addr.trim().to_string())
}

fn print_rows(label: &str, mx: &str, server_cpu: Option<u32>) {
    let (w, c, r, n, rest) = ours(mx);
    // When the server is our child, its own CPU is what "rest of the machine" estimates.
    let server = |rest: f64, n: usize| match server_cpu {
        Some(pid) => format!(
            "{rest:.2} ({:.2}); the listener itself: {:.2} s",
            rest * 1000.0 / n.max(1) as f64,
            usage(pid).0
        ),
        None => format!("{rest:.2} ({:.2})", rest * 1000.0 / n.max(1) as f64),
    };
    println!(
        "| mailauth-probes (in process) → {label} | {n}/{CHECKS} | {w:.2} | {:.3} | {:.1} | {} |",
        c * 1000.0,
        r as f64 / 1024.0,
        server(rest, n)
    );
    match blackbox(mx) {
        Some((bw, bc, br, bn, brest)) => {
            println!(
                "| prometheus-blackbox-exporter (/probe) → {label} | {bn}/{CHECKS} | {bw:.2} | {:.3} | {:.1} | {} |",
                bc * 1000.0,
                br as f64 / 1024.0,
                server(brest, bn)
            );
            eprintln!(
                "{label}: CPU per check, ours / blackbox: {:.2}; wall, ours / blackbox: {:.2}; the least wall this CPU allows (ours + rest over the cores): {:.2} s",
                c / bc.max(1e-9),
                w / bw.max(1e-9),
                (c * n as f64 + rest)
                    / std::thread::available_parallelism().map_or(1, |p| p.get()) as f64
            );
        }
        None => println!(
            "| prometheus-blackbox-exporter → {label} | not installed (contrib/install-deps) | | | | |"
        ),
    }
}

fn main() {
    if std::env::args().any(|a| a == LISTENER_ARG) {
        listener();
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let up = Command::new("bash")
        .arg(format!("{root}/contrib/lab/up"))
        .stdout(Stdio::null())
        .status()
        .expect("contrib/lab/up");
    assert!(up.success(), "contrib/lab/up failed");
    println!(
        "| tool → server | checks ok | wall (s) | CPU ms per check | peak RSS (MiB) | rest of the machine, CPU s (ms per check) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    print_rows("lab MX (Postfix)", MX, None);
    let (mut child, addr) = start_listener();
    // The listener's CPU is cumulative: rows report it after each, so the second row's figure
    // includes the first's.
    print_rows("minimal listener", &addr, Some(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "\nrest of the machine: all cores' busy time (/proc/stat) during the row minus the measured process' own: the server side (for the lab MX: Postfix smtpd, its milters, the kernel's loopback work)"
    );
    println!(
        "\ntargets: under 2.5 s wall for {CHECKS}, and less CPU per check than blackbox_exporter"
    );
}
