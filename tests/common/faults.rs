//! Fault injection: small in-process servers on loopback that misbehave on purpose, for
//! tests/faults.rs. Three kinds, each generic:
//!
//! - [`tcp_fault`]: a line-protocol server (SMTP, IMAP, HTTP) driven by a responder that maps
//!   every line the client sends (and the connection's opening, `None`) to [`Step`]s: say,
//!   drip one byte at a time, flood a 10 MB line, start TLS, swallow the client's next bytes,
//!   go silent, hang up. [`smtp`],
//!   [`imap`] and [`http_answer`] are well-behaved responders with one step replaced by a fault.
//! - [`dns_fault`]: a DNS server on UDP and TCP answering from a closure ([`DnsReply`]:
//!   records, an error code, truncation, garbage, silence), recording what it was asked.
//! - [`Pki`]: a test CA and a server certificate made with openssl, for the TLS cases.
//!
//! Servers run on threads of their own for as long as the test process lives; every address
//! is in 127.0.10.0/24 .. 127.0.12.0/24 (Linux routes all of 127/8 to lo).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, SOA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// The longest a fault server keeps a connection open (silence, slow drip): far beyond any
/// probe's deadline in the suite.
const HOLD: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// TLS: a CA and a server certificate, made with openssl.

/// A test CA and one server certificate signed by it.
pub struct Pki {
    _dir: tempfile::TempDir,
    /// The CA certificate (PEM), for `global.ca_file`.
    pub ca: PathBuf,
    /// A rustls server configuration presenting the server certificate.
    pub server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// A CA and a server certificate for `sans` (openssl's subjectAltName syntax, e.g.
    /// `DNS:*.example.test`, `IP:127.0.10.1`).
    pub fn new(sans: &[&str]) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let p = |f: &str| dir.path().join(f).display().to_string();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::write(
            p("leaf.ext"),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName={}\n",
                sans.join(",")
            ),
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", &p("ca.key"), "-out", &p("ca.pem"), "-days", "30"],
                &["-subj", "/CN=faults test CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &["-keyout", &p("leaf.key"), "-out", &p("leaf.csr")],
                &["-subj", "/CN=faults test server"],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &p("leaf.ext"),
            "-out",
            &p("leaf.pem"),
        ]);
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(p("leaf.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(p("leaf.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Pki {
            ca: dir.path().join("ca.pem"),
            server: Arc::new(server),
            _dir: dir,
        }
    }
}

// ---------------------------------------------------------------------------------------
// TCP: a line-protocol server whose every step can be a fault.

/// What the server does next on a connection.
#[derive(Clone)]
pub enum Step {
    /// Writes these bytes.
    Say(Vec<u8>),
    /// Writes these bytes one at a time, waiting this long before each.
    Drip(Vec<u8>, Duration),
    /// Writes a line of this many bytes (`x`), then CRLF.
    Flood(usize),
    /// TLS from here on (server side, this configuration).
    StartTls(Arc<rustls::ServerConfig>),
    /// Reads what the client sends next (up to 4 KiB: e.g. its TLS ClientHello) and drops
    /// it.
    Swallow,
    /// Says nothing more and reads nothing more until the client goes away.
    Hang,
    /// Hangs up.
    Close,
}

/// `Say` with text.
pub fn say(text: &str) -> Step {
    Step::Say(text.as_bytes().to_vec())
}

/// The steps for one line the client sent (`None`: the connection just opened). A fresh
/// responder serves each connection, so it may keep per-connection state.
pub type Responder = Box<dyn FnMut(Option<&str>) -> Vec<Step> + Send>;

enum Io {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
    Gone,
}

impl Io {
    fn stream(&mut self) -> Option<&mut dyn ReadWrite> {
        match self {
            Io::Plain(s) => Some(s),
            Io::Tls(s) => Some(s.as_mut()),
            Io::Gone => None,
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One client connection of a [`tcp_fault`] server.
struct Peer {
    io: Io,
}

impl Peer {
    fn write(&mut self, b: &[u8]) -> bool {
        match self.io.stream() {
            Some(s) => s.write_all(b).and_then(|_| s.flush()).is_ok(),
            None => false,
        }
    }

    /// One line (without CRLF), read a byte at a time so that nothing is buffered past it
    /// when TLS starts; `None` when the client went away. Lines are capped at 64 KiB.
    fn line(&mut self) -> Option<String> {
        let s = self.io.stream()?;
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while line.len() < 65536 {
            match s.read(&mut b) {
                Ok(1) if b[0] == b'\n' => break,
                Ok(1) => line.push(b[0]),
                _ => return None,
            }
        }
        Some(
            String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string(),
        )
    }

    /// Runs `steps`; false when the connection is over.
    fn run(&mut self, steps: Vec<Step>) -> bool {
        for step in steps {
            let alive = match step {
                Step::Say(b) => self.write(&b),
                Step::Drip(b, every) => b.iter().all(|c| {
                    std::thread::sleep(every);
                    self.write(&[*c])
                }),
                Step::Flood(n) => {
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut left = n;
                    while left > 0 {
                        let k = left.min(chunk.len());
                        if !self.write(&chunk[..k]) {
                            return false;
                        }
                        left -= k;
                    }
                    self.write(b"\r\n")
                }
                Step::StartTls(config) => {
                    let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else {
                        return false;
                    };
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, tcp);
                    // Complete the handshake now, so a client that never finishes it is
                    // noticed here rather than at the next read.
                    while tls.conn.is_handshaking() {
                        if tls.conn.complete_io(&mut tls.sock).is_err() {
                            return false;
                        }
                    }
                    self.io = Io::Tls(Box::new(tls));
                    true
                }
                Step::Swallow => {
                    let mut buf = [0u8; 4096];
                    matches!(self.io.stream().map(|s| s.read(&mut buf)), Some(Ok(n)) if n > 0)
                }
                Step::Hang => {
                    // Read and drop whatever comes until the client leaves (or HOLD passes).
                    if let Io::Plain(s) = &self.io {
                        let _ = s.set_read_timeout(Some(HOLD));
                    }
                    let start = std::time::Instant::now();
                    let mut buf = [0u8; 4096];
                    while start.elapsed() < HOLD {
                        match self.io.stream().map(|s| s.read(&mut buf)) {
                            Some(Ok(n)) if n > 0 => {}
                            _ => break,
                        }
                    }
                    false
                }
                Step::Close => false,
            };
            if !alive {
                return false;
            }
        }
        true
    }
}

/// A running [`tcp_fault`] server: its address, and how many connections it accepted.
pub struct TcpFault {
    pub addr: SocketAddr,
    pub accepted: Arc<Mutex<usize>>,
}

/// Serves `addr` (e.g. `127.0.10.1:25`; binding port 25 needs root, as the tests run),
/// each connection with a fresh responder from `responder`; with `implicit_tls`, TLS
/// starts before the first step.
pub fn tcp_fault(
    addr: &str,
    implicit_tls: Option<Arc<rustls::ServerConfig>>,
    responder: impl Fn() -> Responder + Send + Sync + 'static,
) -> TcpFault {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let count = accepted.clone();
    let responder = Arc::new(responder);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            *count.lock().unwrap() += 1;
            let responder = responder.clone();
            let tls = implicit_tls.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_nodelay(true);
                let _ = tcp.set_read_timeout(Some(HOLD));
                let mut peer = Peer { io: Io::Plain(tcp) };
                if let Some(config) = tls
                    && !peer.run(vec![Step::StartTls(config)])
                {
                    return;
                }
                let mut respond = responder();
                if !peer.run(respond(None)) {
                    return;
                }
                while let Some(line) = peer.line() {
                    if !peer.run(respond(Some(&line))) {
                        return;
                    }
                }
            });
        }
    });
    TcpFault { addr, accepted }
}

/// Where a well-behaved protocol server misbehaves: at the opening (`"greeting"`) or at the
/// first command starting with this word (case-insensitive, e.g. `"EHLO"`, `"STARTTLS"`,
/// `"LOGIN"`, `"IDLE"`, `"GET"`), with these steps instead of its answer.
#[derive(Clone)]
pub struct FaultAt {
    pub at: &'static str,
    pub steps: Vec<Step>,
}

impl FaultAt {
    pub fn new(at: &'static str, steps: Vec<Step>) -> Option<FaultAt> {
        Some(FaultAt { at, steps })
    }

    fn hits(&self, word: &str) -> bool {
        self.at.eq_ignore_ascii_case(word)
    }
}

/// An SMTP server (STARTTLS with `tls`, AUTH PLAIN, accepts any message) with one `fault`.
pub fn smtp(tls: Arc<rustls::ServerConfig>, fault: Option<FaultAt>) -> impl Fn() -> Responder {
    move || {
        let tls = tls.clone();
        let fault = fault.clone();
        let mut in_data = false;
        let mut secure = false;
        Box::new(move |line: Option<&str>| {
            let word = match line {
                None => "greeting".to_string(),
                Some(l) => l.split_whitespace().next().unwrap_or("").to_string(),
            };
            if in_data {
                if line == Some(".") {
                    in_data = false;
                    return vec![say("250 2.0.0 Ok: queued as FAULTS\r\n")];
                }
                return vec![];
            }
            if let Some(f) = fault.as_ref().filter(|f| f.hits(&word)) {
                return f.steps.clone();
            }
            match word.to_ascii_uppercase().as_str() {
                "GREETING" => vec![say("220 faults.test ESMTP\r\n")],
                "EHLO" if secure => vec![say("250-faults.test\r\n250 AUTH PLAIN LOGIN\r\n")],
                "EHLO" => vec![say("250-faults.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")],
                "STARTTLS" => {
                    secure = true;
                    vec![say("220 2.0.0 go ahead\r\n"), Step::StartTls(tls.clone())]
                }
                "AUTH" => vec![say("235 2.7.0 Authentication successful\r\n")],
                "DATA" => {
                    in_data = true;
                    vec![say("354 go on\r\n")]
                }
                "QUIT" => vec![say("221 bye\r\n"), Step::Close],
                "MAIL" | "RCPT" | "RSET" | "NOOP" => vec![say("250 2.0.0 Ok\r\n")],
                _ => vec![say("502 5.5.2 what?\r\n")],
            }
        })
    }
}

/// An IMAP server (one empty INBOX, IDLE, no Junk folder) with one `fault`.
pub fn imap(fault: Option<FaultAt>) -> impl Fn() -> Responder {
    move || {
        let fault = fault.clone();
        let mut idling: Option<String> = None;
        Box::new(move |line: Option<&str>| {
            let (tag, word) = match line {
                None => (String::new(), "greeting".to_string()),
                Some(l) => {
                    let mut w = l.split_whitespace();
                    let tag = w.next().unwrap_or("").to_string();
                    let mut word = w.next().unwrap_or("").to_ascii_uppercase();
                    if word == "UID" {
                        word = format!("UID {}", w.next().unwrap_or("").to_ascii_uppercase());
                    }
                    (tag, word)
                }
            };
            if let Some(t) = idling.take() {
                // Any line ends an IDLE (DONE).
                return vec![say(&format!("{t} OK IDLE done\r\n"))];
            }
            if let Some(f) = fault.as_ref().filter(|f| f.hits(&word)) {
                return f.steps.clone();
            }
            let ok = |extra: &str| say(&format!("{extra}{tag} OK done\r\n"));
            match word.as_str() {
                "greeting" => vec![say("* OK [CAPABILITY IMAP4rev1 IDLE] faults ready\r\n")],
                "CAPABILITY" => vec![ok("* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n")],
                "LIST" => vec![ok("* LIST () \"/\" INBOX\r\n")],
                "SELECT" => vec![ok(
                    "* 0 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Deleted \\Seen)\r\n* OK [UIDVALIDITY 1] ok\r\n",
                )],
                "UID SEARCH" => vec![ok("* SEARCH\r\n")],
                "IDLE" => {
                    idling = Some(tag.clone());
                    vec![say("+ idling\r\n")]
                }
                "LOGOUT" => vec![say(&format!("* BYE bye\r\n{tag} OK bye\r\n")), Step::Close],
                _ => vec![ok("")],
            }
        })
    }
}

/// An HTTP/1.1 server that answers every request with `head` (status line and headers,
/// without the blank line) and `body`, then hangs up; `fault` replaces the answer
/// (`at: "answer"`) when given.
pub fn http_answer(head: &str, body: Vec<u8>, fault: Option<FaultAt>) -> impl Fn() -> Responder {
    let head = head.to_string();
    move || {
        let head = head.clone();
        let body = body.clone();
        let fault = fault.clone();
        Box::new(move |line: Option<&str>| match line {
            // The request ends with its blank line.
            Some("") => match &fault {
                Some(f) => f.steps.clone(),
                None => {
                    let mut answer = format!(
                        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    answer.extend_from_slice(&body);
                    vec![Step::Say(answer), Step::Close]
                }
            },
            _ => vec![],
        })
    }
}

// ---------------------------------------------------------------------------------------
// DNS: answers from a closure, over UDP and TCP.

/// How the query arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Udp,
    Tcp,
}

/// What the server sends back.
pub enum DnsReply {
    /// NOERROR with these answer records (none: NODATA).
    Records(Vec<Record>),
    /// This response code and no records (NXDOMAIN, SERVFAIL, REFUSED...).
    Code(ResponseCode),
    /// TC=1 with these records, as a server whose answer did not fit UDP.
    Truncated(Vec<Record>),
    /// NOERROR, no answer, these records (NS) in the authority section and AA clear: a
    /// referral, as a server that does not serve the name sends.
    Referral(Vec<Record>),
    /// NOERROR with these answer records and AA clear: the answer of a recursive or caching
    /// server, not of an authority.
    Unauthoritative(Vec<Record>),
    /// These bytes, whatever they are (TCP: behind a length prefix).
    Raw(Vec<u8>),
    /// Nothing.
    Silence,
}

/// One query the server saw: how, the name (lower case, no trailing dot) and the type.
pub type Seen = (Via, String, RecordType);

pub struct DnsFault {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl DnsFault {
    /// The address as `global.resolver` takes it.
    pub fn resolver(&self) -> String {
        self.addr.to_string()
    }

    pub fn asked(&self, via: Via, name: &str) -> bool {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(v, n, _)| *v == via && n == name)
    }
}

type Answer = dyn Fn(&str, RecordType, Via) -> DnsReply + Send + Sync;

/// A DNS server on `ip` (a free port, UDP and TCP alike) answering every query with
/// `answer(name, type, via)`.
pub fn dns_fault(
    ip: &str,
    answer: impl Fn(&str, RecordType, Via) -> DnsReply + Send + Sync + 'static,
) -> DnsFault {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind((ip, 0)).unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
            break (udp, tcp);
        }
    };
    serve_dns(udp, tcp, answer)
}

/// [`dns_fault`] on a fixed address, e.g. `127.0.10.53:53` for a nameserver the dns probe
/// asks directly (it asks port 53; binding it needs root, as the tests run).
pub fn dns_fault_at(
    addr: &str,
    answer: impl Fn(&str, RecordType, Via) -> DnsReply + Send + Sync + 'static,
) -> DnsFault {
    let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr}/udp: {e}"));
    let tcp = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}/tcp: {e}"));
    serve_dns(udp, tcp, answer)
}

fn serve_dns(
    udp: UdpSocket,
    tcp: TcpListener,
    answer: impl Fn(&str, RecordType, Via) -> DnsReply + Send + Sync + 'static,
) -> DnsFault {
    let addr = udp.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let answer: Arc<Answer> = Arc::new(answer);
    let record = seen.clone();
    {
        let (answer, seen) = (answer.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                if let Some(out) = dns_respond(&buf[..n], Via::Udp, &*answer, &seen) {
                    let _ = udp.send_to(&out, from);
                }
            }
        });
    }
    std::thread::spawn(move || {
        for mut conn in tcp.incoming().flatten() {
            let (answer, seen) = (answer.clone(), record.clone());
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(HOLD));
                loop {
                    let mut len = [0u8; 2];
                    if conn.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if conn.read_exact(&mut msg).is_err() {
                        return;
                    }
                    match dns_respond(&msg, Via::Tcp, &*answer, &seen) {
                        Some(out) => {
                            let len = u16::try_from(out.len()).unwrap_or(u16::MAX);
                            let framed = [&len.to_be_bytes()[..], &out].concat();
                            if conn.write_all(&framed).is_err() {
                                return;
                            }
                        }
                        // Silence: keep the connection, answer nothing.
                        None => std::thread::sleep(HOLD),
                    }
                }
            });
        }
    });
    DnsFault { addr, seen }
}

fn dns_respond(
    query: &[u8],
    via: Via,
    answer: &Answer,
    seen: &Mutex<Vec<Seen>>,
) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let q = req.queries.first()?;
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    seen.lock()
        .unwrap()
        .push((via, name.clone(), q.query_type()));
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.add_queries(req.queries.iter().cloned());
    match answer(&name, q.query_type(), via) {
        DnsReply::Silence => return None,
        DnsReply::Raw(b) => return Some(b),
        DnsReply::Records(r) => {
            resp.add_answers(r);
        }
        DnsReply::Code(c) => resp.metadata.response_code = c,
        DnsReply::Referral(ns) => {
            resp.metadata.authoritative = false;
            resp.add_authorities(ns);
        }
        DnsReply::Unauthoritative(r) => {
            resp.metadata.authoritative = false;
            resp.add_answers(r);
        }
        DnsReply::Truncated(r) => {
            resp.metadata.truncation = true;
            resp.add_answers(r);
        }
    }
    resp.to_vec().ok()
}

fn name(n: &str) -> Name {
    Name::from_ascii(format!("{}.", n.trim_end_matches('.'))).unwrap()
}

/// A TXT record of `owner` made of these character-strings (each at most 255 bytes).
pub fn txt(owner: &str, strings: &[&str]) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::TXT(TXT::new(strings.iter().map(|s| s.to_string()).collect())),
    )
}

pub fn a(owner: &str, ip: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::A(A(ip.parse().unwrap())))
}

pub fn aaaa(owner: &str, ip: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::AAAA(AAAA(ip.parse().unwrap())))
}

pub fn mx(owner: &str, preference: u16, host: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::MX(MX::new(preference, name(host))))
}

pub fn ns(owner: &str, host: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::NS(NS(name(host))))
}

/// The SOA of zone `owner`, with this serial.
pub fn soa(owner: &str, serial: u32) -> Record {
    let soa = SOA::new(
        name(&format!("ns1.{owner}")),
        name(&format!("hostmaster.{owner}")),
        serial,
        3600,
        600,
        86400,
        60,
    );
    Record::from_rdata(name(owner), 60, RData::SOA(soa))
}

pub fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 60, RData::CNAME(CNAME(name(target))))
}
