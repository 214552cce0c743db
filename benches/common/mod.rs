//! What the DNS benchmarks share: a private knotd with generated zones (N child zones under
//! `plain.test.` and a signed `signed.test.`, each with MX, SPF, DMARC, DKIM, MTA-STS and
//! TLS-RPT records), this process's CPU and memory, and the cleanup of knotd and a child
//! process on SIGINT/SIGTERM. Used by benches/dns.rs and benches/scale.rs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use hickory_resolver::proto::rr::Name;

/// The address the generated MX hosts resolve to (`MAILAUTH_BENCH_MX_IP`, else 127.0.9.25,
/// where nothing listens: the DNS bench never connects).
pub fn mx_ip() -> &'static str {
    static IP: OnceLock<String> = OnceLock::new();
    IP.get_or_init(|| std::env::var("MAILAUTH_BENCH_MX_IP").unwrap_or_else(|_| "127.0.9.25".into()))
}
pub const SENDER_IP: &str = "127.0.9.26";
pub const ROW_ENV: &str = "MAILAUTH_BENCH_DNS_ROW";
/// Two RSA 2048 public keys (SubjectPublicKeyInfo, base64) for the DKIM selectors.
pub const DKIM_S1: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAt2JxPQHniiG40f72flrDxbGBm+xInhlM2OPZCEuJCxJLvYBWlwPNQb6wNdvuVEkGajEyCZsv7b+WzESkTARlyyRKF+lXZw332U6Y84sVedo84I0cpalC3ItpSCCXDoqmw0Ho/QgKI+sy6kx1sqEPztJppHmImrGrIgAq+atHzS76oFq9LspbPU6BkcdpXxy/ge7d6KXfUXXFr/DNpQLUl/Ynr61pnS1o0LPdv2RvSKe+Wn7PN7oG+U6edbjAJNoRvdskmzyN+gViwdmvyNB4wHIlOLqU+fq3BRRn4HmQ9BONzxFjwXzPL73FF4f7EDt9a3c86drj6+yfNFrcQyYLxwIDAQAB";
pub const DKIM_S2: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwhO7K/YuJ4E55eou6LzfaaaN7xZEXW9lnrocBBvIjUBDIhEBcSC46wOOd49FJ1PcEqJtVBTvnTRjH+VIJvitN0kxp3VXGIpIsajoR1V/se4PDbDObLs+SySR0vJAKakwwVjT2p/X3jZzW2huWRVwE0SyHeKKdS/0B5CXHEe75YlEv7pIIiw99D/2A6n0im6Vc9KxvBiWdkTy2sr4GoUFH5BrKS3XqVHTH8zsX1waDTGdXXFxGTruGkyK+vNluPEQAnvSNWwnPUo66ZTcawmktuQdfO0CQe5pIZ7DLHp0JfZTBpyeOPm+pMYfL2fswac9Ih1SOpREvD+n6Hp3rPOSywIDAQAB";

/// Processes to kill and the directory to remove if a signal ends the benchmark.
pub static KNOT_PID: AtomicU32 = AtomicU32::new(0);
pub static CHILD_PID: AtomicU32 = AtomicU32::new(0);
pub static TMP_DIR: OnceLock<PathBuf> = OnceLock::new();

pub fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn ns_ip() -> IpAddr {
    std::env::var("MAILAUTH_BENCH_DNS_IP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 9, 53]))
}

pub fn label(i: usize) -> String {
    format!("d{i:05}")
}

// --- measurements of this process -----------------------------------------------------------

/// User + system CPU seconds so far (all threads) of process `pid` (`"self"` for this one).
pub fn proc_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime (fields 14 and 15) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A kB field (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status` (`"self"` for this process).
pub fn proc_status_kb(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of this process so far (all threads).
pub fn cpu_seconds() -> f64 {
    proc_cpu_seconds("self")
}

pub fn vm_hwm_kb() -> u64 {
    status_kb("VmHWM:")
}

pub fn status_kb(key: &str) -> u64 {
    proc_status_kb("self", key)
}

// --- the knotd of this benchmark ------------------------------------------------------------

pub struct Knot {
    pub child: Child,
    pub conf: PathBuf,
}

impl Knot {
    pub fn start(dir: &Path) -> Knot {
        let conf = dir.join("knot.conf");
        let ok = Command::new("knotc")
            .arg("-c")
            .arg(&conf)
            .arg("conf-check")
            .stdout(Stdio::null())
            .status()
            .expect("knotc (apt-get install knot)");
        assert!(
            ok.success(),
            "knotc conf-check failed for {}",
            conf.display()
        );
        let log = std::fs::File::create(dir.join("knotd.out")).unwrap();
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("knotd (apt-get install knot)");
        KNOT_PID.store(child.id(), Ordering::SeqCst);
        Knot { child, conf }
    }

    pub fn knotc(&self, args: &[&str]) -> String {
        let out = Command::new("knotc")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .expect("knotc");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every mod-stats counter (every protocol and zone).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.knotc(&["stats", "mod-stats"])
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(" = ")?;
                Some((k.trim().to_string(), v.trim().parse().ok()?))
            })
            .collect()
    }

    /// Queries answered so far.
    pub fn queries(&self) -> u64 {
        self.stats()
            .get("mod-stats.server-operation[query]")
            .copied()
            .unwrap_or(0)
    }

    /// knotd's user + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(&self.child.id().to_string())
    }

    pub fn rss_mb(&self) -> f64 {
        proc_status_kb(&self.child.id().to_string(), "VmRSS:") as f64 / 1024.0
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        KNOT_PID.store(0, Ordering::SeqCst);
    }
}

/// On SIGINT/SIGTERM: kill knotd and the running child, remove the temporary directory, exit.
pub fn on_signal_cleanup() {
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        for pid in [&CHILD_PID, &KNOT_PID].map(|p| p.load(Ordering::SeqCst)) {
            if pid != 0 {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        if let Some(d) = TMP_DIR.get() {
            let _ = std::fs::remove_dir_all(d);
        }
        eprintln!("bench: interrupted; knotd and the child stopped");
        std::process::exit(130);
    });
}

// --- zones ----------------------------------------------------------------------------------

/// A TXT value as zone-file strings of at most 255 bytes.
pub fn txt(value: &str) -> String {
    let parts: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    format!("( {} )", parts.join(" "))
}

pub fn parent_zone(parent: &str, n: usize, ns: IpAddr, serial: u32, ds: &[String]) -> String {
    let mx_ip = mx_ip();
    let mut z = String::with_capacity(n * 64);
    let _ = write!(
        z,
        "$ORIGIN {parent}.\n$TTL 3600\n@ SOA ns.{parent}. hostmaster.{parent}. {serial} 3600 600 86400 300\n\
         @ NS ns.{parent}.\nns A {ns}\nmx A {mx_ip}\nout A {SENDER_IP}\n"
    );
    for i in 0..n {
        let _ = writeln!(z, "{} NS ns.{parent}.", label(i));
    }
    for line in ds {
        z.push_str(line);
        z.push('\n');
    }
    z
}

pub fn child_zone(parent: &str, i: usize) -> String {
    let mx_ip = mx_ip();
    let d = format!("{}.{parent}", label(i));
    format!(
        "$ORIGIN {d}.\n$TTL 3600\n@ SOA ns.{parent}. hostmaster.{parent}. 1 3600 600 86400 300\n\
         @ NS ns.{parent}.\n@ MX 10 mx.{d}.\nmx A {mx_ip}\n\
         @ TXT \"v=spf1 include:_spf1.{d} include:_spf2.{d} -all\"\n\
         _spf1 TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n\
         _spf2 TXT \"v=spf1 ip4:{SENDER_IP} -all\"\n\
         _dmarc TXT \"v=DMARC1; p=reject; rua=mailto:dmarc-reports@{d}\"\n\
         s1._domainkey TXT {}\ns2._domainkey TXT {}\n\
         _mta-sts TXT \"v=STSv1; id=20261125\"\n\
         _smtp._tls TXT \"v=TLSRPTv1; rua=mailto:tls-reports@{d}\"\n",
        txt(&format!("v=DKIM1; k=rsa; p={DKIM_S1}")),
        txt(&format!("v=DKIM1; k=rsa; p={DKIM_S2}")),
    )
}

pub fn write_zones(dir: &Path, n: usize, ns: IpAddr) {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    for d in ["run", "db"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let w = |name: &str, text: String| {
        std::fs::write(zones.join(format!("{name}.zone")), text).unwrap()
    };
    for parent in ["plain.test", "signed.test"] {
        w(parent, parent_zone(parent, n, ns, 1, &[]));
        for i in 0..n {
            w(&format!("{}.{parent}", label(i)), child_zone(parent, i));
        }
    }
    w(
        "9.0.127.in-addr.arpa",
        "$ORIGIN 9.0.127.in-addr.arpa.\n$TTL 3600\n\
         @ SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300\n\
         @ NS ns.plain.test.\n25 PTR mx.plain.test.\n26 PTR out.plain.test.\n"
            .to_string(),
    );
    let common = format!(
        "    storage: \"{}\"\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n",
        zones.display()
    );
    let mut conf = format!(
        "# Written by benches/dns.rs.\nserver:\n    rundir: \"{d}/run\"\n    listen: {ns}@53\n    identity: \"\"\n    version: \"\"\n\
         log:\n  - target: \"{d}/knotd.log\"\n    any: notice\n\
         database:\n    storage: \"{d}/db\"\n\
         mod-stats:\n  - id: bench\n    query-type: on\n\
         policy:\n  - id: bench\n    algorithm: ecdsap256sha256\n    ksk-lifetime: 0\n    zsk-lifetime: 0\n\
         template:\n  - id: default\n{common}    global-module: mod-stats/bench\n  - id: signed\n{common}    dnssec-signing: on\n    dnssec-policy: bench\n\
         zone:\n  - domain: 9.0.127.in-addr.arpa.\n",
        d = dir.display()
    );
    for (parent, template) in [("plain.test", "default"), ("signed.test", "signed")] {
        let _ = writeln!(conf, "  - domain: {parent}.\n    template: {template}");
        for i in 0..n {
            let _ = writeln!(
                conf,
                "  - domain: {}.{parent}.\n    template: {template}",
                label(i)
            );
        }
    }
    std::fs::write(dir.join("knot.conf"), conf).unwrap();
}

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A private knotd for a bench: a temporary directory (removed on SIGINT/SIGTERM too) holding
/// the zones of `n` domains, knotd serving them on `ns`:53, and a resolver asking it. The zones
/// may still be loading: the caller waits for what it needs.
pub fn start_private_knot(
    prefix: &str,
    n: usize,
    ns: IpAddr,
) -> (
    tempfile::TempDir,
    PathBuf,
    Knot,
    mailauth_probes::resolver::Resolver,
) {
    use mailauth_probes::resolver::{Resolver, Upstream};
    let tmp = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let _ = TMP_DIR.set(dir.clone());
    on_signal_cleanup();
    write_zones(&dir, n, ns);
    let knot = Knot::start(&dir);
    let r = Resolver::new(
        &Upstream::Servers(vec![std::net::SocketAddr::new(ns, 53)]),
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    (tmp, dir, knot, r)
}
