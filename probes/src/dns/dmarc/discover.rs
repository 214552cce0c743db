//! Which DMARC record applies to a domain, found as receivers find it.
//!
//! RFC 9989 (DMARC, obsoleting RFC 7489 and RFC 9091) replaces the public suffix list with the
//! DNS Tree Walk (its section 4.10): ask `_dmarc.<domain>`, then drop labels one at a time
//! towards the top-level domain (a name of 8 labels or more jumps straight to its last 7),
//! stopping at a record that says `psd=y` (a public suffix's) or `psd=n` (an organization's;
//! at the first name only `psd=n` stops). From the records met:
//!
//! - **Organizational Domain**: the name of a `psd=n` record; else the name one label below a
//!   `psd=y` record; else the name of the record with the fewest labels; else the domain itself.
//! - **Policy record**: the domain's own record; else its Organizational Domain's; else the
//!   public suffix's (`psd=y`) record met on the way. (A record between the domain and its
//!   Organizational Domain is not the policy: the WG's reading, which RFC 7489 also gave.)
//! - **Policy tag**: `p` for the domain's own record; for a subdomain of the record's name,
//!   `np` when the domain does not exist (A, AAAA and MX all NXDOMAIN or NODATA) and `np` is
//!   given, else `sp`, else `p`.
//!
//! Several DMARC records at one name are discarded, as if there were none, and the walk goes
//! on. A lookup that fails (SERVFAIL, timeout) ends the walk with that failure: a receiver
//! meets a temporary error there, never "no record".
//!
//! The walk asks DNS through [`Dns`], so the vector tests below inject answers. The
//! organizational domain by the public suffix list ([`org_domain_by_psl`], the `psl` crate's
//! compiled-in list) is what RFC 7489 receivers use; [`Discovery::rfc7489`] says what they find.

use super::parse::{DmarcRecord, is_dmarc};
use crate::resolver::Dns;
use crate::resolver::DnsFailure;

/// Whether `name` exists in RFC 9989's sense: some MX, A or AAAA record; NXDOMAIN or NODATA
/// for all three means it does not (the `np=` policy then applies).
async fn domain_exists<D: Dns>(dns: &D, name: &str) -> Result<bool, DnsFailure> {
    match dns.mx_count(name).await {
        Ok(n) if n > 0 => Ok(true),
        Err(DnsFailure::NxDomain) => Ok(false),
        Ok(_) | Err(DnsFailure::NoData) => dns.has_address(name).await,
        Err(f) => Err(f),
    }
}

/// The organizational domain of `name` by the public suffix list (RFC 7489 3.2): the public
/// suffix plus one label. A name that is itself a public suffix, or that the list cannot
/// read, is its own. Pure: the list is compiled into the `psl` crate.
pub fn org_domain_by_psl(name: &str) -> String {
    use psl::Psl;
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    psl::List
        .domain(name.as_bytes())
        .and_then(|d| std::str::from_utf8(d.as_bytes()).ok().map(str::to_string))
        .unwrap_or(name)
}

/// The names the walk asks for `domain`, in order (RFC 9989 4.10: at most 8 labels, then one
/// label less each step, down to the top-level domain).
pub fn walk_names(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    let n = labels.len();
    let mut counts = vec![n];
    let mut k = if n >= 8 { 7 } else { n.saturating_sub(1) };
    while k >= 1 {
        counts.push(k);
        k -= 1;
    }
    counts
        .into_iter()
        .filter(|k| *k >= 1)
        .map(|k| labels[n - k..].join("."))
        .collect()
}

/// One name the walk asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The domain (the question was `_dmarc.<domain>`).
    pub domain: String,
    /// Every DMARC record there (more than one: all are discarded).
    pub records: Vec<String>,
}

impl Level {
    /// The one DMARC record at this name, if there is exactly one.
    pub fn record(&self) -> Option<&str> {
        match self.records.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    fn psd(&self) -> Option<char> {
        self.record().and_then(|t| DmarcRecord::parse(t).psd)
    }
}

/// Where the applied record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The domain's own record.
    Own,
    /// Inherited from the Organizational Domain named.
    Organizational(String),
    /// The public suffix domain's record (`psd=y`) named; the Organizational Domain has none.
    PublicSuffix(String),
}

impl Source {
    /// The finding's wording: "", "inherited from example.co.uk", "from the public suffix
    /// domain co.uk (psd=y)".
    pub fn describe(&self) -> String {
        match self {
            Source::Own => String::new(),
            Source::Organizational(d) => format!("inherited from {d}"),
            Source::PublicSuffix(d) => format!("from the public suffix domain {d} (psd=y)"),
        }
    }
}

/// The record that applies, and the policy it gives the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The name holding the record (the question was `_dmarc.<at>`).
    pub at: String,
    pub text: String,
    pub source: Source,
    /// The tag that gives the policy (`p`, `sp`, `np`) and its value; `None` when the record
    /// has no valid one (receivers then act as `p=none` if `rua` is valid, else ignore it).
    pub policy: Option<(&'static str, String)>,
    /// Whether the domain exists (asked only when `np=` could apply).
    pub exists: Option<bool>,
}

/// What RFC 7489 receivers (public suffix list) find for the same domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rfc7489 {
    pub org_domain: String,
    /// The name whose record they apply, or `None`.
    pub record_at: Option<String>,
}

/// The outcome of discovery for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub domain: String,
    /// The names asked, in order, with what each held.
    pub levels: Vec<Level>,
    /// The Organizational Domain by the tree walk; `None` when the domain's own record made
    /// the walk unnecessary.
    pub org_domain: Option<String>,
    pub applied: Option<Applied>,
    /// A lookup that failed (the name asked, and how): receivers meet a temporary error.
    pub failure: Option<(String, DnsFailure)>,
    /// RFC 7489's answer, when the domain has no record of its own (it is the same otherwise).
    pub rfc7489: Option<Rfc7489>,
}

/// The DMARC records among the TXT records at `_dmarc.<domain>`: Ok(empty) for NXDOMAIN or
/// NODATA, Err for a lookup that failed.
async fn dmarc_at<D: Dns>(dns: &D, domain: &str) -> Result<Vec<String>, DnsFailure> {
    match dns.txt(&format!("_dmarc.{domain}")).await {
        Ok(all) => Ok(all.into_iter().filter(|t| is_dmarc(t)).collect()),
        Err(f) if f.is_negative_answer() => Ok(vec![]),
        Err(f) => Err(f),
    }
}

/// Finds the DMARC record that applies to `domain` (lowercase, no trailing dot) by the RFC 9989
/// tree walk, and what RFC 7489 receivers find instead.
pub async fn discover<D: Dns>(dns: &D, domain: &str) -> Discovery {
    let mut d = Discovery {
        domain: domain.to_string(),
        levels: vec![],
        org_domain: None,
        applied: None,
        failure: None,
        rfc7489: None,
    };
    for (i, name) in walk_names(domain).into_iter().enumerate() {
        let records = match dmarc_at(dns, &name).await {
            Ok(r) => r,
            Err(f) => {
                d.failure = Some((format!("_dmarc.{name}"), f));
                return d;
            }
        };
        d.levels.push(Level {
            domain: name,
            records,
        });
        let level = &d.levels[i];
        if i == 0 && level.record().is_some() {
            // The domain's own record is the policy; the walk is not needed for it.
            let text = level.record().unwrap_or_default().to_string();
            let policy = DmarcRecord::parse(&text).policy.map(|p| ("p", p));
            d.applied = Some(Applied {
                at: domain.to_string(),
                text,
                source: Source::Own,
                policy,
                exists: None,
            });
            return d;
        }
        match level.psd() {
            Some('n') => break,
            Some('y') if i > 0 => break,
            _ => {}
        }
    }
    let org = organizational_domain(domain, &d.levels);
    let psd_level = d.levels.iter().skip(1).find(|l| l.psd() == Some('y'));
    let chosen = match d
        .levels
        .iter()
        .find(|l| l.domain == org && l.record().is_some())
    {
        Some(l) => Some((l, Source::Organizational(org.clone()))),
        None => psd_level.map(|l| (l, Source::PublicSuffix(l.domain.clone()))),
    };
    if let Some((level, source)) = chosen {
        let text = level.record().unwrap_or_default().to_string();
        let at = level.domain.clone();
        let rec = DmarcRecord::parse(&text);
        let mut exists = None;
        // Existence is asked whenever `np=` is published, even where it gives the same as
        // `sp=`/`p=`: the finding then names the tag a receiver applies to this name.
        if rec.nonexistent_policy.is_some() {
            match domain_exists(dns, domain).await {
                Ok(e) => exists = Some(e),
                Err(f) => {
                    d.failure = Some((domain.to_string(), f));
                    return d;
                }
            }
        }
        let policy = match (exists, rec.nonexistent_policy, rec.subdomain_policy) {
            (Some(false), Some(np), _) => Some(("np", np)),
            (_, _, Some(sp)) => Some(("sp", sp)),
            _ => rec.policy.map(|p| ("p", p)),
        };
        d.applied = Some(Applied {
            at,
            text,
            source,
            policy,
            exists,
        });
    }
    d.org_domain = Some(org);
    d.rfc7489 = Some(rfc7489(dns, domain, &d.levels).await);
    d
}

/// RFC 9989 4.10.2: the name of a `psd=n` record; else one label below a `psd=y` record (not
/// the domain's own); else the record with the fewest labels; else the domain itself.
fn organizational_domain(domain: &str, levels: &[Level]) -> String {
    for (i, l) in levels.iter().enumerate() {
        match l.psd() {
            Some('n') => return l.domain.clone(),
            Some('y') if i > 0 => {
                let labels = l.domain.split('.').count() + 1;
                let all: Vec<&str> = domain.split('.').collect();
                return all[all.len().saturating_sub(labels)..].join(".");
            }
            _ => {}
        }
    }
    levels
        .iter()
        .rev()
        .find(|l| l.record().is_some())
        .map_or_else(|| domain.to_string(), |l| l.domain.clone())
}

/// What an RFC 7489 receiver applies: the domain's own record, else its organizational
/// domain's by the public suffix list. The walk has usually asked that name already; if not,
/// it is asked here, and a failure leaves the comparison undecided (`record_at: None` with
/// the org domain named is then not claimed: the caller sees the failure in `levels`).
async fn rfc7489<D: Dns>(dns: &D, domain: &str, levels: &[Level]) -> Rfc7489 {
    let org = org_domain_by_psl(domain);
    let record_at = if org == domain {
        None
    } else {
        let has = match levels.iter().find(|l| l.domain == org) {
            Some(l) => l.record().is_some(),
            None => dmarc_at(dns, &org).await.is_ok_and(|r| r.len() == 1),
        };
        has.then(|| org.clone())
    };
    Rfc7489 {
        org_domain: org,
        record_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::resolver::FakeDns as Fake;

    trait Dmarc {
        fn with(self, name: &str, records: &[&str]) -> Self;
    }

    /// DMARC records of a domain in the injected table (every other name is NXDOMAIN).
    impl Dmarc for Fake {
        fn with(self, name: &str, records: &[&str]) -> Self {
            self.txt_at(&format!("_dmarc.{name}"), records)
        }
    }

    fn run(fake: &Fake, domain: &str) -> Discovery {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(discover(fake, domain))
    }

    fn applied(d: &Discovery) -> (&str, Source, Option<(&'static str, String)>) {
        let a = d.applied.as_ref().expect("a record applies");
        (a.at.as_str(), a.source.clone(), a.policy.clone())
    }

    #[test]
    fn walk_names_stop_at_eight_labels_then_drop_one_at_a_time() {
        assert_eq!(
            walk_names("a.b.c.d.e.f.g.h.i.j"),
            vec![
                "a.b.c.d.e.f.g.h.i.j",
                "d.e.f.g.h.i.j",
                "e.f.g.h.i.j",
                "f.g.h.i.j",
                "g.h.i.j",
                "h.i.j",
                "i.j",
                "j"
            ]
        );
        assert_eq!(walk_names("a.b.c.d.e.f.g.h")[1], "b.c.d.e.f.g.h");
        assert_eq!(walk_names("example.org"), vec!["example.org", "org"]);
    }

    #[test]
    fn a_subdomain_under_a_two_label_suffix_inherits_its_organizational_domain() {
        let fake = Fake::default().with("example.co.uk", &["v=DMARC1; p=reject"]);
        let d = run(&fake, "mail.example.co.uk");
        assert_eq!(
            applied(&d),
            (
                "example.co.uk",
                Source::Organizational("example.co.uk".into()),
                Some(("p", "reject".into()))
            )
        );
        assert_eq!(d.org_domain.as_deref(), Some("example.co.uk"));
        assert_eq!(
            Source::Organizational("example.co.uk".into()).describe(),
            "inherited from example.co.uk"
        );
        // RFC 7489 with the public suffix list finds the same record.
        assert_eq!(
            d.rfc7489.as_ref().unwrap().record_at.as_deref(),
            Some("example.co.uk")
        );
        assert_eq!(
            fake.asked(),
            vec![
                "_dmarc.mail.example.co.uk",
                "_dmarc.example.co.uk",
                "_dmarc.co.uk",
                "_dmarc.uk"
            ]
        );
    }

    #[test]
    fn the_domains_own_record_needs_no_walk() {
        let fake = Fake::default()
            .with("mail.example.co.uk", &["v=DMARC1; p=quarantine"])
            .with("example.co.uk", &["v=DMARC1; p=reject"]);
        let d = run(&fake, "mail.example.co.uk");
        assert_eq!(
            applied(&d),
            (
                "mail.example.co.uk",
                Source::Own,
                Some(("p", "quarantine".into()))
            )
        );
        assert_eq!(fake.asked(), vec!["_dmarc.mail.example.co.uk"]);
    }

    #[test]
    fn a_public_suffix_record_applies_when_the_organization_publishes_none() {
        let fake = Fake::default()
            .with("co.uk", &["v=DMARC1; p=quarantine; sp=reject; psd=y"])
            .with("uk", &["v=DMARC1; p=none"]);
        let d = run(&fake, "mail.example.co.uk");
        assert_eq!(
            applied(&d),
            (
                "co.uk",
                Source::PublicSuffix("co.uk".into()),
                Some(("sp", "reject".into()))
            )
        );
        assert_eq!(d.org_domain.as_deref(), Some("example.co.uk"));
        assert_eq!(
            Source::PublicSuffix("co.uk".into()).describe(),
            "from the public suffix domain co.uk (psd=y)"
        );
        // psd=y stops the walk: uk is never asked.
        assert!(!fake.asked().contains(&"_dmarc.uk".to_string()));
        // RFC 7489 receivers take example.co.uk as the organizational domain: no record.
        let old = d.rfc7489.unwrap();
        assert_eq!(
            (old.org_domain.as_str(), old.record_at),
            ("example.co.uk", None)
        );
    }

    #[test]
    fn psd_n_makes_its_domain_the_organizational_domain_and_stops_the_walk() {
        let fake = Fake::default()
            .with("dept.example.com", &["v=DMARC1; p=reject; psd=n"])
            .with("example.com", &["v=DMARC1; p=none"]);
        let d = run(&fake, "host.dept.example.com");
        assert_eq!(
            applied(&d),
            (
                "dept.example.com",
                Source::Organizational("dept.example.com".into()),
                Some(("p", "reject".into()))
            )
        );
        // The walk stops at psd=n; example.com is asked only for the RFC 7489 comparison:
        // those receivers apply example.com's p=none instead, and the finding says so.
        assert_eq!(
            fake.asked(),
            vec![
                "_dmarc.host.dept.example.com",
                "_dmarc.dept.example.com",
                "_dmarc.example.com"
            ]
        );
        assert_eq!(d.rfc7489.unwrap().record_at.as_deref(), Some("example.com"));
    }

    #[test]
    fn the_organizational_domain_is_the_record_with_fewest_labels() {
        let fake = Fake::default()
            .with("b.example.com", &["v=DMARC1; p=none"])
            .with("example.com", &["v=DMARC1; p=reject; sp=quarantine"]);
        let d = run(&fake, "a.b.example.com");
        assert_eq!(
            applied(&d),
            (
                "example.com",
                Source::Organizational("example.com".into()),
                Some(("sp", "quarantine".into()))
            )
        );
    }

    #[test]
    fn np_applies_to_a_subdomain_that_does_not_exist() {
        let rec = "v=DMARC1; p=none; sp=quarantine; np=reject";
        let fake = Fake::default().with("example.co.uk", &[rec]);
        let d = run(&fake, "nosuch.example.co.uk");
        let a = d.applied.as_ref().unwrap();
        assert_eq!(
            (a.policy.clone(), a.exists),
            (Some(("np", "reject".into())), Some(false))
        );
        // An existing subdomain gets sp=.
        let fake = Fake::default().with("example.co.uk", &[rec]).records(
            "www.example.co.uk",
            hickory_resolver::proto::rr::RecordType::MX,
            &["10 mx.example.co.uk"],
        );
        let d = run(&fake, "www.example.co.uk");
        assert_eq!(d.applied.unwrap().policy, Some(("sp", "quarantine".into())));
    }

    #[test]
    fn np_is_named_for_a_subdomain_that_does_not_exist_even_when_it_equals_p() {
        let fake = Fake::default().with("example.co.uk", &["v=DMARC1; p=reject; np=reject"]);
        let d = run(&fake, "nosuch.example.co.uk");
        let a = d.applied.as_ref().unwrap();
        assert_eq!(
            (a.policy.clone(), a.exists),
            (Some(("np", "reject".into())), Some(false))
        );
    }

    #[test]
    fn sp_or_p_applies_to_an_existing_subdomain_and_np_falls_back_to_them() {
        let fake = Fake::default().with("example.com", &["v=DMARC1; p=reject; sp=none"]);
        let d = run(&fake, "shop.example.com");
        assert_eq!(d.applied.unwrap().policy, Some(("sp", "none".into())));
        // No np: a non-existent subdomain gets p (no sp either), and existence is not asked.
        let fake = Fake::default().with("example.com", &["v=DMARC1; p=quarantine"]);
        let d = run(&fake, "nosuch.example.com");
        let a = d.applied.unwrap();
        assert_eq!(
            (a.policy, a.exists),
            (Some(("p", "quarantine".into())), None)
        );
    }

    #[test]
    fn a_long_name_jumps_to_seven_labels() {
        let fake = Fake::default().with("example.com", &["v=DMARC1; p=reject"]);
        let d = run(&fake, "a.b.c.d.e.f.g.h.example.com");
        assert_eq!(applied(&d).0, "example.com");
        let asked = fake.asked();
        assert_eq!(asked[1], "_dmarc.d.e.f.g.h.example.com");
        assert!(
            !asked
                .iter()
                .any(|n| n.starts_with("_dmarc.b.") || n.starts_with("_dmarc.c."))
        );
    }

    #[test]
    fn two_records_at_one_name_are_discarded_and_the_walk_goes_on() {
        let fake = Fake::default()
            .with("example.com", &["v=DMARC1; p=reject", "v=DMARC1; p=none"])
            .with("com", &["v=DMARC1; p=quarantine; psd=y"]);
        let d = run(&fake, "mail.example.com");
        assert_eq!(d.levels[1].records.len(), 2);
        assert_eq!(
            applied(&d),
            (
                "com",
                Source::PublicSuffix("com".into()),
                Some(("p", "quarantine".into()))
            )
        );
        // Two records at the domain itself: discarded too, the walk goes up.
        let fake = Fake::default().with("example.com", &["v=DMARC1; p=reject", "v=DMARC1; p=none"]);
        let d = run(&fake, "example.com");
        assert!(d.applied.is_none());
        assert_eq!(fake.asked(), vec!["_dmarc.example.com", "_dmarc.com"]);
    }

    #[test]
    fn a_failed_lookup_during_the_walk_is_a_failure_not_no_record() {
        let fake = Fake::default()
            .with("example.co.uk", &["v=DMARC1; p=reject"])
            .fail_all("_dmarc.example.co.uk", DnsFailure::ServFail);
        let d = run(&fake, "mail.example.co.uk");
        assert_eq!(
            d.failure,
            Some(("_dmarc.example.co.uk".into(), DnsFailure::ServFail))
        );
        assert!(d.applied.is_none());
        // The existence question for np= failing is a failure too.
        let fake = Fake::default()
            .with("example.com", &["v=DMARC1; p=none; np=reject"])
            .fail_all("x.example.com", DnsFailure::Timeout);
        let d = run(&fake, "x.example.com");
        assert_eq!(
            d.failure,
            Some(("x.example.com".into(), DnsFailure::Timeout))
        );
    }

    #[test]
    fn no_record_anywhere_leaves_the_domain_its_own_organizational_domain() {
        let fake = Fake::default();
        let d = run(&fake, "mail.example.com");
        assert!(d.applied.is_none() && d.failure.is_none());
        assert_eq!(d.org_domain.as_deref(), Some("mail.example.com"));
    }

    #[test]
    fn org_domain_by_psl_knows_two_label_suffixes() {
        assert_eq!(org_domain_by_psl("mail.example.co.uk"), "example.co.uk");
        assert_eq!(org_domain_by_psl("a.b.example.com.au."), "example.com.au");
        assert_eq!(org_domain_by_psl("Mail.Example.COM"), "example.com");
        assert_eq!(org_domain_by_psl("mail.lab.test"), "lab.test");
        assert_eq!(org_domain_by_psl("co.uk"), "co.uk");
    }
}
