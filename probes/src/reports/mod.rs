//! Ingestion of the reports other mail systems send about our domains (issue 16): DMARC
//! aggregate reports (RFC 7489 section 7.2 and appendix C) and SMTP TLS reports (TLS-RPT,
//! RFC 8460), for `kind: reports`.
//!
//! These arrive by mail from anyone who can reach the report address, so every byte is
//! hostile until proven otherwise: a report is a compressed attachment whose size after
//! decompression, XML nesting, DTD and record count are all chosen by the sender.
//!
//! - [`parse`]: pure functions from a raw message or one attachment to typed reports
//!   (mail-auth's `Report` and `TlsReport`), refusing, with the reason, anything over the
//!   [`parse::ReportLimits`] before it can cost memory or time. No I/O.
//! - [`ingest`]: the IMAP side: fetch, hand each report to the application's
//!   [`ingest::ReportSink`] (its store), move processed and invalid messages.

pub mod ingest;
pub mod parse;
