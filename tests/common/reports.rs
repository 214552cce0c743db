//! Report mails for the tests that ingest reports: DMARC aggregate XML and TLS-RPT JSON as
//! reporters send them, compressed and attached the way they attach them.

use std::io::Write;

use mail_auth::report::{ActionDisposition, DmarcResult, Record, Report};

pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use mail_auth::flate2::{Compression, write::GzEncoder};
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = mail_auth::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, mail_auth::zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

pub fn dmarc_xml(org: &str, id: &str, passing: u32, failing: u32) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let rec = |ip: &str, n: u32, r: DmarcResult, d: ActionDisposition| {
        Record::new()
            .with_source_ip(ip.parse().unwrap())
            .with_count(n)
            .with_action_disposition(d)
            .with_dmarc_dkim_result(r)
            .with_dmarc_spf_result(r)
            .with_header_from("lab.test")
            .with_envelope_from("lab.test")
    };
    Report::new()
        .with_org_name(org)
        .with_email("noreply-dmarc@reporter.test")
        .with_report_id(id)
        .with_date_range_begin(now - 86_400)
        .with_date_range_end(now)
        .with_domain("lab.test")
        .with_record(rec(
            "127.0.1.26",
            passing,
            DmarcResult::Pass,
            ActionDisposition::None,
        ))
        .with_record(rec(
            "192.0.2.66",
            failing,
            DmarcResult::Fail,
            ActionDisposition::Reject,
        ))
        .to_xml()
}

pub fn tlsrpt_json(org: &str, id: &str, ok: u32, failed: u32) -> String {
    serde_json::json!({
        "organization-name": org,
        "date-range": {"start-datetime": "2026-11-24T00:00:00Z", "end-datetime": "2026-11-24T23:59:59Z"},
        "contact-info": "tlsrpt@reporter.test",
        "report-id": id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.lab.test", "max_age: 86400"], "policy-domain": "lab.test", "mx-host": ["mx.lab.test"]},
            "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
            "failure-details": [{"result-type": "starttls-not-supported", "sending-mta-ip": "192.0.2.5", "receiving-mx-hostname": "mx.lab.test", "failed-session-count": failed}]
        }]
    })
    .to_string()
}

/// A report mail with one attachment.
pub fn mail(subject: &str, filename: &str, content_type: &str, payload: &[u8]) -> String {
    format!(
        "From: <dmarc@reporter.test>\r\nTo: <reports@lab.test>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nA report.\r\n--b1\r\nContent-Type: {content_type}; name=\"{filename}\"\r\nContent-Disposition: attachment; filename=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(payload)
    )
}
