//! TLS-RPT reports (RFC 8460): the JSON scanned for depth and object count, then parsed by
//! mail-auth and checked for the fields it would default.

use mail_auth::report::tlsrpt::TlsReport;

use super::{Refusal, ReportLimits};

pub(super) fn decode_tlsrpt(
    label: &str,
    json: &[u8],
    limits: &ReportLimits,
) -> Result<TlsReport, Refusal> {
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
