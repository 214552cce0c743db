//! Nagios/Icinga output (product.md section 5): `MAILAUTH <STATE> - <probe>: <worst finding
//! first> | <perfdata>`, then with `-v` one line per finding. The state is the worse of the
//! findings and the `-w`/`-c` thresholds applied to each kind's main figure (its mapping is
//! in the kind's file: `dnsbl.rs`, ...). `daemon.rs` fetches a running daemon's results for
//! `--daemon`.

pub mod daemon;
mod dns;
mod dnsbl;
pub mod perfdata;
pub mod range;
mod roundtrip;
mod transport;

use mailauth_probes::{Outcome, Report, State};

use perfdata::Perfdata;
use range::{Level, Thresholds};

/// The plugin's answer: what to print and the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginOutput {
    pub state: State,
    pub text: String,
}

/// The main figure of a kind (what `-w`/`-c` apply to) over several outcomes, and the other
/// perfdata.
fn figures(outcomes: &[&Outcome]) -> (Option<Perfdata>, Vec<Perfdata>) {
    let reports: Vec<&Report> = outcomes.iter().map(|o| &o.report).collect();
    if reports.iter().any(|r| matches!(r, Report::Dnsbl(_))) {
        return dnsbl::figures(&reports);
    }
    if reports.iter().any(|r| matches!(r, Report::Dns(_))) {
        return dns::figures(&reports);
    }
    if reports.iter().any(|r| matches!(r, Report::Transport(_))) {
        return transport::figures(&reports);
    }
    if reports.iter().any(|r| matches!(r, Report::Roundtrip(_))) {
        return roundtrip::figures(&reports);
    }
    (None, vec![])
}

/// Renders `outcomes` (one per target) of the probe `name` as plugin output.
pub fn render(
    name: &str,
    outcomes: &[&Outcome],
    thresholds: &Thresholds,
    verbose: bool,
) -> PluginOutput {
    let mut state = outcomes
        .iter()
        .map(|o| o.state())
        .reduce(State::worst)
        .unwrap_or(State::Unknown);
    let (main, mut rest) = figures(outcomes);
    let mut perf = Vec::new();
    let mut threshold_note = None;
    if let Some(mut m) = main {
        m.warn = thresholds.warning.clone();
        m.crit = thresholds.critical.clone();
        if let Some(v) = m.value {
            let level = thresholds.level(v);
            let s = match level {
                Level::Ok => State::Ok,
                Level::Warning => State::Warning,
                Level::Critical => State::Critical,
            };
            if s != State::Ok {
                threshold_note = Some(format!("{} is {} ({} threshold)", m.label, fmt_num(v), s));
            }
            state = state.worst(s);
        }
        perf.push(m);
    }
    let total: f64 = outcomes.iter().map(|o| o.duration.as_secs_f64()).sum();
    perf.append(&mut rest);
    perf.push(Perfdata {
        label: "time".into(),
        value: Some((total * 1000.0).round() / 1000.0),
        uom: "s".into(),
        min: Some(0.0),
        ..Perfdata::default()
    });
    let mut findings: Vec<&mailauth_probes::Finding> = outcomes
        .iter()
        .flat_map(|o| o.findings_worst_first())
        .collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.state.severity()));
    let mut headline = match findings.first() {
        Some(f) => f.summary.clone(),
        None => "no findings".into(),
    };
    let bad = findings.iter().filter(|f| f.state != State::Ok).count();
    if bad > 1 {
        headline.push_str(&format!(
            " (+{} more problem{})",
            bad - 1,
            if bad > 2 { "s" } else { "" }
        ));
    } else if bad == 0 && findings.len() > 1 {
        headline = format!("{} checks OK", findings.len());
    }
    if let Some(n) = threshold_note {
        headline = format!("{n}; {headline}");
    }
    let mut text = format!(
        "MAILAUTH {state} - {name}: {} | {}",
        one_line(&headline),
        perfdata::join(&perf)
    );
    if verbose {
        for f in findings {
            text.push_str(&format!(
                "\n[{}] {}: {}",
                f.state,
                f.check,
                one_line(&f.summary)
            ));
            if let Some(d) = &f.detail {
                text.push_str(&format!(" ({})", one_line(d)));
            }
        }
    }
    PluginOutput { state, text }
}

/// The plugin's own failure (bad arguments, unreadable config, its timeout): UNKNOWN.
pub fn unknown(reason: &str) -> PluginOutput {
    PluginOutput {
        state: State::Unknown,
        text: format!("MAILAUTH UNKNOWN - {}", one_line(reason)),
    }
}

/// `|` separates perfdata and a newline ends the status line: neither may appear in text.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('|', "/")
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests;
