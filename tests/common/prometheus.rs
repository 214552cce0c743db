//! A real Prometheus (Debian `prometheus`) on loopback for the tests that check what it reads
//! from the exporter, and its HTTP API.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

pub struct Prometheus {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Prometheus on a free loopback port with `scrape_config` as its prometheus.yml and
/// waits until it is ready.
pub fn prometheus(scrape_config: &str) -> Prometheus {
    prometheus_with(scrape_config, &[])
}

/// As [`prometheus`], with other files (rule files, by relative name) written beside the
/// config first.
pub fn prometheus_with(scrape_config: &str, files: &[(&str, &str)]) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write_temp(dir.path(), name, text);
    }
    let config = write_temp(dir.path(), "prometheus.yml", scrape_config);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("start prometheus (Debian package `prometheus`)");
    let p = Prometheus {
        child,
        addr,
        _dir: dir,
    };
    let start = Instant::now();
    while get_ok(p.addr, "/-/ready").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "prometheus not ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    p
}

pub fn get_ok(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    std::net::TcpStream::connect(addr).ok()?;
    let (code, body) = get(addr, path);
    (code == 200).then_some(body)
}

pub fn api(p: &Prometheus, path: &str) -> serde_json::Value {
    let body = get_ok(p.addr, path).unwrap_or_else(|| panic!("GET {path} failed"));
    serde_json::from_str(&body).unwrap()
}

pub fn query(p: &Prometheus, q: &str) -> Vec<serde_json::Value> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let v = api(p, &format!("/api/v1/query?query={enc}"));
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}
