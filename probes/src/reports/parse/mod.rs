//! From a raw RFC 5322 message, or one attachment, to typed DMARC aggregate and TLS-RPT
//! reports, with every resource a sender controls bounded before it is spent. Pure: no file,
//! network or clock is touched, so it can be fuzzed and benchmarked in isolation
//! (`benches/report_bombs.rs`).
//!
//! The order of the checks is the safety argument:
//! 1. the message and each attachment are refused when over [`ReportLimits::max_message`] /
//!    [`ReportLimits::max_attachment`], before any decompression;
//! 2. gzip and zip are recognised by their magic bytes (the label only decides which MIME
//!    parts are worth looking at), and inflated through `Read::take(max_uncompressed + 1)`:
//!    a bomb costs at most `max_uncompressed + 1` bytes and the time to inflate them. A zip
//!    whose central directory (read by the zip crate, at most `max_attachment` bytes) holds
//!    more than [`MAX_ZIP_MEMBERS`] members, or whose chosen member declares more than
//!    `max_uncompressed`, is refused before inflating (`container.rs`);
//! 3. the decompressed document is scanned before mail-auth builds anything: any `<!DOCTYPE`
//!    or `<!ENTITY` (so no entity is ever expanded, no external resource named), XML nesting
//!    deeper than `max_xml_depth`, more than `max_records` `<record>` elements (quick-xml's
//!    tokenizer, which allocates nothing per event, `dmarc.rs`), JSON nesting deeper than
//!    `max_xml_depth` or more than `max_records` JSON objects (`tlsrpt.rs`) are refused;
//! 4. only then does mail-auth parse it (`Report::parse_xml`, `TlsReport::parse_json`), and
//!    the fields it silently defaults (a missing or non-numeric date range, count or source
//!    IP; a missing report id) are checked, so that an invalid report is refused rather than
//!    counted as zeros.

mod container;
mod dmarc;
mod tlsrpt;

use std::borrow::Cow;

use mail_auth::flate2::read::MultiGzDecoder;
use mail_auth::report::Report;
use mail_auth::report::tlsrpt::TlsReport;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use container::{gzip_size_hint, inflate_bounded, is_gzip, is_zip, unzip};
use dmarc::decode_dmarc;
#[cfg(test)]
use dmarc::{cut_ranges, scan_xml};
use tlsrpt::decode_tlsrpt;

const MIB: usize = 1024 * 1024;

/// A zip attachment with more members than this is refused before any is inflated. Real
/// reports hold one XML file (sometimes with a macOS `__MACOSX/` shadow entry); many members
/// is the shape of an overlapping-entries zip bomb. Not configurable: no sender needs more.
pub const MAX_ZIP_MEMBERS: usize = 16;

/// `message/rfc822` parts (a forwarded report) are searched this deep.
const MAX_NESTED_MESSAGES: usize = 3;

/// Configurable limits. Every one bounds something the sender chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLimits {
    /// A whole raw message, in bytes (default 25 MiB: above any mail system's size limit).
    pub max_message: usize,
    /// One attachment as sent, i.e. compressed, after MIME decoding (default 10 MiB).
    pub max_attachment: usize,
    /// One attachment's content after decompression (default 50 MiB). Also bounds a plain
    /// XML or JSON attachment.
    pub max_uncompressed: usize,
    /// Element nesting of the XML, and object/array nesting of the JSON (default 32; a DMARC
    /// report needs 5, a TLS-RPT report 4).
    pub max_xml_depth: usize,
    /// `<record>` elements of a DMARC report, and JSON objects of a TLS-RPT report
    /// (default 100,000).
    pub max_records: usize,
}

impl Default for ReportLimits {
    fn default() -> Self {
        ReportLimits {
            max_message: 25 * MIB,
            max_attachment: 10 * MIB,
            max_uncompressed: 50 * MIB,
            max_xml_depth: 32,
            max_records: 100_000,
        }
    }
}

/// One report, as mail-auth types it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedReport {
    /// A DMARC aggregate report (RFC 7489 appendix C, or RFC 9990's format).
    Dmarc(Report),
    /// An SMTP TLS report (RFC 8460).
    TlsRpt(TlsReport),
}

impl ParsedReport {
    /// The reporter's report id.
    pub fn report_id(&self) -> &str {
        match self {
            ParsedReport::Dmarc(r) => &r.report_metadata.report_id,
            ParsedReport::TlsRpt(r) => &r.report_id,
        }
    }

    /// The reporting organization (`org_name`, or `organization-name`).
    pub fn org_name(&self) -> &str {
        match self {
            ParsedReport::Dmarc(r) => &r.report_metadata.org_name,
            ParsedReport::TlsRpt(r) => r.organization_name.as_deref().unwrap_or(""),
        }
    }

    /// DMARC `<record>`s, or TLS-RPT policies.
    pub fn record_count(&self) -> usize {
        match self {
            ParsedReport::Dmarc(r) => r.record.len(),
            ParsedReport::TlsRpt(r) => r.policies.len(),
        }
    }
}

/// Why an attachment or message was refused: what and where, for a finding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// One report-like part of a message and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundReport {
    /// The attachment's file name, or `part N (content/type)` when it has none.
    pub filename: String,
    pub report: Result<ParsedReport, Refusal>,
}

/// Every report attachment of a raw RFC 5322 message (or the body itself when it is the
/// report, e.g. a TLS-RPT sent as application/tlsrpt+gzip or +json). Err when the message
/// has none or is over `max_message`.
///
/// A part is looked at when its file name ends in `.xml`, `.gz`, `.gzip`, `.zip` or `.json`,
/// its content type is one reports are sent as (`application/gzip`, `application/zip`,
/// `application/xml`, `text/xml`, `application/tlsrpt+gzip`, `application/tlsrpt+json`,
/// `application/json` and their `x-` variants), or it is binary and starts with gzip or zip
/// magic. Each such part gives one [`FoundReport`], refused or not; text and HTML parts are
/// skipped. Parts of an attached `message/rfc822` are searched too.
pub fn reports_in_message(raw: &[u8], limits: &ReportLimits) -> Result<Vec<FoundReport>, Refusal> {
    if raw.len() > limits.max_message {
        return Err(Refusal(format!(
            "message of {} bytes is over max_message ({} bytes): not parsed",
            raw.len(),
            limits.max_message
        )));
    }
    let message = MessageParser::new()
        .parse(raw)
        .ok_or_else(|| Refusal("not an RFC 5322 message".into()))?;
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    collect(&message, "", 0, limits, &mut found, &mut skipped);
    if found.is_empty() {
        skipped.dedup();
        return Err(Refusal(format!(
            "no DMARC or TLS-RPT report in the message (its parts: {})",
            if skipped.is_empty() {
                "none".to_string()
            } else {
                skipped.join(", ")
            }
        )));
    }
    Ok(found)
}

fn collect(
    message: &Message<'_>,
    prefix: &str,
    depth: usize,
    limits: &ReportLimits,
    found: &mut Vec<FoundReport>,
    skipped: &mut Vec<String>,
) {
    for (index, part) in message.parts.iter().enumerate() {
        let content_type = part.content_type().map_or_else(
            || "text/plain".to_string(),
            |ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase(),
        );
        let bytes: &[u8] = match &part.body {
            PartType::Multipart(_) => continue,
            PartType::Message(inner) => {
                if depth < MAX_NESTED_MESSAGES {
                    let prefix = format!("{prefix}part {} (message/rfc822) / ", index + 1);
                    collect(inner, &prefix, depth + 1, limits, found, skipped);
                }
                continue;
            }
            PartType::Text(text) | PartType::Html(text) => text.as_bytes(),
            PartType::Binary(bin) | PartType::InlineBinary(bin) => bin.as_ref(),
        };
        let name = part
            .attachment_name()
            .or_else(|| part.content_type().and_then(|ct| ct.attribute("filename")));
        let binary = matches!(part.body, PartType::Binary(_) | PartType::InlineBinary(_));
        if !is_report_part(&content_type, name, binary, bytes) {
            skipped.push(content_type);
            continue;
        }
        let filename = match name {
            Some(n) => format!("{prefix}{n}"),
            None => format!("{prefix}part {} ({content_type})", index + 1),
        };
        let report = decode_payload(&filename, &content_type, bytes, limits);
        found.push(FoundReport { filename, report });
    }
}

const REPORT_TYPES: &[&str] = &[
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/x-zip",
    "application/x-zip-compressed",
    "application/xml",
    "text/xml",
    "application/tlsrpt+gzip",
    "application/tlsrpt+json",
    "application/json",
];
const REPORT_EXTENSIONS: &[&str] = &[".xml", ".gz", ".gzip", ".zip", ".json"];

fn is_report_part(content_type: &str, name: Option<&str>, binary: bool, bytes: &[u8]) -> bool {
    let by_name = name.is_some_and(|n| {
        let n = n.trim().to_ascii_lowercase();
        REPORT_EXTENSIONS.iter().any(|e| n.ends_with(e))
    });
    by_name || REPORT_TYPES.contains(&content_type) || (binary && (is_gzip(bytes) || is_zip(bytes)))
}

/// One payload by its name/content type or magic bytes: XML, gzip (.xml.gz,
/// application/gzip), zip (.zip, application/zip: the first .xml member, refusing archives
/// with many members or an uncompressed size over the limit), TLS-RPT JSON plain or gzip
/// (application/tlsrpt+json, application/tlsrpt+gzip, .json, .json.gz).
///
/// The container is decided by magic bytes (gzip `1f 8b`, zip `PK\3\4`), as parsedmarc and
/// dmarc-report do; the document inside by its first byte (`<` DMARC XML, `{` TLS-RPT
/// JSON). `filename` and `content_type` name the payload in refusals, and a zip member
/// is chosen by name.
pub fn decode_payload(
    filename: &str,
    content_type: &str,
    bytes: &[u8],
    limits: &ReportLimits,
) -> Result<ParsedReport, Refusal> {
    let label = if filename.is_empty() {
        content_type
    } else {
        filename
    };
    if bytes.len() > limits.max_attachment {
        return Err(Refusal(format!(
            "{label}: attachment of {} bytes is over max_attachment ({} bytes)",
            bytes.len(),
            limits.max_attachment
        )));
    }
    if is_gzip(bytes) {
        let hint = gzip_size_hint(bytes);
        let data = inflate_bounded(label, "gzip", MultiGzDecoder::new(bytes), hint, limits)?;
        decode_document(label, Cow::Owned(data), limits)
    } else if is_zip(bytes) {
        let (member, data) = unzip(label, bytes, limits)?;
        decode_document(
            &format!("{label} (member {member})"),
            Cow::Owned(data),
            limits,
        )
    } else {
        if bytes.len() > limits.max_uncompressed {
            return Err(Refusal(format!(
                "{label}: document of {} bytes is over max_uncompressed ({} bytes)",
                bytes.len(),
                limits.max_uncompressed
            )));
        }
        decode_document(label, Cow::Borrowed(bytes), limits)
    }
}

/// A decompressed document: DMARC XML or TLS-RPT JSON, by its first byte.
fn decode_document(
    label: &str,
    data: Cow<'_, [u8]>,
    limits: &ReportLimits,
) -> Result<ParsedReport, Refusal> {
    let bom = if data.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let start = bom
        + data[bom..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(data.len() - bom);
    let body = &data[start..];
    if is_gzip(body) || is_zip(body) {
        return Err(Refusal(format!(
            "{label}: an archive inside the archive: nested archives are not reports"
        )));
    }
    if body.starts_with(&[0xfe, 0xff])
        || body.starts_with(&[0xff, 0xfe])
        || body.iter().take(4).any(|&b| b == 0)
    {
        return Err(Refusal(format!(
            "{label}: UTF-16 or UTF-32 document: reports are UTF-8"
        )));
    }
    match body.first() {
        Some(b'<') => decode_dmarc(label, data, start, limits).map(ParsedReport::Dmarc),
        Some(b'{') => decode_tlsrpt(label, body, limits).map(ParsedReport::TlsRpt),
        Some(_) => Err(Refusal(format!(
            "{label}: neither XML nor JSON (the content does not start with `<` or `{{`)"
        ))),
        None => Err(Refusal(format!("{label}: empty document"))),
    }
}

#[cfg(test)]
mod tests;
