//! The `kind: reports` settings section: the report mailbox (`imap:`, as a round trip's seed
//! mailbox), its folders, where the store lives, and the limits on what a report may be.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mailauth_probes::reports::ingest::ReportsSettings;
use mailauth_probes::reports::parse::ReportLimits;
use serde::Deserialize;

use super::roundtrip::{RawImap, imap_account};
use super::yaml::Node;
use super::{Ctx, Domain, ProbeSettings};

#[derive(Debug, Deserialize)]
struct RawReports {
    imap: RawImap,
    /// Where reports arrive (default INBOX).
    folder: Option<String>,
    /// Where read reports go (default `Reports/Processed`... see DEFAULT_*).
    processed_folder: Option<String>,
    invalid_folder: Option<String>,
    /// The SQLite store (default /var/lib/mailauth-probe/<probe>.sqlite).
    store: Option<PathBuf>,
    /// Per-source rows kept for `reports summary` (default 30 days; counters are kept forever).
    keep_days: Option<u32>,
    /// Messages read per run (default 200).
    max_messages: Option<usize>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
struct RawLimits {
    max_message_bytes: Option<usize>,
    max_attachment_bytes: Option<usize>,
    max_uncompressed_bytes: Option<usize>,
    max_xml_depth: Option<usize>,
    max_records: Option<usize>,
}

pub const DEFAULT_PROCESSED: &str = "Reports-Processed";
pub const DEFAULT_INVALID: &str = "Reports-Invalid";
pub const DEFAULT_STORE_DIR: &str = "/var/lib/mailauth-probe";

/// What the application needs beyond the probe's settings: the store.
#[derive(Debug, Clone)]
pub struct ReportsProbe {
    pub settings: ReportsSettings,
    pub store: PathBuf,
    pub keep_days: u32,
}

pub(super) fn load(
    node: &Node,
    path: &str,
    _domains: &BTreeMap<String, Domain>,
    ctx: &mut Ctx,
) -> Option<(ProbeSettings, Vec<String>)> {
    let raw: RawReports = super::kind_part(node, path, ctx)?;
    let imap = imap_account(
        &raw.imap,
        node.get("imap").unwrap_or(node),
        &format!("{path}.imap"),
        ctx,
        &Default::default(),
    )?;
    let d = ReportLimits::default();
    let l = &raw.limits;
    let limits = ReportLimits {
        max_message: l.max_message_bytes.unwrap_or(d.max_message),
        max_attachment: l.max_attachment_bytes.unwrap_or(d.max_attachment),
        max_uncompressed: l.max_uncompressed_bytes.unwrap_or(d.max_uncompressed),
        max_xml_depth: l.max_xml_depth.unwrap_or(d.max_xml_depth),
        max_records: l.max_records.unwrap_or(d.max_records),
    };
    let mut ok = true;
    if [
        limits.max_message,
        limits.max_attachment,
        limits.max_uncompressed,
        limits.max_xml_depth,
        limits.max_records,
    ]
    .contains(&0)
    {
        ctx.error(
            node.get("limits").unwrap_or(node),
            &format!("{path}.limits"),
            "limits must be greater than zero",
        );
        ok = false;
    }
    let folder = raw.folder.unwrap_or_else(|| "INBOX".into());
    let processed = raw
        .processed_folder
        .unwrap_or_else(|| DEFAULT_PROCESSED.into());
    let invalid = raw.invalid_folder.unwrap_or_else(|| DEFAULT_INVALID.into());
    if processed == folder || invalid == folder || processed == invalid {
        ctx.error(
            node,
            path,
            "`folder`, `processed_folder` and `invalid_folder` must be three different folders",
        );
        ok = false;
    }
    let target = imap.username.clone();
    let settings = ReportsSettings {
        imap,
        folder,
        processed_folder: processed,
        invalid_folder: invalid,
        limits,
        max_messages: raw.max_messages.unwrap_or(200).max(1),
    };
    // The probe's name completes the default store path (see `build_probe`).
    let store = raw.store.map(|p| ctx.base_dir.join(p)).unwrap_or_default();
    ok.then_some((
        ProbeSettings::Reports(Box::new(ReportsProbe {
            settings,
            store,
            keep_days: raw.keep_days.unwrap_or(30),
        })),
        vec![target],
    ))
}
