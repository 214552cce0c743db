//! The data a probe run produces: findings with a Nagios-style [`State`] and a reason, and a
//! typed report per kind. Front ends (metrics, `/`, `run`, `check_mailauth`) only render this.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A Nagios state. The numeric value is the plugin exit code and the value of
/// `mailauth_check_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Checked, and fine.
    Ok = 0,
    /// Works today, but a strict receiver or tomorrow may disagree.
    Warning = 1,
    /// Broken for senders or receivers now.
    Critical = 2,
    /// We could not decide: our means of observing failed (our resolver, a DNSBL refusing us,
    /// our config). Never reported as OK.
    Unknown = 3,
}

impl State {
    /// The Nagios exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// How bad a state is, for "worst of": CRITICAL > WARNING > UNKNOWN > OK, as the
    /// monitoring-plugins library's `max_state` orders them.
    pub fn severity(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Unknown => 1,
            State::Warning => 2,
            State::Critical => 3,
        }
    }

    /// The worse of two states.
    pub fn worst(self, other: State) -> State {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One individual check and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// A bounded identifier, usable as a metric label: e.g. `listed:zen.spamhaus.org`.
    pub check: String,
    pub state: State,
    /// One short line a person reads first.
    pub summary: String,
    /// More, when there is more to say (the DNSBL's TXT, what to change, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Where in a record the fault is, for findings about a record's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A fault's place in a record: the record text and the byte range of the fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Where the record lives, e.g. `TXT lab.test`.
    pub record: String,
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Location {
    /// The record text with the fault underlined on the next line (columns by character).
    pub fn underlined(&self) -> String {
        let start = self
            .text
            .get(..self.start)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        let len = self
            .text
            .get(self.start..self.end)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            .max(1);
        format!("{}\n{}{}", self.text, " ".repeat(start), "^".repeat(len))
    }

    /// 1-based column of the fault's start.
    pub fn column(&self) -> usize {
        self.text
            .get(..self.start)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1
    }
}

impl Finding {
    pub fn new(check: impl Into<String>, state: State, summary: impl Into<String>) -> Self {
        Finding {
            check: check.into(),
            state,
            summary: summary.into(),
            detail: None,
            location: None,
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The typed, kind-specific part of an outcome: what the exporter and the plugin turn into
/// kind-specific series and perfdata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    /// The run ended before the probe produced a report (deadline, setup failure).
    None,
    Dnsbl(crate::dnsbl::DnsblReport),
    Dns(Box<crate::dns::DnsReport>),
    Transport(Box<crate::transport::TransportReport>),
    Roundtrip(Box<crate::roundtrip::RoundtripReport>),
    Reports(Box<crate::reports::ingest::ReportsReport>),
}

/// What one run of one probe against one target found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub report: Report,
    /// Wall time of the run.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
}

impl Outcome {
    pub fn new(findings: Vec<Finding>, report: Report) -> Self {
        Outcome {
            findings,
            report,
            duration: Duration::ZERO,
        }
    }

    /// An outcome with one finding and no report, for runs that could not start or finish.
    pub fn single(finding: Finding) -> Self {
        Outcome::new(vec![finding], Report::None)
    }

    /// The worst state of all findings; UNKNOWN when there is none (never OK when undecided).
    pub fn state(&self) -> State {
        self.findings
            .iter()
            .map(|f| f.state)
            .reduce(State::worst)
            .unwrap_or(State::Unknown)
    }

    /// Findings, worst first (stable among equals).
    pub fn findings_worst_first(&self) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self.findings.iter().collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.state.severity()));
        v
    }

    /// `mailauth_probe_success`: 1 when every finding is OK or WARNING.
    pub fn success(&self) -> bool {
        !self.findings.is_empty()
            && self
                .findings
                .iter()
                .all(|f| matches!(f.state, State::Ok | State::Warning))
    }
}

mod duration_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = <f64 as serde::Deserialize>::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_critical_over_warning_over_unknown_over_ok() {
        use State::*;
        assert_eq!(Ok.worst(Unknown), Unknown);
        assert_eq!(Unknown.worst(Warning), Warning);
        assert_eq!(Warning.worst(Critical), Critical);
        assert_eq!(Critical.worst(Ok), Critical);
    }

    #[test]
    fn empty_outcome_is_unknown_and_not_success() {
        let o = Outcome::new(vec![], Report::None);
        assert_eq!(o.state(), State::Unknown);
        assert!(!o.success());
    }

    #[test]
    fn success_means_ok_or_warning_only() {
        let ok = Finding::new("a", State::Ok, "fine");
        let warn = Finding::new("b", State::Warning, "meh");
        let unk = Finding::new("c", State::Unknown, "no idea");
        assert!(Outcome::new(vec![ok.clone(), warn.clone()], Report::None).success());
        assert!(!Outcome::new(vec![ok, unk], Report::None).success());
    }
}
