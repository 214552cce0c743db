//! The DMARC findings of a discovery: what the user reads for each way a policy is found.

use super::discover::{Applied, Discovery, Level, Rfc7489, Source};
use super::*;

fn level(domain: &str, records: &[&str]) -> Level {
    Level {
        domain: domain.into(),
        records: records.iter().map(|s| s.to_string()).collect(),
    }
}

fn found(domain: &str) -> Discovery {
    Discovery {
        domain: domain.into(),
        levels: vec![],
        org_domain: None,
        applied: None,
        failure: None,
        rfc7489: None,
    }
}

fn run(d: &Discovery) -> (Vec<(String, State, String)>, Option<String>) {
    let mut policy = None;
    let (f, _) = policy_findings(d, &DnsSettings::default(), &mut policy);
    (
        f.into_iter()
            .map(|f| (f.check, f.state, f.summary))
            .collect(),
        policy,
    )
}

fn one<'a>(f: &'a [(String, State, String)], check: &str) -> (&'a State, &'a str) {
    let v: Vec<_> = f.iter().filter(|x| x.0 == check).collect();
    assert_eq!(v.len(), 1, "{check}: {f:?}");
    (&v[0].1, &v[0].2)
}

#[test]
fn an_inherited_policy_names_its_organizational_domain() {
    let mut d = found("mail.example.co.uk");
    d.levels = vec![
        level("mail.example.co.uk", &[]),
        level("example.co.uk", &["v=DMARC1; p=reject"]),
    ];
    d.applied = Some(Applied {
        at: "example.co.uk".into(),
        text: "v=DMARC1; p=reject".into(),
        source: Source::Organizational("example.co.uk".into()),
        policy: Some(("p", "reject".into())),
        exists: None,
    });
    d.rfc7489 = Some(Rfc7489 {
        org_domain: "example.co.uk".into(),
        record_at: Some("example.co.uk".into()),
    });
    let (f, policy) = run(&d);
    assert_eq!(policy.as_deref(), Some("reject"));
    let (s, text) = one(&f, "dmarc:record");
    assert_eq!(*s, State::Ok);
    assert!(
        text.contains("_dmarc.example.co.uk (inherited from example.co.uk)"),
        "{text}"
    );
    let (s, text) = one(&f, "dmarc:policy");
    assert_eq!(*s, State::Ok);
    assert!(
        text.contains("p=reject") && text.contains("inherited from example.co.uk"),
        "{text}"
    );
    assert!(
        f.iter().all(|x| x.0 != "dmarc:discovery"),
        "RFC 7489 agrees: {f:?}"
    );
}

#[test]
fn a_public_suffix_policy_is_named_and_the_rfc7489_difference_warned() {
    let mut d = found("mail.example.co.uk");
    d.applied = Some(Applied {
        at: "co.uk".into(),
        text: "v=DMARC1; p=none; sp=reject; psd=y".into(),
        source: Source::PublicSuffix("co.uk".into()),
        policy: Some(("sp", "reject".into())),
        exists: None,
    });
    d.rfc7489 = Some(Rfc7489 {
        org_domain: "example.co.uk".into(),
        record_at: None,
    });
    let (f, policy) = run(&d);
    assert_eq!(policy.as_deref(), Some("reject"));
    let (_, text) = one(&f, "dmarc:policy");
    assert!(
        text.contains("sp=reject") && text.contains("from the public suffix domain co.uk (psd=y)"),
        "{text}"
    );
    let (s, text) = one(&f, "dmarc:discovery");
    assert_eq!(*s, State::Warning);
    assert!(
        text.contains("_dmarc.co.uk") && text.contains("RFC 7489") && text.contains("no record"),
        "{text}"
    );
}

#[test]
fn np_is_named_for_a_domain_that_does_not_exist() {
    let mut d = found("nosuch.example.com");
    d.applied = Some(Applied {
        at: "example.com".into(),
        text: "v=DMARC1; p=none; np=reject".into(),
        source: Source::Organizational("example.com".into()),
        policy: Some(("np", "reject".into())),
        exists: Some(false),
    });
    let (f, policy) = run(&d);
    assert_eq!(policy.as_deref(), Some("reject"));
    let (_, text) = one(&f, "dmarc:policy");
    assert!(
        text.contains("np=reject") && text.contains("does not exist"),
        "{text}"
    );
}

#[test]
fn a_failed_lookup_is_reported_never_no_record() {
    let mut d = found("mail.example.co.uk");
    d.failure = Some(("_dmarc.example.co.uk".into(), DnsFailure::ServFail));
    let (f, policy) = run(&d);
    assert_eq!(policy, None);
    let (s, text) = one(&f, "dmarc:record");
    assert_eq!(*s, State::Critical);
    assert!(
        text.contains("_dmarc.example.co.uk") && text.contains("SERVFAIL"),
        "{text}"
    );
    assert!(!text.contains("no DMARC record"), "{text}");
    d.failure = Some(("_dmarc.co.uk".into(), DnsFailure::Timeout));
    assert_eq!(*one(&run(&d).0, "dmarc:record").0, State::Unknown);
}

#[test]
fn no_record_anywhere_is_critical_and_says_the_walk_looked_above() {
    let mut d = found("mail.example.com");
    d.levels = vec![
        level("mail.example.com", &[]),
        level("example.com", &[]),
        level("com", &[]),
    ];
    let f = run(&d).0;
    let (s, text) = one(&f, "dmarc:record");
    assert_eq!(*s, State::Critical);
    assert!(
        text.contains("no DMARC record at _dmarc.mail.example.com nor above it"),
        "{text}"
    );
}

#[test]
fn several_records_at_the_domain_are_critical() {
    let mut d = found("example.com");
    d.levels = vec![
        level("example.com", &["v=DMARC1; p=reject", "v=DMARC1; p=none"]),
        level("com", &[]),
    ];
    let (f, _) = run(&d);
    assert!(
        f.iter().any(|x| x.0 == "dmarc:record"
            && x.1 == State::Critical
            && x.2.contains("2 DMARC records")),
        "{f:?}"
    );
}
