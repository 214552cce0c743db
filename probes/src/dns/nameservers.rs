//! Every authoritative nameserver of the domain, asked directly at each of its addresses:
//! SOA serial, SPF/DMARC TXT and MX. One that times out, SERVFAILs, REFUSEs, is lame or
//! serves a different answer is its own finding: WARNING while others answer, CRITICAL when
//! none does. A receiver's "SPF TempError" comes from exactly this. Lame: the server does
//! not answer as an authority for the zone: no SOA, a referral, or an answer with the AA bit
//! clear (a recursive server, right data or not); resolvers skip such a server.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{failure_state, failure_text};
use crate::resolver::{DnsFailure, Resolver, StubResolver};
use crate::{Deadline, Finding, State};

/// One nameserver address and how it answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NameserverResult {
    pub name: String,
    pub address: IpAddr,
    /// Answered the SOA query.
    pub up: bool,
    pub serial: Option<u32>,
    pub error: Option<String>,
}

pub async fn check(
    domain: &str,
    r: &Resolver,
    deadline: Deadline,
) -> (Vec<Finding>, Vec<NameserverResult>) {
    let mut findings = vec![];
    // The servers of the zone that holds the domain: walk up to the first name with NS.
    let mut zone = domain.to_string();
    let names = loop {
        match r.ns(&zone).await {
            Ok(v) => break v,
            Err(DnsFailure::NoData) if zone.matches('.').count() > 1 => {
                zone = zone
                    .split_once('.')
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_default();
            }
            Err(f) if f.is_negative_answer() => {
                return (
                    vec![Finding::new(
                        "ns:record",
                        State::Critical,
                        format!("{domain} has no NS records (and no enclosing zone has)"),
                    )],
                    vec![],
                );
            }
            Err(f) => {
                return (
                    vec![Finding::new(
                        "ns:record",
                        failure_state(&f),
                        format!("NS of {zone}: {}", failure_text(&f)),
                    )],
                    vec![],
                );
            }
        }
    };
    // Reported when fine too, so a dashboard or alert sees the check, not only its failures.
    findings.push(Finding::new(
        "ns:record",
        State::Ok,
        format!("NS of {zone}: {}", names.join(", ")),
    ));
    let domain = zone.as_str();
    let mut servers: Vec<(String, IpAddr)> = vec![];
    for n in &names {
        match r.ips(n).await {
            Ok(ips) if !ips.is_empty() => servers.extend(ips.into_iter().map(|ip| (n.clone(), ip))),
            Ok(_) | Err(DnsFailure::NxDomain | DnsFailure::NoData) => findings.push(Finding::new(
                format!("ns:{n}"),
                State::Warning,
                format!("nameserver {n} of {domain} has no address"),
            )),
            Err(f) => findings.push(Finding::new(
                format!("ns:{n}"),
                failure_state(&f),
                format!("nameserver {n}: {}", failure_text(&f)),
            )),
        }
    }
    // Each server gets a share of the remaining time; all are asked at once.
    let per_attempt =
        (deadline.remaining() / 4).clamp(Duration::from_millis(200), Duration::from_secs(2));
    let answers = futures::future::join_all(
        servers
            .iter()
            .map(|(n, ip)| ask(domain, n, *ip, per_attempt)),
    )
    .await;
    let responding = answers.iter().filter(|a| a.0.up).count();
    let mut results = vec![];
    // The answers most servers gave, to compare each against.
    let mut votes: BTreeMap<String, usize> = BTreeMap::new();
    for (res, sig) in &answers {
        if res.up {
            *votes.entry(sig.clone()).or_default() += 1;
        }
    }
    let consensus = votes
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(s, _)| s.clone());
    let serials: Vec<u32> = answers.iter().filter_map(|a| a.0.serial).collect();
    for (res, sig) in answers {
        let check = format!("ns:{}/{}", res.name, res.address);
        if !res.up {
            let state = if responding == 0 {
                State::Critical
            } else {
                State::Warning
            };
            let others = if responding == 0 {
                "no nameserver answers: receivers cannot resolve the domain".to_string()
            } else {
                format!(
                    "{responding} other nameserver address(es) answer; receivers that ask this one get temperror"
                )
            };
            findings.push(Finding::new(
                check,
                state,
                format!(
                    "nameserver {} ({}) {}: {others}",
                    res.name,
                    res.address,
                    res.error.clone().unwrap_or_default()
                ),
            ));
        } else if consensus.as_ref().is_some_and(|c| *c != sig) {
            findings.push(
                Finding::new(
                    check,
                    State::Warning,
                    format!(
                        "nameserver {} ({}) serves different records than the others",
                        res.name, res.address
                    ),
                )
                .with_detail(sig.clone()),
            );
        } else if serials.iter().any(|s| Some(*s) != res.serial) {
            findings.push(Finding::new(
                check,
                State::Warning,
                format!(
                    "nameserver {} ({}) serves serial {} while others serve {}",
                    res.name,
                    res.address,
                    res.serial.unwrap_or(0),
                    serials
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        } else {
            findings.push(Finding::new(
                check,
                State::Ok,
                format!(
                    "nameserver {} ({}) answers, serial {}",
                    res.name,
                    res.address,
                    res.serial.unwrap_or(0)
                ),
            ));
        }
        results.push(res);
    }
    (findings, results)
}

/// Asks one server; returns its result and a signature of its answers for comparison.
async fn ask(
    domain: &str,
    name: &str,
    ip: IpAddr,
    attempt: Duration,
) -> (NameserverResult, String) {
    let mut res = NameserverResult {
        name: name.to_string(),
        address: ip,
        up: false,
        serial: None,
        error: None,
    };
    // Our stub resolver asks only this address, its four questions over one socket.
    let server = StubResolver::new(vec![SocketAddr::new(ip, 53)], attempt).for_run();
    match server.soa(domain).await {
        Ok(soa) if soa.authoritative => {
            res.up = true;
            res.serial = Some(soa.serial);
        }
        Ok(soa) => {
            // The right data, perhaps, but not as an authority: a recursive or caching server
            // the parent names for the zone. Resolvers take such a server as lame and move to
            // the next (or SERVFAIL when every one is), so it counts as not answering.
            res.serial = Some(soa.serial);
            res.error = Some(
                "is lame: it answers without authority (AA bit clear), as a recursive or caching server does, not as a server of the zone".into(),
            );
            return (res, String::new());
        }
        Err(f) => {
            res.error = Some(match f {
                DnsFailure::Timeout => "does not answer (timeout)".into(),
                DnsFailure::NxDomain | DnsFailure::NoData => {
                    "does not serve the zone (lame: no SOA)".into()
                }
                DnsFailure::Referral => {
                    "does not serve the zone (lame: it answers with a referral)".into()
                }
                other => format!("answers {other}"),
            });
            return (res, String::new());
        }
    }
    let dmarc_name = format!("_dmarc.{domain}");
    let (spf, dmarc, mx) = futures::join!(
        server.txt(domain),
        server.txt(&dmarc_name),
        server.mx(domain)
    );
    let norm = |v: Result<Vec<String>, DnsFailure>| match v {
        Ok(mut v) => {
            v.sort();
            v.join(" | ")
        }
        Err(f) => format!("<{f}>"),
    };
    let mx = mx.map(|v| v.into_iter().map(|(p, h)| format!("{p} {h}")).collect());
    let sig = format!(
        "TXT: {}; _dmarc: {}; MX: {}",
        norm(spf),
        norm(dmarc),
        norm(mx)
    );
    if sig.contains("<SERVFAIL>") || sig.contains("<REFUSED>") || sig.contains("<no answer") {
        res.up = false;
        res.error = Some(format!("fails some queries: {sig}"));
    }
    (res, sig)
}
