//! The DNS resolver every probe uses, pointed at the servers the operator configured (never
//! `/etc/resolv.conf` or the hosts file unless the operator asked for the system resolver),
//! with errors that say what happened: NXDOMAIN, NODATA, SERVFAIL, REFUSED, timeout. A DNSBL, a
//! DNS posture check and a sender's resolver all need those told apart. Plain lookups go
//! through our own [`StubResolver`] (one exchange per question, no cache); hickory's resolver
//! is kept for what needs its machinery: DNSSEC validation and mail-auth's SPF evaluation,
//! a fresh one for each probe run so its cache never outlives the run.

mod stub;
pub use stub::{Soa, StubResolver};

use std::net::SocketAddr;
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
    /// The name is an alias whose chain of CNAMEs comes back to itself (the names, in
    /// order): nobody can resolve it.
    #[error("CNAME loop: {}", .0.join(" → "))]
    CnameLoop(Vec<String>),
    /// The name is an alias whose chain of CNAMEs is longer than resolvers follow (the names,
    /// in order, as far as we followed them).
    #[error("CNAME chain longer than {} aliases: {}", stub::MAX_ALIASES, .0.join(" → "))]
    AliasChainTooLong(Vec<String>),
    /// NOERROR with no answer and no SOA, NS records in the authority section and AA clear:
    /// the server sent us elsewhere instead of answering. From a recursive resolver this
    /// means it does not recurse for us; from a server the parent names as authoritative, a
    /// lame delegation. Not NODATA: it says nothing about whether the record exists.
    #[error("a referral, not an answer (the server does not answer for this name)")]
    Referral,
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

/// The addresses of a host, A and AAAA asked together ([`StubResolver::ips_via`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// Every address found; or, when neither family gave one, why (the failure rather than
    /// the negative answer when one family failed and the other had nothing).
    pub ips: Result<Vec<std::net::IpAddr>, DnsFailure>,
    /// The alias targets the lookup went through (empty unless the name is a CNAME).
    pub aliases: Vec<String>,
    /// A family whose lookup failed (SERVFAIL, REFUSED, timeout, ...; not NXDOMAIN or
    /// NODATA) while the other gave addresses, which `ips` then holds alone: the record type
    /// asked (A or AAAA) and why. Senders of that family meet the failure; a caller must
    /// report it, not take the other family's addresses as "every address".
    pub failed: Option<(RecordType, DnsFailure)>,
}

/// Where the resolver sends its queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `/etc/resolv.conf`, as the machine is set up.
    System,
    /// These servers only.
    Servers(Vec<SocketAddr>),
}

/// The configured servers as a [`StubResolver`] for plain lookups (through `Deref`), and as a
/// hickory resolver for DNSSEC validation and mail-auth.
pub struct Resolver {
    inner: TokioResolver,
    /// How `inner` was built, to build a fresh one for each run ([`Resolver::for_run`]).
    recipe: std::sync::Arc<Recipe>,
    stub: StubResolver,
}

/// What a hickory resolver is built from.
struct Recipe {
    config: ResolverConfig,
    opts: ResolverOpts,
    anchors: Option<std::sync::Arc<hickory_resolver::proto::dnssec::TrustAnchors>>,
}

impl Recipe {
    fn build(&self) -> Result<TokioResolver, Error> {
        let mut builder = TokioResolver::builder_with_config(
            self.config.clone(),
            TokioRuntimeProvider::default(),
        )
        .with_options(self.opts.clone())
        .with_tls_config(unused_tls_config());
        if let Some(a) = &self.anchors {
            builder = builder.with_trust_anchor(a.clone());
        }
        builder.build().map_err(|e| Error::Resolver(e.to_string()))
    }
}

impl std::ops::Deref for Resolver {
    type Target = StubResolver;

    fn deref(&self) -> &StubResolver {
        &self.stub
    }
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
        Self::build(upstream, attempt_timeout, None)
    }

    /// A DNSSEC-validating resolver trusting `anchors`: answers carry their proof (Secure,
    /// Insecure), and a broken chain is `DnssecBogus`.
    pub fn validating(
        upstream: &Upstream,
        attempt_timeout: Duration,
        anchors: hickory_resolver::proto::dnssec::TrustAnchors,
    ) -> Result<Self, Error> {
        Self::build(upstream, attempt_timeout, Some(anchors))
    }

    fn build(
        upstream: &Upstream,
        attempt_timeout: Duration,
        anchors: Option<hickory_resolver::proto::dnssec::TrustAnchors>,
    ) -> Result<Self, Error> {
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
        let servers: Vec<SocketAddr> = config
            .name_servers()
            .iter()
            .map(|ns| {
                let port = ns.connections.first().map(|c| c.port).unwrap_or(53);
                SocketAddr::new(ns.ip, port)
            })
            .collect();
        opts.validate = anchors.is_some();
        let recipe = std::sync::Arc::new(Recipe {
            config,
            opts,
            anchors: anchors.map(std::sync::Arc::new),
        });
        Ok(Resolver {
            inner: recipe.build()?,
            recipe,
            stub: StubResolver::new(servers, attempt_timeout),
        })
    }

    /// This resolver for one probe run: plain lookups remember their replies until the run
    /// ends ([`StubResolver::for_run`]), and hickory's resolver (mail-auth's SPF, DKIM and
    /// ARC lookups) is a new one whose cache lives as long as the run: so a record changed
    /// since the last run is seen by this one, and no part of a run reads a copy an earlier
    /// run left in a cache.
    pub fn for_run(&self) -> Resolver {
        let inner = self.recipe.build().unwrap_or_else(|e| {
            // It was built from the same recipe before; should that fail now, the shared
            // resolver (and its cache) beats no resolver.
            tracing::warn!("a resolver for the run: {e}; using the shared one");
            self.inner.clone()
        });
        Resolver {
            inner,
            recipe: self.recipe.clone(),
            stub: self.stub.for_run(),
        }
    }

    /// A validating resolver asking the same servers as this one.
    pub fn validating_twin(
        &self,
        anchors: hickory_resolver::proto::dnssec::TrustAnchors,
    ) -> Result<Resolver, Error> {
        Resolver::validating(
            &Upstream::Servers(self.stub.servers().to_vec()),
            self.stub.attempt_timeout(),
            anchors,
        )
    }

    /// The weakest DNSSEC proof of the answers for `name`/`rtype` (a validating resolver).
    pub async fn proof(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> Result<hickory_resolver::proto::dnssec::Proof, DnsFailure> {
        use hickory_resolver::proto::dnssec::Proof;
        match self.inner.lookup(absolute(name)?, rtype).await {
            Ok(l) => Ok(weakest(
                l.answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(|r| r.proof),
            )
            .unwrap_or(Proof::Indeterminate)),
            Err(NetError::Dns(DnsError::DnssecBogus)) => Ok(Proof::Bogus),
            Err(e) => Err(DnsFailure::from(e)),
        }
    }

    /// TLSA records of `name` (usage, selector, matching type, data) and the weakest proof of
    /// the answer (meaningful on a validating resolver).
    pub async fn tlsa(
        &self,
        name: &str,
    ) -> Result<
        (
            Vec<(u8, u8, u8, Vec<u8>)>,
            hickory_resolver::proto::dnssec::Proof,
        ),
        DnsFailure,
    > {
        use hickory_resolver::proto::dnssec::Proof;
        let lookup = match self.inner.lookup(absolute(name)?, RecordType::TLSA).await {
            Ok(l) => l,
            Err(NetError::Dns(DnsError::DnssecBogus)) => return Ok((vec![], Proof::Bogus)),
            Err(e) => return Err(DnsFailure::from(e)),
        };
        let mut proofs = vec![];
        let mut v = vec![];
        for r in lookup.answers() {
            if let RData::TLSA(t) = &r.data {
                proofs.push(r.proof);
                v.push((
                    u8::from(t.cert_usage),
                    u8::from(t.selector),
                    u8::from(t.matching),
                    t.cert_data.clone(),
                ));
            }
        }
        match weakest(proofs) {
            Some(proof) if !v.is_empty() => Ok((v, proof)),
            _ => Err(DnsFailure::NoData),
        }
    }

    /// The hickory resolver itself, for libraries that take one (mail-auth's SPF evaluation).
    pub fn hickory(&self) -> &TokioResolver {
        &self.inner
    }
}

/// The weakest of some DNSSEC proofs: Bogus (the zone's signatures or chain are wrong) before
/// Indeterminate (nothing could be proved either way), then Insecure, then Secure. Not
/// hickory's `Ord`, which puts Indeterminate below Bogus, so that a Bogus beside an
/// Indeterminate would read as "could not tell".
pub fn weakest(
    proofs: impl IntoIterator<Item = hickory_resolver::proto::dnssec::Proof>,
) -> Option<hickory_resolver::proto::dnssec::Proof> {
    use hickory_resolver::proto::dnssec::Proof;
    proofs.into_iter().min_by_key(|p| match p {
        Proof::Bogus => 0,
        Proof::Indeterminate => 1,
        Proof::Insecure => 2,
        Proof::Secure => 3,
    })
}

/// The TLS client configuration hickory requires of every resolver it builds, for encrypted
/// transports we never configure (our name servers are UDP and TCP only). Left to itself,
/// hickory builds one per resolver with rustls-platform-verifier (a feature mail-auth turns
/// on), which reads and parses every certificate under /etc/ssl/certs each time: about 6 ms
/// of CPU per resolver on the 2-core test machine, and the nameserver and DNSSEC checks build
/// resolvers for every domain (benches/dns.rs: 9.6 ms of CPU per domain before, 3 ms after).
/// This one is built once and trusts no root, so an encrypted transport could never verify.
fn unused_tls_config() -> rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        })
        .clone()
}

/// A name without its trailing dot, lower-cased.
fn relative(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
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
