//! `mailauth-probes`: every probe of mailauth-probe, and nothing else.
//!
//! A probe is one async function per kind (`dnsbl::probe`, and later `dns`, `transport`,
//! `roundtrip`, `reports`) with the same shape: it gets its typed settings, the target, and a
//! [`ProbeContext`] (resolver, [`Deadline`], per-destination [`Limits`]), and returns an
//! [`Outcome`]: findings that each carry a [`State`] and their reason, plus a typed report of what
//! was measured. Probes know nothing of scheduling, metrics, config files, environment variables
//! or stdout: the application maps outcomes to Prometheus series and Nagios output.
//!
//! Layout:
//! - [`outcome`]: `State`, `Finding`, `Outcome`, `Report` (the data every front end renders).
//! - [`deadline`]: the one deadline that bounds every network await of a run.
//! - [`limits`]: per-destination concurrency limits (e.g. one per DNSBL zone).
//! - [`resolver`]: a DNS resolver over hickory that never reads the system configuration unless
//!   asked to, and whose errors say NXDOMAIN, NODATA, SERVFAIL, REFUSED or timeout.
//! - [`dnsbl`]: listing of the operator's own IPs and domains on DNS block lists.

pub mod authres;
pub mod deadline;
pub mod dns;
pub mod dnsbl;
pub mod http;
pub mod limits;
pub mod mta_sts;
pub mod outcome;
pub mod reports;
pub mod resolver;
pub mod roundtrip;
pub mod tls;
pub mod transport;

use std::sync::Arc;

pub use deadline::Deadline;
pub use limits::Limits;
pub use outcome::{Finding, Location, Outcome, Report, State};
pub use resolver::Resolver;

/// Everything a probe run may use to reach the network.
#[derive(Clone)]
pub struct ProbeContext {
    /// The resolver to ask; never the system's unless the operator configured that.
    pub resolver: Arc<Resolver>,
    /// When this run must be over, whatever the peers do.
    pub deadline: Deadline,
    /// Per-destination concurrency limits shared by all runs of this process.
    pub limits: Arc<Limits>,
    /// TLS client trusting the system's roots and the configured extra CA.
    pub tls: Arc<tls::TlsClient>,
    /// The outcome of this (probe, target)'s previous run, when the app kept one (the
    /// daemon does; `run`, `/probe` and `check_mailauth` have none): for checks that compare
    /// runs, such as the dns probe's `mta-sts:id`.
    pub previous: Option<Arc<Outcome>>,
}

/// The one error type of this crate: what stops a probe from being set up at all.
/// (What goes wrong while probing is a [`Finding`], not an error.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid resolver configuration: {0}")]
    Resolver(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("invalid target `{target}`: {reason}")]
    Target { target: String, reason: String },
}

/// A password, key or token: never printed by `Debug`, so it cannot reach a log line, an
/// error or a metric by accident. Only the code that hands it to the peer calls
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
