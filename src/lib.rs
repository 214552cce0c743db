//! The mailauth-probe application: configuration, scheduling, state, the Prometheus exporter,
//! the human CLI and the Nagios plugin front end. Probes themselves live in the
//! `mailauth-probes` crate and know nothing of this.
//!
//! One rule per layer:
//! - [`config`] parses and validates; its only I/O is reading the file and secret references.
//! - [`runner`] turns a configured probe and a target into a probe call with a deadline;
//!   [`scheduler`] decides when; [`state`] keeps the latest results. They format nothing.
//! - [`exporter`] and [`nagios`] render outcomes and never dial out (`/probe` and
//!   `check_mailauth` go through the runner).

pub mod assets;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod exporter;
pub mod nagios;
pub mod report;
pub mod reports_store;
pub mod runner;
pub mod scheduler;
pub mod state;
pub mod verdicts;

/// Installs the one rustls crypto provider of this project (aws-lc-rs, which mail-auth and
/// hickory already use) as the process default. Call first thing in every binary.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want anyway.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
