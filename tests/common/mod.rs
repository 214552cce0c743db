//! Shared helpers of the integration tests: the loopback lab, the binaries, a tiny HTTP
//! client, a DNS server that never answers, and a `serve` process that is killed on drop.
//! Every address is on loopback; nothing asks the machine's resolver.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const LAB_DNS: &str = "127.0.1.53:53";

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
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
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
    /// Starts `serve` with `config_text` written to a temporary file.
    pub fn start(config_text: &str) -> Daemon {
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
        let d = Daemon {
            child,
            addr,
            config,
            log,
            _dir: dir,
        };
        d.wait_for(Duration::from_secs(10), "/-/healthy answers", |d| {
            TcpStream::connect(d.addr).is_ok() && get(d.addr, "/-/healthy").0 == 200
        });
        d
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

pub fn write_temp(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
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
