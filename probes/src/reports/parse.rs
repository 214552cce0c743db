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
//!    whose central directory declares more than [`MAX_ZIP_MEMBERS`] members, or whose
//!    chosen member declares more than `max_uncompressed`, is refused before inflating;
//! 3. the decompressed document is scanned without parsing: any `<!DOCTYPE` or `<!ENTITY`
//!    (so no entity is ever expanded, no external resource named), XML nesting deeper than
//!    `max_xml_depth`, more than `max_records` `<record>` elements, JSON nesting deeper than
//!    `max_xml_depth` or more than `max_records` JSON objects are refused;
//! 4. only then does mail-auth parse it (`Report::parse_xml`, `TlsReport::parse_json`), and
//!    the fields it silently defaults (a missing or non-numeric date range, count or source
//!    IP; a missing report id) are checked, so that an invalid report is refused rather than
//!    counted as zeros.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use mail_auth::flate2::read::MultiGzDecoder;
use mail_auth::report::tlsrpt::TlsReport;
use mail_auth::report::{Disposition, Report};
use mail_auth::zip::ZipArchive;
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

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

fn is_gzip(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
}

fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06")
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

/// The gzip trailer's ISIZE (the uncompressed size modulo 2^32): a hint for the first
/// allocation only, never trusted.
fn gzip_size_hint(bytes: &[u8]) -> usize {
    bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes[at..].try_into().ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize)
}

/// Reads at most `max_uncompressed + 1` bytes from `reader`; more means a refusal.
fn inflate_bounded(
    label: &str,
    kind: &str,
    reader: impl Read,
    size_hint: usize,
    limits: &ReportLimits,
) -> Result<Vec<u8>, Refusal> {
    let limit = limits.max_uncompressed;
    let mut data = Vec::with_capacity(size_hint.min(limit).saturating_add(1).min(8 * MIB));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Refusal(format!("{label}: corrupt {kind} data: {e}")))?;
    if data.len() > limit {
        return Err(Refusal(format!(
            "{label}: {kind} content expands beyond max_uncompressed ({limit} bytes); \
             refused after inflating {} bytes",
            data.len()
        )));
    }
    Ok(data)
}

/// The member count the zip's end of central directory record declares, when it has one
/// (not a zip64 marker).
fn zip_declared_members(bytes: &[u8]) -> Option<usize> {
    const EOCD: &[u8] = b"PK\x05\x06";
    // The record is 22 bytes plus a comment of at most 65,535.
    let window = bytes.len().saturating_sub(22 + 65_535);
    let at = bytes[window..]
        .windows(4)
        .rposition(|w| w == EOCD)
        .map(|p| window + p)?;
    let total = bytes.get(at + 10..at + 12)?;
    let n = u16::from_le_bytes([total[0], total[1]]);
    (n != u16::MAX).then_some(n as usize)
}

/// The first `.xml` member (or, failing that, `.json`), skipping directories and macOS
/// metadata, inflated within the limit.
fn unzip(label: &str, bytes: &[u8], limits: &ReportLimits) -> Result<(String, Vec<u8>), Refusal> {
    let too_many = |n: usize| {
        Refusal(format!(
            "{label}: zip archive of {n} members (more than {MAX_ZIP_MEMBERS}): refused \
             without inflating any"
        ))
    };
    if let Some(n) = zip_declared_members(bytes)
        && n > MAX_ZIP_MEMBERS
    {
        return Err(too_many(n));
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| Refusal(format!("{label}: corrupt zip archive: {e}")))?;
    if archive.len() > MAX_ZIP_MEMBERS {
        return Err(too_many(archive.len()));
    }
    let names: Vec<String> = (0..archive.len())
        .map(|i| archive.name_for_index(i).unwrap_or("").to_string())
        .collect();
    let eligible = |ext: &str| {
        names.iter().position(|n| {
            let lower = n.to_ascii_lowercase();
            let base = lower.rsplit('/').next().unwrap_or("");
            !lower.ends_with('/')
                && !lower.starts_with("__macosx/")
                && !lower.contains("/__macosx/")
                && !base.starts_with("._")
                && lower.ends_with(ext)
        })
    };
    let Some(index) = eligible(".xml").or_else(|| eligible(".json")) else {
        return Err(Refusal(format!(
            "{label}: zip archive has no .xml or .json member (members: {})",
            names.join(", ")
        )));
    };
    let name = names[index].clone();
    let member = archive
        .by_index(index)
        .map_err(|e| Refusal(format!("{label}: zip member {name}: {e}")))?;
    let declared = member.size();
    if declared > limits.max_uncompressed as u64 {
        return Err(Refusal(format!(
            "{label}: zip member {name} declares {declared} bytes uncompressed, over \
             max_uncompressed ({} bytes): refused without inflating",
            limits.max_uncompressed
        )));
    }
    let what = format!("zip member {name}");
    let data = inflate_bounded(label, &what, member, declared as usize, limits)?;
    Ok((name, data))
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

/// The XML from `data[start..]`, scanned, then parsed by mail-auth and checked.
fn decode_dmarc(
    label: &str,
    data: Cow<'_, [u8]>,
    start: usize,
    limits: &ReportLimits,
) -> Result<Report, Refusal> {
    let scan = scan_xml(label, &data[start..], limits)?;
    let parsed = if scan.foreign_top_level {
        // mail-auth stops reading at the end of the first element under <feedback> it does
        // not know (RFC 9990's <extension>, a vendor's element), dropping every record after
        // it: such elements are cut out first. In place when the bytes are ours already.
        let mut xml = match data {
            Cow::Owned(mut v) => {
                v.drain(..start);
                v
            }
            Cow::Borrowed(b) => b[start..].to_vec(),
        };
        strip_foreign_top_level(&mut xml);
        Report::parse_xml(&xml)
    } else {
        Report::parse_xml(&data[start..])
    };
    let report =
        parsed.map_err(|e| Refusal(format!("{label}: not a DMARC aggregate report: {e}")))?;
    if report.record.len() != scan.root_records {
        return Err(Refusal(format!(
            "{label}: the report has {} <record> elements but only {} could be read",
            scan.root_records,
            report.record.len()
        )));
    }
    validate_dmarc(&report).map_err(|e| Refusal(format!("{label}: {e}")))?;
    Ok(report)
}

/// Refuses what mail-auth reads as defaults: the required fields of RFC 7489 appendix C that
/// both parsedmarc and dmarc-report require.
fn validate_dmarc(report: &Report) -> Result<(), String> {
    let meta = &report.report_metadata;
    if meta.report_id.trim().is_empty() {
        return Err("report_metadata/report_id missing or empty".into());
    }
    if meta.org_name.trim().is_empty() && meta.email.trim().is_empty() {
        return Err("report_metadata/org_name and email missing or empty".into());
    }
    if meta.date_range.begin == 0 || meta.date_range.end == 0 {
        return Err("report_metadata/date_range missing or not in seconds since 1970".into());
    }
    let policy = &report.policy_published;
    if policy.domain.trim().is_empty() {
        return Err("policy_published/domain missing or empty".into());
    }
    if policy.p == Disposition::Unspecified {
        return Err("policy_published/p missing or not none, quarantine or reject".into());
    }
    if report.record.is_empty() {
        return Err("no <record>".into());
    }
    for (i, record) in report.record.iter().enumerate() {
        if record.row.source_ip.is_none() {
            return Err(format!(
                "record {}: row/source_ip missing or not an IP address",
                i + 1
            ));
        }
        if record.row.count == 0 {
            return Err(format!(
                "record {}: row/count missing, zero or not a number",
                i + 1
            ));
        }
    }
    Ok(())
}

fn decode_tlsrpt(label: &str, json: &[u8], limits: &ReportLimits) -> Result<TlsReport, Refusal> {
    scan_json(label, json, limits)?;
    let report = TlsReport::parse_json(json)
        .map_err(|e| Refusal(format!("{label}: not a TLS-RPT report: {e:?}")))?;
    validate_tlsrpt(&report).map_err(|e| Refusal(format!("{label}: {e}")))?;
    Ok(report)
}

/// The RFC 8460 fields mail-auth defaults that a report cannot do without.
fn validate_tlsrpt(report: &TlsReport) -> Result<(), String> {
    if report
        .organization_name
        .as_deref()
        .is_none_or(|o| o.trim().is_empty())
    {
        return Err("organization-name missing or empty".into());
    }
    if report.report_id.trim().is_empty() {
        return Err("report-id missing or empty".into());
    }
    let range = &report.date_range;
    if range.start_datetime.to_timestamp() == 0 || range.end_datetime.to_timestamp() == 0 {
        return Err("date-range start-datetime or end-datetime is not an RFC 3339 date".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Scanners: linear passes over the bytes that allocate nothing and refuse before a parser
// builds anything.

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The elements mail-auth reads directly under `<feedback>`.
const MAIL_AUTH_TOP_LEVEL: &[&[u8]] = &[
    b"version",
    b"report_metadata",
    b"policy_published",
    b"record",
    b"extensions",
];

/// What [`scan_xml`] learnt besides refusing.
struct XmlScan {
    /// `<record>` children of the root: what mail-auth must read.
    root_records: usize,
    /// A child of the root that mail-auth does not know (see [`strip_foreign_top_level`]).
    foreign_top_level: bool,
}

/// Refuses a DTD, entity declarations, nesting deeper than `max_xml_depth` and more than
/// `max_records` `<record>` elements.
///
/// Markup is recognised as XML 1.0 does ([`next_markup`]). Malformed input is left to the
/// parser, which refuses it; the scanner only has to be right about well-formed input and
/// never slower than linear.
fn scan_xml(label: &str, xml: &[u8], limits: &ReportLimits) -> Result<XmlScan, Refusal> {
    // Anywhere, even inside a comment: no report needs the text `<!DOCTYPE` or `<!ENTITY`.
    let mut at = 0;
    while let Some(p) = xml[at..].iter().position(|&b| b == b'<') {
        let s = at + p;
        let rest = &xml[s + 1..];
        for decl in [&b"!doctype"[..], b"!entity"] {
            if rest.len() >= decl.len() && rest[..decl.len()].eq_ignore_ascii_case(decl) {
                return Err(Refusal(format!(
                    "{label}: XML with a DTD or entity declaration (`<{}` at byte {s}): \
                     refused before parsing, so no entity is expanded and nothing it names \
                     is read",
                    String::from_utf8_lossy(&rest[..decl.len()]).to_ascii_uppercase()
                )));
            }
        }
        at = s + 1;
    }

    let mut depth = 0usize;
    let mut scan = XmlScan {
        root_records: 0,
        foreign_top_level: false,
    };
    let mut all_records = 0usize;
    let mut i = 0;
    while let Some((s, end, markup)) = next_markup(xml, i) {
        match markup {
            Markup::Declaration => {
                return Err(Refusal(format!(
                    "{label}: XML markup declaration `<!` at byte {s}: refused before parsing"
                )));
            }
            Markup::End => depth = depth.saturating_sub(1),
            Markup::Other => {}
            Markup::Start { name, self_closing } => {
                let name = &xml[name];
                let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
                if local == b"record" {
                    all_records += 1;
                    if all_records > limits.max_records {
                        return Err(Refusal(format!(
                            "{label}: more than max_records ({}) <record> elements (at byte \
                             {s}): refused before parsing",
                            limits.max_records
                        )));
                    }
                }
                if depth == 1 {
                    if name == b"record" {
                        scan.root_records += 1;
                    }
                    if !MAIL_AUTH_TOP_LEVEL.contains(&name) {
                        scan.foreign_top_level = true;
                    }
                }
                if !self_closing {
                    depth += 1;
                    if depth > limits.max_xml_depth {
                        return Err(Refusal(format!(
                            "{label}: XML nested deeper than max_xml_depth ({}) at byte {s}: \
                             refused before parsing",
                            limits.max_xml_depth
                        )));
                    }
                }
            }
        }
        i = end;
    }
    Ok(scan)
}

/// Cuts every element under the root that mail-auth does not know out of `xml`, in place
/// and in one pass. Only called on XML that [`scan_xml`] accepted.
fn strip_foreign_top_level(xml: &mut Vec<u8>) {
    let (mut depth, mut i, mut write, mut keep_from) = (0usize, 0, 0, 0);
    let mut cutting: Option<usize> = None;
    let mut cut = |xml: &mut Vec<u8>, from: usize, to: usize, keep_from: &mut usize| {
        xml.copy_within(*keep_from..from, write);
        write += from - *keep_from;
        *keep_from = to;
    };
    while let Some((s, end, markup)) = next_markup(xml, i) {
        match markup {
            Markup::Start { name, self_closing } => {
                if depth == 1 && cutting.is_none() && !MAIL_AUTH_TOP_LEVEL.contains(&&xml[name]) {
                    if self_closing {
                        cut(xml, s, end, &mut keep_from);
                    } else {
                        cutting = Some(s);
                    }
                }
                if !self_closing {
                    depth += 1;
                }
            }
            Markup::End => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some(from) = cutting.take()
                {
                    cut(xml, from, end, &mut keep_from);
                }
            }
            Markup::Declaration | Markup::Other => {}
        }
        i = end;
    }
    let len = xml.len();
    xml.copy_within(keep_from..len, write);
    xml.truncate(write + len - keep_from);
}

/// One piece of XML markup.
enum Markup {
    /// A start tag (`name` is the byte range of its qualified name) or an empty-element tag.
    Start {
        name: std::ops::Range<usize>,
        self_closing: bool,
    },
    /// An end tag.
    End,
    /// A comment, CDATA section or processing instruction.
    Other,
    /// `<!` anything else: a DTD's markup.
    Declaration,
}

/// The first markup at or after `from`: (its start, one past its end, what it is). `None`
/// at the end, or at markup that is not terminated (the parser then refuses the document).
fn next_markup(xml: &[u8], from: usize) -> Option<(usize, usize, Markup)> {
    let s = from + xml[from..].iter().position(|&b| b == b'<')?;
    let rest = &xml[s..];
    let past = |end: &[u8], skip: usize| find(&rest[skip..], end).map(|e| s + skip + e + end.len());
    let (end, markup) = if rest.starts_with(b"<!--") {
        (past(b"-->", 4)?, Markup::Other)
    } else if rest.starts_with(b"<![CDATA[") {
        (past(b"]]>", 9)?, Markup::Other)
    } else if rest.starts_with(b"<?") {
        (past(b"?>", 2)?, Markup::Other)
    } else if rest.starts_with(b"<!") {
        (s + 2, Markup::Declaration)
    } else if rest.starts_with(b"</") {
        (past(b">", 2)?, Markup::End)
    } else {
        let gt = tag_end(rest)?;
        let name_len = rest[1..]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
            .unwrap_or(0);
        (
            s + gt + 1,
            Markup::Start {
                name: s + 1..s + 1 + name_len,
                self_closing: rest[gt - 1] == b'/',
            },
        )
    };
    Some((s, end, markup))
}

/// Index of the `>` that ends the start tag at the beginning of `tag`, outside quotes.
fn tag_end(tag: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in tag.iter().enumerate().skip(1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

/// Refuses JSON nested deeper than `max_xml_depth` or holding more than `max_records`
/// objects, outside strings.
fn scan_json(label: &str, json: &[u8], limits: &ReportLimits) -> Result<(), Refusal> {
    let mut depth = 0usize;
    let mut objects = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limits.max_xml_depth {
                    return Err(Refusal(format!(
                        "{label}: JSON nested deeper than max_xml_depth ({}) at byte {i}: \
                         refused before parsing",
                        limits.max_xml_depth
                    )));
                }
                if b == b'{' {
                    objects += 1;
                    if objects > limits.max_records {
                        return Err(Refusal(format!(
                            "{label}: more than max_records ({}) JSON objects (at byte {i}): \
                             refused before parsing",
                            limits.max_records
                        )));
                    }
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
