//! Shared helpers of the integration tests: the loopback lab, the binaries, a tiny HTTP
//! client, a DNS server that never answers, and a `serve` process that is killed on drop;
//! [`faults`] has the fault-injection servers (DNS, SMTP, IMAP, HTTPS) of tests/faults.rs.
//! Every address is on loopback; nothing asks the machine's resolver.

#![allow(dead_code)]

pub mod faults;
pub mod prometheus;
pub mod promql;
pub mod reports;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const LAB_DNS: &str = "127.0.1.53:53";
/// The lab's validating recursive resolver (Unbound, contrib/lab/parts/resolver), which starts
/// at the lab root as a production resolver starts at the real one.
pub const LAB_RESOLVER: &str = "127.0.1.54:53";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Brings the lab up once per test binary (`contrib/lab/up` is idempotent and locked).
pub fn lab() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("contrib/lab/up"))
            .stdin(Stdio::null())
            .output()
            .expect("run contrib/lab/up");
        assert!(
            out.status.success(),
            "contrib/lab/up failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The lab's state directory (as contrib/lab/lib.sh computes it).
pub fn lab_dir() -> PathBuf {
    std::env::var_os("MAILAUTH_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/mailauth-lab"))
}

/// The lab's DNSSEC trust anchor for lab.test, as DS records.
pub fn lab_anchor_ds() -> String {
    lab_dir().join("anchors/lab.test.ds").display().to_string()
}

/// The lab ROOT's DNSSEC trust anchor, as DNSKEY records: what the probes of
/// contrib/lab/config.yaml validate from (the lab's resolver takes its DS form, root.ds), as
/// production validates from the real root's key.
pub fn lab_root_anchor() -> String {
    lab_dir().join("anchors/root.dnskey").display().to_string()
}

/// The lab's test CA (PEM).
pub fn lab_ca() -> String {
    lab_dir().join("pki/ca.pem").display().to_string()
}

pub fn bin(name: &str) -> PathBuf {
    match name {
        "mailauth-probe" => PathBuf::from(env!("CARGO_BIN_EXE_mailauth-probe")),
        "check_mailauth" => PathBuf::from(env!("CARGO_BIN_EXE_check_mailauth")),
        _ => panic!("unknown binary {name}"),
    }
}

pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run binary")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP DNS server on 127.0.0.1 that answers every query correctly but only after `delay`,
/// as a DNSBL zone that is slow but working: `2.0.0.127.<zone>` (the RFC 5782 listed test
/// point) gets `A 127.0.0.2`, every other name NXDOMAIN (not listed). Lives as long as the
/// process.
pub fn slow_dnsbl(delay: Duration) -> SocketAddr {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = udp.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf) else {
                return;
            };
            let query = buf[..n].to_vec();
            let udp = udp.try_clone().unwrap();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                if let Some(reply) = dnsbl_reply(&query) {
                    let _ = udp.send_to(&reply, from);
                }
            });
        }
    });
    addr
}

fn dnsbl_reply(q: &[u8]) -> Option<Vec<u8>> {
    // Header (12 bytes), then one question: labels, type, class.
    let mut i = 12;
    let mut labels = Vec::new();
    while *q.get(i)? != 0 {
        let len = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_ascii_lowercase());
        i += 1 + len;
    }
    let question_end = i + 5;
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let listed = labels.len() > 4 && labels[..4] == ["2", "0", "0", "127"] && qtype == 1;
    let mut r = q.get(..question_end)?.to_vec();
    r[2] = 0x80 | (q[2] & 0x01) | 0x04; // QR, RD copied, AA
    r[3] = if listed { 0x80 } else { 0x83 }; // RA; NOERROR or NXDOMAIN
    r[4..12].copy_from_slice(&[0, 1, 0, u8::from(listed), 0, 0, 0, 0]);
    if listed {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 2]);
    }
    Some(r)
}

/// A UDP and TCP "DNS server" on 127.0.0.1 that reads queries and never answers, for as
/// long as the returned value lives.
pub struct BlackHoleDns {
    pub addr: SocketAddr,
    _udp: UdpSocket,
    _tcp: TcpListener,
}

pub fn black_hole_dns() -> BlackHoleDns {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        // TCP on the same port too, so a fallback to TCP also hangs (accepted by the
        // backlog, never read).
        if let Ok(tcp) = TcpListener::bind(addr) {
            return BlackHoleDns {
                addr,
                _udp: udp,
                _tcp: tcp,
            };
        }
    }
}

/// A minimal HTTP/1.0 request; returns (status, body).
pub fn http(method: &str, addr: SocketAddr, path: &str) -> (u16, String) {
    http_with(method, addr, path, "")
}

/// As [`http`], with `extra` header lines (each ending in CRLF); the body starts with the
/// response head when `extra` asks for it with `X-Test-Head: 1`.
pub fn http_with(method: &str, addr: SocketAddr, path: &str, extra: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n{extra}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if extra.contains("X-Test-Head: 1") {
        return (status, text);
    }
    (status, body.to_string())
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http("GET", addr, path)
}

/// A running `mailauth-probe serve`, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub config: PathBuf,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `serve` with `config_text` written to a temporary file, and waits until it
    /// answers `/-/healthy` over plain HTTP.
    pub fn start(config_text: &str) -> Daemon {
        let d = Daemon::spawn(config_text);
        d.wait_for(Duration::from_secs(10), "/-/healthy answers", |d| {
            TcpStream::connect(d.addr).is_ok() && get(d.addr, "/-/healthy").0 == 200
        });
        d
    }

    /// Starts `serve` without waiting for anything.
    pub fn spawn(config_text: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_text).unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = dir.path().join("serve.log");
        let child = Command::new(bin("mailauth-probe"))
            .args(["--log-level", "debug", "serve", "--config"])
            .arg(&config)
            .args(["--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start serve");
        Daemon {
            child,
            addr,
            config,
            log,
            _dir: dir,
        }
    }

    pub fn metrics(&self) -> String {
        let (status, body) = get(self.addr, "/metrics");
        assert_eq!(status, 200);
        body
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `cond` every 100 ms until it holds or `limit` passes (then panics with `what`).
    pub fn wait_for(&self, limit: Duration, what: &str, cond: impl Fn(&Daemon) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out after {limit:?} waiting until {what}; daemon log:\n{}",
            self.log_text()
        );
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample `series` (exact name and labels as written) in an exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `mailauth-probe hash-password` of `password`, as an operator makes one.
pub fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(bin("mailauth-probe"))
        .args(["hash-password", "--cost", "6"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An `Authorization: Basic` header line (with its CRLF) for `user` and `password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {value}\r\n")
}

pub fn write_temp(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// Hands `message` (header and body, CRLF lines, without the final dot) from `from` to `to`
/// to the lab MX over plain SMTP on port 25, as any sender's MTA can. Panics on any refusal.
pub fn smtp_deliver(from: &str, to: &str, message: &str) {
    use std::io::{BufRead, BufReader};
    let s = TcpStream::connect("127.0.1.25:25").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let expect = |code: &str, r: &mut BufReader<TcpStream>| loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "expected {code}, got {line}");
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    };
    expect("220", &mut r);
    for (cmd, code) in [
        "EHLO test.lab.test".to_string(),
        format!("MAIL FROM:<{from}>"),
        format!("RCPT TO:<{to}>"),
        "DATA".to_string(),
    ]
    .into_iter()
    .zip(["250", "250", "250", "354"])
    {
        write!(w, "{cmd}\r\n").unwrap();
        expect(code, &mut r);
    }
    write!(w, "{message}.\r\n").unwrap();
    expect("250", &mut r);
    write!(w, "QUIT\r\n").unwrap();
}
