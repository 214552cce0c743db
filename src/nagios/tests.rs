use std::time::Duration;

use mailauth_probes::dnsbl::{DnsblReport, ZoneResult};
use mailauth_probes::{Finding, Outcome, Report, State};

use super::*;

fn dnsbl(listed: &[Option<bool>]) -> Outcome {
    let zones: Vec<ZoneResult> = listed
        .iter()
        .enumerate()
        .map(|(i, l)| ZoneResult {
            zone: format!("z{i}.test"),
            listed: *l,
            codes: vec![],
            meanings: vec![],
            reason: None,
        })
        .collect();
    let findings = zones
        .iter()
        .map(|z| match z.listed {
            Some(true) => Finding::new("l", State::Critical, format!("listed on {}", z.zone)),
            Some(false) => Finding::new("l", State::Ok, format!("not listed on {}", z.zone)),
            None => Finding::new("l", State::Unknown, format!("undecided on {}", z.zone)),
        })
        .collect();
    let mut o = Outcome::new(
        findings,
        Report::Dnsbl(DnsblReport {
            subject: "192.0.2.1".into(),
            zones,
        }),
    );
    o.duration = Duration::from_millis(12);
    o
}

#[test]
fn clean_is_ok_with_perfdata() {
    let o = dnsbl(&[Some(false), Some(false)]);
    let out = render("own", &[&o], &Thresholds::default(), false);
    assert_eq!(out.state, State::Ok);
    assert_eq!(
        out.text,
        "MAILAUTH OK - own: 2 checks OK | 'listings'=0;;;0 'zones_checked'=2;;;0 'zones_undecided'=0;;;0 'time'=0.012s;;;0"
    );
}

#[test]
fn listed_is_critical_and_named_first() {
    let o = dnsbl(&[Some(false), Some(true), None]);
    let out = render("own", &[&o], &Thresholds::default(), true);
    assert_eq!(out.state, State::Critical);
    let first = out.text.lines().next().unwrap();
    assert!(
        first.starts_with("MAILAUTH CRITICAL - own: listed on z1.test (+1 more problem)"),
        "{first}"
    );
    assert!(first.contains("'listings'=1;;;0"), "{first}");
    // -v: one line per finding, worst first.
    let lines: Vec<&str> = out.text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with("[CRITICAL]"));
    assert!(lines[3].starts_with("[OK]"));
}

#[test]
fn undecided_is_unknown() {
    let o = dnsbl(&[None]);
    assert_eq!(
        render("x", &[&o], &Thresholds::default(), false).state,
        State::Unknown
    );
}

#[test]
fn thresholds_raise_the_state_and_appear_in_perfdata() {
    let o = dnsbl(&[Some(false)]);
    let t = Thresholds {
        warning: Some("~:-1".parse().unwrap()),
        critical: None,
    };
    // 0 listings is outside ~:-1, so WARNING from the threshold alone.
    let out = render("x", &[&o], &t, false);
    assert_eq!(out.state, State::Warning);
    assert!(out.text.contains("'listings'=0;~:-1;;0"), "{}", out.text);
    assert!(
        out.text.contains("listings is 0 (WARNING threshold)"),
        "{}",
        out.text
    );
}

#[test]
fn a_finding_worse_than_the_threshold_wins() {
    let o = dnsbl(&[Some(true)]);
    let t = Thresholds {
        warning: Some("5".parse().unwrap()),
        critical: Some("10".parse().unwrap()),
    };
    assert_eq!(render("x", &[&o], &t, false).state, State::Critical);
}

#[test]
fn no_outcome_is_unknown_and_text_stays_on_one_line() {
    let out = render("x", &[], &Thresholds::default(), false);
    assert_eq!(out.state, State::Unknown);
    let u = unknown("bad | thing\nsecond line");
    assert_eq!(u.text, "MAILAUTH UNKNOWN - bad / thing second line");
    assert_eq!(u.state, State::Unknown);
}
