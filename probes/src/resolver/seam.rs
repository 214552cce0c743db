//! The DNS questions the checks ask, as a trait ([`Dns`]): the probe answers them with its
//! [`Resolver`], vector tests with [`FakeDns`], a table of injected answers, so the SPF walk,
//! DMARC discovery, DKIM keys, MX, PTR and nameserver checks (a server asked directly through
//! [`Dns::server`]) are tested without a network. Failures stay told apart on both sides
//! (NXDOMAIN, NODATA, SERVFAIL, timeout, referral, ...). DNSSEC states are not on the seam:
//! they come from hickory's validating resolver ([`Resolver::proof`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;

use super::{Addresses, DnsFailure, Resolver, Soa, StubResolver, relative};

/// The lookups a DNS check makes.
pub trait Dns: Sync {
    /// What asks one server directly (the nameserver check), answering as that server does.
    type Server: Dns + Send;

    /// Asks only `ip` (port 53) from now on, each attempt bounded by `attempt`.
    fn server(&self, ip: IpAddr, attempt: Duration) -> Self::Server;
    /// NS names of `name`.
    fn ns(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsFailure>> + Send;
    /// The SOA of `name` as the server answered it (serial, AA bit).
    fn soa(&self, name: &str) -> impl Future<Output = Result<Soa, DnsFailure>> + Send;
    /// The TXT records at `name`, each record's strings joined.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, DnsFailure>> + Send;
    /// The MX records of `name` (preference, host without the trailing dot).
    fn mx(&self, name: &str)
    -> impl Future<Output = Result<Vec<(u16, String)>, DnsFailure>> + Send;
    /// A and AAAA of `name` together, with the aliases followed and a family that failed
    /// while the other answered ([`Addresses`]).
    fn ips_via(&self, name: &str) -> impl Future<Output = Addresses> + Send;
    /// The PTR names of `ip`.
    fn ptr(&self, ip: IpAddr) -> impl Future<Output = Result<Vec<String>, DnsFailure>> + Send;
    /// Whether `ip` is among the addresses of `name`, asking only `ip`'s family.
    fn resolves_to(
        &self,
        name: &str,
        ip: IpAddr,
    ) -> impl Future<Output = Result<bool, DnsFailure>> + Send;

    /// The addresses of `name`; a family that failed while the other answered is left out
    /// (use [`Dns::ips_via`] where that matters).
    fn ips(&self, name: &str) -> impl Future<Output = Result<Vec<IpAddr>, DnsFailure>> + Send {
        async move { self.ips_via(name).await.ips }
    }
    /// The number of MX records of `name`.
    fn mx_count(&self, name: &str) -> impl Future<Output = Result<usize, DnsFailure>> + Send {
        async move { self.mx(name).await.map(|v| v.len()) }
    }
    /// Whether `name` has an A or AAAA record; NXDOMAIN and NODATA are `Ok(false)`.
    fn has_address(&self, name: &str) -> impl Future<Output = Result<bool, DnsFailure>> + Send {
        async move {
            match self.ips(name).await {
                Ok(v) => Ok(!v.is_empty()),
                Err(f) if f.is_negative_answer() => Ok(false),
                Err(f) => Err(f),
            }
        }
    }
}

impl Dns for StubResolver {
    type Server = StubResolver;

    fn server(&self, ip: IpAddr, attempt: Duration) -> StubResolver {
        // Its questions share one run's memo, over one socket each.
        StubResolver::new(vec![SocketAddr::new(ip, 53)], attempt).for_run()
    }
    async fn ns(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        StubResolver::ns(self, name).await
    }
    async fn soa(&self, name: &str) -> Result<Soa, DnsFailure> {
        StubResolver::soa(self, name).await
    }
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        StubResolver::txt(self, name).await
    }
    async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        StubResolver::mx(self, name).await
    }
    async fn ips_via(&self, name: &str) -> Addresses {
        StubResolver::ips_via(self, name).await
    }
    async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsFailure> {
        StubResolver::ptr(self, ip).await
    }
    async fn resolves_to(&self, name: &str, ip: IpAddr) -> Result<bool, DnsFailure> {
        StubResolver::resolves_to(self, name, ip).await
    }
}

impl Dns for Resolver {
    type Server = StubResolver;

    fn server(&self, ip: IpAddr, attempt: Duration) -> StubResolver {
        Dns::server(&**self, ip, attempt)
    }
    async fn ns(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        Dns::ns(&**self, name).await
    }
    async fn soa(&self, name: &str) -> Result<Soa, DnsFailure> {
        Dns::soa(&**self, name).await
    }
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        Dns::txt(&**self, name).await
    }
    async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        Dns::mx(&**self, name).await
    }
    async fn ips_via(&self, name: &str) -> Addresses {
        Dns::ips_via(&**self, name).await
    }
    async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsFailure> {
        Dns::ptr(&**self, ip).await
    }
    async fn resolves_to(&self, name: &str, ip: IpAddr) -> Result<bool, DnsFailure> {
        Dns::resolves_to(&**self, name, ip).await
    }
}

/// One injected answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Records in presentation form: TXT text, `"10 mx.example.org"` for MX, an address for
    /// A/AAAA, a name for PTR, CNAME and NS; for SOA the serial, followed by ` noaa` when the
    /// server answers without the AA bit.
    Records(Vec<String>),
    /// NXDOMAIN, NODATA, SERVFAIL, a timeout, a referral, ...
    Fail(DnsFailure),
}

/// Answers from a table of (name, type) → [`Answer`], for vector tests. A question not in
/// the table is NODATA when its name has some other entry, NXDOMAIN otherwise; a CNAME entry
/// is followed (A, AAAA, MX and TXT questions) as a resolver would. Every question is logged.
/// A server asked directly ([`Dns::server`]) answers from its own table ([`FakeDns::at`]);
/// a server without one does not answer (timeout).
#[derive(Debug, Default)]
pub struct FakeDns {
    table: HashMap<(String, RecordType), Answer>,
    asked: Mutex<Vec<(String, RecordType)>>,
    servers: HashMap<IpAddr, FakeDns>,
    /// When set, every question fails so (a server that does not answer).
    silent: Option<DnsFailure>,
}

impl Clone for FakeDns {
    fn clone(&self) -> Self {
        FakeDns {
            table: self.table.clone(),
            asked: Mutex::default(),
            servers: self.servers.clone(),
            silent: self.silent.clone(),
        }
    }
}

impl FakeDns {
    /// The server at `ip`, asked directly, answers from `server`'s table.
    pub fn at(mut self, ip: &str, server: FakeDns) -> Self {
        let ip = ip.parse().expect("an IP address");
        self.servers.insert(ip, server);
        self
    }
    /// Sets the answer to `name`/`rtype`.
    pub fn set(mut self, name: &str, rtype: RecordType, answer: Answer) -> Self {
        self.table.insert((relative(name), rtype), answer);
        self
    }
    /// Records of `name`/`rtype`.
    pub fn records(self, name: &str, rtype: RecordType, records: &[&str]) -> Self {
        let v = records.iter().map(|s| s.to_string()).collect();
        self.set(name, rtype, Answer::Records(v))
    }
    /// TXT records of `name`.
    pub fn txt_at(self, name: &str, records: &[&str]) -> Self {
        self.records(name, RecordType::TXT, records)
    }
    /// `name`/`rtype` fails with `f`.
    pub fn fail(self, name: &str, rtype: RecordType, f: DnsFailure) -> Self {
        self.set(name, rtype, Answer::Fail(f))
    }
    /// Every question about `name` fails with `f`.
    pub fn fail_all(mut self, name: &str, f: DnsFailure) -> Self {
        for t in [
            RecordType::TXT,
            RecordType::MX,
            RecordType::A,
            RecordType::AAAA,
            RecordType::PTR,
            RecordType::NS,
            RecordType::SOA,
        ] {
            self = self.fail(name, t, f.clone());
        }
        self
    }
    /// The names asked, in order (every type).
    pub fn asked(&self) -> Vec<String> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The records of `name`/`rtype`, following CNAMEs; the alias targets met are pushed
    /// onto `chain`.
    fn answer(
        &self,
        name: &str,
        rtype: RecordType,
        chain: &mut Vec<String>,
    ) -> Result<Vec<String>, DnsFailure> {
        let mut name = relative(name);
        if let Some(f) = &self.silent {
            return Err(f.clone());
        }
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.clone(), rtype));
        for _ in 0..=super::stub::MAX_ALIASES {
            match self.table.get(&(name.clone(), rtype)) {
                Some(Answer::Records(v)) => return Ok(v.clone()),
                Some(Answer::Fail(f)) => return Err(f.clone()),
                None => {}
            }
            match self.table.get(&(name.clone(), RecordType::CNAME)) {
                Some(Answer::Records(v)) if rtype != RecordType::CNAME && !v.is_empty() => {
                    name = relative(&v[0]);
                    if chain.contains(&name) {
                        chain.push(name);
                        return Err(DnsFailure::CnameLoop(chain.clone()));
                    }
                    chain.push(name.clone());
                }
                _ => {
                    let exists = self.table.keys().any(|(n, _)| *n == name);
                    return Err(if exists {
                        DnsFailure::NoData
                    } else {
                        DnsFailure::NxDomain
                    });
                }
            }
        }
        Err(DnsFailure::AliasChainTooLong(chain.clone()))
    }

    fn addresses(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> (Result<Vec<IpAddr>, DnsFailure>, Vec<String>) {
        let mut chain = vec![];
        let r = self.answer(name, rtype, &mut chain).and_then(|v| {
            v.iter()
                .map(|a| {
                    a.parse::<IpAddr>()
                        .map_err(|_| DnsFailure::Other(format!("bad address {a} in the table")))
                })
                .collect()
        });
        (r, chain)
    }
}

impl Dns for FakeDns {
    type Server = FakeDns;

    fn server(&self, ip: IpAddr, _attempt: Duration) -> FakeDns {
        self.servers.get(&ip).cloned().unwrap_or_else(|| FakeDns {
            silent: Some(DnsFailure::Timeout),
            ..FakeDns::default()
        })
    }
    async fn ns(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        let v = self.answer(name, RecordType::NS, &mut vec![])?;
        Ok(v.iter().map(|n| relative(n)).collect())
    }
    async fn soa(&self, name: &str) -> Result<Soa, DnsFailure> {
        let v = self.answer(name, RecordType::SOA, &mut vec![])?;
        let r = v.first().ok_or(DnsFailure::NoData)?;
        let serial = r
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| DnsFailure::Other(format!("bad SOA {r} in the table")))?;
        Ok(Soa {
            serial,
            authoritative: !r.ends_with(" noaa"),
        })
    }
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        self.answer(name, RecordType::TXT, &mut vec![])
    }
    async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        self.answer(name, RecordType::MX, &mut vec![])?
            .iter()
            .map(|r| {
                let (pref, host) = r.split_once(' ').unwrap_or(("0", r));
                let pref = pref
                    .parse()
                    .map_err(|_| DnsFailure::Other(format!("bad MX {r} in the table")))?;
                Ok((pref, relative(host)))
            })
            .collect()
    }
    async fn ips_via(&self, name: &str) -> Addresses {
        let (v4, chain4) = self.addresses(name, RecordType::A);
        let (v6, chain6) = self.addresses(name, RecordType::AAAA);
        let aliases = if chain4.is_empty() { chain6 } else { chain4 };
        let (ips, failed) = super::stub::combine(v4, v6);
        Addresses {
            ips,
            aliases,
            failed,
        }
    }
    async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsFailure> {
        let v = self.answer(&ip.to_string(), RecordType::PTR, &mut vec![])?;
        Ok(v.iter().map(|n| relative(n)).collect())
    }
    async fn resolves_to(&self, name: &str, ip: IpAddr) -> Result<bool, DnsFailure> {
        let rtype = if ip.is_ipv4() {
            RecordType::A
        } else {
            RecordType::AAAA
        };
        Ok(self.addresses(name, rtype).0?.contains(&ip))
    }
}
