//! The mailbox side of report ingestion: log in to the report mailbox (the round trip's IMAP
//! layer), take each message of the configured folder, find its report attachments
//! ([`super::parse`]), hand every report to the application's [`ReportSink`] (which counts a
//! report once, whatever happens), and only then move the message to the processed folder,
//! or to the invalid folder with a finding when it held no usable report. A message whose
//! reports the sink could not store stays where it is, to be read again next run.

use serde::{Deserialize, Serialize};

use super::parse::{ParsedReport, ReportLimits, reports_in_message};
use crate::roundtrip::imap::{self, ImapAccount};
use crate::{Finding, Outcome, ProbeContext, Report, State};

/// Where reports are counted, once each: the application's persistent store.
pub trait ReportSink: Send + Sync {
    /// Counts `report`; `Ok(false)` when this reporter's report id was counted before.
    fn record(&self, report: &ParsedReport) -> Result<bool, String>;
    /// Counts a message moved to the invalid folder.
    fn invalid(&self) -> Result<(), String>;
}

/// A `kind: reports` probe's settings.
#[derive(Debug, Clone)]
pub struct ReportsSettings {
    pub imap: ImapAccount,
    /// Where reports arrive (default INBOX).
    pub folder: String,
    pub processed_folder: String,
    pub invalid_folder: String,
    pub limits: ReportLimits,
    /// At most this many messages per run (the rest wait for the next).
    pub max_messages: usize,
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportsReport {
    /// Messages read.
    pub messages: usize,
    /// Reports counted for the first time.
    pub new_reports: usize,
    /// Reports counted before (same reporter and id).
    pub duplicates: usize,
    /// Messages moved to the invalid folder.
    pub invalid: usize,
    /// Messages left for the next run (over `max_messages`, or not stored).
    pub left: usize,
}

/// Reads the report mailbox once.
pub async fn probe(s: &ReportsSettings, ctx: &ProbeContext, sink: &dyn ReportSink) -> Outcome {
    let mut findings = vec![];
    let mut report = ReportsReport::default();
    let done = |findings: Vec<Finding>, report: ReportsReport| {
        Outcome::new(findings, Report::Reports(Box::new(report)))
    };
    let mut mb = match imap::connect(&s.imap, ctx).await {
        Ok(mb) => mb,
        Err(e) => {
            findings.push(Finding::new(
                "imap",
                State::Unknown,
                format!("cannot read the report mailbox: {e}"),
            ));
            return done(findings, report);
        }
    };
    for folder in [&s.processed_folder, &s.invalid_folder] {
        if let Err(e) = imap::ensure_folder(&mut mb, folder, ctx).await {
            findings.push(Finding::new(
                "imap",
                State::Unknown,
                format!("cannot create the folder `{folder}`: {e}"),
            ));
            imap::logout(mb).await;
            return done(findings, report);
        }
    }
    let uids = match imap::select(&mut mb, &s.folder, ctx).await {
        Ok(()) => imap::all(&mut mb, ctx).await,
        Err(e) => Err(e),
    };
    let uids = match uids {
        Ok(u) => u,
        Err(e) => {
            findings.push(Finding::new(
                "imap",
                State::Unknown,
                format!("cannot list `{}`: {e}", s.folder),
            ));
            imap::logout(mb).await;
            return done(findings, report);
        }
    };
    findings.push(Finding::new(
        "imap",
        State::Ok,
        format!(
            "{} message(s) in `{}` of {}",
            uids.len(),
            s.folder,
            s.imap.host
        ),
    ));
    report.left = uids.len().saturating_sub(s.max_messages);
    let mut invalid_notes = vec![];
    let mut store_errors = vec![];
    let max = u32::try_from(s.limits.max_message).unwrap_or(u32::MAX);
    for uid in uids.into_iter().take(s.max_messages) {
        if ctx.deadline.expired() {
            report.left += 1;
            continue;
        }
        report.messages += 1;
        let verdict = match imap::fetch(&mut mb, uid, max, ctx).await {
            Ok(raw) => reports_in_message(&raw, &s.limits).map_err(|r| r.to_string()),
            Err(e) if e.contains("limit") => Err(e),
            Err(e) => {
                // Could not read it: leave it for the next run.
                store_errors.push(format!("message {uid}: {e}"));
                report.left += 1;
                continue;
            }
        };
        let mut refusals = vec![];
        let mut stored_all = true;
        match verdict {
            Err(e) => refusals.push(e),
            Ok(found) => {
                for f in found {
                    match f.report {
                        // The refusal names the attachment.
                        Err(r) => refusals.push(r.to_string()),
                        Ok(parsed) => match sink.record(&parsed) {
                            Ok(true) => {
                                report.new_reports += 1;
                            }
                            Ok(false) => {
                                report.duplicates += 1;
                            }
                            Err(e) => {
                                stored_all = false;
                                store_errors.push(e);
                            }
                        },
                    }
                }
            }
        }
        if !stored_all {
            report.left += 1;
            continue;
        }
        let to = if refusals.is_empty() {
            &s.processed_folder
        } else {
            // A message with a refused attachment goes to the invalid folder for a person to
            // look at, even when another of its attachments was counted.
            &s.invalid_folder
        };
        if !refusals.is_empty() {
            report.invalid += 1;
            invalid_notes.push(format!("message {uid}: {}", refusals.join("; ")));
            if let Err(e) = sink.invalid() {
                store_errors.push(e);
            }
        }
        if let Err(e) = imap::remove(&mut mb, &[uid], Some(to), ctx).await {
            store_errors.push(format!("moving message {uid} to `{to}`: {e}"));
        }
    }
    // The invalid folder stays a WARNING until a person has looked at (and moved) what is in it.
    let waiting = imap::count(&mut mb, &s.invalid_folder, ctx).await;
    imap::logout(mb).await;
    findings.push(Finding::new(
        "ingest",
        State::Ok,
        format!(
            "{} message(s): {} new report(s), {} duplicate(s), {} invalid, {} left for the next run",
            report.messages, report.new_reports, report.duplicates, report.invalid, report.left
        ),
    ));
    let mut f = match waiting {
        Ok(0) => Finding::new(
            "invalid",
            State::Ok,
            format!("no message waits in `{}`", s.invalid_folder),
        ),
        Ok(n) => Finding::new(
            "invalid",
            State::Warning,
            format!(
                "{n} message(s) in `{}` held no usable report: look at them, then move them away",
                s.invalid_folder
            ),
        ),
        Err(e) => Finding::new(
            "invalid",
            State::Unknown,
            format!("cannot count the messages in `{}`: {e}", s.invalid_folder),
        ),
    };
    if !invalid_notes.is_empty() {
        f = f.with_detail(format!("this run: {}", invalid_notes.join("\n")));
    }
    findings.push(f);
    if !store_errors.is_empty() {
        findings.push(
            Finding::new(
                "store",
                State::Unknown,
                "some reports could not be stored or moved: their messages stay for the next run",
            )
            .with_detail(store_errors.join("\n")),
        );
    }
    done(findings, report)
}
