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

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use super::lookup::Lookups;
use super::spf::{Mechanism, SpfRecord, is_spf};
use super::{failure_state, failure_text, location};
use crate::resolver::DnsFailure;
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
        format!(
            "SPF needs {} DNS lookups{note} (counted up to `all`, for a sender that matches nothing before it)",
            w.lookups
        ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
        assert_eq!(crate::dns::spf_check::walk_verdict("pass", &w), "pass");
        // Another sender goes on and meets them: 3 voids and an include with no record.
        let w = run(&fake, text, Some("198.51.100.1"));
        assert_eq!((w.voids, w.permerror), (4, true));
        assert_eq!(crate::dns::spf_check::walk_verdict("fail", &w), "permerror");
        // The lint without a sender takes that worst case too.
        assert!(run(&fake, text, None).permerror);
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
}
