//! `check_host()` as this project answers it (RFC 7208): mail-auth evaluates the records,
//! read first by our strict parser and walk (`spf_walk.rs`) and handed to mail-auth as
//! receivers read them; a record a strict receiver rejects is `permerror` whatever mail-auth's
//! lenient parser made of it. docs/spf-rfc7208.md says where the result still differs from
//! the RFC 7208 test suite, and why.

use std::collections::HashMap;
use std::net::IpAddr;

use super::spf::{Mechanism, SpfRecord, is_spf};
use super::spf_walk::{Walk, walk_for};
use crate::resolver::Resolver;

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
pub(crate) fn walk_verdict(lenient: &'static str, w: &Walk) -> &'static str {
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
