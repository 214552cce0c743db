//! `/`: a small server-rendered HTML page a person reads: every probe and target, its last
//! run, state and findings. No JavaScript, no external assets.

use std::fmt::Write;

use crate::config::Config;
use crate::state::{RunRecord, now};

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

pub fn index(config: &Config, records: &[RunRecord]) -> String {
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
