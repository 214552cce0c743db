//! Follows an SPF record's includes and redirects the way `check_host()` would, without an
//! IP: counts the DNS-querying terms (the limit is 10, RFC 7208 4.6.4) and the void lookups
//! (the limit is 2), finds include loops, includes without an SPF record, and faults inside
//! included records.

use std::collections::HashMap;
use std::net::IpAddr;

use super::spf::{Mechanism, SpfRecord, is_spf};
use super::{failure_state, failure_text, location};
use crate::resolver::{DnsFailure, Resolver};
use crate::{Finding, State};

pub struct Walk {
    pub lookups: u32,
    pub voids: u32,
    pub findings: Vec<Finding>,
    /// A strict receiver answers `permerror` because of an include or redirect: a loop, a
    /// chain too deep, a target without an SPF record or with several, or a syntax error in
    /// a record included (not `+all` there, which is valid SPF).
    pub permerror: bool,
}

/// Records deeper than this are not followed (a loop or an absurd chain).
const MAX_DEPTH: usize = 10;

pub async fn walk(domain: &str, record: &SpfRecord, r: &Resolver) -> Walk {
    let mut w = Walk {
        lookups: 0,
        voids: 0,
        findings: vec![],
        permerror: false,
    };
    // (domain, record, chain of domains that led here)
    let mut queue: Vec<(String, SpfRecord, Vec<String>)> =
        vec![(domain.to_string(), record.clone(), vec![domain.to_string()])];
    while let Some((dom, rec, chain)) = queue.pop() {
        let mut targets: Vec<(String, bool)> = vec![]; // (domain, is_redirect)
        for (_, m) in rec.mechanisms() {
            if m.queries_dns() {
                w.lookups += 1;
            }
            match m {
                Mechanism::Include(d) => targets.push((d.clone(), false)),
                Mechanism::A {
                    domain: Some(d), ..
                }
                | Mechanism::Exists(d)
                    if !d.contains('%') && void(r, d, false).await =>
                {
                    w.voids += 1;
                }
                Mechanism::Mx { domain, .. } => {
                    let d = domain.clone().unwrap_or_else(|| dom.clone());
                    if d.contains('%') {
                        continue;
                    }
                    match r.mx(&d).await {
                        Ok(v) if v.len() > 10 => w.findings.push(Finding::new(
                            "spf:lookups",
                            State::Critical,
                            format!("`mx` of {d} has {} MX hosts: more than 10 is a permerror (RFC 7208 4.6.4)", v.len()),
                        )),
                        Ok(_) => {}
                        Err(f) if f.is_negative_answer() => w.voids += 1,
                        Err(_) => {}
                    }
                }
                _ => {}
            }
        }
        if let Some(d) = rec.redirect() {
            w.lookups += 1;
            if !rec.mechanisms().any(|(_, m)| *m == Mechanism::All) {
                targets.push((d.to_string(), true));
            }
        }
        for (target, is_redirect) in targets {
            let target = target.trim_end_matches('.').to_ascii_lowercase();
            let how = if is_redirect { "redirect=" } else { "include:" };
            if target.contains('%') {
                continue; // macros depend on the sender; not followed statically
            }
            if chain.contains(&target) {
                w.permerror = true;
                w.findings.push(Finding::new(
                    "spf:include",
                    State::Critical,
                    format!(
                        "SPF loop: {} → {how}{target}: receivers answer permerror",
                        chain.join(" → ")
                    ),
                ));
                continue;
            }
            if chain.len() >= MAX_DEPTH {
                w.permerror = true;
                w.findings.push(Finding::new(
                    "spf:include",
                    State::Critical,
                    format!("SPF chain deeper than {MAX_DEPTH}: {}", chain.join(" → ")),
                ));
                continue;
            }
            let records = match r.txt_strings(&target).await {
                Ok(v) => v
                    .into_iter()
                    .map(|p| p.concat())
                    .filter(|t| is_spf(t))
                    .collect::<Vec<_>>(),
                Err(DnsFailure::NxDomain | DnsFailure::NoData) => {
                    w.voids += 1;
                    vec![]
                }
                Err(f) => {
                    w.findings.push(Finding::new(
                        "spf:include",
                        failure_state(&f),
                        format!("{how}{target} (from {dom}): {}", failure_text(&f)),
                    ));
                    continue;
                }
            };
            match records.len() {
                1 => {
                    let inc = SpfRecord::parse(&records[0]);
                    w.permerror |= inc.is_permerror();
                    for i in inc.issues.iter().filter(|i| i.state == State::Critical) {
                        w.findings.push(
                            Finding::new(
                                "spf:include",
                                i.state,
                                format!("SPF of {how}{target}: {}", i.message),
                            )
                            .at(location(
                                format!("TXT {target}"),
                                &inc.text,
                                i.start,
                                i.end,
                            )),
                        );
                    }
                    let mut next = chain.clone();
                    next.push(target.clone());
                    queue.push((target, inc, next));
                }
                n => {
                    w.permerror = true;
                    w.findings.push(Finding::new(
                        "spf:include",
                        State::Critical,
                        format!(
                            "{how}{target} (from {dom}) has {}: receivers answer permerror",
                            if n == 0 {
                                "no SPF record".to_string()
                            } else {
                                format!("{n} SPF records")
                            }
                        ),
                    ))
                }
            }
        }
    }
    let (state, note) = match w.lookups {
        0..=8 => (State::Ok, String::new()),
        9 | 10 => (State::Warning, ": close to the limit of 10".to_string()),
        _ => (
            State::Critical,
            ": over the limit of 10, receivers answer permerror (RFC 7208 4.6.4)".to_string(),
        ),
    };
    w.findings.push(Finding::new(
        "spf:lookups",
        state,
        format!("SPF needs {} DNS lookups{note}", w.lookups),
    ));
    w.findings.push(Finding::new(
        "spf:void",
        if w.voids > 2 { State::Critical } else { State::Ok },
        if w.voids > 2 {
            format!("SPF causes {} void lookups (names that do not exist): over 2, receivers answer permerror (RFC 7208 4.6.4)", w.voids)
        } else {
            format!("SPF causes {} void lookups", w.voids)
        },
    ));
    w
}

/// Whether `name` has no address (NXDOMAIN or NODATA), as an `a:` or `exists:` target.
async fn void(r: &Resolver, name: &str, _mx: bool) -> bool {
    matches!(r.ips(name).await, Err(f) if f.is_negative_answer())
}

/// `check_host()` as this project answers it: mail-auth evaluates the record, and a record
/// that a strict receiver rejects (several SPF records, a syntax error in the domain's
/// record or in one it includes, an include loop or target without a record, more than 2
/// void lookups) is `permerror` whatever mail-auth's lenient parser made of it. Returns the
/// RFC 7208 result name (`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`,
/// `permerror`). docs/spf-rfc7208.md lists where it still differs from the RFC 7208 test
/// suite, and why.
pub async fn check_host(r: &Resolver, ip: IpAddr, helo: &str, sender: &str) -> &'static str {
    let (ip, domain) = match identity(ip, helo, sender) {
        Ok(v) => v,
        Err(result) => return result,
    };
    let auth = mail_auth::MessageAuthenticator(r.hickory().clone());
    let params = if sender.is_empty() {
        mail_auth::spf::verify::SpfParameters::verify_ehlo(ip, helo, "mailauth-probe")
    } else {
        mail_auth::spf::verify::SpfParameters::verify_mail_from(ip, helo, "mailauth-probe", sender)
    };
    let seen = SeenSpf::of(r);
    let params = mail_auth::Parameters::new(params).with_txt_cache(&seen);
    let lenient = super::spf_result_name(auth.verify_spf(params).await.result());
    if lenient == "none" {
        return lenient;
    }
    // Strict reading of the records mail-auth read leniently.
    let Ok(all) = r.txt_strings(&domain).await else {
        return lenient;
    };
    let records: Vec<String> = all
        .into_iter()
        .map(|p| p.concat())
        .filter(|t| is_spf(t))
        .collect();
    if let Some(result) = records_verdict(lenient, &records) {
        return result;
    }
    let w = walk(&domain, &SpfRecord::parse(&records[0]), r).await;
    walk_verdict(lenient, &w)
}

/// The client address and the domain `check_host()` evaluates, or its result when there is
/// nothing to evaluate. RFC 7208 5: an IPv4-mapped IPv6 client is an IPv4 client (mail-auth
/// would look up AAAA records for `a` and `mx`). RFC 7208 4.3: a malformed domain gives
/// `none` without any lookup; mail-auth checks only label lengths and that there is a dot.
fn identity(ip: IpAddr, helo: &str, sender: &str) -> Result<(IpAddr, String), &'static str> {
    let domain = sender
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(helo)
        .to_ascii_lowercase();
    if !valid_domain(&domain) {
        return Err("none");
    }
    Ok((ip.to_canonical(), domain.trim_end_matches('.').to_string()))
}

/// A domain `check_host()` can evaluate (RFC 7208 4.3): at least two labels, none empty or
/// longer than 63 bytes (a final dot aside), and not an address literal (`[192.0.2.1]`).
fn valid_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.starts_with('[')
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// The result decided by the domain's own SPF `records` and mail-auth's `lenient` result,
/// or `None` when the includes and redirects must be walked. A syntax error anywhere in the
/// record is `permerror` before any evaluation (RFC 7208 4.6), so it wins over a temperror
/// met while evaluating; `+all` is no syntax error.
fn records_verdict(lenient: &'static str, records: &[String]) -> Option<&'static str> {
    match records {
        [] => Some(lenient),
        [one] if SpfRecord::parse(one).is_permerror() => Some("permerror"),
        [_] if lenient == "temperror" => Some(lenient),
        [_] => None,
        _ => Some("permerror"),
    }
}

/// The result once the includes and redirects are walked. The 10-lookup limit is left to
/// mail-auth, which counts as it evaluates (a term after the match costs nothing, RFC 7208
/// 4.6.4); mail-auth has no void-lookup limit, so the walk's count decides.
fn walk_verdict(lenient: &'static str, w: &Walk) -> &'static str {
    if w.voids > 2 || w.permerror {
        "permerror"
    } else {
        lenient
    }
}

/// The SPF records this run has already read, as mail-auth's TXT cache: its `check_host()`
/// then evaluates the answers our lint read instead of asking for each again (three queries
/// a domain with two includes). Names it has not seen, and names without an SPF record, it
/// asks itself, so its own error handling is unchanged.
pub(super) struct SeenSpf(HashMap<Box<str>, mail_auth::Txt>);

impl SeenSpf {
    pub(super) fn of(r: &Resolver) -> Self {
        use mail_auth::common::parse::TxtRecordParser;
        let mut seen = HashMap::new();
        for (name, records) in r.remembered_txt() {
            // As mail-auth reads an answer: the first record that parses as SPF.
            if let Some(spf) = records
                .iter()
                .find_map(|t| mail_auth::spf::Spf::parse(t).ok())
            {
                seen.insert(name.into_boxed_str(), mail_auth::Txt::from(spf));
            }
        }
        SeenSpf(seen)
    }
}

impl mail_auth::ResolverCache<Box<str>, mail_auth::Txt> for SeenSpf {
    fn get<Q>(&self, name: &Q) -> Option<mail_auth::Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.get(name).cloned()
    }

    fn remove<Q>(&self, _: &Q) -> Option<mail_auth::Txt>
    where
        Box<str>: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: Box<str>, _: mail_auth::Txt, _: std::time::Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_treats_ipv4_mapped_clients_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let (ip, domain) = identity(mapped, "mail.example.org", "a@Example.ORG.").unwrap();
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(domain, "example.org");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            identity(v6, "h.example", "").unwrap(),
            (v6, "h.example".into())
        );
    }

    #[test]
    fn identity_gives_none_for_a_malformed_domain() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for (helo, sender) in [
            ("mail.example.net", "a@A...example.com"),
            ("[192.0.2.1]", ""),
            ("OEMCOMPUTER", "foo@[192.0.2.1]"),
            ("A2345678", ""),
            ("h.example", &format!("a@{}.example.com", "x".repeat(64))),
        ] {
            assert_eq!(identity(ip, helo, sender), Err("none"), "{helo} {sender}");
        }
    }

    #[test]
    fn a_syntax_error_wins_over_temperror_but_plus_all_is_no_error() {
        let one = |t: &str| vec![t.to_string()];
        let bad = one("v=spf1 a:example.com:8080 -all");
        assert_eq!(records_verdict("temperror", &bad), Some("permerror"));
        assert_eq!(records_verdict("pass", &bad), Some("permerror"));
        let good = one("v=spf1 a -all");
        assert_eq!(records_verdict("temperror", &good), Some("temperror"));
        assert_eq!(records_verdict("fail", &good), None);
        assert_eq!(records_verdict("pass", &one("v=spf1 +all")), None);
        let two = vec!["v=spf1 -all".to_string(), "v=spf1 +all".to_string()];
        assert_eq!(records_verdict("fail", &two), Some("permerror"));
        assert_eq!(records_verdict("neutral", &[]), Some("neutral"));
    }

    #[test]
    fn the_lookup_limit_is_left_to_evaluation() {
        let w = |lookups, voids, permerror| Walk {
            lookups,
            voids,
            findings: vec![],
            permerror,
        };
        // include-at-limit: 11 terms in all, but the match comes after the 10th.
        assert_eq!(walk_verdict("pass", &w(11, 0, false)), "pass");
        assert_eq!(walk_verdict("pass", &w(3, 3, false)), "permerror");
        assert_eq!(walk_verdict("fail", &w(1, 0, true)), "permerror");
    }
}
