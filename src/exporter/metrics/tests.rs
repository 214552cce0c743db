use std::sync::Arc;
use std::time::Duration;

use mailauth_probes::dnsbl::{DnsblReport, ZoneResult};
use mailauth_probes::{Finding, Outcome, Report, State};

use super::*;

fn zone(zone: &str, listed: Option<bool>) -> ZoneResult {
    ZoneResult {
        zone: zone.into(),
        listed,
        codes: vec![],
        meanings: vec![],
        reason: None,
    }
}

fn record(probe: &str, target: &str, at: f64, zones: Vec<ZoneResult>) -> RunRecord {
    let findings = zones
        .iter()
        .map(|z| {
            let state = match z.listed {
                Some(true) => State::Critical,
                Some(false) => State::Ok,
                None => State::Unknown,
            };
            Finding::new(format!("listed:{}", z.zone), state, "x")
        })
        .collect();
    let mut outcome = Outcome::new(
        findings,
        Report::Dnsbl(DnsblReport {
            subject: target.into(),
            zones,
        }),
    );
    outcome.duration = Duration::from_millis(250);
    RunRecord {
        probe: probe.into(),
        kind: "dnsbl".into(),
        target: target.into(),
        finished_at: at,
        outcome: Arc::new(outcome),
        history: None,
    }
}

#[test]
fn common_and_dnsbl_series() {
    let text = encode(
        vec![record(
            "own",
            "192.0.2.99",
            1000.0,
            vec![zone("a.test", Some(true)), zone("b.test", None)],
        )],
        Some(DaemonFacts {
            reload_successful: false,
            last_reload_success: 900.0,
            reports: vec![],
        }),
    );
    for line in [
        "mailauth_probe_success{probe=\"own\",target=\"192.0.2.99\"} 0",
        "mailauth_probe_duration_seconds{probe=\"own\",target=\"192.0.2.99\"} 0.25",
        "mailauth_probe_last_run_timestamp_seconds{probe=\"own\",target=\"192.0.2.99\"} 1000",
        "mailauth_check_status{probe=\"own\",target=\"192.0.2.99\",check=\"listed:a.test\"} 2",
        "mailauth_check_status{probe=\"own\",target=\"192.0.2.99\",check=\"listed:b.test\"} 3",
        "mailauth_dnsbl_listed{ip_or_domain=\"192.0.2.99\",zone=\"a.test\"} 1",
        "mailauth_config_last_reload_successful 0",
        "# TYPE mailauth_build info",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // An undecided zone is not a listing and not a non-listing: no series.
    assert!(!text.contains("zone=\"b.test\"} "), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[test]
fn probe_answers_carry_no_daemon_series() {
    let text = encode(
        vec![record(
            "own",
            "x.test",
            1.0,
            vec![zone("a.test", Some(false))],
        )],
        None,
    );
    assert!(!text.contains("mailauth_config_last_reload_successful"));
    assert!(!text.contains("mailauth_build"));
    assert!(text.contains("mailauth_dnsbl_listed{ip_or_domain=\"x.test\",zone=\"a.test\"} 0"));
    assert!(text.contains("(this run)"));
}

#[test]
fn same_subject_and_zone_from_two_probes_is_one_series_from_the_latest_run() {
    let text = encode(
        vec![
            record("p1", "192.0.2.1", 10.0, vec![zone("a.test", Some(true))]),
            record("p2", "192.0.2.1", 20.0, vec![zone("a.test", Some(false))]),
        ],
        None,
    );
    let n = text.matches("mailauth_dnsbl_listed{").count();
    assert_eq!(n, 1, "{text}");
    assert!(text.contains("zone=\"a.test\"} 0"), "{text}");
}

fn roundtrip_record(latency: Option<f64>, dkim: &str, ok: bool) -> RunRecord {
    use mailauth_probes::roundtrip::{AuthSeen, MailboxReport, Placement, RoundtripReport};
    let state = if ok { State::Ok } else { State::Critical };
    let outcome = Outcome::new(
        vec![
            Finding::new("send", State::Ok, "accepted"),
            Finding::new("delivery:seed1", State::Ok, "delivered"),
            Finding::new("dkim:seed1", state, "receiver says"),
        ],
        Report::Roundtrip(Box::new(RoundtripReport {
            sent: true,
            mailboxes: vec![MailboxReport {
                name: "seed1".into(),
                placement: latency.map(|_| Placement::Inbox),
                latency_seconds: latency,
                auth: vec![AuthSeen {
                    method: "dkim".into(),
                    result: dkim.into(),
                }],
                own: vec![],
                spam_flag: Some(false),
                spam_scores: vec![("rspamd".into(), 1.5)],
            }],
        })),
    );
    RunRecord {
        probe: "rt".into(),
        kind: "roundtrip".into(),
        target: "lab.test".into(),
        finished_at: 1000.0,
        outcome: Arc::new(outcome),
        history: None,
    }
}

#[test]
fn roundtrip_series_and_a_histogram_accumulated_by_the_store() {
    let store = crate::state::Store::default();
    store.begin_generation(1, &[("rt".into(), "lab.test".into(), "roundtrip".into())]);
    let mut r = roundtrip_record(Some(0.7), "pass", true);
    store.record(1, r.clone());
    r.finished_at = 2000.0;
    r.outcome = roundtrip_record(Some(3.0), "none", false).outcome;
    store.record(1, r);
    let text = encode(store.snapshot(), None);
    for line in [
        "mailauth_roundtrip_latency_seconds_bucket{le=\"1.0\",probe=\"rt\",mailbox=\"seed1\"} 1",
        "mailauth_roundtrip_latency_seconds_bucket{le=\"5.0\",probe=\"rt\",mailbox=\"seed1\"} 2",
        "mailauth_roundtrip_latency_seconds_count{probe=\"rt\",mailbox=\"seed1\"} 2",
        "mailauth_roundtrip_latency_seconds_sum{probe=\"rt\",mailbox=\"seed1\"} 3.7",
        "mailauth_roundtrip_placement{probe=\"rt\",mailbox=\"seed1\",folder=\"inbox\"} 1.0",
        // Only the latest run's verdict: the superseded `pass` series is gone.
        "mailauth_auth_result{probe=\"rt\",mailbox=\"seed1\",method=\"dkim\",result=\"none\"} 1.0",
        "mailauth_roundtrip_spam_flagged{probe=\"rt\",mailbox=\"seed1\"} 0.0",
        "mailauth_roundtrip_spam_score{probe=\"rt\",mailbox=\"seed1\",source=\"rspamd\"} 1.5",
        // The last success is the first run's: the second failed on DKIM.
        "mailauth_roundtrip_last_success_timestamp_seconds{probe=\"rt\",mailbox=\"seed1\"} 1000.0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("result=\"pass\""), "{text}");
}

#[test]
fn an_undelivered_run_adds_no_observation_and_no_placement() {
    let text = encode(vec![roundtrip_record(None, "pass", true)], None);
    assert!(
        text.contains("mailauth_roundtrip_latency_seconds_count{probe=\"rt\",mailbox=\"seed1\"} 0")
    );
    assert!(!text.contains("mailauth_roundtrip_placement{"), "{text}");
    assert!(!text.contains("mailauth_roundtrip_last_success_timestamp_seconds{"));
}

#[test]
fn strippable_is_absent_when_mta_sts_is_undecided() {
    use mailauth_probes::transport::{Protection, TransportReport};
    let protection = |host: &str, dane, undecided: Option<&str>| Protection {
        host: host.into(),
        dane,
        mta_sts: false,
        mta_sts_undecided: undecided.map(String::from),
    };
    let report = TransportReport {
        endpoints: vec![],
        protection: vec![
            protection("plain.test", false, None),
            protection("dane.test", true, Some("policy host refused")),
            protection("undecided.test", false, Some("policy host refused")),
        ],
    };
    let outcome = Outcome::new(vec![], Report::Transport(Box::new(report)));
    let text = encode(
        vec![RunRecord {
            probe: "t".into(),
            kind: "transport".into(),
            target: "example.test".into(),
            finished_at: 1.0,
            outcome: Arc::new(outcome),
            history: None,
        }],
        None,
    );
    assert!(
        text.contains("mailauth_tls_strippable{target=\"plain.test\"} 1"),
        "{text}"
    );
    // DANE protects whatever MTA-STS says.
    assert!(
        text.contains("mailauth_tls_strippable{target=\"dane.test\"} 0"),
        "{text}"
    );
    // Announced MTA-STS whose policy could not be fetched: neither 1 nor 0.
    assert!(!text.contains("target=\"undecided.test\""), "{text}");
}
