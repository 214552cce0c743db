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

/// `mailauth-probe reports summary`: top sources by volume with their DMARC pass/fail, the
/// sources first seen within the window, and the reporters that saw failures.
pub fn reports_summary(
    probe: &str,
    store: &crate::store::reports::ReportStore,
    sources: &[crate::store::reports::SourceRow],
    reporters: &[(String, u64, u64)],
    days: u32,
    top: usize,
) -> String {
    let mut out = String::new();
    let total: u64 = sources.iter().map(|s| s.messages).sum();
    let passing: u64 = sources.iter().map(|s| s.passing).sum();
    let _ = writeln!(
        out,
        "DMARC aggregate reports of `{probe}` ({}), last {days} day(s): {total} message(s) from {} source(s), {passing} passing DMARC",
        store.path().display(),
        sources.len()
    );
    if sources.is_empty() {
        let _ = writeln!(out, "\nNo report rows in the window.");
        return out;
    }
    let _ = writeln!(out, "\nTop sources by volume:");
    let _ = writeln!(
        out,
        "  {:<40} {:<28} {:>9} {:>9} {:>9}  reporters",
        "source IP", "header-from domain", "messages", "pass", "fail"
    );
    for s in sources.iter().take(top) {
        let _ = writeln!(
            out,
            "  {:<40} {:<28} {:>9} {:>9} {:>9}  {}",
            if s.source_ip.is_empty() {
                "?"
            } else {
                &s.source_ip
            },
            s.domain,
            s.messages,
            s.passing,
            s.messages - s.passing.min(s.messages),
            s.reporters
        );
    }
    let since = crate::state::now() as i64 - i64::from(days) * 86_400;
    let new: Vec<_> = sources.iter().filter(|s| s.first_seen >= since).collect();
    let _ = writeln!(out, "\nSources not seen before these {days} day(s):");
    if new.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for s in new {
        let _ = writeln!(
            out,
            "  {} ({}, {} message(s), {} failing)",
            s.source_ip,
            s.domain,
            s.messages,
            s.messages - s.passing.min(s.messages)
        );
    }
    let _ = writeln!(out, "\nReporters that saw DMARC failures:");
    let reporters = reporters
        .iter()
        .filter(|(_, _, f)| *f > 0)
        .collect::<Vec<_>>();
    if reporters.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for (r, total, failing) in reporters {
        let _ = writeln!(out, "  {r}: {failing} of {total} message(s) failing DMARC");
    }
    out
}
