//! `kind: dnsbl`: is one of the operator's own IPs or domains on a DNS block list?
//!
//! What users of earlier tools tripped over, handled here:
//! - Spamhaus answers `127.255.255.x` when it refuses a query (public resolver, no DQS key,
//!   too many queries): that is UNKNOWN with the reason, never "listed".
//! - A zone that answers everything (a lapsed DNSBL domain) or nothing: every zone is checked
//!   with its RFC 5782 test points (127.0.0.2 listed, 127.0.0.1 not; `TEST` listed, `INVALID`
//!   not, for domain lists), and a zone that fails them is reported broken and not believed.
//! - Answers outside 127.0.0.0/8 are not listings (RFC 5782 section 2.3).
//! - Domain lists are queried with the name, not its IP; IPv6 uses the nibble format.
//! - Spamhaus DQS keys: the query becomes `<query>.<key>.<zone>`; the key never appears in a
//!   finding.

use std::net::{IpAddr, Ipv4Addr};

use futures::future::join_all;
use serde::{Deserialize, Serialize};

use crate::deadline::Elapsed;
use crate::resolver::DnsFailure;
use crate::{Error, Finding, Outcome, ProbeContext, Report, State};

/// What a zone lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// IPv4 (and, when `ipv6`, IPv6) addresses.
    Ip,
    /// Domain names (e.g. Spamhaus DBL), queried by name.
    Domain,
}

/// One DNS block list.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The list's zone, e.g. `zen.spamhaus.org`.
    pub name: String,
    pub kind: ZoneKind,
    /// For IP zones: whether the list serves IPv6 addresses at all.
    pub ipv6: bool,
    /// A Spamhaus DQS key: queries go to `<query>.<key>.<zone>`. Never shown.
    pub dqs_key: Option<String>,
    /// What the list's return codes mean, e.g. `127.0.0.4` → `XBL: exploited host`.
    pub codes: Vec<(Ipv4Addr, String)>,
    /// The RFC 5782 test points, or `None` to skip the sanity check (not recommended).
    pub test_points: Option<TestPoints>,
}

/// A subject the zone must list and one it must not (RFC 5782 section 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPoints {
    pub listed: String,
    pub unlisted: String,
}

impl TestPoints {
    /// 127.0.0.2 listed, 127.0.0.1 not (IP lists); `test` listed, `invalid` not (domain lists).
    pub fn rfc5782(kind: ZoneKind) -> Self {
        match kind {
            ZoneKind::Ip => TestPoints {
                listed: "127.0.0.2".into(),
                unlisted: "127.0.0.1".into(),
            },
            ZoneKind::Domain => TestPoints {
                listed: "test".into(),
                unlisted: "invalid".into(),
            },
        }
    }
}

impl Zone {
    pub fn new(name: impl Into<String>, kind: ZoneKind) -> Self {
        Zone {
            name: name.into().trim_end_matches('.').to_ascii_lowercase(),
            kind,
            ipv6: kind == ZoneKind::Ip,
            dqs_key: None,
            codes: Vec::new(),
            test_points: Some(TestPoints::rfc5782(kind)),
        }
    }

    fn code(mut self, ip: [u8; 4], meaning: &str) -> Self {
        self.codes.push((Ipv4Addr::from(ip), meaning.to_string()));
        self
    }

    fn query_name(&self, subject: &Subject) -> String {
        let base = match &self.dqs_key {
            Some(key) => format!("{key}.{}", self.name),
            None => self.name.clone(),
        };
        format!("{}.{base}", subject.query_label())
    }

    fn applies_to(&self, subject: &Subject) -> bool {
        match (self.kind, subject) {
            (ZoneKind::Ip, Subject::Ip(IpAddr::V4(_))) => true,
            (ZoneKind::Ip, Subject::Ip(IpAddr::V6(_))) => self.ipv6,
            (ZoneKind::Domain, Subject::Domain(_)) => true,
            _ => false,
        }
    }

    fn meaning(&self, code: Ipv4Addr) -> Option<&str> {
        self.codes
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, m)| m.as_str())
    }
}

/// The zones used when a probe names none: widely used lists whose free use covers a small
/// operator checking its own few addresses. Spamhaus refuses queries through public resolvers;
/// use your own resolver or a DQS key.
pub fn default_zones() -> Vec<Zone> {
    let zen = Zone::new("zen.spamhaus.org", ZoneKind::Ip)
        .code([127, 0, 0, 2], "SBL: Spamhaus block list")
        .code([127, 0, 0, 3], "SBL CSS: snowshoe spam source")
        .code([127, 0, 0, 4], "XBL: exploited or infected host")
        .code([127, 0, 0, 5], "XBL: exploited or infected host")
        .code([127, 0, 0, 6], "XBL: exploited or infected host")
        .code([127, 0, 0, 7], "XBL: exploited or infected host")
        .code([127, 0, 0, 9], "SBL DROP: hijacked network")
        .code(
            [127, 0, 0, 10],
            "PBL: ISP says this address should not send mail directly",
        )
        .code(
            [127, 0, 0, 11],
            "PBL: Spamhaus says this address should not send mail directly",
        );
    let mut spamcop = Zone::new("bl.spamcop.net", ZoneKind::Ip)
        .code([127, 0, 0, 2], "SpamCop: reported as a spam source");
    spamcop.ipv6 = false;
    let mut barracuda = Zone::new("b.barracudacentral.org", ZoneKind::Ip)
        .code([127, 0, 0, 2], "Barracuda reputation block list");
    barracuda.ipv6 = false;
    let mut psbl =
        Zone::new("psbl.surriel.com", ZoneKind::Ip).code([127, 0, 0, 2], "PSBL: hit a spam trap");
    psbl.ipv6 = false;
    let mut dbl = Zone::new("dbl.spamhaus.org", ZoneKind::Domain)
        .code([127, 0, 1, 2], "DBL: spam domain")
        .code([127, 0, 1, 4], "DBL: phishing domain")
        .code([127, 0, 1, 5], "DBL: malware domain")
        .code([127, 0, 1, 6], "DBL: botnet C&C domain")
        .code([127, 0, 1, 102], "DBL: abused legitimate spam domain")
        .code([127, 0, 1, 103], "DBL: abused spammed redirector")
        .code([127, 0, 1, 104], "DBL: abused legitimate phishing domain")
        .code([127, 0, 1, 105], "DBL: abused legitimate malware domain")
        .code([127, 0, 1, 106], "DBL: abused legitimate botnet C&C domain");
    // Spamhaus documents `dbltest.com` as the DBL's always-listed test point.
    dbl.test_points = Some(TestPoints {
        listed: "dbltest.com".into(),
        unlisted: "invalid".into(),
    });
    vec![zen, spamcop, barracuda, psbl, dbl]
}

/// The settings of one `kind: dnsbl` probe.
#[derive(Debug, Clone)]
pub struct DnsblSettings {
    pub zones: Vec<Zone>,
}

/// What is looked up: an address (IP lists) or a domain (domain lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Ip(IpAddr),
    Domain(String),
}

impl Subject {
    pub fn parse(target: &str) -> Result<Subject, Error> {
        let t = target.trim();
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(Subject::Ip(ip));
        }
        let name = t.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(Subject::Domain(name))
        } else {
            Err(Error::Target {
                target: target.to_string(),
                reason: "neither an IP address nor a domain name".into(),
            })
        }
    }

    /// The label sequence put in front of the zone: reversed octets, reversed nibbles
    /// (RFC 5782 section 2.4), or the domain itself.
    pub fn query_label(&self) -> String {
        match self {
            Subject::Ip(IpAddr::V4(v4)) => {
                let o = v4.octets();
                format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
            }
            Subject::Ip(IpAddr::V6(v6)) => {
                let mut labels = Vec::with_capacity(32);
                for byte in v6.octets().iter().rev() {
                    labels.push(format!("{:x}", byte & 0x0f));
                    labels.push(format!("{:x}", byte >> 4));
                }
                labels.join(".")
            }
            Subject::Domain(d) => d.clone(),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::Ip(ip) => write!(f, "{ip}"),
            Subject::Domain(d) => f.write_str(d),
        }
    }
}

/// What one answer of a list means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    NotListed,
    /// Listed, with the return codes (all inside 127.0.0.0/8).
    Listed(Vec<Ipv4Addr>),
    /// The list refused to answer us (Spamhaus `127.255.255.x`), with why.
    Refused(Ipv4Addr, &'static str),
    /// An answer outside 127.0.0.0/8: not a listing, a broken or hijacked zone.
    Outside(Ipv4Addr),
    /// No answer at all.
    Failed(DnsFailure),
}

/// Classifies the A answer of a list query. Pure, so every rule is unit-tested.
pub fn classify(result: Result<Vec<Ipv4Addr>, DnsFailure>) -> Answer {
    let addrs = match result {
        Ok(a) => a,
        Err(f) if f.is_negative_answer() => return Answer::NotListed,
        Err(f) => return Answer::Failed(f),
    };
    if let Some(&a) = addrs.iter().find(|a| a.octets()[0] != 127) {
        return Answer::Outside(a);
    }
    if let Some(&a) = addrs.iter().find(|a| {
        let o = a.octets();
        o[1] == 255 && o[2] == 255
    }) {
        let why = match a.octets()[3] {
            252 => {
                "the list says the query named a zone that does not exist (typo in the DNSBL name)"
            }
            254 => {
                "the list refuses queries through public or open resolvers (use your own resolver or a DQS key)"
            }
            255 => "the list refuses us for an excessive number of queries",
            _ => "the list refused the query",
        };
        return Answer::Refused(a, why);
    }
    if addrs.is_empty() {
        return Answer::NotListed;
    }
    let mut codes = addrs;
    codes.sort();
    codes.dedup();
    Answer::Listed(codes)
}

/// Whether a zone passed its RFC 5782 test points; `Err` says why its answers are not believed.
pub fn judge_test_points(
    listed: &Answer,
    unlisted: &Answer,
    tp: &TestPoints,
) -> Result<(), String> {
    let unusable = |which: &str, a: &Answer| -> Option<String> {
        match a {
            Answer::Refused(code, why) => {
                Some(format!("test point {which} answered {code}: {why}"))
            }
            Answer::Failed(f) => Some(format!("test point {which}: {f}")),
            Answer::Outside(a) => Some(format!(
                "test point {which} answered {a}, outside 127.0.0.0/8"
            )),
            _ => None,
        }
    };
    if let Some(r) = unusable(&tp.listed, listed).or_else(|| unusable(&tp.unlisted, unlisted)) {
        return Err(r);
    }
    match (listed, unlisted) {
        (_, Answer::Listed(_)) => Err(format!(
            "zone lists everything: its never-listed test point {} is listed (lapsed or broken list)",
            tp.unlisted
        )),
        (Answer::NotListed, _) => Err(format!(
            "zone lists nothing: its always-listed test point {} is not listed",
            tp.listed
        )),
        _ => Ok(()),
    }
}

/// One zone's verdict on the subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneResult {
    pub zone: String,
    /// `Some(true)` listed, `Some(false)` not listed, `None` undecided (see `reason`).
    pub listed: Option<bool>,
    /// Return codes, when listed.
    pub codes: Vec<Ipv4Addr>,
    /// The zone's meaning of those codes, when known.
    pub meanings: Vec<String>,
    /// The list's TXT text, when listed; why undecided, otherwise.
    pub reason: Option<String>,
}

/// The typed report of one dnsbl run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsblReport {
    pub subject: String,
    pub zones: Vec<ZoneResult>,
}

impl DnsblReport {
    /// The main figure for thresholds: on how many zones the subject is listed.
    pub fn listings(&self) -> usize {
        self.zones.iter().filter(|z| z.listed == Some(true)).count()
    }
}

/// Runs the probe: the subject `target` against every applicable zone, concurrently, each
/// zone's queries limited per destination, everything bounded by the context's deadline.
pub async fn probe(settings: &DnsblSettings, target: &str, ctx: &ProbeContext) -> Outcome {
    let subject = match Subject::parse(target) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::single(Finding::new("target", State::Unknown, e.to_string()));
        }
    };
    let zones: Vec<&Zone> = settings
        .zones
        .iter()
        .filter(|z| z.applies_to(&subject))
        .collect();
    if zones.is_empty() {
        let what = match subject {
            Subject::Ip(IpAddr::V6(_)) => "IPv6 addresses",
            Subject::Ip(_) => "IP addresses",
            Subject::Domain(_) => "domains",
        };
        return Outcome::single(Finding::new(
            "zones",
            State::Unknown,
            format!("no configured zone lists {what}; nothing was checked for {subject}"),
        ));
    }
    let results = join_all(zones.iter().map(|z| check_zone(z, &subject, ctx))).await;
    let findings = results.iter().map(|r| finding_for(&subject, r)).collect();
    Outcome::new(
        findings,
        Report::Dnsbl(DnsblReport {
            subject: subject.to_string(),
            zones: results,
        }),
    )
}

async fn check_zone(zone: &Zone, subject: &Subject, ctx: &ProbeContext) -> ZoneResult {
    let undecided = |reason: String| ZoneResult {
        zone: zone.name.clone(),
        listed: None,
        codes: vec![],
        meanings: vec![],
        reason: Some(reason),
    };
    let work = async {
        let _permit = ctx.limits.acquire(&format!("dnsbl:{}", zone.name)).await;
        let lookup = |s: Subject| {
            let name = zone.query_name(&s);
            async move { classify(ctx.resolver.ipv4(&name).await) }
        };
        if let Some(tp) = &zone.test_points {
            let (Ok(l), Ok(u)) = (Subject::parse(&tp.listed), Subject::parse(&tp.unlisted)) else {
                return Err("invalid test points".to_string());
            };
            let (l, u) = futures::join!(lookup(l), lookup(u));
            judge_test_points(&l, &u, tp)
                .map_err(|r| format!("{r}; its answers are not believed"))?;
        }
        let answer = lookup(subject.clone()).await;
        let txt = match &answer {
            Answer::Listed(_) => ctx
                .resolver
                .txt(&zone.query_name(subject))
                .await
                .ok()
                .map(|t| t.join(" ")),
            _ => None,
        };
        Ok((answer, txt))
    };
    match ctx.deadline.run(work).await {
        Err(Elapsed) => undecided(format!(
            "no answer from {} before the probe's deadline",
            zone.name
        )),
        Ok(Err(reason)) => undecided(reason),
        Ok(Ok((answer, txt))) => match answer {
            Answer::NotListed => ZoneResult {
                zone: zone.name.clone(),
                listed: Some(false),
                codes: vec![],
                meanings: vec![],
                reason: None,
            },
            Answer::Listed(codes) => ZoneResult {
                zone: zone.name.clone(),
                listed: Some(true),
                meanings: codes
                    .iter()
                    .filter_map(|c| zone.meaning(*c).map(str::to_string))
                    .collect(),
                codes,
                reason: txt,
            },
            Answer::Refused(code, why) => {
                undecided(format!("{} answered {code}: {why}", zone.name))
            }
            Answer::Outside(a) => undecided(format!(
                "{} answered {a}, outside 127.0.0.0/8: not a listing, the zone is broken",
                zone.name
            )),
            Answer::Failed(f) => undecided(format!("{} did not answer: {f}", zone.name)),
        },
    }
}

fn finding_for(subject: &Subject, r: &ZoneResult) -> Finding {
    let check = format!("listed:{}", r.zone);
    match r.listed {
        Some(false) => Finding::new(
            check,
            State::Ok,
            format!("{subject} not listed on {}", r.zone),
        ),
        Some(true) => {
            let codes: Vec<String> = r.codes.iter().map(|c| c.to_string()).collect();
            let mut summary = format!("{subject} listed on {} ({})", r.zone, codes.join(", "));
            if !r.meanings.is_empty() {
                summary.push_str(&format!(": {}", r.meanings.join("; ")));
            }
            let f = Finding::new(check, State::Critical, summary);
            match &r.reason {
                Some(txt) => f.with_detail(txt.clone()),
                None => f,
            }
        }
        None => Finding::new(
            check,
            State::Unknown,
            format!(
                "{subject} on {}: undecided: {}",
                r.zone,
                r.reason.as_deref().unwrap_or("no reason")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_and_ipv6_query_labels() {
        assert_eq!(
            Subject::parse("192.0.2.99").unwrap().query_label(),
            "99.2.0.192"
        );
        // RFC 5782 section 2.4's own example.
        assert_eq!(
            Subject::parse("2001:db8:1:2:3:4:567:89ab")
                .unwrap()
                .query_label(),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2"
        );
        assert_eq!(
            Subject::parse("Spammer.TEST.").unwrap().query_label(),
            "spammer.test"
        );
        assert!(Subject::parse("not a name!").is_err());
    }

    #[test]
    fn dqs_key_goes_between_query_and_zone() {
        let mut z = Zone::new("zen.dq.spamhaus.net", ZoneKind::Ip);
        z.dqs_key = Some("KEY".into());
        assert_eq!(
            z.query_name(&Subject::parse("192.0.2.1").unwrap()),
            "1.2.0.192.KEY.zen.dq.spamhaus.net"
        );
    }

    #[test]
    fn classify_rules() {
        assert_eq!(classify(Err(DnsFailure::NxDomain)), Answer::NotListed);
        assert_eq!(classify(Err(DnsFailure::NoData)), Answer::NotListed);
        assert_eq!(
            classify(Err(DnsFailure::ServFail)),
            Answer::Failed(DnsFailure::ServFail)
        );
        assert_eq!(
            classify(Ok(vec![ip("127.0.0.4"), ip("127.0.0.2"), ip("127.0.0.4")])),
            Answer::Listed(vec![ip("127.0.0.2"), ip("127.0.0.4")])
        );
        assert!(matches!(
            classify(Ok(vec![ip("127.255.255.254")])),
            Answer::Refused(_, why) if why.contains("public")
        ));
        assert!(matches!(
            classify(Ok(vec![ip("127.255.255.255")])),
            Answer::Refused(_, why) if why.contains("excessive")
        ));
        assert_eq!(
            classify(Ok(vec![ip("127.0.0.2"), ip("192.0.2.1")])),
            Answer::Outside(ip("192.0.2.1"))
        );
    }

    #[test]
    fn test_points_catch_list_everything_and_list_nothing() {
        let tp = TestPoints::rfc5782(ZoneKind::Ip);
        let listed = Answer::Listed(vec![ip("127.0.0.2")]);
        assert!(judge_test_points(&listed, &Answer::NotListed, &tp).is_ok());
        let e = judge_test_points(&listed, &listed, &tp).unwrap_err();
        assert!(e.contains("lists everything"), "{e}");
        let e = judge_test_points(&Answer::NotListed, &Answer::NotListed, &tp).unwrap_err();
        assert!(e.contains("lists nothing"), "{e}");
        let refused = classify(Ok(vec![ip("127.255.255.254")]));
        let e = judge_test_points(&refused, &refused, &tp).unwrap_err();
        assert!(e.contains("127.255.255.254"), "{e}");
    }

    #[test]
    fn zones_apply_by_kind_and_family() {
        let v4 = Subject::parse("192.0.2.1").unwrap();
        let v6 = Subject::parse("2001:db8::1").unwrap();
        let dom = Subject::parse("example.org").unwrap();
        let mut ipz = Zone::new("ip.test", ZoneKind::Ip);
        let dz = Zone::new("d.test", ZoneKind::Domain);
        assert!(ipz.applies_to(&v4) && ipz.applies_to(&v6) && !ipz.applies_to(&dom));
        ipz.ipv6 = false;
        assert!(!ipz.applies_to(&v6));
        assert!(dz.applies_to(&dom) && !dz.applies_to(&v4));
    }

    #[test]
    fn default_zone_names_are_normalised_and_unique() {
        let zones = default_zones();
        let mut names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), zones.len());
        assert!(zones.iter().any(|z| z.kind == ZoneKind::Domain));
    }
}
