//! DMARC aggregate reports (RFC 7489 appendix C, RFC 9990): the XML scanned with quick-xml
//! before mail-auth builds anything (DTDs and entity declarations, depth and `<record>`
//! count refused), elements under the root that mail-auth does not know cut out, then parsed
//! by mail-auth and checked for the fields it would default.

use std::borrow::Cow;
use std::ops::Range;

use mail_auth::report::{Disposition, Report};
use quick_xml::errors::{Error as XmlError, SyntaxError};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::{Refusal, ReportLimits};

/// The XML from `data[start..]`, scanned, then parsed by mail-auth and checked.
pub(super) fn decode_dmarc(
    label: &str,
    data: Cow<'_, [u8]>,
    start: usize,
    limits: &ReportLimits,
) -> Result<Report, Refusal> {
    let scan = scan_xml(label, &data[start..], limits)?;
    let parsed = if !scan.foreign.is_empty() {
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
        cut_ranges(&mut xml, &scan.foreign);
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

/// The elements mail-auth reads directly under `<feedback>`.
const MAIL_AUTH_TOP_LEVEL: &[&str] = &[
    "version",
    "report_metadata",
    "policy_published",
    "record",
    "extensions",
];

/// What [`scan_xml`] learnt besides refusing.
pub(super) struct XmlScan {
    /// `<record>` children of the root: what mail-auth must read.
    pub root_records: usize,
    /// The byte ranges of the root's children that mail-auth does not know: mail-auth stops
    /// at the first, so [`cut_ranges`] takes them out first.
    pub foreign: Vec<Range<usize>>,
}

/// Refuses a DTD, entity and other markup declarations, nesting deeper than
/// `max_xml_depth`, more than `max_records` `<record>` elements and more than `max_records`
/// unknown elements under the root; XML that is not well-formed is refused with quick-xml's
/// reason (mail-auth reads with the same tokenizer, so it would refuse it too).
pub(super) fn scan_xml(label: &str, xml: &[u8], limits: &ReportLimits) -> Result<XmlScan, Refusal> {
    // Anywhere, even inside a comment: no report needs the text `<!DOCTYPE` or `<!ENTITY`.
    for (s, _) in xml.iter().enumerate().filter(|(_, b)| **b == b'<') {
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
    }

    let mut reader = Reader::from_reader(xml);
    let mut depth = 0usize;
    let mut all_records = 0usize;
    let mut scan = XmlScan {
        root_records: 0,
        foreign: Vec::new(),
    };
    // Where the root's unknown child being skipped starts.
    let mut cutting: Option<usize> = None;
    loop {
        // Text is its own event (nothing is trimmed), so markup starts here.
        let s = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(XmlError::Syntax(SyntaxError::InvalidBangMarkup)) => {
                let s = reader.error_position();
                return Err(Refusal(format!(
                    "{label}: XML markup declaration `<!` at byte {s}: refused before parsing"
                )));
            }
            Err(e) => {
                let s = reader.error_position();
                return Err(Refusal(format!(
                    "{label}: not a DMARC aggregate report: {e} (at byte {s})"
                )));
            }
        };
        let (start, self_closing) = match &event {
            Event::Eof => return Ok(scan),
            Event::DocType(_) => {
                return Err(Refusal(format!(
                    "{label}: XML markup declaration `<!` at byte {s}: refused before parsing"
                )));
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some(from) = cutting.take()
                {
                    scan.foreign.push(from..reader.buffer_position() as usize);
                }
                continue;
            }
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            _ => continue,
        };
        let name = start.name();
        if name.local_name().into_inner() == "record" {
            all_records += 1;
            if all_records > limits.max_records {
                return Err(Refusal(format!(
                    "{label}: more than max_records ({}) <record> elements (at byte {s}): \
                     refused before parsing",
                    limits.max_records
                )));
            }
        }
        if depth == 1 {
            if name.into_inner() == "record" {
                scan.root_records += 1;
            }
            if !MAIL_AUTH_TOP_LEVEL.contains(&name.into_inner()) {
                if scan.foreign.len() >= limits.max_records {
                    return Err(Refusal(format!(
                        "{label}: more than max_records ({}) elements mail-auth does not \
                         read under the root (at byte {s}): refused before parsing",
                        limits.max_records
                    )));
                }
                if self_closing {
                    scan.foreign.push(s..reader.buffer_position() as usize);
                } else {
                    cutting = Some(s);
                }
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

/// Removes `ranges` (in order, not overlapping) from `xml`, in place and in one pass.
pub(super) fn cut_ranges(xml: &mut Vec<u8>, ranges: &[Range<usize>]) {
    let mut write = 0;
    let mut keep_from = 0;
    for r in ranges {
        xml.copy_within(keep_from..r.start, write);
        write += r.start - keep_from;
        keep_from = r.end;
    }
    let len = xml.len();
    xml.copy_within(keep_from..len, write);
    xml.truncate(write + len - keep_from);
}
