//! Benchmark (issue 15): detection overhead of the round trip's IMAP side. From the moment
//! the receiving server stores a message (its file appears in the seed mailbox's Maildir
//! `new/`, seen by inotify) to the moment the probe's own `imap::wait_for` returns its UID,
//! with IDLE and with polling (1 s, and 5 s: the probe's default `poll_interval`). Prints a
//! table: mode, messages, median, p95 and max overhead, and whether the IDLE target (under
//! 100 ms, median and p95) is met. A further row times the server alone: a minimal IMAP
//! client of this bench in IDLE, from storage to Dovecot's `* N EXISTS` (Dovecot 2.3 waits a
//! fixed 500 ms after its inotify event before it tells an idling client, which the probe
//! cannot shorten; see docs/benchmarks.md).
//!
//! Run as root on Debian 12: `cargo bench --bench roundtrip_detect` (brings the lab up when
//! its MX or IMAP server does not answer). `MAILAUTH_BENCH_MESSAGES` sets the messages per
//! mode (default 30).
//!
//! Per message: a fresh token; `wait_for` starts on seed2@lab.test's INBOX (over 993, with
//! the probe's `imap::connect`); after a random delay (uniform over one poll interval, 1 s
//! for IDLE, at least 50 ms: so polling meets arrivals at every phase and IDLE is always
//! established) the message carrying the token's `X-Mailauth-Probe` header goes to the lab MX
//! (127.0.1.25:25) by plain SMTP from 127.0.0.1. Both instants are wall-clock (`SystemTime`)
//! in this process: "stored" is stamped by a thread blocked in `read(2)` on an inotify
//! descriptor (IN_CREATE | IN_MOVED_TO on `new/` and `cur/`: Dovecot writes into `tmp/` and
//! renames) when the event batch holding the file arrives, "seen" when `wait_for` returns.
//! inotify is called through glibc directly (two `extern "C"` declarations; std links
//! glibc), so the bench adds no dependency. Our messages are removed with the probe's
//! `imap::remove`, each as soon as it is seen; leftovers of interrupted runs at start and end.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int};
use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailauth_probes::resolver::Upstream;
use mailauth_probes::roundtrip::imap::{self, ImapAccount, ImapAuth, ImapTls, Mailbox};
use mailauth_probes::roundtrip::message::{TOKEN_HEADER, Token, rfc5322_date};
use mailauth_probes::tls::TlsClient;
use mailauth_probes::{Deadline, Limits, ProbeContext, Resolver, Secret};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

const MX: &str = "127.0.1.25:25";
const IMAP_HOST: &str = "imap.lab.test";
const IMAP_ADDR: &str = "127.0.1.143:993";
const LAB_DNS: &str = "127.0.1.53:53";
const USER: &str = "seed2@lab.test";
/// Our messages' token owner: only these are ours to remove.
const OWNER: &str = "bench.roundtrip-detect";
const FROM: &str = "planter@planted.invalid";
/// The IDLE target of issue 15.
const TARGET_MS: f64 = 100.0;
/// How long one message may take from sending to being seen before it counts as lost.
const PER_MESSAGE: Duration = Duration::from_secs(60);

fn lab_dir() -> PathBuf {
    std::env::var_os("MAILAUTH_LAB_DIR")
        .map_or_else(|| PathBuf::from("/tmp/mailauth-lab"), PathBuf::from)
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Linux inotify through glibc (which std links); constants from <sys/inotify.h>.
mod inotify {
    use super::{c_char, c_int};
    pub const IN_MOVED_TO: u32 = 0x0000_0080;
    pub const IN_CREATE: u32 = 0x0000_0100;
    pub const IN_Q_OVERFLOW: u32 = 0x0000_4000;
    /// O_CLOEXEC (the same value on every Linux architecture Debian builds for but alpha,
    /// hppa, sparc, none of which this runs on).
    pub const IN_CLOEXEC: c_int = 0o2_000_000;
    unsafe extern "C" {
        pub fn inotify_init1(flags: c_int) -> c_int;
        pub fn inotify_add_watch(fd: c_int, path: *const c_char, mask: u32) -> c_int;
    }
}

/// The first line of our header in a stored message's header block, parsed.
fn our_token(path: &Path) -> Option<Token> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut f = File::open(path).ok()?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    buf.truncate(n);
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(buf.len());
    imap::token_in(&buf[..end]).filter(|t| t.owner == OWNER)
}

/// The message file `name` that appeared in `dir`: still there, or already moved to `cur/`
/// by an IMAP session (as `name:2,FLAGS`).
fn find_message(dir: &Path, name: &str) -> Option<Token> {
    if let Some(t) = our_token(&dir.join(name)) {
        return Some(t);
    }
    let cur = dir.parent()?.join("cur");
    let prefix = format!("{name}:");
    std::fs::read_dir(&cur)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .and_then(|e| our_token(&e.path()))
}

/// Watches the Maildir's `new/` and `cur/`; sends (token id, when stored) for each of our
/// messages, stamped when the event batch was read.
fn watch_maildir(maildir: &Path) -> std::io::Result<mpsc::Receiver<(String, SystemTime)>> {
    // SAFETY: plain system calls; the descriptor is owned by the File below from here on.
    let fd = unsafe { inotify::inotify_init1(inotify::IN_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut dirs = HashMap::new();
    for sub in ["new", "cur"] {
        let dir = maildir.join(sub);
        let c = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| std::io::Error::other("NUL in path"))?;
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let wd = unsafe {
            inotify::inotify_add_watch(fd, c.as_ptr(), inotify::IN_CREATE | inotify::IN_MOVED_TO)
        };
        if wd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        dirs.insert(wd, dir);
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("inotify: {e}");
                    return;
                }
            };
            let at = SystemTime::now();
            let mut off = 0;
            while off + 16 <= n {
                let word =
                    |i: usize| u32::from_ne_bytes(buf[off + i..off + i + 4].try_into().unwrap());
                let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
                let raw = &buf[off + 16..(off + 16 + len).min(n)];
                off += 16 + len;
                if mask & inotify::IN_Q_OVERFLOW != 0 {
                    eprintln!("inotify: queue overflow, events lost");
                    continue;
                }
                let name = String::from_utf8_lossy(raw.split(|&b| b == 0).next().unwrap_or(&[]))
                    .into_owned();
                let Some(dir) = dirs.get(&wd) else { continue };
                if name.is_empty() {
                    continue;
                }
                if let Some(t) = find_message(dir, &name)
                    && tx.send((t.id, at)).is_err()
                {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// Hands the message with `token` to the lab MX by plain SMTP from 127.0.0.1; returns when
/// the MX accepted it (its 250 after the data).
async fn deliver(token: &Token) -> Result<SystemTime, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind("127.0.0.1:0".parse().unwrap())
        .map_err(|e| format!("bind 127.0.0.1: {e}"))?;
    let tcp = socket
        .connect(MX.parse().unwrap())
        .await
        .map_err(|e| format!("connect {MX}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    async fn reply(
        r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
        code: &str,
    ) -> Result<(), String> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
                return Err(format!("MX closed the connection (expected {code})"));
            }
            if !line.starts_with(code) {
                return Err(format!("expected {code}, got {}", line.trim_end()));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    }
    reply(&mut r, "220").await?;
    let message = format!(
        "From: <{FROM}>\r\nTo: <{USER}>\r\nSubject: mailauth-probe detection bench {}\r\n\
         Date: {}\r\nMessage-ID: <bench-detect.{}@planted.invalid>\r\n{TOKEN_HEADER}: {}\r\n\
         X-Mailauth-Bench: roundtrip-detect\r\n\r\nA benchmark message; removed when seen.\r\n.\r\n",
        &token.id[..8],
        rfc5322_date(token.millis / 1000),
        token.id,
        token.header_value()
    );
    for (cmd, code) in [
        ("EHLO bench.lab.test".to_string(), "250"),
        (format!("MAIL FROM:<{FROM}>"), "250"),
        (format!("RCPT TO:<{USER}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        w.write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        reply(&mut r, code)
            .await
            .map_err(|e| format!("{cmd}: {e}"))?;
    }
    w.write_all(message.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    reply(&mut r, "250")
        .await
        .map_err(|e| format!("end of data: {e}"))?;
    let accepted = SystemTime::now();
    let _ = w.write_all(b"QUIT\r\n").await;
    Ok(accepted)
}

#[derive(Clone, Copy)]
enum Mode {
    /// The probe's `wait_for` with IDLE.
    Idle,
    /// The server alone: a raw IDLE client's `* N EXISTS` (no probe code), for comparison.
    RawIdle,
    /// The probe's `wait_for` polling (NOOP + UID SEARCH) at this interval.
    Poll(Duration),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Idle => "IDLE".into(),
            Mode::RawIdle => "(server alone: raw IDLE client, `* N EXISTS`)".into(),
            Mode::Poll(d) => format!("polling every {} s", d.as_secs()),
        }
    }
    /// The window the send is spread over (one poll interval; 1 s for IDLE).
    fn period(self) -> Duration {
        match self {
            Mode::Idle | Mode::RawIdle => Duration::from_secs(1),
            Mode::Poll(d) => d,
        }
    }
}

struct Bench {
    account: ImapAccount,
    base: ProbeContext,
    stored: mpsc::Receiver<(String, SystemTime)>,
    /// Storage instants received so far, by token id (the earliest wins).
    seen_stored: HashMap<String, SystemTime>,
}

impl Bench {
    fn ctx(&self, timeout: Duration) -> ProbeContext {
        ProbeContext {
            deadline: Deadline::after(timeout),
            ..self.base.clone()
        }
    }

    async fn open(&self) -> Mailbox {
        let ctx = self.ctx(Duration::from_secs(20));
        let mut mb = imap::connect(&self.account, &ctx)
            .await
            .unwrap_or_else(|e| panic!("IMAP connect: {e}"));
        assert!(mb.idle, "the lab's Dovecot does not offer IDLE");
        imap::select(&mut mb, "INBOX", &ctx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        mb
    }

    /// Removes every message of ours in INBOX (from interrupted runs, or lost ones).
    async fn sweep(&self, mb: &mut Mailbox) {
        let ctx = self.ctx(Duration::from_secs(30));
        let never = Token::new(OWNER, 0);
        match imap::strays(
            mb,
            OWNER,
            &never,
            u64::MAX,
            Duration::ZERO,
            Duration::MAX,
            &ctx,
        )
        .await
        {
            Ok(uids) if !uids.is_empty() => {
                if let Err(e) = imap::remove(mb, &uids, None, &ctx).await {
                    eprintln!("removing {} leftover messages: {e}", uids.len());
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("looking for leftover messages: {e}"),
        }
    }

    /// When the message `id` was stored, waiting up to `wait` for its inotify event.
    fn stored_at(&mut self, id: &str, wait: Duration) -> Option<SystemTime> {
        let until = std::time::Instant::now() + wait;
        loop {
            while let Ok((k, t)) = self.stored.try_recv() {
                let e = self.seen_stored.entry(k).or_insert(t);
                *e = (*e).min(t);
            }
            if let Some(t) = self.seen_stored.get(id) {
                return Some(*t);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            if let Ok((k, t)) = self.stored.recv_timeout(left) {
                let e = self.seen_stored.entry(k).or_insert(t);
                *e = (*e).min(t);
            }
        }
    }

    /// One message: (overhead ms, MX-accepted → stored ms), or why it failed.
    async fn one(&mut self, mb: Mailbox, mode: Mode) -> (Mailbox, Result<(f64, f64), String>) {
        let mut mb = mb;
        mb.idle = matches!(mode, Mode::Idle);
        let poll = mode.period();
        let token = Token::new(OWNER, unix_millis());
        let ctx = self.ctx(PER_MESSAGE + Duration::from_secs(30));
        let until = tokio::time::Instant::now() + PER_MESSAGE;
        let spread = poll.as_secs_f64() * rand::random::<f64>();
        let delay = Duration::from_secs_f64(spread.max(0.05));
        let waiter = async {
            let r = imap::wait_for(mb, &token, poll, until, &ctx).await;
            (r, SystemTime::now())
        };
        let sender = async {
            tokio::time::sleep(delay).await;
            deliver(&token).await
        };
        let (((back, found), seen), accepted) = tokio::join!(waiter, sender);
        let mut mb = match back {
            Some(mb) => mb,
            None => self.open().await,
        };
        let result = match (found, accepted) {
            (_, Err(e)) => Err(format!("sending: {e}")),
            (Err(e), _) => Err(format!("wait_for: {e}")),
            (Ok(None), _) => Err(format!("not seen within {PER_MESSAGE:?}")),
            (Ok(Some(uid)), Ok(accepted)) => {
                let r = match self.stored_at(&token.id, Duration::from_secs(5)) {
                    None => Err("no inotify event for the stored message".to_string()),
                    Some(stored) => Ok((ms_between(stored, seen), ms_between(accepted, stored))),
                };
                if let Err(e) =
                    imap::remove(&mut mb, &[uid], None, &self.ctx(Duration::from_secs(20))).await
                {
                    eprintln!("removing message {uid}: {e}");
                }
                r
            }
        };
        (mb, result)
    }
}

/// The server alone, for comparison: a minimal IMAP client (no probe code) idling on INBOX
/// over its own TLS session, timing the `* N EXISTS` line. Its messages go with `sweep`.
struct Raw {
    io: BufReader<imap::Io>,
    tag: u32,
}

impl Raw {
    async fn open(bench: &Bench, password: &str) -> Result<Raw, String> {
        let tcp = tokio::net::TcpStream::connect(IMAP_ADDR)
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (tls, report) = bench.base.tls.handshake(tcp, IMAP_HOST).await?;
        report.verified?;
        let mut raw = Raw {
            io: BufReader::new(Box::new(tls) as imap::Io),
            tag: 0,
        };
        raw.line().await?;
        raw.command(&format!("LOGIN \"{USER}\" \"{password}\""))
            .await?;
        raw.command("SELECT INBOX").await?;
        Ok(raw)
    }

    async fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.io.read_line(&mut line).await {
            Ok(0) => Err("IMAP server closed the connection".into()),
            Ok(_) => Ok(line),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send(&mut self, text: &str) -> Result<(), String> {
        self.io
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())
    }

    async fn command(&mut self, cmd: &str) -> Result<(), String> {
        self.tag += 1;
        let tag = format!("r{} ", self.tag);
        self.send(&format!("{tag}{cmd}")).await?;
        loop {
            let l = self.line().await?;
            if let Some(rest) = l.strip_prefix(&tag) {
                return if rest.starts_with("OK") {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: {}",
                        cmd.split(' ').next().unwrap_or(""),
                        rest.trim_end()
                    ))
                };
            }
        }
    }

    /// One message: idle, deliver, wait for the EXISTS that follows our message's storage.
    async fn one(&mut self, bench: &mut Bench) -> Result<(f64, f64), String> {
        let token = Token::new(OWNER, unix_millis());
        self.tag += 1;
        let tag = format!("r{} ", self.tag);
        self.send(&format!("{tag}IDLE")).await?;
        while !self.line().await?.starts_with('+') {}
        let delay = Duration::from_secs_f64((rand::random::<f64>()).max(0.05));
        tokio::time::sleep(delay).await;
        let accepted = deliver(&token).await?;
        let give_up = tokio::time::Instant::now() + PER_MESSAGE;
        let result = loop {
            let l = match tokio::time::timeout_at(give_up, self.line()).await {
                Ok(l) => l?,
                Err(_) => break Err("no EXISTS within the time limit".to_string()),
            };
            let at = SystemTime::now();
            // An EXISTS counts once our message is stored (another test's delivery may
            // announce itself before).
            if l.trim_end().ends_with(" EXISTS")
                && let Some(stored) = bench.stored_at(&token.id, Duration::ZERO)
            {
                break Ok((ms_between(stored, at), ms_between(accepted, stored)));
            }
        };
        self.send("DONE").await?;
        loop {
            if self.line().await?.starts_with(&tag) {
                break;
            }
        }
        result
    }
}

/// `to - from` in milliseconds (negative when `to` is earlier).
fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// (median, p95 by nearest rank, max) of `v`.
fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    let p95 = s[(n * 95).div_ceil(100).max(1) - 1];
    Some((median, p95, s[n - 1]))
}

fn lab_is_up() -> bool {
    let answers = |a: &str| {
        std::net::TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_secs(2)).is_ok()
    };
    answers(MX) && answers(IMAP_ADDR) && lab_dir().join(format!("secrets/{USER}.password")).exists()
}

fn main() {
    if !lab_is_up() {
        let up = Command::new("bash")
            .arg(format!("{}/contrib/lab/up", env!("CARGO_MANIFEST_DIR")))
            .stdout(Stdio::null())
            .status()
            .expect("contrib/lab/up");
        assert!(up.success(), "contrib/lab/up failed");
    }
    let per_mode: usize = std::env::var("MAILAUTH_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let lab = lab_dir();
    let password = std::fs::read_to_string(lab.join(format!("secrets/{USER}.password")))
        .expect("seed2's password file")
        .trim_end_matches(['\r', '\n'])
        .to_string();
    let password = password.as_str();
    let ca = std::fs::read_to_string(lab.join("pki/ca.pem")).expect("lab CA");
    let maildir = lab.join("imap/mail/lab.test/seed2/Maildir");
    let stored =
        watch_maildir(&maildir).unwrap_or_else(|e| panic!("inotify on {}: {e}", maildir.display()));
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let resolver = Resolver::new(
            &Upstream::Servers(vec![LAB_DNS.parse().unwrap()]),
            Duration::from_secs(2),
        )
        .expect("resolver");
        let base = ProbeContext {
            resolver: Arc::new(resolver),
            deadline: Deadline::after(Duration::from_secs(60)),
            limits: Arc::new(Limits::new(4)),
            tls: Arc::new(TlsClient::new(Some(&ca)).expect("TLS client")),
            previous: None,
        };
        let account = ImapAccount {
            host: IMAP_HOST.into(),
            port: 993,
            tls: ImapTls::Implicit,
            username: USER.into(),
            auth: ImapAuth::Password(Secret::new(password)),
            idle: true,
            poll_interval: Duration::from_secs(5),
            junk_names: vec![],
            move_to: None,
        };
        let mut bench = Bench {
            account,
            base,
            stored,
            seen_stored: HashMap::new(),
        };
        let mut mb = bench.open().await;
        bench.sweep(&mut mb).await;
        // One unmeasured message warms Postfix, the milters and Dovecot up.
        let (m, warm) = bench.one(mb, Mode::Idle).await;
        mb = m;
        if let Err(e) = warm {
            eprintln!("warm-up message: {e}");
        }
        let mut rows = vec![];
        let mut raw = None;
        for mode in [
            Mode::Idle,
            Mode::RawIdle,
            Mode::Poll(Duration::from_secs(1)),
            Mode::Poll(Duration::from_secs(5)),
        ] {
            let (mut overhead, mut delivery, mut failed) = (vec![], vec![], 0);
            for i in 0..per_mode {
                let r = if let Mode::RawIdle = mode {
                    let c = match &mut raw {
                        Some(c) => c,
                        None => raw.insert(
                            Raw::open(&bench, password)
                                .await
                                .unwrap_or_else(|e| panic!("raw IMAP client: {e}")),
                        ),
                    };
                    c.one(&mut bench).await
                } else {
                    let (m, r) = bench.one(mb, mode).await;
                    mb = m;
                    r
                };
                match r {
                    Ok((o, d)) => {
                        overhead.push(o);
                        delivery.push(d);
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("{} message {}: {e}", mode.name(), i + 1);
                    }
                }
            }
            eprintln!(
                "{}: {:?}",
                mode.name(),
                overhead
                    .iter()
                    .map(|v| v.round() as i64)
                    .collect::<Vec<_>>()
            );
            rows.push((mode, overhead, delivery, failed));
            if let Mode::RawIdle = mode {
                if let Some(mut c) = raw.take() {
                    let _ = c.command("LOGOUT").await;
                }
                bench.sweep(&mut mb).await;
            }
        }
        bench.sweep(&mut mb).await;
        imap::logout(mb).await;
        rows
    });
    println!(
        "| mode | messages | median ms | p95 ms | max ms | IDLE target (< {TARGET_MS:.0} ms median and p95) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (mode, overhead, _, failed) in &rows {
        let Some((median, p95, max)) = stats(overhead) else {
            println!("| {} | 0 ({failed} failed) | | | | |", mode.name());
            continue;
        };
        let target = match mode {
            Mode::Idle if median < TARGET_MS && p95 < TARGET_MS => "met",
            Mode::Idle => "not met",
            Mode::RawIdle | Mode::Poll(_) => "n/a",
        };
        let n = if *failed > 0 {
            format!("{} ({failed} failed)", overhead.len())
        } else {
            overhead.len().to_string()
        };
        println!(
            "| {} | {n} | {median:.0} | {p95:.0} | {max:.0} | {target} |",
            mode.name()
        );
    }
    let all: Vec<f64> = rows.iter().flat_map(|r| r.2.iter().copied()).collect();
    if let Some((median, p95, max)) = stats(&all) {
        println!(
            "\nFor reference, MX accepted (250 after DATA) -> stored in new/: median {median:.0} ms, p95 {p95:.0} ms, max {max:.0} ms ({} messages).",
            all.len()
        );
    }
}
