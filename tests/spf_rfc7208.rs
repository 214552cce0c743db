//! The RFC 7208 SPF test suite (openspf.org release 2014.04, shipped in the pyspf sdist as
//! `test/rfc7208-tests.yml`) run against our `check_host()`
//! (`mailauth_probes::dns::spf_check::check_host`).
//!
//! Every scenario's `zonedata` is served by an in-process authoritative DNS server on
//! 127.0.0.1 (UDP, and TCP for truncated answers), so the resolver and mail-auth are tested
//! as they run in production, packets included. Each case must give a result the suite
//! accepts, unless it is in [`KNOWN`] with its reason; a listed case that now agrees, or
//! that gives another result than the one listed, fails the test too, so the list stays
//! honest. docs/spf-rfc7208.md explains every listed case.
//!
//! The suite is not committed. `contrib/fetch-test-data` (run by CI before the lab starts)
//! or, failing that, this test downloads the pyspf sdist from PyPI with pip into
//! `target/test-data/`, and the YAML is extracted next to it; later runs need no network.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME, MX, NULL, PTR, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use mailauth_probes::dns::spf_check::check_host;
use mailauth_probes::resolver::{Resolver, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use yaml_rust2::{Yaml, YamlLoader};

/// The pyspf release whose suite we run (its `rfc7208-tests.yml` is release 2014.04).
const PYSPF_VERSION: &str = "2.0.14";
/// Each DNS query attempt; a TIMEOUT name is never answered, so it costs this much.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// Cases run at once (each with its own resolver, so no cache is shared).
const CONCURRENT_CASES: usize = 32;
/// A case that takes longer than this is reported as `hung`.
const CASE_LIMIT: Duration = Duration::from_secs(30);

/// Cases where our result is not one the suite accepts: (case, our result, reason). Case
/// names are unique across the suite. All are mail-auth's evaluation or hickory, which
/// `check_host()` does not redo; docs/spf-rfc7208.md says more about each.
const KNOWN: &[(&str, &str, &str)] = &[
    ("null-text", "temperror", EMPTY_TXT),
    ("invalid-domain-long-via-macro", "temperror", BAD_NAME),
    ("ptr-match-implicit", "fail", PTR_DOT),
    ("ptr-match-ip6", "fail", PTR_DOT),
    ("a-colon-domain", "permerror", DOMAIN_SLASH),
    ("a-colon-domain-ip4mapped", "permerror", DOMAIN_SLASH),
    ("mx-colon-domain", "permerror", DOMAIN_SLASH),
    ("mx-colon-domain-ip4mapped", "permerror", DOMAIN_SLASH),
    ("exists-ip6only", "pass", EXISTS_AAAA),
    ("macro-mania-in-domain", "temperror", BAD_NAME),
    ("p-macro-multiple", "temperror", P_MACRO),
    ("invalid-hello-macro", "temperror", BAD_NAME),
    ("hello-domain-literal", "temperror", BAD_NAME),
];
const EMPTY_TXT: &str = "hickory rejects the answer (a TXT record with no string)";
const DOMAIN_SLASH: &str = "mail-auth: `/` inside an a/mx domain-spec read as CIDR";
const BAD_NAME: &str = "mail-auth: a target that is no DNS name is temperror";
const PTR_DOT: &str = "mail-auth: ptr never matches the target name itself";
const EXISTS_AAAA: &str = "mail-auth: exists also looks up AAAA";
const P_MACRO: &str = "mail-auth: %{p} is the first PTR name, with its dot";

// ---------------------------------------------------------------------------------------
// The suite: fetched once, cached under target/test-data/.

fn test_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-data")
}

/// The text of `rfc7208-tests.yml` from pyspf [`PYSPF_VERSION`], from the cache or PyPI.
fn suite_yaml() -> String {
    let dir = test_data_dir();
    let yaml = dir.join(format!("pyspf-{PYSPF_VERSION}/rfc7208-tests.yml"));
    if let Ok(text) = std::fs::read_to_string(&yaml) {
        return text;
    }
    std::fs::create_dir_all(&dir).expect("create target/test-data");
    let sdist = dir.join(format!("pyspf-{PYSPF_VERSION}.tar.gz"));
    if !sdist.exists() {
        download_sdist(&sdist);
    }
    // Extract the one file, then move it into place (atomic for concurrent runs).
    let tmp = tempfile::tempdir_in(&dir).expect("temporary directory");
    let member = format!("pyspf-{PYSPF_VERSION}/test/rfc7208-tests.yml");
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(&sdist)
        .arg("-C")
        .arg(tmp.path())
        .arg(&member)
        .stdin(Stdio::null())
        .output()
        .expect("run tar to extract the pyspf sdist");
    assert!(
        out.status.success(),
        "tar could not extract {member} from {}: {}",
        sdist.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(yaml.parent().unwrap()).unwrap();
    std::fs::rename(tmp.path().join(&member), &yaml).expect("move the suite into the cache");
    std::fs::read_to_string(&yaml).expect("read the extracted suite")
}

/// `pip download` of the pyspf sdist into `dest` (through a temporary directory). Fails
/// with a clear message when pip is missing: this test never skips silently.
fn download_sdist(dest: &Path) {
    let pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdin(Stdio::null())
        .output();
    if !matches!(&pip, Ok(o) if o.status.success()) {
        panic!(
            "the RFC 7208 suite test needs pip to download pyspf {PYSPF_VERSION} from PyPI, \
             and `python3 -m pip` is not available ({}). Install pip (Debian: apt-get install \
             python3-pip) or put pyspf-{PYSPF_VERSION}.tar.gz in {}.",
            match &pip {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            },
            dest.parent().unwrap().display()
        );
    }
    let tmp = tempfile::tempdir_in(dest.parent().unwrap()).expect("temporary directory");
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps"])
        .args(["--no-binary", ":all:"])
        .arg(format!("pyspf=={PYSPF_VERSION}"))
        .arg("-d")
        .arg(tmp.path())
        .stdin(Stdio::null())
        .output()
        .expect("run pip");
    assert!(
        out.status.success(),
        "pip could not download pyspf {PYSPF_VERSION} from PyPI:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = tmp.path().join(format!("pyspf-{PYSPF_VERSION}.tar.gz"));
    std::fs::rename(&got, dest).unwrap_or_else(|e| {
        panic!(
            "pip ran but {} is not there ({e}); the directory holds {:?}",
            got.display(),
            std::fs::read_dir(tmp.path())
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
                .unwrap_or_default()
        )
    });
}

// ---------------------------------------------------------------------------------------
// The suite's structure.

struct Scenario {
    description: String,
    zone: Zone,
    cases: Vec<Case>,
}

struct Case {
    name: String,
    host: String,
    helo: String,
    mailfrom: String,
    /// The results the suite accepts, the preferred one first.
    expected: Vec<String>,
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_suite(text: &str) -> Vec<Scenario> {
    let docs = YamlLoader::load_from_str(text).expect("the suite is valid YAML");
    docs.iter()
        .filter(|d| !d.is_null() && !d.is_badvalue())
        .map(|doc| {
            let description = scalar(&doc["description"]).unwrap_or_default();
            let tests = doc["tests"]
                .as_hash()
                .unwrap_or_else(|| panic!("scenario {description:?} has no tests"));
            let cases = tests
                .iter()
                .map(|(name, t)| {
                    let name = scalar(name).expect("case name");
                    let field =
                        |k: &str| scalar(&t[k]).unwrap_or_else(|| panic!("case {name}: no `{k}`"));
                    let expected = match &t["result"] {
                        Yaml::Array(v) => v.iter().filter_map(scalar).collect(),
                        y => vec![scalar(y).unwrap_or_else(|| panic!("case {name}: no result"))],
                    };
                    Case {
                        host: field("host"),
                        helo: field("helo"),
                        mailfrom: field("mailfrom"),
                        expected,
                        name,
                    }
                })
                .collect();
            let zone = Zone::from_yaml(&doc["zonedata"]);
            Scenario {
                description,
                zone,
                cases,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The zone: what the test server answers.

#[derive(Clone, Debug)]
enum Entry {
    /// `- TIMEOUT`: queries for a type with no record listed before it are never answered.
    Timeout,
    Record(RData),
}

/// A scenario's zonedata, keyed by lower-case name without the trailing dot. Mirrors the
/// suite's reference driver (pyspf's test/testspf.py): a name without any TXT entry also
/// serves its `SPF:` records as TXT (the suite relies on this "auto-magic duplication",
/// see the YAML's header); `TXT: NONE` only turns that off; `- TIMEOUT` makes the queries
/// for types not listed before it time out; an unknown name starting with `error.` times
/// out. SPF-type (99) records are served only to type-99 queries.
#[derive(Debug, Default)]
struct Zone {
    names: HashMap<Vec<u8>, Vec<Entry>>,
}

/// The suite writes a record's character-strings as one string or a list of strings.
fn strings(y: &Yaml) -> Vec<Vec<u8>> {
    match y {
        Yaml::Array(v) => v
            .iter()
            .map(|s| scalar(s).expect("TXT string").into_bytes())
            .collect(),
        y => vec![scalar(y).expect("TXT string").into_bytes()],
    }
}

fn name_of(text: &str) -> Name {
    Name::from_labels(text.split('.').filter(|l| !l.is_empty()).map(str::as_bytes))
        .unwrap_or_else(|e| panic!("name {text:?}: {e}"))
}

fn key(text: &[u8]) -> Vec<u8> {
    let t = text.strip_suffix(b".").unwrap_or(text);
    t.to_ascii_lowercase()
}

fn txt_rdata(parts: &[Vec<u8>]) -> TXT {
    for p in parts {
        assert!(p.len() <= 255, "a TXT string over 255 bytes: {p:?}");
    }
    TXT::from_bytes(parts.iter().map(Vec::as_slice).collect())
}

/// Type SPF (99) has no RData type in hickory: the same wire format as TXT, sent raw.
fn spf_rdata(parts: &[Vec<u8>]) -> RData {
    let mut wire = Vec::new();
    for p in parts {
        wire.push(p.len() as u8);
        wire.extend_from_slice(p);
    }
    let mut rdata = NULL::new();
    rdata.anything = wire; // `NULL::with` refuses the empty record (`SPF: [ ]`)
    RData::Unknown {
        code: RecordType::Unknown(99),
        rdata,
    }
}

impl Zone {
    fn from_yaml(y: &Yaml) -> Zone {
        let mut zone = Zone::default();
        let Some(h) = y.as_hash() else {
            return zone;
        };
        for (name, records) in h {
            let name = scalar(name).expect("zone name");
            let mut entries = vec![];
            let mut has_txt = false;
            let mut spf_as_txt = vec![];
            for r in records.as_vec().expect("a name's records are a list") {
                if scalar(r).as_deref() == Some("TIMEOUT") {
                    entries.push(Entry::Timeout);
                    continue;
                }
                let (t, v) = r
                    .as_hash()
                    .and_then(|h| h.iter().next())
                    .unwrap_or_else(|| panic!("{name}: unexpected record {r:?}"));
                let t = scalar(t).unwrap();
                let text = || scalar(v).unwrap_or_else(|| panic!("{name} {t}: {v:?}"));
                let rdata = match t.as_str() {
                    "A" => RData::A(A(text().parse().expect("A address"))),
                    "AAAA" => RData::AAAA(AAAA(text().parse().expect("AAAA address"))),
                    "PTR" => RData::PTR(PTR(name_of(&text()))),
                    "CNAME" => RData::CNAME(CNAME(name_of(&text()))),
                    "MX" => {
                        let v = v.as_vec().expect("MX: [preference, exchange]");
                        let pref = v[0].as_i64().expect("MX preference") as u16;
                        RData::MX(MX::new(pref, name_of(&scalar(&v[1]).unwrap())))
                    }
                    "TXT" | "SPF" => {
                        let parts = strings(v);
                        if t == "TXT" {
                            has_txt = true;
                        }
                        if parts == [b"NONE".to_vec()] {
                            continue;
                        }
                        if t == "SPF" {
                            spf_as_txt.push(parts.clone());
                            spf_rdata(&parts)
                        } else {
                            RData::TXT(txt_rdata(&parts))
                        }
                    }
                    other => panic!("{name}: unknown record type {other}"),
                };
                entries.push(Entry::Record(rdata));
            }
            if !has_txt {
                entries.extend(
                    spf_as_txt
                        .iter()
                        .map(|p| Entry::Record(RData::TXT(txt_rdata(p)))),
                );
            }
            zone.names
                .entry(key(name.as_bytes()))
                .or_default()
                .extend(entries);
        }
        zone
    }

    /// The answer to `qname`/`qtype`; `None` for a query left unanswered (TIMEOUT).
    fn answer(&self, qname: &Name, qtype: RecordType) -> Option<(ResponseCode, Vec<Record>)> {
        let mut answers = vec![];
        let mut owner = qname.clone();
        let mut visited = HashSet::new();
        loop {
            let k = name_key(&owner);
            let Some(entries) = self.names.get(&k) else {
                if answers.is_empty() && k.starts_with(b"error.") {
                    return None;
                }
                let suffix: Vec<u8> = [b".".as_slice(), &k].concat();
                let exists = self.names.keys().any(|n| n.ends_with(&suffix));
                let code = if exists {
                    ResponseCode::NoError // an empty non-terminal
                } else {
                    ResponseCode::NXDomain
                };
                return Some((code, answers));
            };
            let mut found = vec![];
            let mut alias = None;
            for e in entries {
                match e {
                    Entry::Timeout if found.is_empty() => return None,
                    Entry::Timeout => break,
                    Entry::Record(rd) if rd.record_type() == qtype => {
                        found.push(Record::from_rdata(owner.clone(), 60, rd.clone()));
                    }
                    Entry::Record(RData::CNAME(c)) if alias.is_none() => {
                        alias = Some((
                            c.0.clone(),
                            Record::from_rdata(owner.clone(), 60, RData::CNAME(c.clone())),
                        ));
                    }
                    Entry::Record(_) => {}
                }
            }
            if !found.is_empty() {
                answers.extend(found);
                return Some((ResponseCode::NoError, answers));
            }
            match alias {
                Some((target, rec)) => {
                    answers.push(rec);
                    visited.insert(k);
                    if visited.contains(&name_key(&target)) {
                        // A CNAME loop: what a server gives before it notices.
                        return Some((ResponseCode::NoError, answers));
                    }
                    owner = target;
                }
                None => return Some((ResponseCode::NoError, answers)),
            }
        }
    }
}

fn name_key(name: &Name) -> Vec<u8> {
    name.iter()
        .collect::<Vec<_>>()
        .join(&b'.')
        .to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------
// The in-process authoritative DNS server.

/// A server for one zone on 127.0.0.1:<random> (UDP and TCP), stopped when dropped.
struct DnsServer {
    addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The encoded response to `query`, `None` when it must not be answered. `udp_limit` is the
/// largest UDP response the client takes (truncated with TC above it).
fn respond(zone: &Zone, query: &[u8], udp_limit: Option<u16>) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    if req.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.authoritative = true;
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        resp.set_edns(edns);
    }
    match req.queries.first() {
        Some(q) if req.queries.len() == 1 => {
            let (code, answers) = zone.answer(q.name(), q.query_type())?;
            resp.metadata.response_code = code;
            resp.add_answers(answers);
        }
        _ => resp.metadata.response_code = ResponseCode::FormErr,
    }
    let wire = resp.to_vec().ok()?;
    let limit = match (udp_limit, &req.edns) {
        (None, _) => usize::MAX,
        (Some(_), Some(e)) => usize::from(e.max_payload().clamp(512, 1232)),
        (Some(l), None) => usize::from(l),
    };
    if wire.len() <= limit {
        return Some(wire);
    }
    resp.answers.clear();
    resp.metadata.truncation = true;
    resp.to_vec().ok()
}

async fn serve(zone: Zone) -> DnsServer {
    let zone = Arc::new(zone);
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let z = zone.clone();
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(out) = respond(&z, &buf[..n], Some(512)) {
                let _ = udp.send_to(&out, peer).await;
            }
        }
    });
    let tcp_task = tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = tcp.accept().await else {
                continue;
            };
            let z = zone.clone();
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    if conn.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if conn.read_exact(&mut msg).await.is_err() {
                        return;
                    }
                    if let Some(out) = respond(&z, &msg, None) {
                        let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                        framed.extend(out);
                        if conn.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    DnsServer {
        addr,
        tasks: vec![udp_task, tcp_task],
    }
}

// ---------------------------------------------------------------------------------------
// Running the suite.

struct Row {
    scenario: String,
    case: String,
    expected: Vec<String>,
    ours: String,
}

async fn run_case(server: SocketAddr, case: &Case) -> String {
    let Ok(ip) = case.host.parse::<IpAddr>() else {
        return format!("bad host {:?}", case.host);
    };
    let resolver =
        Resolver::new(&Upstream::Servers(vec![server]), ATTEMPT_TIMEOUT).expect("resolver");
    match tokio::time::timeout(
        CASE_LIMIT,
        check_host(&resolver, ip, &case.helo, &case.mailfrom),
    )
    .await
    {
        Ok(r) => r.to_string(),
        Err(_) => "hung".to_string(),
    }
}

/// Every case, one DNS server per scenario. The servers run on `servers`, a runtime of
/// their own, so a busy client side cannot delay an answer past [`ATTEMPT_TIMEOUT`].
async fn run_all(scenarios: Vec<Scenario>, servers: &tokio::runtime::Handle) -> Vec<Row> {
    let mut set = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CASES));
    for (order, s) in scenarios.into_iter().enumerate() {
        let server = Arc::new(
            servers
                .spawn(serve(s.zone))
                .await
                .expect("start a DNS server"),
        );
        for (i, case) in s.cases.into_iter().enumerate() {
            let server = server.clone();
            let scenario = s.description.clone();
            let slots = slots.clone();
            set.spawn(async move {
                let _slot = slots.acquire_owned().await.unwrap();
                let ours = run_case(server.addr, &case).await;
                (
                    (order, i),
                    Row {
                        scenario,
                        case: case.name,
                        expected: case.expected,
                        ours,
                    },
                )
            });
        }
    }
    let mut rows = set.join_all().await;
    rows.sort_by_key(|(k, _)| *k);
    rows.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn rfc7208_suite() {
    let scenarios = parse_suite(&suite_yaml());
    let total: usize = scenarios.iter().map(|s| s.cases.len()).sum();
    assert!(total > 150, "only {total} cases parsed from the suite");
    let mut names = HashSet::new();
    for c in scenarios.iter().flat_map(|s| &s.cases) {
        assert!(names.insert(c.name.clone()), "case name {} twice", c.name);
    }

    let started = Instant::now();
    let runtime = |threads| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    };
    let (clients, servers) = (runtime(2), runtime(1));
    let rows = clients.block_on(run_all(scenarios, servers.handle()));
    let elapsed = started.elapsed();

    let known: HashMap<&str, (&str, &str)> = KNOWN
        .iter()
        .map(|(c, ours, why)| (*c, (*ours, *why)))
        .collect();
    let mut problems = vec![];
    let (mut agree, mut listed) = (0, 0);
    println!(
        "{:<38} {:<28} {:<20} {:<10} listed reason",
        "scenario", "case", "expected", "ours"
    );
    for r in &rows {
        let ok = r.expected.contains(&r.ours);
        let entry = known.get(r.case.as_str());
        match (ok, entry) {
            (true, None) => agree += 1,
            (false, Some((ours, _))) if *ours == r.ours => listed += 1,
            (false, Some((ours, _))) => problems.push(format!(
                "{}: listed as giving {ours}, now gives {} (expected {})",
                r.case,
                r.ours,
                r.expected.join("|")
            )),
            (false, None) => problems.push(format!(
                "{} ({}): expected {}, ours {}: fix it or list it in KNOWN with its reason",
                r.case,
                r.scenario,
                r.expected.join("|"),
                r.ours
            )),
            (true, Some(_)) => problems.push(format!(
                "{}: listed in KNOWN but now agrees ({}): remove it from KNOWN and the docs",
                r.case, r.ours
            )),
        }
        println!(
            "{:<38} {:<28} {:<20} {:<10} {}{}",
            r.scenario,
            r.case,
            r.expected.join("|"),
            r.ours,
            if ok { "" } else { "DISAGREE " },
            entry.map(|(_, why)| *why).unwrap_or("")
        );
    }
    for (case, _, _) in KNOWN {
        if !rows.iter().any(|r| r.case == *case) {
            problems.push(format!("{case}: listed in KNOWN but not in the suite"));
        }
    }
    println!(
        "RFC 7208 suite (pyspf {PYSPF_VERSION}): {} cases, {agree} agree, {listed} listed \
         disagreements, {} problems, {:.1} s",
        rows.len(),
        problems.len(),
        elapsed.as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
