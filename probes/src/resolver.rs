//! The DNS resolver every probe uses: hickory, pointed at the servers the operator configured
//! (never `/etc/resolv.conf` or the hosts file unless the operator asked for the system
//! resolver), with errors that say what happened: NXDOMAIN, NODATA, SERVFAIL, REFUSED, timeout.
//! A DNSBL, a DNS posture check and a sender's resolver all need those told apart.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::Error;

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsFailure {
    /// The name does not exist.
    #[error("NXDOMAIN")]
    NxDomain,
    /// The name exists but has no record of this type.
    #[error("no records of this type (NODATA)")]
    NoData,
    #[error("SERVFAIL")]
    ServFail,
    #[error("REFUSED")]
    Refused,
    #[error("no answer within the time allowed")]
    Timeout,
    #[error("{0}")]
    Other(String),
}

impl DnsFailure {
    /// NXDOMAIN and NODATA are answers ("there is nothing"); the rest mean nobody told us.
    pub fn is_negative_answer(&self) -> bool {
        matches!(self, DnsFailure::NxDomain | DnsFailure::NoData)
    }
}

impl From<NetError> for DnsFailure {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Timeout => DnsFailure::Timeout,
            NetError::Dns(DnsError::NoRecordsFound(nr)) => {
                if nr.response_code == ResponseCode::NXDomain {
                    DnsFailure::NxDomain
                } else {
                    DnsFailure::NoData
                }
            }
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => DnsFailure::ServFail,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => DnsFailure::Refused,
            NetError::Dns(DnsError::ResponseCode(code)) => {
                DnsFailure::Other(format!("error response {code}"))
            }
            // Deliberately not the hickory message: it names the query, which for DNSBL zones
            // with a DQS key contains the key.
            NetError::Io(e) => DnsFailure::Other(format!("network error: {}", e.kind())),
            NetError::NoConnections => DnsFailure::Other("no name server reachable".into()),
            other => DnsFailure::Other(kind_of(&other).into()),
        }
    }
}

fn kind_of(e: &NetError) -> &'static str {
    match e {
        NetError::Busy => "resolver busy",
        NetError::Proto(_) => "malformed DNS answer",
        NetError::Dns(DnsError::DnssecBogus) => "DNSSEC validation failed (bogus)",
        _ => "resolver error",
    }
}

/// Where the resolver sends its queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `/etc/resolv.conf`, as the machine is set up.
    System,
    /// These servers only.
    Servers(Vec<SocketAddr>),
}

pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// A resolver asking `upstream`, each query attempt bounded by `attempt_timeout` (the
    /// probe's [`crate::Deadline`] bounds the whole lookup).
    pub fn new(upstream: &Upstream, attempt_timeout: Duration) -> Result<Self, Error> {
        let (config, mut opts) = match upstream {
            Upstream::System => hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| Error::Resolver(format!("reading the system resolver: {e}")))?,
            Upstream::Servers(servers) => {
                if servers.is_empty() {
                    return Err(Error::Resolver("no resolver address given".into()));
                }
                let name_servers = servers
                    .iter()
                    .map(|s| {
                        let mut udp = ConnectionConfig::udp();
                        udp.port = s.port();
                        let mut tcp = ConnectionConfig::tcp();
                        tcp.port = s.port();
                        NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                    })
                    .collect();
                (
                    ResolverConfig::from_parts(None, vec![], name_servers),
                    ResolverOpts::default(),
                )
            }
        };
        opts.use_hosts_file = ResolveHosts::Never;
        opts.timeout = attempt_timeout;
        opts.attempts = 1;
        opts.ndots = 0;
        let inner = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| Error::Resolver(e.to_string()))?;
        Ok(Resolver { inner })
    }

    /// IPv4 addresses of `name` (an absolute name; a trailing dot is added).
    pub async fn ipv4(&self, name: &str) -> Result<Vec<Ipv4Addr>, DnsFailure> {
        let lookup = self
            .inner
            .lookup(absolute(name)?, RecordType::A)
            .await
            .map_err(DnsFailure::from)?;
        let v: Vec<Ipv4Addr> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            Err(DnsFailure::NoData)
        } else {
            Ok(v)
        }
    }

    /// IPv4 and IPv6 addresses of `name`.
    pub async fn ips(&self, name: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        let lookup = self
            .inner
            .lookup_ip(absolute(name)?)
            .await
            .map_err(DnsFailure::from)?;
        Ok(lookup.iter().collect())
    }

    /// TXT strings of `name`, each record's character-strings joined.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
        let lookup = self
            .inner
            .lookup(absolute(name)?, RecordType::TXT)
            .await
            .map_err(DnsFailure::from)?;
        let v: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            Err(DnsFailure::NoData)
        } else {
            Ok(v)
        }
    }
}

fn absolute(name: &str) -> Result<String, DnsFailure> {
    if name.is_empty() || name.len() > 253 + 1 {
        return Err(DnsFailure::Other("invalid name".into()));
    }
    Ok(if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    })
}
