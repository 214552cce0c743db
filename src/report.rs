//! The report `mailauth-probe run` prints for a person: one block per (probe, target), the
//! state first, findings worst first, colour on a terminal and plain text otherwise.

use std::fmt::Write;

use mailauth_probes::State;

use crate::state::RunRecord;

fn paint(state: State, colour: bool) -> String {
    let s = format!("{:<8}", state.as_str());
    if !colour {
        return s;
    }
    let code = match state {
        State::Ok => "32",
        State::Warning => "33",
        State::Critical => "31;1",
        State::Unknown => "35",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

pub fn text(records: &[RunRecord], colour: bool) -> String {
    let mut out = String::new();
    for r in records {
        let _ = writeln!(
            out,
            "{} {} ({}) {}  [{:.2} s]",
            paint(r.outcome.state(), colour),
            r.probe,
            r.kind,
            r.target,
            r.outcome.duration.as_secs_f64()
        );
        for f in r.outcome.findings_worst_first() {
            let _ = writeln!(out, "    {} {}", paint(f.state, colour), f.summary);
            if let Some(loc) = &f.location {
                let _ = writeln!(
                    out,
                    "             {} (column {}):",
                    loc.record,
                    loc.column()
                );
                for line in loc.underlined().lines() {
                    let _ = writeln!(out, "               {line}");
                }
            }
            if let Some(d) = &f.detail {
                let _ = writeln!(out, "             {d}");
            }
        }
    }
    out
}

/// `lint`: findings grouped by standard (the check's prefix), the worst group first, each
/// group worst first, every fault with its record text underlined.
pub fn lint(r: &RunRecord, colour: bool) -> String {
    let mut groups: Vec<(String, Vec<&mailauth_probes::Finding>)> = Vec::new();
    for f in r.outcome.findings_worst_first() {
        let g = f.check.split(':').next().unwrap_or("").to_string();
        match groups.iter_mut().find(|(n, _)| *n == g) {
            Some((_, v)) => v.push(f),
            None => groups.push((g, vec![f])),
        }
    }
    let worst = |v: &Vec<&mailauth_probes::Finding>| {
        v.iter().map(|f| f.state.severity()).max().unwrap_or(0)
    };
    groups.sort_by_key(|(_, v)| std::cmp::Reverse(worst(v)));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}  [{:.2} s]",
        paint(r.outcome.state(), colour),
        r.target,
        r.outcome.duration.as_secs_f64()
    );
    for (name, findings) in groups {
        let title = match name.as_str() {
            "spf" => "SPF",
            "dmarc" => "DMARC",
            "dkim" => "DKIM",
            "mx" => "MX",
            "ptr" | "helo" => "Reverse DNS and HELO",
            "mta-sts" => "MTA-STS",
            "tlsrpt" => "TLS-RPT",
            "ns" => "Nameservers",
            "dnssec" => "DNSSEC",
            other => other,
        };
        let _ = writeln!(out, "\n{title}");
        for f in findings {
            let _ = writeln!(out, "  {} {}", paint(f.state, colour), f.summary);
            if let Some(loc) = &f.location {
                let _ = writeln!(out, "           {} (column {}):", loc.record, loc.column());
                for line in loc.underlined().lines() {
                    let _ = writeln!(out, "             {line}");
                }
            }
            if let Some(d) = &f.detail {
                let _ = writeln!(out, "           {d}");
            }
        }
    }
    out
}

/// The worst state of all records (UNKNOWN when there is none).
pub fn worst(records: &[RunRecord]) -> State {
    records
        .iter()
        .map(|r| r.outcome.state())
        .reduce(State::worst)
        .unwrap_or(State::Unknown)
}
