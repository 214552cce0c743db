//! One DNS exchange as a stub resolver makes it (RFC 1035 4.2, RFC 7766): one question to one
//! server over UDP, the reply accepted only when its ID and question match, and asked again
//! over TCP when the reply is truncated.
//!
//! Why not hickory's resolver for this: the DNS probe asks about 24 questions per domain, and
//! hickory's resolver spends 100 to 160 µs of CPU on each (cache, request sharing, name-server
//! pool, a background task per query), several times what the exchange itself costs; at
//! 10,000 domains that was the whole of the probe's CPU (docs/benchmarks.md). hickory's
//! resolver stays where its extra work is the point: DNSSEC validation and mail-auth's SPF
//! evaluation. A posture probe also wants no cache of its own: each run asks the operator's
//! resolver afresh, so a changed record shows at the next run, not after its TTL.
//!
//! Sockets: every question has a UDP socket of its own, connected to the server, from a port
//! the kernel picks at random, with a random ID (RFC 5452 9.2): someone forging an answer
//! (a DNSBL's "not listed", an MX) must guess the port as well as the ID, about 2^30
//! tries instead of 2^16. Sessions 5 and 6 shared one socket per run and server to save the
//! socket's system calls; docs/dns-resolver.md has what that saved and why it was undone.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Addresses, DnsFailure, absolute, relative};

/// The EDNS payload size we advertise (the DNS flag day 2020 value): answers larger than this
/// come truncated and are asked again over TCP.
const EDNS_PAYLOAD: u16 = 1232;

/// The largest DNS message (RFC 1035 4.2.2: TCP messages carry a 16-bit length).
const MAX_MESSAGE: usize = 65_535;

/// Where [`StubResolver`] follows an alias chain: this many names past the one asked.
pub(super) const MAX_ALIASES: usize = 8;

/// A zone's SOA as one server answered it ([`StubResolver::soa`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soa {
    pub serial: u32,
    /// The AA bit: the server answered as an authority for the zone.
    pub authoritative: bool,
}

/// The configured servers, asked in turn, each question answered fresh (no cache). Every
/// [`super::Resolver`] is one of these for plain lookups; the nameserver check makes one per
/// server address to ask each directly.
#[derive(Debug, Clone)]
pub struct StubResolver {
    servers: Vec<SocketAddr>,
    attempt_timeout: Duration,
    /// What this run shares ([`Self::for_run`]); `None` outside a run.
    run: Option<Arc<Run>>,
}

/// What the lookups of one probe run share: the replies received.
#[derive(Debug, Default)]
struct Run {
    memo: Mutex<Memo>,
}

/// What one run was told, by (name, type, DO bit): a run that asks the same question twice
/// (the MX host's addresses for the MX check and again for its reverse DNS, the SPF record
/// for the lint and again for the include walk) sees one answer and costs one exchange.
type Memo = HashMap<(Name, RecordType, bool), Message>;

impl StubResolver {
    /// Asks `servers` in order, each exchange bounded by `attempt_timeout` (the probe's
    /// [`crate::Deadline`] bounds the whole lookup).
    pub fn new(servers: Vec<SocketAddr>, attempt_timeout: Duration) -> Self {
        StubResolver {
            servers,
            attempt_timeout,
            run: None,
        }
    }

    /// The same servers, remembering each reply for as long as the returned resolver (and
    /// its clones) lives: one probe run. Never longer: every run asks afresh.
    pub fn for_run(&self) -> Self {
        StubResolver {
            run: Some(Arc::default()),
            ..self.clone()
        }
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The TXT answers this run has received (see [`Self::for_run`]), by name (lower case,
    /// with the trailing dot), each record's strings joined: so a library with a cache of its
    /// own (mail-auth's SPF evaluation) can read the same answers instead of asking again.
    /// Only answers holding TXT records at the name asked; empty outside a run.
    pub fn remembered_txt(&self) -> Vec<(String, Vec<Vec<u8>>)> {
        let Some(run) = &self.run else {
            return vec![];
        };
        let memo = run.memo.lock().expect("memo lock");
        memo.iter()
            .filter(|((_, rtype, dnssec_ok), _)| *rtype == RecordType::TXT && !dnssec_ok)
            .filter_map(|((name, _, _), reply)| {
                let records: Vec<Vec<u8>> = reply
                    .answers
                    .iter()
                    .filter(|r| r.name == *name)
                    .filter_map(|r| match &r.data {
                        RData::TXT(t) => Some(t.txt_data.concat()),
                        _ => None,
                    })
                    .collect();
                (!records.is_empty()).then(|| (name.to_ascii().to_ascii_lowercase(), records))
            })
            .collect()
    }

    /// One question to each server in turn until one answers it: the reply (NOERROR or
    /// NXDOMAIN), or the last server's failure (SERVFAIL, REFUSED, timeout, ...).
    async fn ask(
        &self,
        name: &Name,
        rtype: RecordType,
        dnssec_ok: bool,
    ) -> Result<Message, DnsFailure> {
        let key = (name.clone(), rtype, dnssec_ok);
        if let Some(run) = &self.run
            && let Some(reply) = run.memo.lock().expect("memo lock").get(&key)
        {
            return Ok(reply.clone());
        }
        let reply = self.ask_servers(name, rtype, dnssec_ok).await?;
        if let Some(run) = &self.run {
            run.memo
                .lock()
                .expect("memo lock")
                .insert(key, reply.clone());
        }
        Ok(reply)
    }

    async fn ask_servers(
        &self,
        name: &Name,
        rtype: RecordType,
        dnssec_ok: bool,
    ) -> Result<Message, DnsFailure> {
        let mut last = DnsFailure::Other("no name server configured".into());
        for server in &self.servers {
            match exchange(*server, name, rtype, dnssec_ok, self.attempt_timeout).await {
                Ok(reply) => match reply.metadata.response_code {
                    ResponseCode::NoError | ResponseCode::NXDomain => return Ok(reply),
                    ResponseCode::ServFail => last = DnsFailure::ServFail,
                    ResponseCode::Refused => last = DnsFailure::Refused,
                    code => last = DnsFailure::Other(format!("error response {code}")),
                },
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Every record of type `rtype` for `name`, mapped by `pick`, following CNAMEs (within an
    /// answer, as a recursive server sends the chain, and by asking again where an
    /// authoritative server's answer stops at its zone's edge); NODATA when there is none, the
    /// chain when it comes back to itself.
    async fn records<T>(
        &self,
        name: &str,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Result<Vec<T>, DnsFailure> {
        self.records_at(parse_name(name)?, rtype, pick).await
    }

    async fn records_at<T>(
        &self,
        name: Name,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Result<Vec<T>, DnsFailure> {
        self.records_along(name, rtype, pick).await.0
    }

    /// [`Self::records_at`], with the chain of names the lookup went through: the name asked,
    /// then each alias target.
    async fn records_along<T>(
        &self,
        name: Name,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> (Result<Vec<T>, DnsFailure>, Vec<Name>) {
        let mut chain = vec![name];
        while chain.len() <= MAX_ALIASES {
            let asked = chain.len();
            let reply = match self
                .ask(chain.last().expect("never empty"), rtype, false)
                .await
            {
                Ok(reply) => reply,
                Err(f) => return (Err(f), chain),
            };
            let followed = follow(&mut chain, rtype, &reply.answers);
            // RFC 6604: with aliases, the response code is about the chain's last name.
            if reply.metadata.response_code == ResponseCode::NXDomain {
                return (Err(DnsFailure::NxDomain), chain);
            }
            match followed {
                Some(Err(looped)) => return (Err(looped), chain),
                Some(Ok(())) => {
                    let at = chain.last().expect("never empty");
                    let v: Vec<T> = reply
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype && r.name == *at)
                        .filter_map(|r| pick(&r.data))
                        .collect();
                    let result = if v.is_empty() {
                        Err(nothing_in(&reply))
                    } else {
                        Ok(v)
                    };
                    return (result, chain);
                }
                // The answer stops at an alias whose target it does not hold: ask for that.
                None if chain.len() > asked => continue,
                None => return (Err(nothing_in(&reply)), chain),
            }
        }
        (Err(too_long(&chain)), chain)
    }

    /// IPv4 addresses of `name` (an absolute name; a trailing dot is added).
    pub async fn ipv4(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsFailure> {
        self.records(name, RecordType::A, |d| match d {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .await
    }

    /// IPv6 addresses of `name`.
    pub async fn ipv6(&self, name: &str) -> Result<Vec<Ipv6Addr>, DnsFailure> {
        self.records(name, RecordType::AAAA, |d| match d {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .await
    }

    /// TXT records of `name`, each as its character-strings (not joined: SPF lint needs to
    /// see where a record was split).
    pub async fn txt_strings(&self, name: &str) -> Result<Vec<Vec<String>>, DnsFailure> {
        self.records(name, RecordType::TXT, |d| match d {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .await
    }

    /// TXT strings of `name`, each record's character-strings joined (RFC 7208 3.3).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        Ok(self
            .txt_strings(name)
            .await?
            .into_iter()
            .map(|parts| parts.concat())
            .collect())
    }

    /// MX records of `name` as (preference, exchange without the trailing dot).
    pub async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        self.records(name, RecordType::MX, |d| match d {
            RData::MX(m) => Some((m.preference, relative(&m.exchange.to_ascii()))),
            _ => None,
        })
        .await
    }

    /// NS names of `name`.
    pub async fn ns(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        self.records(name, RecordType::NS, |d| match d {
            RData::NS(n) => Some(relative(&n.0.to_ascii())),
            _ => None,
        })
        .await
    }

    /// The SOA of `name` (a zone apex; no alias followed) as the server answered it: its
    /// serial and whether the answer was authoritative (AA set), which tells a server that
    /// serves the zone from one that answers from elsewhere (a recursive or caching server:
    /// a lame delegation when the parent names it).
    pub async fn soa(&self, name: &str) -> Result<Soa, DnsFailure> {
        let name = parse_name(name)?;
        let reply = self.ask(&name, RecordType::SOA, false).await?;
        if reply.metadata.response_code == ResponseCode::NXDomain {
            return Err(DnsFailure::NxDomain);
        }
        let serial = reply.answers.iter().find_map(|r| match &r.data {
            RData::SOA(s) if r.name == name => Some(s.serial),
            _ => None,
        });
        match serial {
            Some(serial) => Ok(Soa {
                serial,
                authoritative: reply.metadata.authoritative,
            }),
            None => Err(nothing_in(&reply)),
        }
    }

    /// PTR names of an address, asked of the configured servers (never answered locally:
    /// hickory's resolver answers `localhost` itself for every 127.0.0.0/8 and ::1 PTR, RFC
    /// 6761, which would hide a loopback lab's records). CNAMEs are followed (RFC 2317
    /// classless delegation).
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsFailure> {
        self.records_at(Name::from(ip), RecordType::PTR, |d| match d {
            RData::PTR(p) => Some(relative(&p.0.to_ascii())),
            _ => None,
        })
        .await
    }

    /// Every answer record of one plain query, no aliases followed (with the DO and CD bits
    /// when `dnssec_ok`, so RRSIGs come along, validated or not); NODATA when the answer
    /// holds no record of `rtype`.
    pub async fn raw_records(
        &self,
        name: Name,
        rtype: RecordType,
        dnssec_ok: bool,
    ) -> Result<Vec<Record>, DnsFailure> {
        let reply = self.ask(&name, rtype, dnssec_ok).await?;
        if reply.metadata.response_code == ResponseCode::NXDomain {
            return Err(DnsFailure::NxDomain);
        }
        if reply.answers.iter().any(|r| r.record_type() == rtype) {
            Ok(reply.answers)
        } else {
            Err(nothing_in(&reply))
        }
    }

    /// IPv4 and IPv6 addresses of `name`. A family whose lookup failed while the other gave
    /// addresses is left out without a word: where that matters (an MX host), use
    /// [`Self::ips_via`], which says so.
    pub async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        self.ips_via(name).await.ips
    }

    /// IPv4 and IPv6 addresses of `name`, the alias targets the lookup went through (an
    /// alias is seen without a CNAME question of its own), and the family whose lookup failed
    /// while the other answered (see [`Addresses`]).
    pub async fn ips_via(&self, name: &str) -> Addresses {
        let name = match parse_name(name) {
            Ok(n) => n,
            Err(f) => {
                return Addresses {
                    ips: Err(f),
                    aliases: vec![],
                    failed: None,
                };
            }
        };
        let ((v4, chain4), (v6, chain6)) = futures::join!(
            self.records_along(name.clone(), RecordType::A, |d| match d {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            }),
            self.records_along(name, RecordType::AAAA, |d| match d {
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
        );
        let chain = if chain4.len() > 1 { chain4 } else { chain6 };
        let aliases = chain[1..].iter().map(|n| relative(&n.to_ascii())).collect();
        let (ips, failed) = combine(v4, v6);
        Addresses {
            ips,
            aliases,
            failed,
        }
    }
    /// Whether `ip` is among the addresses of `name`, asking only for `ip`'s family (A for
    /// IPv4, AAAA for IPv6): the forward half of forward-confirmed reverse DNS.
    pub async fn resolves_to(&self, name: &str, ip: IpAddr) -> Result<bool, DnsFailure> {
        match ip {
            IpAddr::V4(v4) => Ok(self.ipv4(name).await?.contains(&v4)),
            IpAddr::V6(v6) => Ok(self.ipv6(name).await?.contains(&v6)),
        }
    }
}

/// The A and AAAA lookups of one name as one answer (see [`Addresses`]).
#[allow(clippy::type_complexity)]
fn combine(
    v4: Result<Vec<IpAddr>, DnsFailure>,
    v6: Result<Vec<IpAddr>, DnsFailure>,
) -> (
    Result<Vec<IpAddr>, DnsFailure>,
    Option<(RecordType, DnsFailure)>,
) {
    match (v4, v6) {
        (Err(a), Err(b)) => (Err(if a.is_negative_answer() { b } else { a }), None),
        (Ok(v4), Ok(v6)) => (Ok(v4.into_iter().chain(v6).collect()), None),
        (Ok(v), Err(f)) | (Err(f), Ok(v)) => {
            let failed = (!f.is_negative_answer()).then(|| {
                let asked = if v.first().is_some_and(IpAddr::is_ipv4) {
                    RecordType::AAAA
                } else {
                    RecordType::A
                };
                (asked, f)
            });
            (Ok(v), failed)
        }
    }
}

/// Follows the CNAME chain whose names so far are `chain` through `answers`, extending it.
/// `Some(Ok)` when the answer holds records of `rtype` for the chain's last name (or that
/// name has no alias here, so the answer is final), `None` when the chain ends at an alias
/// target the answer says nothing more of, `Some(Err)` for a loop.
fn follow(
    chain: &mut Vec<Name>,
    rtype: RecordType,
    answers: &[Record],
) -> Option<Result<(), DnsFailure>> {
    loop {
        let at = chain.last().expect("never empty");
        if answers
            .iter()
            .any(|r| r.record_type() == rtype && r.name == *at)
        {
            return Some(Ok(()));
        }
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == *at => Some(c.0.clone()),
            _ => None,
        });
        let Some(next) = next else {
            // No alias from the first name: the answer is about it, and final.
            return if chain.len() == 1 { Some(Ok(())) } else { None };
        };
        let looped = chain.contains(&next);
        chain.push(next);
        if looped {
            return Some(Err(DnsFailure::CnameLoop(
                chain.iter().map(|n| relative(&n.to_ascii())).collect(),
            )));
        }
        if chain.len() > MAX_ALIASES + 1 {
            return Some(Err(too_long(chain)));
        }
    }
}

/// The chain of aliases past [`MAX_ALIASES`], as an error.
fn too_long(chain: &[Name]) -> DnsFailure {
    DnsFailure::AliasChainTooLong(chain.iter().map(|n| relative(&n.to_ascii())).collect())
}

/// Why a NOERROR reply holds nothing for the question: NODATA, unless it is a referral
/// (no SOA, NS records in the authority section, AA clear: RFC 2308 2.2 tells the two
/// apart), which says nothing about the record.
fn nothing_in(reply: &Message) -> DnsFailure {
    let authority = |t| reply.authorities.iter().any(|r| r.record_type() == t);
    if !reply.metadata.authoritative
        && reply.answers.is_empty()
        && !authority(RecordType::SOA)
        && authority(RecordType::NS)
    {
        DnsFailure::Referral
    } else {
        DnsFailure::NoData
    }
}

/// `name` as an absolute DNS name (a trailing dot is added; Unicode names become IDNA).
fn parse_name(name: &str) -> Result<Name, DnsFailure> {
    Name::from_utf8(absolute(name)?).map_err(|_| DnsFailure::Other("not a valid DNS name".into()))
}

/// One question to `server`, the whole exchange (UDP and a TCP retry) bounded by `timeout`.
/// A reply is returned whatever its response code; network failures and silence are errors.
async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    dnssec_ok: bool,
    timeout: Duration,
) -> Result<Message, DnsFailure> {
    let query = build_query(name, rtype, dnssec_ok);
    let deadline = tokio::time::Instant::now() + timeout;
    let reply = tokio::time::timeout_at(deadline, udp(server, &query))
        .await
        .map_err(|_| DnsFailure::Timeout)??;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    tokio::time::timeout_at(deadline, tcp(server, &query))
        .await
        .map_err(|_| DnsFailure::Timeout)?
}

fn encode(query: &Message) -> Result<Vec<u8>, DnsFailure> {
    query
        .to_vec()
        // Not the name: a DNSBL query name can hold the operator's DQS key.
        .map_err(|_| DnsFailure::Other("cannot encode the query".into()))
}

fn io_failure(e: std::io::ErrorKind) -> DnsFailure {
    DnsFailure::Other(format!("network error: {e}"))
}

fn build_query(name: &Name, rtype: RecordType, dnssec_ok: bool) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    // Asking for DNSSEC records means checking them ourselves: a validating upstream gives
    // them to us even when they do not validate (RFC 4035 3.2.2), instead of SERVFAIL, so
    // an expired signature or a broken chain can be seen and named.
    m.metadata.checking_disabled = dnssec_ok;
    m.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    edns.set_dnssec_ok(dnssec_ok);
    m.set_edns(edns);
    m
}

/// Whether `reply` answers our question: a response with our ID and the same question
/// (names compared without case, RFC 4343). Anything else on the socket is ignored, as a
/// stub resolver must (RFC 5452 9.1), rather than taken as the answer.
fn answers(reply: &Message, id: u16, question: &Query) -> bool {
    reply.metadata.id == id
        && reply.metadata.message_type == MessageType::Response
        && reply.queries.len() == 1
        && reply.queries[0].query_type() == question.query_type()
        // hickory compares names without case.
        && reply.queries[0].name() == question.name()
}

/// A UDP socket connected to `server`, from a port the kernel picks at random (port 0, RFC
/// 5452 9.2); connected, so the kernel drops datagrams from any other address.
fn connected_udp(server: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.set_nonblocking(true)?;
    tokio::net::UdpSocket::from_std(socket)
}

/// `query` over a socket of its own.
async fn udp(server: SocketAddr, query: &Message) -> Result<Message, DnsFailure> {
    let io = |e: std::io::Error| io_failure(e.kind());
    let socket = connected_udp(server).map_err(io)?;
    socket.send(&encode(query)?).await.map_err(io)?;
    let mut buf = Vec::with_capacity(MAX_MESSAGE);
    loop {
        buf.clear();
        socket.recv_buf(&mut buf).await.map_err(io)?;
        if let Ok(reply) = Message::from_vec(&buf)
            && answers(&reply, query.metadata.id, &query.queries[0])
        {
            return Ok(reply);
        }
    }
}

async fn tcp(server: SocketAddr, query: &Message) -> Result<Message, DnsFailure> {
    let io = |e: std::io::Error| DnsFailure::Other(format!("network error over TCP: {}", e.kind()));
    let bytes = encode(query)?;
    let mut stream = tokio::net::TcpStream::connect(server).await.map_err(io)?;
    let _ = stream.set_nodelay(true);
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let len = stream.read_u16().await.map_err(io)? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.map_err(io)?;
    let reply = Message::from_vec(&buf)
        .map_err(|_| DnsFailure::Other("malformed DNS answer over TCP".into()))?;
    if answers(&reply, query.metadata.id, &query.queries[0]) {
        Ok(reply)
    } else {
        Err(DnsFailure::Other(
            "the TCP answer is for another question".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, CNAME, TXT};

    fn name(n: &str) -> Name {
        Name::from_ascii(n).unwrap()
    }

    fn alias(from: &str, to: &str) -> Record {
        Record::from_rdata(name(from), 60, RData::CNAME(CNAME(name(to))))
    }

    fn a(owner: &str) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A::new(192, 0, 2, 1)))
    }

    fn chain_of(names: &[&str]) -> Vec<Name> {
        names.iter().map(|n| name(n)).collect()
    }

    #[test]
    fn cname_loops_are_told_from_nodata() {
        let looped = [alias("a.test.", "b.test."), alias("B.test.", "a.test.")];
        let mut chain = chain_of(&["A.test."]);
        match follow(&mut chain, RecordType::A, &looped) {
            Some(Err(DnsFailure::CnameLoop(names))) => {
                assert_eq!(names, ["a.test", "b.test", "a.test"])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            DnsFailure::CnameLoop(vec!["a".into(), "a".into()]).to_string(),
            "CNAME loop: a → a"
        );
    }

    #[test]
    fn alias_chains_past_the_limit_are_an_error_not_nodata() {
        let names: Vec<String> = (0..=MAX_ALIASES + 1)
            .map(|i| format!("a{i}.test."))
            .collect();
        let answers: Vec<Record> = names.windows(2).map(|w| alias(&w[0], &w[1])).collect();
        let mut chain = chain_of(&["a0.test."]);
        match follow(&mut chain, RecordType::A, &answers) {
            Some(Err(DnsFailure::AliasChainTooLong(seen))) => {
                assert_eq!(seen.len(), MAX_ALIASES + 2);
                assert_eq!(seen[0], "a0.test");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_referral_is_not_nodata() {
        use hickory_resolver::proto::rr::rdata::{NS, SOA};
        let q = build_query(&name("a.test."), RecordType::TXT, false);
        let ns = Record::from_rdata(name("test."), 60, RData::NS(NS(name("ns.other."))));
        let soa = Record::from_rdata(
            name("test."),
            60,
            RData::SOA(SOA::new(name("ns.test."), name("h.test."), 1, 1, 1, 1, 1)),
        );
        let reply = |aa: bool, authority: Vec<Record>| {
            let mut r = q.clone();
            r.metadata.message_type = MessageType::Response;
            r.metadata.authoritative = aa;
            r.add_authorities(authority);
            r
        };
        // NS in authority, no SOA, AA clear: sent elsewhere.
        assert_eq!(
            nothing_in(&reply(false, vec![ns.clone()])),
            DnsFailure::Referral
        );
        // A recursive server's NODATA carries the SOA; an authority's has AA set.
        assert_eq!(
            nothing_in(&reply(false, vec![soa.clone(), ns.clone()])),
            DnsFailure::NoData
        );
        assert_eq!(nothing_in(&reply(true, vec![ns])), DnsFailure::NoData);
        assert_eq!(nothing_in(&reply(false, vec![])), DnsFailure::NoData);
        assert!(!DnsFailure::Referral.is_negative_answer());
    }

    #[test]
    fn a_family_that_fails_beside_one_that_answers_is_named() {
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            combine(Ok(vec![v4]), Err(DnsFailure::ServFail)),
            (Ok(vec![v4]), Some((RecordType::AAAA, DnsFailure::ServFail)))
        );
        assert_eq!(
            combine(Err(DnsFailure::Timeout), Ok(vec![v6])),
            (Ok(vec![v6]), Some((RecordType::A, DnsFailure::Timeout)))
        );
        // A family that has no address (NODATA) is an answer, not a failure.
        assert_eq!(
            combine(Ok(vec![v4]), Err(DnsFailure::NoData)),
            (Ok(vec![v4]), None)
        );
        // Neither answered: the failure, not the negative answer.
        assert_eq!(
            combine(Err(DnsFailure::NoData), Err(DnsFailure::Refused)),
            (Err(DnsFailure::Refused), None)
        );
    }

    #[test]
    fn chains_are_followed_inside_an_answer_and_across_answers() {
        // A recursive server's answer: the whole chain and the records at its end.
        let full = [
            alias("a.test.", "b.test."),
            alias("b.test.", "c.test."),
            a("c.test."),
        ];
        let mut chain = chain_of(&["a.test."]);
        assert!(matches!(
            follow(&mut chain, RecordType::A, &full),
            Some(Ok(()))
        ));
        assert_eq!(chain, chain_of(&["a.test.", "b.test.", "c.test."]));
        // An authoritative server's answer stops at its zone: the target is asked next.
        let mut chain = chain_of(&["a.test."]);
        assert!(
            follow(
                &mut chain,
                RecordType::A,
                &[alias("a.test.", "other.example.")]
            )
            .is_none()
        );
        assert_eq!(chain, chain_of(&["a.test.", "other.example."]));
        // ... and when the target's own answer has nothing, that is final (NODATA).
        let mut chain = chain_of(&["a.test.", "other.example."]);
        assert!(follow(&mut chain, RecordType::A, &[]).is_none());
        // A name without alias and without records: a final (empty) answer.
        let mut chain = chain_of(&["a.test."]);
        assert!(matches!(
            follow(&mut chain, RecordType::A, &[]),
            Some(Ok(()))
        ));
        // Records of another owner do not count for the asked name.
        let txt = Record::from_rdata(name("x.test."), 60, RData::TXT(TXT::new(vec!["v".into()])));
        let mut chain = chain_of(&["a.test."]);
        assert!(matches!(
            follow(&mut chain, RecordType::TXT, &[txt]),
            Some(Ok(()))
        ));
    }

    #[test]
    fn replies_must_match_our_question() {
        let q = build_query(&name("a.test."), RecordType::TXT, false);
        let id = q.metadata.id;
        let mut reply = q.clone();
        reply.metadata.message_type = MessageType::Response;
        let question = |n: &str, t| Query::query(name(n), t);
        assert!(answers(&reply, id, &question("A.TEST.", RecordType::TXT)));
        assert!(!answers(
            &reply,
            id.wrapping_add(1),
            &question("a.test.", RecordType::TXT)
        ));
        assert!(!answers(&reply, id, &question("b.test.", RecordType::TXT)));
        assert!(!answers(&reply, id, &question("a.test.", RecordType::MX)));
        // Our own query echoed back is not an answer.
        assert!(!answers(&q, id, &question("a.test.", RecordType::TXT)));
        // EDNS is advertised, with DO only when asked.
        assert_eq!(q.edns.as_ref().map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
        assert!(!q.edns.as_ref().unwrap().flags().dnssec_ok);
        let qd = build_query(&name("a.test."), RecordType::TXT, true);
        assert!(qd.edns.as_ref().unwrap().flags().dnssec_ok);
        assert!(qd.metadata.checking_disabled && !q.metadata.checking_disabled);
    }

    /// A UDP DNS server on loopback for the shared-socket tests. It collects `batch`
    /// questions (or what came within 300 ms), then answers them in reverse order, each
    /// preceded by what a stub resolver must ignore: garbage, a reply with another ID, and a
    /// reply with our ID to another question. The answer to a TXT question is one record
    /// holding the name asked. Names starting with `silent` get no answer until the next
    /// batch, when they get one, late. Returns its address and the source port of every
    /// question.
    async fn responder(batch: usize) -> (SocketAddr, Arc<Mutex<Vec<u16>>>) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let ports = Arc::new(Mutex::new(vec![]));
        let seen = ports.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_MESSAGE];
            let mut late: Vec<(Message, SocketAddr)> = vec![];
            loop {
                let mut got = vec![];
                while got.len() < batch {
                    let wait = tokio::time::timeout(
                        Duration::from_millis(300),
                        socket.recv_from(&mut buf),
                    );
                    match wait.await {
                        Ok(Ok((n, from))) => {
                            seen.lock().unwrap().push(from.port());
                            got.push((Message::from_vec(&buf[..n]).unwrap(), from));
                        }
                        _ if got.is_empty() => continue,
                        _ => break,
                    }
                }
                for (q, from) in late.drain(..) {
                    let reply = reply_to(&q, &q.queries[0].name().clone());
                    socket
                        .send_to(&reply.to_vec().unwrap(), from)
                        .await
                        .unwrap();
                }
                for (q, from) in got.into_iter().rev() {
                    let asked = q.queries[0].name().clone();
                    if asked.to_ascii().starts_with("silent") {
                        late.push((q, from));
                        continue;
                    }
                    let mut other_id = reply_to(&q, &asked);
                    other_id.metadata.id = q.metadata.id.wrapping_add(1);
                    let mut other_q = q.clone();
                    other_q.queries[0] = Query::query(name("other.test."), RecordType::TXT);
                    let other_question = reply_to(&other_q, &name("other.test."));
                    for bytes in [
                        vec![0xff; 5],
                        other_id.to_vec().unwrap(),
                        other_question.to_vec().unwrap(),
                        reply_to(&q, &asked).to_vec().unwrap(),
                    ] {
                        socket.send_to(&bytes, from).await.unwrap();
                    }
                }
            }
        });
        (addr, ports)
    }

    fn reply_to(q: &Message, owner: &Name) -> Message {
        let mut r = q.clone();
        r.metadata.message_type = MessageType::Response;
        r.add_answer(Record::from_rdata(
            owner.clone(),
            60,
            RData::TXT(TXT::new(vec![owner.to_ascii()])),
        ));
        r
    }

    #[tokio::test]
    async fn every_question_of_a_run_asks_from_a_port_of_its_own() {
        let (server, ports) = responder(40).await;
        let run = StubResolver::new(vec![server], Duration::from_secs(5)).for_run();
        let names: Vec<String> = (0..40).map(|i| format!("q{i}.test.")).collect();
        let answers = futures::future::join_all(names.iter().map(|n| run.txt(n.as_str()))).await;
        for (n, a) in names.iter().zip(answers) {
            assert_eq!(a, Ok(vec![n.clone()]), "the answer to {n}");
        }
        // 40 questions in flight at once, each from its own socket: a forger must guess the
        // port of each as well as its ID (RFC 5452 9.2).
        let mut used = ports.lock().unwrap().clone();
        assert_eq!(used.len(), 40);
        used.sort();
        used.dedup();
        assert_eq!(used.len(), 40, "ports shared: {used:?}");
    }

    #[tokio::test]
    async fn a_question_that_timed_out_does_not_take_the_next_ones_reply() {
        let (server, _) = responder(1).await;
        let run = StubResolver::new(vec![server], Duration::from_millis(400)).for_run();
        assert_eq!(run.txt("silent.test.").await, Err(DnsFailure::Timeout));
        // The late reply to the silent question arrives first; the next question still
        // gets its own answer.
        assert_eq!(run.txt("next.test.").await, Ok(vec!["next.test.".into()]));
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_fails_every_question() {
        // A port nothing listens on: the kernel's "port unreachable" reaches our socket.
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let run = StubResolver::new(vec![port], Duration::from_secs(60)).for_run();
        let answers =
            futures::future::join_all(["a.test.", "b.test.", "c.test."].map(|n| run.txt(n))).await;
        for a in answers {
            match a {
                Err(DnsFailure::Other(e)) => assert!(e.starts_with("network error"), "{e}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
