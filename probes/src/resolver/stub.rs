//! One DNS exchange as a stub resolver makes it (RFC 1035 4.2, RFC 7766): one question to one
//! server over UDP from a fresh random port, the reply accepted only when its ID and question
//! match, and asked again over TCP when the reply is truncated.
//!
//! Why not hickory's resolver for this: the DNS probe asks about 24 questions per domain, and
//! hickory's resolver spends 100 to 160 µs of CPU on each (cache, request sharing, name-server
//! pool, a background task per query), several times what the exchange itself costs; at
//! 10,000 domains that was the whole of the probe's CPU (docs/benchmarks.md). hickory's
//! resolver stays where its extra work is the point: DNSSEC validation and mail-auth's SPF
//! evaluation. A posture probe also wants no cache of its own: each run asks the operator's
//! resolver afresh, so a changed record shows at the next run, not after its TTL.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{DnsFailure, absolute, relative};

/// The EDNS payload size we advertise (the DNS flag day 2020 value): answers larger than this
/// come truncated and are asked again over TCP.
const EDNS_PAYLOAD: u16 = 1232;

/// The largest DNS message (RFC 1035 4.2.2: TCP messages carry a 16-bit length).
const MAX_MESSAGE: usize = 65_535;

/// Where [`StubResolver`] follows an alias chain: this many names past the one asked.
const MAX_ALIASES: usize = 8;

/// The configured servers, asked in turn, each question answered fresh (no cache). Every
/// [`super::Resolver`] is one of these for plain lookups; the nameserver check makes one per
/// server address to ask each directly.
#[derive(Debug, Clone)]
pub struct StubResolver {
    servers: Vec<SocketAddr>,
    attempt_timeout: Duration,
    /// Replies already received in this run ([`Self::for_run`]), by question.
    memo: Option<Arc<Mutex<Memo>>>,
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
            memo: None,
        }
    }

    /// The same servers, remembering each reply for as long as the returned resolver lives:
    /// one probe run. Never longer: every run asks afresh.
    pub fn for_run(&self) -> Self {
        StubResolver {
            memo: Some(Arc::default()),
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
        let Some(memo) = &self.memo else {
            return vec![];
        };
        let memo = memo.lock().expect("memo lock");
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
        if let Some(memo) = &self.memo
            && let Some(reply) = memo.lock().expect("memo lock").get(&key)
        {
            return Ok(reply.clone());
        }
        let reply = self.ask_servers(name, rtype, dnssec_ok).await?;
        if let Some(memo) = &self.memo {
            memo.lock().expect("memo lock").insert(key, reply.clone());
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
        let mut chain = vec![name];
        while chain.len() <= MAX_ALIASES {
            let asked = chain.len();
            let reply = self
                .ask(chain.last().expect("never empty"), rtype, false)
                .await?;
            if reply.metadata.response_code == ResponseCode::NXDomain {
                return Err(DnsFailure::NxDomain);
            }
            match follow(&mut chain, rtype, &reply.answers) {
                Some(Err(looped)) => return Err(looped),
                Some(Ok(())) => {
                    let at = chain.last().expect("never empty");
                    let v: Vec<T> = reply
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype && r.name == *at)
                        .filter_map(|r| pick(&r.data))
                        .collect();
                    return if v.is_empty() {
                        Err(DnsFailure::NoData)
                    } else {
                        Ok(v)
                    };
                }
                // The answer stops at an alias whose target it does not hold: ask for that.
                None if chain.len() > asked => continue,
                None => return Err(DnsFailure::NoData),
            }
        }
        Err(DnsFailure::NoData)
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

    /// The SOA serial of `name`.
    pub async fn soa_serial(&self, name: &str) -> Result<u32, DnsFailure> {
        self.records(name, RecordType::SOA, |d| match d {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        })
        .await
        .map(|v| v[0])
    }

    /// CNAME target of `name`, when the name is an alias.
    pub async fn cname(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        self.records(name, RecordType::CNAME, |d| match d {
            RData::CNAME(c) => Some(relative(&c.0.to_ascii())),
            _ => None,
        })
        .await
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

    /// Every answer record of one plain query, no aliases followed (with the DO bit when
    /// `dnssec_ok`, so RRSIGs come along); NODATA when the answer holds no record of `rtype`.
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
            Err(DnsFailure::NoData)
        }
    }

    /// IPv4 and IPv6 addresses of `name`.
    pub async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        let (v4, v6) = futures::join!(self.ipv4(name), self.ipv6(name));
        match (v4, v6) {
            (Err(a), Err(b)) => Err(if a.is_negative_answer() { b } else { a }),
            (v4, v6) => Ok(v4
                .unwrap_or_default()
                .into_iter()
                .map(IpAddr::V4)
                .chain(v6.unwrap_or_default().into_iter().map(IpAddr::V6))
                .collect()),
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
            return Some(Err(DnsFailure::NoData));
        }
    }
}

/// `name` as an absolute DNS name (a trailing dot is added; Unicode names become IDNA).
fn parse_name(name: &str) -> Result<Name, DnsFailure> {
    Name::from_utf8(absolute(name)?).map_err(|_| DnsFailure::Other("not a valid DNS name".into()))
}

/// One question to `server`, the whole exchange (UDP and a TCP retry) bounded by `timeout`.
/// A reply is returned whatever its response code; network failures and silence are errors.
pub(crate) async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    dnssec_ok: bool,
    timeout: Duration,
) -> Result<Message, DnsFailure> {
    let query = build_query(name, rtype, dnssec_ok);
    let id = query.metadata.id;
    let bytes = query
        .to_vec()
        // Not the name: a DNSBL query name can hold the operator's DQS key.
        .map_err(|_| DnsFailure::Other("cannot encode the query".into()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let reply = tokio::time::timeout_at(deadline, udp(server, &bytes, id, name, rtype))
        .await
        .map_err(|_| DnsFailure::Timeout)??;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    tokio::time::timeout_at(deadline, tcp(server, &bytes, id, name, rtype))
        .await
        .map_err(|_| DnsFailure::Timeout)?
}

fn build_query(name: &Name, rtype: RecordType, dnssec_ok: bool) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
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
fn answers(reply: &Message, id: u16, name: &Name, rtype: RecordType) -> bool {
    reply.metadata.id == id
        && reply.metadata.message_type == MessageType::Response
        && reply.queries.len() == 1
        && reply.queries[0].query_type() == rtype
        // hickory compares names without case.
        && reply.queries[0].name() == name
}

async fn udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, DnsFailure> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |e: std::io::Error| DnsFailure::Other(format!("network error: {}", e.kind()));
    // Port 0: the kernel picks a random source port for every exchange (RFC 5452 9.2);
    // connected, so it drops datagrams from any other address.
    let socket = tokio::net::UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    socket.send(query).await.map_err(io)?;
    let mut buf = Vec::with_capacity(MAX_MESSAGE);
    loop {
        buf.clear();
        socket.recv_buf(&mut buf).await.map_err(io)?;
        if let Ok(reply) = Message::from_vec(&buf)
            && answers(&reply, id, name, rtype)
        {
            return Ok(reply);
        }
    }
}

async fn tcp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, DnsFailure> {
    let io = |e: std::io::Error| DnsFailure::Other(format!("network error over TCP: {}", e.kind()));
    let mut stream = tokio::net::TcpStream::connect(server).await.map_err(io)?;
    let _ = stream.set_nodelay(true);
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(io)?;
    let len = stream.read_u16().await.map_err(io)? as usize;
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.map_err(io)?;
    let reply = Message::from_vec(&buf)
        .map_err(|_| DnsFailure::Other("malformed DNS answer over TCP".into()))?;
    if answers(&reply, id, name, rtype) {
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
        assert!(answers(&reply, id, &name("A.TEST."), RecordType::TXT));
        assert!(!answers(
            &reply,
            id.wrapping_add(1),
            &name("a.test."),
            RecordType::TXT
        ));
        assert!(!answers(&reply, id, &name("b.test."), RecordType::TXT));
        assert!(!answers(&reply, id, &name("a.test."), RecordType::MX));
        // Our own query echoed back is not an answer.
        assert!(!answers(&q, id, &name("a.test."), RecordType::TXT));
        // EDNS is advertised, with DO only when asked.
        assert_eq!(q.edns.as_ref().map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
        assert!(!q.edns.as_ref().unwrap().flags().dnssec_ok);
        let qd = build_query(&name("a.test."), RecordType::TXT, true);
        assert!(qd.edns.as_ref().unwrap().flags().dnssec_ok);
    }
}
