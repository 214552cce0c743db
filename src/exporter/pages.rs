//! `/`: a small server-rendered HTML page a person reads: first the problems across all
//! probes (every finding not OK, worst then oldest first, with since when from the state
//! history when one is configured, and counts per state), then every probe and target, its
//! last run, state and findings. No JavaScript, no external assets.

use std::fmt::Write;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use mailauth_probes::State;

use crate::config::Config;
use crate::state::{RunRecord, now};
use crate::store::history::TargetCheck;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(state: mailauth_probes::State) -> &'static str {
    match state {
        mailauth_probes::State::Ok => "#2e7d32",
        mailauth_probes::State::Warning => "#b26a00",
        mailauth_probes::State::Critical => "#c62828",
        mailauth_probes::State::Unknown => "#6a1b9a",
    }
}

fn time(unix: f64) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(unix.max(0.0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The problems table: every finding not OK in the latest runs, worst first, then those in
/// their state the longest first. `since` comes from the history (keyed by probe, target and
/// check); without it the row says since when it is known at least (the last run).
fn problems(h: &mut String, records: &[RunRecord], history: &[TargetCheck]) {
    let since: BTreeMap<(&str, &str, &str), f64> = history
        .iter()
        .map(|c| {
            (
                (c.probe.as_str(), c.target.as_str(), c.status.check.as_str()),
                c.status.since,
            )
        })
        .collect();
    let mut rows = Vec::new();
    for r in records {
        for f in r.outcome.findings.iter().filter(|f| f.state != State::Ok) {
            let known = since
                .get(&(r.probe.as_str(), r.target.as_str(), f.check.as_str()))
                .copied();
            rows.push((r, f, known));
        }
    }
    rows.sort_by(|a, b| {
        b.1.state.severity().cmp(&a.1.state.severity()).then(
            a.2.unwrap_or(a.0.finished_at)
                .total_cmp(&b.2.unwrap_or(b.0.finished_at)),
        )
    });
    let mut counts = String::new();
    for state in [State::Critical, State::Warning, State::Unknown] {
        let n = rows.iter().filter(|r| r.1.state == state).count();
        let _ = write!(counts, " {state}: {n};");
    }
    let _ = write!(
        h,
        "<h2 id=\"problems\">Problems</h2><p>{} finding(s) not OK:{}</p>",
        rows.len(),
        counts.trim_end_matches(';')
    );
    if rows.is_empty() {
        return;
    }
    h.push_str(
        "<table><tr><th>state</th><th>since</th><th>probe</th><th>target</th><th>check</th><th>finding</th></tr>",
    );
    for (r, f, known) in rows {
        let since = match known {
            Some(t) => format!("since {}", time(t)),
            None => format!("seen {} (no history)", time(r.finished_at)),
        };
        let _ = write!(
            h,
            "<tr><td><span class=\"s\" style=\"background:{}\">{}</span></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            colour(f.state),
            f.state,
            since,
            esc(&r.probe),
            esc(&r.target),
            esc(&f.check),
            esc(&f.summary)
        );
    }
    h.push_str("</table>");
}

pub fn index(config: &Config, records: &[RunRecord], history: &[TargetCheck]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mailauth-probe</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .6em;text-align:left;vertical-align:top}}\
         .s{{color:#fff;padding:.1em .4em;border-radius:3px;font-weight:bold}}</style></head><body>\
         <h1>mailauth-probe</h1><p>Config <code>{}</code>, {} probe(s). \
         <a href=\"/metrics\">/metrics</a></p>",
        esc(&config.file.display().to_string()),
        config.probes.len()
    );
    problems(&mut h, records, history);
    let t = now();
    for p in &config.probes {
        let _ = write!(
            h,
            "<h2>{} <small>({}, every {}, timeout {})</small></h2><table>\
             <tr><th>target</th><th>state</th><th>last run</th><th>findings</th></tr>",
            esc(&p.name),
            p.settings.kind(),
            humantime::format_duration(p.interval),
            humantime::format_duration(p.timeout)
        );
        for target in &p.targets {
            let rec = records
                .iter()
                .find(|r| r.probe == p.name && r.target == *target);
            match rec {
                None => {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>pending</td><td>not run yet</td><td></td></tr>",
                        esc(target)
                    );
                }
                Some(r) => {
                    let state = r.outcome.state();
                    let mut findings = String::new();
                    for f in r.outcome.findings_worst_first() {
                        let _ = write!(
                            findings,
                            "<div><span class=\"s\" style=\"background:{}\">{}</span> {}{}</div>",
                            colour(f.state),
                            f.state,
                            esc(&f.summary),
                            f.detail
                                .as_deref()
                                .map(|d| format!(" <small>({})</small>", esc(d)))
                                .unwrap_or_default()
                        );
                    }
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td><span class=\"s\" style=\"background:{}\">{}</span></td>\
                         <td>{:.0} s ago, took {:.2} s</td><td>{}</td></tr>",
                        esc(target),
                        colour(state),
                        state,
                        (t - r.finished_at).max(0.0),
                        r.outcome.duration.as_secs_f64(),
                        findings
                    );
                }
            }
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use mailauth_probes::{Finding, Outcome, Report};

    use super::*;
    use crate::store::history::CheckStatus;

    fn run(probe: &str, target: &str, findings: Vec<Finding>) -> RunRecord {
        RunRecord {
            probe: probe.into(),
            kind: "dnsbl".into(),
            target: target.into(),
            finished_at: 2_000_000_000.0,
            interval_seconds: Some(60.0),
            outcome: Arc::new(Outcome::new(findings, Report::None)),
            history: None,
        }
    }

    fn since(probe: &str, target: &str, check: &str, state: State, at: f64) -> TargetCheck {
        TargetCheck {
            probe: probe.into(),
            target: target.into(),
            status: CheckStatus {
                check: check.into(),
                state,
                summary: String::new(),
                since: at,
                last_ok: None,
            },
            flaps: 0,
        }
    }

    #[test]
    fn problems_come_first_worst_then_oldest_with_since() {
        let config = Config::from_str(
            "probes:\n  - name: a\n    kind: dnsbl\n    targets: [192.0.2.1]\n  - name: b\n    kind: dnsbl\n    targets: [192.0.2.2]\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        let records = [
            run(
                "a",
                "192.0.2.1",
                vec![
                    Finding::new("fine", State::Ok, "all good"),
                    Finding::new("warned", State::Warning, "a warning"),
                    Finding::new("new-crit", State::Critical, "broke lately"),
                ],
            ),
            run(
                "b",
                "192.0.2.2",
                vec![Finding::new("old-crit", State::Critical, "broke long ago")],
            ),
        ];
        let history = [
            since("a", "192.0.2.1", "warned", State::Warning, 1_000_000_000.0),
            since(
                "a",
                "192.0.2.1",
                "new-crit",
                State::Critical,
                1_900_000_000.0,
            ),
            since(
                "b",
                "192.0.2.2",
                "old-crit",
                State::Critical,
                1_800_000_000.0,
            ),
        ];
        let page = index(&config, &records, &history);
        let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("no `{s}` in {page}"));
        // Above every probe's own table; CRITICAL before WARNING, the older CRITICAL first.
        assert!(at("broke long ago") < at("broke lately"));
        assert!(at("broke lately") < at("a warning"));
        assert!(at("a warning") < at("<h2>a "));
        assert!(at("since 2027-01-15T08:00:00Z") < at("broke long ago"));
        assert!(page.contains("3 finding(s) not OK: CRITICAL: 2; WARNING: 1; UNKNOWN: 0"));
        // The OK finding is not a problem: only in the probe's table below.
        assert!(at("all good") > at("<h2>a "));
        assert!(!page.contains("<script"));
        // Without a history the time known is the last run's.
        let page = index(&config, &records, &[]);
        assert!(
            page.contains("seen 2033-05-18T03:33:20Z (no history)"),
            "{page}"
        );
    }
}
