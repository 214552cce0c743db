//! Follows an SPF record the way `check_host()` evaluates it (RFC 7208 4.6, 5.2, 6.1), without
//! a sender or, for `check_host()`'s strictness, with one: counts the DNS-querying terms (the
//! limit is 10, RFC 7208 4.6.4) and the void lookups (the limit is 2), finds include loops,
//! includes without an SPF record, and faults inside included records.
//!
//! **The path.** A receiver evaluates terms left to right and stops at the first that
//! matches; the counts and the permerror findings are of the terms it evaluates, not of every
//! term in the tree. Without a sender address the walk takes the **worst case**: a sender
//! that matches no `ip4`/`ip6`/`a`/`mx`/`ptr`/`exists` term, so evaluation runs through each
//! record up to its first `all` (which always matches and ends it). An `include:` is
//! evaluated where it stands; the included record's `all` ends only the included record, and
//! the include matches (ending the parent) only when the included record passes (`+all`).
//! `redirect=` is followed only when the record has no `all` (RFC 7208 6.1) and nothing before
//! matched; it is counted only then. Terms after an `all` are never evaluated: they cost no
//! lookup and their faults give no permerror. With a sender address (`check_host()`), an
//! `ip4`/`ip6` term that contains it matches as well, so the path ends there too; DNS terms
//! are still taken as not matching (their answers depend on the sender only through DNS, and
//! mail-auth decides those). DNS reaches the walk through [`Lookups`], so tests inject answers.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use super::lookup::Lookups;
use super::spf::{Mechanism, SpfRecord, is_spf};
use super::{failure_state, failure_text, location};
use crate::resolver::{DnsFailure, Resolver};
use crate::{Finding, State};

pub struct Walk {
    /// DNS-querying terms on the path (see the module doc).
    pub lookups: u32,
    /// Void lookups (NXDOMAIN or NODATA) on the path.
    pub voids: u32,
    pub findings: Vec<Finding>,
    /// A strict receiver answers `permerror` because of an include or redirect on the path: a
    /// loop, a chain too deep, a target without an SPF record or with several, or a syntax
    /// error in a record included (not `+all` there, which is valid SPF).
    pub permerror: bool,
    /// The include and redirect targets read on the path, with their SPF record.
    pub read: Vec<(String, String)>,
}

/// Records deeper than this are not followed (a loop or an absurd chain).
const MAX_DEPTH: usize = 10;

/// How evaluating one record ended.
enum Eval {
    /// A term matched with this qualifier (`+`, `-`, `~`, `?`).
    Match(char),
    /// Nothing matched (the record's result is `neutral`), or the walk cannot tell (a macro).
    NoMatch,
    /// Evaluation ends with an error (permerror or temperror).
    Error,
}

struct Walker<'a, D> {
    dns: &'a D,
    ip: Option<IpAddr>,
    w: Walk,
}

/// Walks `record` (the SPF record of `domain`) in the worst case for a sender that matches
/// nothing before `all`.
pub async fn walk<D: Lookups>(domain: &str, record: &SpfRecord, dns: &D) -> Walk {
    walk_for(domain, record, dns, None).await
}

/// Walks `record` for a sender at `ip` when given (its `ip4`/`ip6` matches end the path).
pub async fn walk_for<D: Lookups>(
    domain: &str,
    record: &SpfRecord,
    dns: &D,
    ip: Option<IpAddr>,
) -> Walk {
    let mut walker = Walker {
        dns,
        ip,
        w: Walk {
            lookups: 0,
            voids: 0,
            findings: vec![],
            permerror: false,
            read: vec![],
        },
    };
    walker
        .eval(domain.to_string(), record.clone(), vec![domain.to_string()])
        .await;
    let mut w = walker.w;
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

/// Whether `ip` lies in `net/len`.
fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

impl<D: Lookups> Walker<'_, D> {
    /// Evaluates `rec` (the record of `dom`, reached through `chain`) in term order.
    fn eval(
        &mut self,
        dom: String,
        rec: SpfRecord,
        chain: Vec<String>,
    ) -> Pin<Box<dyn Future<Output = Eval> + Send + '_>> {
        Box::pin(async move {
            for (q, m) in rec.mechanisms() {
                if m.queries_dns() {
                    self.w.lookups += 1;
                }
                match m {
                    Mechanism::All => return Eval::Match(q),
                    Mechanism::Ip4(net, len)
                        if self
                            .ip
                            .is_some_and(|ip| in_network(ip, IpAddr::V4(*net), *len)) =>
                    {
                        return Eval::Match(q);
                    }
                    Mechanism::Ip6(net, len)
                        if self
                            .ip
                            .is_some_and(|ip| in_network(ip, IpAddr::V6(*net), *len)) =>
                    {
                        return Eval::Match(q);
                    }
                    Mechanism::Include(d) => {
                        match self.follow(d, "include:", &dom, &chain).await {
                            // The include matches only when the included record passes.
                            Eval::Match('+') => return Eval::Match(q),
                            Eval::Match(_) | Eval::NoMatch => {}
                            Eval::Error => return Eval::Error,
                        }
                    }
                    Mechanism::A {
                        domain: Some(d), ..
                    }
                    | Mechanism::Exists(d)
                        if !d.contains('%') =>
                    {
                        if let Ok(false) = self.dns.has_address(d).await {
                            self.w.voids += 1;
                        }
                    }
                    Mechanism::Mx { domain, .. } => {
                        let d = domain.clone().unwrap_or_else(|| dom.clone());
                        if d.contains('%') {
                            continue;
                        }
                        match self.dns.mx_count(&d).await {
                            Ok(n) if n > 10 => self.w.findings.push(Finding::new(
                                "spf:lookups",
                                State::Critical,
                                format!("`mx` of {d} has {n} MX hosts: more than 10 is a permerror (RFC 7208 4.6.4)"),
                            )),
                            Ok(_) => {}
                            Err(f) if f.is_negative_answer() => self.w.voids += 1,
                            Err(_) => {}
                        }
                    }
                    _ => {}
                }
            }
            // Nothing matched and there is no `all` (it would have matched): the redirect
            // applies (RFC 7208 6.1).
            match rec.redirect() {
                Some(d) => {
                    self.w.lookups += 1;
                    let d = d.to_string();
                    self.follow(&d, "redirect=", &dom, &chain).await
                }
                None => Eval::NoMatch,
            }
        })
    }

    /// Fetches and evaluates the record of an `include:` or `redirect=` target.
    async fn follow(&mut self, target: &str, how: &str, dom: &str, chain: &[String]) -> Eval {
        let target = target.trim_end_matches('.').to_ascii_lowercase();
        if target.contains('%') {
            return Eval::NoMatch; // macros depend on the sender; not followed statically
        }
        if chain.contains(&target) {
            self.w.permerror = true;
            self.w.findings.push(Finding::new(
                "spf:include",
                State::Critical,
                format!(
                    "SPF loop: {} → {how}{target}: receivers answer permerror",
                    chain.join(" → ")
                ),
            ));
            return Eval::Error;
        }
        if chain.len() >= MAX_DEPTH {
            self.w.permerror = true;
            self.w.findings.push(Finding::new(
                "spf:include",
                State::Critical,
                format!("SPF chain deeper than {MAX_DEPTH}: {}", chain.join(" → ")),
            ));
            return Eval::Error;
        }
        let records = match self.dns.txt(&target).await {
            Ok(v) => v.into_iter().filter(|t| is_spf(t)).collect::<Vec<_>>(),
            Err(DnsFailure::NxDomain | DnsFailure::NoData) => {
                self.w.voids += 1;
                vec![]
            }
            Err(f) => {
                self.w.findings.push(Finding::new(
                    "spf:include",
                    failure_state(&f),
                    format!("{how}{target} (from {dom}): {}", failure_text(&f)),
                ));
                return Eval::Error;
            }
        };
        if records.len() != 1 {
            self.w.permerror = true;
            let what = match records.len() {
                0 => "no SPF record".to_string(),
                n => format!("{n} SPF records"),
            };
            self.w.findings.push(Finding::new(
                "spf:include",
                State::Critical,
                format!("{how}{target} (from {dom}) has {what}: receivers answer permerror"),
            ));
            return Eval::Error;
        }
        let inc = SpfRecord::parse(&records[0]);
        self.w.read.push((target.clone(), records[0].clone()));
        for i in inc.issues.iter().filter(|i| i.state == State::Critical) {
            self.w.findings.push(
                Finding::new(
                    "spf:include",
                    i.state,
                    format!("SPF of {how}{target}: {}", i.message),
                )
                .at(location(format!("TXT {target}"), &inc.text, i.start, i.end)),
            );
        }
        if inc.is_permerror() {
            // A syntax error: the receiver answers permerror before evaluating it.
            self.w.permerror = true;
            return Eval::Error;
        }
        let mut next = chain.to_vec();
        next.push(target.clone());
        self.eval(target, inc, next).await
    }
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
    // Strict reading first: the domain's records and, when it has one valid record, the
    // records on the sender's path, so mail-auth evaluates them as receivers read them.
    let records: Option<Vec<String>> = r.txt_strings(&domain).await.ok().map(|all| {
        all.into_iter()
            .map(|p| p.concat())
            .filter(|t| is_spf(t))
            .collect()
    });
    let walked = match records.as_deref() {
        Some([one]) if !SpfRecord::parse(one).is_permerror() => {
            Some(walk_for(&domain, &SpfRecord::parse(one), r, Some(ip)).await)
        }
        _ => None,
    };
    let mut read: Vec<(String, String)> = match records.as_deref() {
        Some([one]) => vec![(domain.clone(), one.clone())],
        _ => vec![],
    };
    read.extend(walked.iter().flat_map(|w| w.read.iter().cloned()));
    let auth = mail_auth::MessageAuthenticator(r.hickory().clone());
    let params = if sender.is_empty() {
        mail_auth::spf::verify::SpfParameters::verify_ehlo(ip, helo, "mailauth-probe")
    } else {
        mail_auth::spf::verify::SpfParameters::verify_mail_from(ip, helo, "mailauth-probe", sender)
    };
    let seen = SeenSpf::from_records(
        read.iter()
            .map(|(name, text)| (format!("{name}."), text.as_bytes().to_vec())),
        ip,
    );
    let params = mail_auth::Parameters::new(params).with_txt_cache(&seen);
    let lenient = super::spf_result_name(auth.verify_spf(params).await.result());
    if lenient == "none" {
        return lenient;
    }
    let Some(records) = records else {
        return lenient;
    };
    if let Some(result) = records_verdict(lenient, &records) {
        return result;
    }
    match walked {
        Some(w) => walk_verdict(lenient, &w),
        None => lenient,
    }
}

/// An SPF record as mail-auth should evaluate it for a client at `ip`: without unknown
/// modifiers, which receivers ignore (RFC 7208 6; mail-auth's parser fails on a `/` in their
/// value), and without `ip4`/`ip6` terms of the other address family, which never match
/// (RFC 7208 5.6; mail-auth matches `ip6:` against an IPv4 client's mapped form). A record
/// our strict parser rejects is left as it is: it is permerror whatever mail-auth makes of it.
pub(crate) fn for_evaluation(text: &str, ip: IpAddr) -> String {
    use super::spf::TermKind;
    let rec = SpfRecord::parse(text);
    if rec.is_permerror() {
        return text.to_string();
    }
    let mut out = String::from("v=spf1");
    for t in &rec.terms {
        let drop = match &t.kind {
            TermKind::Modifier(_) => true,
            TermKind::Mechanism {
                mechanism: Mechanism::Ip6(..),
                ..
            } => ip.is_ipv4(),
            TermKind::Mechanism {
                mechanism: Mechanism::Ip4(..),
                ..
            } => ip.is_ipv6(),
            _ => false,
        };
        if !drop {
            out.push(' ');
            out.push_str(&text[t.start..t.end]);
        }
    }
    out
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
    /// What this run's resolver remembers, as mail-auth evaluates it for a client at `ip`.
    pub(super) fn of(r: &Resolver, ip: IpAddr) -> Self {
        Self::from_records(
            r.remembered_txt()
                .into_iter()
                .flat_map(|(name, records)| records.into_iter().map(move |t| (name.clone(), t))),
            ip,
        )
    }

    /// TXT records by name (lower case, trailing dot), each SPF record prepared for a client
    /// at `ip` ([`for_evaluation`]).
    pub(super) fn from_records(
        records: impl IntoIterator<Item = (String, Vec<u8>)>,
        ip: IpAddr,
    ) -> Self {
        use mail_auth::common::parse::TxtRecordParser;
        let mut seen = HashMap::new();
        for (name, record) in records {
            // As mail-auth reads an answer: the first record that parses as SPF.
            if seen.contains_key(name.as_str()) {
                continue;
            }
            let text = match std::str::from_utf8(&record) {
                Ok(t) if is_spf(t) => for_evaluation(t, ip).into_bytes(),
                _ => record,
            };
            if let Ok(spf) = mail_auth::spf::Spf::parse(&text) {
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

    /// Injected answers: SPF TXT records by name, MX counts, names with addresses; every
    /// other name is NXDOMAIN.
    #[derive(Default)]
    struct Fake {
        txt: HashMap<String, Vec<String>>,
        mx: HashMap<String, usize>,
        addresses: Vec<String>,
    }

    impl Fake {
        fn spf(mut self, name: &str, text: &str) -> Self {
            self.txt.insert(name.into(), vec![text.into()]);
            self
        }
    }

    impl Lookups for Fake {
        async fn txt(&self, name: &str) -> Result<Vec<String>, DnsFailure> {
            self.txt.get(name).cloned().ok_or(DnsFailure::NxDomain)
        }
        async fn mx_count(&self, name: &str) -> Result<usize, DnsFailure> {
            self.mx.get(name).copied().ok_or(DnsFailure::NxDomain)
        }
        async fn has_address(&self, name: &str) -> Result<bool, DnsFailure> {
            Ok(self.addresses.iter().any(|a| a == name))
        }
    }

    fn run(fake: &Fake, text: &str, ip: Option<&str>) -> Walk {
        let ip = ip.map(|i| i.parse().unwrap());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(walk_for("example.org", &SpfRecord::parse(text), fake, ip))
    }

    #[test]
    fn a_redirect_beside_all_is_not_counted_nor_followed() {
        let fake = Fake::default().spf(
            "other.example",
            "v=spf1 a:x1.example a:x2.example a:x3.example -all",
        );
        let w = run(&fake, "v=spf1 mx -all redirect=other.example", None);
        // mx only: the redirect is ignored because of `all` (RFC 7208 6.1).
        assert_eq!((w.lookups, w.voids, w.permerror), (1, 1, false));
        let w = run(&fake, "v=spf1 mx redirect=other.example", None);
        assert_eq!(
            (w.lookups, w.voids),
            (5, 4),
            "followed when there is no all"
        );
    }

    #[test]
    fn terms_after_all_cost_no_lookup_and_give_no_permerror() {
        let fake = Fake::default();
        let w = run(
            &fake,
            "v=spf1 -all a:gone1.example a:gone2.example a:gone3.example include:nothing.example",
            None,
        );
        assert_eq!((w.lookups, w.voids, w.permerror), (0, 0, false));
        assert!(
            w.findings.iter().all(|f| f.state == State::Ok),
            "{:?}",
            w.findings.iter().map(|f| &f.summary).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_included_all_ends_only_the_included_record_unless_it_passes() {
        let fake = Fake::default()
            .spf("fails.example", "v=spf1 -all")
            .spf("passes.example", "v=spf1 +all");
        // -all in the include: no match, the parent goes on to its own terms.
        let w = run(
            &fake,
            "v=spf1 include:fails.example a:gone.example -all",
            None,
        );
        assert_eq!((w.lookups, w.voids), (2, 1));
        // +all in the include: the include matches, the parent stops there.
        let w = run(
            &fake,
            "v=spf1 include:passes.example a:gone.example -all",
            None,
        );
        assert_eq!((w.lookups, w.voids), (1, 0));
    }

    #[test]
    fn a_sender_matched_by_ip4_never_reaches_a_broken_include_or_void_names() {
        let fake = Fake::default();
        let text = "v=spf1 ip4:192.0.2.0/24 a:gone1.example a:gone2.example a:gone3.example include:nothing.example -all";
        let w = run(&fake, text, Some("192.0.2.7"));
        assert_eq!((w.lookups, w.voids, w.permerror), (0, 0, false));
        assert_eq!(walk_verdict("pass", &w), "pass");
        // Another sender goes on and meets them: 3 voids and an include with no record.
        let w = run(&fake, text, Some("198.51.100.1"));
        assert_eq!((w.voids, w.permerror), (4, true));
        assert_eq!(walk_verdict("fail", &w), "permerror");
        // The lint without a sender takes that worst case too.
        assert!(run(&fake, text, None).permerror);
    }

    #[test]
    fn mail_auth_gets_the_record_without_what_receivers_ignore() {
        let v4: IpAddr = "1.2.3.4".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        // Suite cases modifier-charset-good and cidr6-0-ip4.
        assert_eq!(
            for_evaluation("v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", v4),
            "v=spf1 ip4:1.2.3.4 -all"
        );
        assert_eq!(for_evaluation("v=spf1 ip6:::1.1.1.1/0", v4), "v=spf1");
        assert_eq!(
            for_evaluation(
                "v=spf1 ip4:1.2.3.4 ip6:2001:db8::/32 redirect=a.example exp=e.example",
                v6
            ),
            "v=spf1 ip6:2001:db8::/32 redirect=a.example exp=e.example"
        );
        // A record a strict receiver rejects is passed as it is.
        assert_eq!(
            for_evaluation("v=spf1 ipv4:1.2.3.4 -all", v4),
            "v=spf1 ipv4:1.2.3.4 -all"
        );
    }

    #[test]
    fn ip_matching_follows_the_prefix_and_the_family() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("192.0.2.200"), ip("192.0.2.0"), 24));
        assert!(!in_network(ip("192.0.3.1"), ip("192.0.2.0"), 24));
        assert!(in_network(ip("203.0.113.9"), ip("0.0.0.0"), 0));
        assert!(in_network(ip("2001:db8::1"), ip("2001:db8::"), 32));
        assert!(
            !in_network(ip("192.0.2.1"), ip("::"), 0),
            "ip6 never matches IPv4"
        );
    }

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
            read: vec![],
        };
        // include-at-limit: 11 terms in all, but the match comes after the 10th.
        assert_eq!(walk_verdict("pass", &w(11, 0, false)), "pass");
        assert_eq!(walk_verdict("pass", &w(3, 3, false)), "permerror");
        assert_eq!(walk_verdict("fail", &w(1, 0, true)), "permerror");
    }
}
