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
