//! Real payloads built here: a DMARC aggregate report written by hand to the RFC 7489
//! appendix C schema, and the RFC 8460 section 4.3 TLS-RPT example, as plain, gzip and zip
//! attachments of MIME messages; then each kind of refusal.

use std::io::Write as _;
use std::time::{Duration, Instant};

use mail_auth::flate2::Compression;
use mail_auth::flate2::write::GzEncoder;
use mail_auth::report::{Disposition, DkimResult, DmarcResult, SpfResult};
use mail_auth::zip::ZipWriter;
use mail_auth::zip::write::SimpleFileOptions;

use super::*;

/// An aggregate report following RFC 7489 appendix C: every required element, two records.
const DMARC_XML: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>receiver.example</org_name>
    <email>noreply-dmarc@receiver.example</email>
    <extra_contact_info>https://receiver.example/dmarc</extra_contact_info>
    <report_id>rid-2026-11-24.lab.test</report_id>
    <date_range>
      <begin>1795478400</begin>
      <end>1795564799</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>lab.test</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>reject</p>
    <sp>quarantine</sp>
    <pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.25</source_ip>
      <count>12</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>pass</dkim>
        <spf>pass</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>lab.test</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>lab.test</domain>
        <selector>s2026</selector>
        <result>pass</result>
      </dkim>
      <spf>
        <domain>lab.test</domain>
        <scope>mfrom</scope>
        <result>pass</result>
      </spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>2001:db8::99</source_ip>
      <count>3</count>
      <policy_evaluated>
        <disposition>reject</disposition>
        <dkim>fail</dkim>
        <spf>fail</spf>
        <reason><type>local_policy</type><comment>lab&amp;test</comment></reason>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>lab.test</header_from>
    </identifiers>
    <auth_results>
      <spf>
        <domain>spoofer.example</domain>
        <result>softfail</result>
      </spf>
    </auth_results>
  </record>
</feedback>
"#;

/// RFC 8460 section 4.3's example (the URL the RFC wraps over two lines joined).
const TLSRPT_JSON: &str = r#"{
  "organization-name": "Company-X",
  "date-range": {
    "start-datetime": "2016-04-01T00:00:00Z",
    "end-datetime": "2016-04-01T23:59:59Z"
  },
  "contact-info": "sts-reporting@company-x.example",
  "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
  "policies": [{
    "policy": {
      "policy-type": "sts",
      "policy-string": ["version: STSv1","mode: testing",
            "mx: *.mail.company-y.example","max_age: 86400"],
      "policy-domain": "company-y.example",
      "mx-host": ["*.mail.company-y.example"]
    },
    "summary": {
      "total-successful-session-count": 5326,
      "total-failure-session-count": 303
    },
    "failure-details": [{
      "result-type": "certificate-expired",
      "sending-mta-ip": "2001:db8:abcd:0012::1",
      "receiving-mx-hostname": "mx1.mail.company-y.example",
      "failed-session-count": 100
    }, {
      "result-type": "starttls-not-supported",
      "sending-mta-ip": "2001:db8:abcd:0013::1",
      "receiving-mx-hostname": "mx2.mail.company-y.example",
      "receiving-ip": "203.0.113.56",
      "failed-session-count": 200,
      "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
    }, {
      "result-type": "validation-failure",
      "sending-mta-ip": "198.51.100.62",
      "receiving-ip": "203.0.113.58",
      "receiving-mx-hostname": "mx-backup.mail.company-y.example",
      "failed-session-count": 3,
      "failure-error-code": "X509_V_ERR_PROOF_OF_POSSESSION"
    }]
  }]
}"#;

fn limits() -> ReportLimits {
    ReportLimits::default()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (n, chunk) in data.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A multipart/mixed report message: a text part, then each (content type, file name,
/// bytes) as a base64 attachment.
fn message_with(attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut m = String::from(
        "From: noreply-dmarc@receiver.example\r\nTo: dmarc@lab.test\r\n\
         Subject: Report Domain: lab.test Submitter: receiver.example\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <r1@receiver.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is an aggregate report from receiver.example.\r\n",
    );
    for (ctype, name, data) in attachments {
        m.push_str(&format!(
            "--b1\r\nContent-Type: {ctype}; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(data)
        ));
    }
    m.push_str("--b1--\r\n");
    m.into_bytes()
}

fn dmarc(r: Result<ParsedReport, Refusal>) -> Report {
    match r {
        Ok(ParsedReport::Dmarc(r)) => r,
        other => panic!("expected a DMARC report, got {other:?}"),
    }
}

fn tlsrpt(r: Result<ParsedReport, Refusal>) -> TlsReport {
    match r {
        Ok(ParsedReport::TlsRpt(r)) => r,
        other => panic!("expected a TLS-RPT report, got {other:?}"),
    }
}

fn refusal<T: std::fmt::Debug>(r: Result<T, Refusal>) -> String {
    match r {
        Err(Refusal(reason)) => reason,
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

fn check_dmarc(r: &Report) {
    let m = &r.report_metadata;
    assert_eq!(m.org_name, "receiver.example");
    assert_eq!(m.report_id, "rid-2026-11-24.lab.test");
    assert_eq!(
        (m.date_range.begin, m.date_range.end),
        (1795478400, 1795564799)
    );
    assert_eq!(r.policy_published.domain, "lab.test");
    assert_eq!(r.policy_published.p, Disposition::Reject);
    assert_eq!(r.record.len(), 2);
    let first = &r.record[0];
    assert_eq!(first.row.source_ip, Some("192.0.2.25".parse().unwrap()));
    assert_eq!(first.row.count, 12);
    assert_eq!(first.row.policy_evaluated.dkim, DmarcResult::Pass);
    assert_eq!(first.auth_results.dkim[0].result, DkimResult::Pass);
    assert_eq!(first.auth_results.dkim[0].selector, "s2026");
    let second = &r.record[1];
    assert_eq!(second.row.source_ip, Some("2001:db8::99".parse().unwrap()));
    assert_eq!(second.auth_results.spf[0].result, SpfResult::SoftFail);
    assert_eq!(
        second.row.policy_evaluated.reason[0].comment.as_deref(),
        Some("lab&test")
    );
}

fn check_tlsrpt(r: &TlsReport) {
    assert_eq!(r.organization_name.as_deref(), Some("Company-X"));
    assert_eq!(r.report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    assert_eq!(r.policies.len(), 1);
    let p = &r.policies[0];
    assert_eq!(p.policy.policy_domain, "company-y.example");
    assert_eq!(p.summary.total_success, 5326);
    assert_eq!(p.summary.total_failure, 303);
    assert_eq!(p.failure_details.len(), 3);
    assert_eq!(p.failure_details[1].failed_session_count, 200);
}

#[test]
fn dmarc_payloads_parse_plain_gzip_and_zip() {
    let xml = DMARC_XML.as_bytes();
    check_dmarc(&dmarc(decode_payload("r.xml", "text/xml", xml, &limits())));
    let gz = gzip(xml);
    check_dmarc(&dmarc(decode_payload(
        "r.xml.gz",
        "application/gzip",
        &gz,
        &limits(),
    )));
    // Magic bytes decide, not the label.
    check_dmarc(&dmarc(decode_payload(
        "",
        "application/octet-stream",
        &gz,
        &limits(),
    )));
    let z = zip(&[("r.xml", xml)]);
    check_dmarc(&dmarc(decode_payload(
        "r.zip",
        "application/zip",
        &z,
        &limits(),
    )));
}

#[test]
fn zip_member_is_the_first_xml_skipping_directories_and_macos_metadata() {
    let xml = DMARC_XML.as_bytes();
    let z = zip(&[
        ("__MACOSX/._r.xml", b"\0\x05\x16\x07 not xml"),
        ("README.txt", b"hello"),
        ("dir/r.xml", xml),
        ("other.xml", b"<feedback/>"),
    ]);
    check_dmarc(&dmarc(decode_payload(
        "r.zip",
        "application/zip",
        &z,
        &limits(),
    )));
    let none = zip(&[("README.txt", b"hello")]);
    let reason = refusal(decode_payload("r.zip", "application/zip", &none, &limits()));
    assert!(
        reason.contains("no .xml or .json member (members: README.txt)"),
        "{reason}"
    );
}

#[test]
fn tlsrpt_payloads_parse_plain_and_gzip() {
    let json = TLSRPT_JSON.as_bytes();
    let plain = decode_payload("r.json", "application/tlsrpt+json", json, &limits());
    check_tlsrpt(&tlsrpt(plain));
    let gz = gzip(json);
    let r = decode_payload("r.json.gz", "application/tlsrpt+gzip", &gz, &limits());
    check_tlsrpt(&tlsrpt(r));
}

#[test]
fn every_report_attachment_of_a_multipart_message_is_found() {
    let xml = DMARC_XML.as_bytes();
    let gz = gzip(xml);
    let z = zip(&[("r.xml", xml)]);
    let raw = message_with(&[
        (
            "application/gzip",
            "receiver.example!lab.test!1795478400!1795564799.xml.gz",
            &gz,
        ),
        (
            "application/zip",
            "receiver.example!lab.test!1795478400!1795564799.zip",
            &z,
        ),
        ("text/xml", "r.xml", xml),
        ("image/png", "logo.png", b"\x89PNG\r\n\x1a\n"),
    ]);
    let found = reports_in_message(&raw, &limits()).unwrap();
    let names: Vec<&str> = found.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(
        names,
        [
            "receiver.example!lab.test!1795478400!1795564799.xml.gz",
            "receiver.example!lab.test!1795478400!1795564799.zip",
            "r.xml"
        ]
    );
    for f in found {
        check_dmarc(&dmarc(f.report));
    }
}

#[test]
fn a_tlsrpt_sent_as_the_body_is_found() {
    let gz = gzip(TLSRPT_JSON.as_bytes());
    let raw = format!(
        "From: tlsrpt@company-x.example\r\nTo: tlsrpt@company-y.example\r\n\
         Subject: Report Domain: company-y.example Submitter: company-x.example\r\n\
         MIME-Version: 1.0\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&gz)
    );
    let found = reports_in_message(raw.as_bytes(), &limits()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].filename, "part 1 (application/tlsrpt+gzip)");
    check_tlsrpt(&tlsrpt(found[0].report.clone()));

    // RFC 8460 section 5.3: multipart/report with a text part and the report.
    let raw = format!(
        "From: tlsrpt@company-x.example\r\nTo: tlsrpt@company-y.example\r\n\
         Subject: Report Domain: company-y.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"x\"\r\n\r\n\
         --x\r\nContent-Type: text/plain\r\n\r\nA TLS report.\r\n\
         --x\r\nContent-Type: application/tlsrpt+json\r\n\
         Content-Disposition: attachment; filename=\"company-x.example!company-y.example!1459468800!1459555199.json\"\r\n\r\n\
         {TLSRPT_JSON}\r\n--x--\r\n"
    );
    let found = reports_in_message(raw.as_bytes(), &limits()).unwrap();
    assert_eq!(found.len(), 1);
    check_tlsrpt(&tlsrpt(found[0].report.clone()));
}

#[test]
fn a_forwarded_report_is_found_inside_message_rfc822() {
    let inner = message_with(&[("application/gzip", "r.xml.gz", &gzip(DMARC_XML.as_bytes()))]);
    let raw = [
        &b"From: admin@lab.test\r\nTo: dmarc@lab.test\r\nSubject: Fwd: report\r\n\
           MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n\
           --o\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
           --o\r\nContent-Type: message/rfc822\r\n\r\n"[..],
        &inner,
        b"\r\n--o--\r\n",
    ]
    .concat();
    let found = reports_in_message(&raw, &limits()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].filename, "part 3 (message/rfc822) / r.xml.gz");
    check_dmarc(&dmarc(found[0].report.clone()));
}

#[test]
fn a_message_without_a_report_is_refused() {
    let raw = b"From: a@lab.test\r\nTo: b@lab.test\r\nSubject: hi\r\n\r\nJust text.\r\n";
    let reason = refusal(reports_in_message(raw, &limits()));
    assert!(reason.contains("no DMARC or TLS-RPT report"), "{reason}");
    assert!(reason.contains("text/plain"), "{reason}");
    let raw = message_with(&[("image/png", "logo.png", b"\x89PNG\r\n\x1a\n")]);
    let reason = refusal(reports_in_message(&raw, &limits()));
    assert!(reason.contains("text/plain, image/png"), "{reason}");
}

#[test]
fn malformed_xml_is_an_attachment_refusal_with_its_reason() {
    let broken = DMARC_XML.replace("</report_metadata>", "");
    let raw = message_with(&[
        (
            "application/gzip",
            "broken.xml.gz",
            &gzip(broken.as_bytes()),
        ),
        (
            "application/gzip",
            "good.xml.gz",
            &gzip(DMARC_XML.as_bytes()),
        ),
    ]);
    let found = reports_in_message(&raw, &limits()).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].filename, "broken.xml.gz");
    let reason = refusal(found[0].report.clone());
    assert!(reason.starts_with("broken.xml.gz: "), "{reason}");
    assert!(reason.contains("not a DMARC aggregate report"), "{reason}");
    check_dmarc(&dmarc(found[1].report.clone()));

    let reason = refusal(decode_payload(
        "t.xml",
        "",
        b"This is not XML at all",
        &limits(),
    ));
    assert!(reason.contains("neither XML nor JSON"), "{reason}");
    let reason = refusal(decode_payload("t.json", "", b"{\"report-id\": ", &limits()));
    assert!(reason.contains("not a TLS-RPT report"), "{reason}");
}

#[test]
fn fields_mail_auth_would_default_are_refused() {
    let cases = [
        (
            "<report_id>rid-2026-11-24.lab.test</report_id>",
            "",
            "report_id missing",
        ),
        (
            "<begin>1795478400</begin>",
            "<begin>not-a-number</begin>",
            "date_range",
        ),
        (
            "<p>reject</p>",
            "<p>invalid-policy</p>",
            "policy_published/p",
        ),
        (
            "<source_ip>192.0.2.25</source_ip>",
            "<source_ip>bad ip</source_ip>",
            "record 1: row/source_ip",
        ),
        (
            "<count>3</count>",
            "<count>three</count>",
            "record 2: row/count",
        ),
        (
            "<domain>lab.test</domain>\n    <adkim>",
            "<domain></domain>\n    <adkim>",
            "policy_published/domain",
        ),
    ];
    for (from, to, expect) in cases {
        assert!(DMARC_XML.contains(from), "{from}");
        let xml = DMARC_XML.replacen(from, to, 1);
        let reason = refusal(decode_payload("r.xml", "", xml.as_bytes(), &limits()));
        assert!(reason.contains(expect), "{from} -> {reason}");
    }
    let start = DMARC_XML.find("  <record>").unwrap();
    let end = DMARC_XML.rfind("</record>").unwrap() + "</record>\n".len();
    let xml = format!("{}{}", &DMARC_XML[..start], &DMARC_XML[end..]);
    let reason = refusal(decode_payload("r.xml", "", xml.as_bytes(), &limits()));
    assert!(reason.contains("no <record>"), "{reason}");

    let json = TLSRPT_JSON.replace(
        "\"report-id\": \"5065427c-23d3-47ca-b6e0-946ea0e8c4be\",",
        "",
    );
    let reason = refusal(decode_payload("r.json", "", json.as_bytes(), &limits()));
    assert!(reason.contains("report-id missing"), "{reason}");
    let json = TLSRPT_JSON.replace("2016-04-01T00:00:00Z", "yesterday");
    let reason = refusal(decode_payload("r.json", "", json.as_bytes(), &limits()));
    assert!(reason.contains("date-range"), "{reason}");
}

#[test]
fn dtd_and_entities_are_refused_before_parsing() {
    for xml in [
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><feedback>&x;</feedback>",
        "<!doctype feedback><feedback/>",
        "<feedback><!-- <!ENTITY hidden \"in a comment\"> --></feedback>",
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><feedback>&lol2;</feedback>",
    ] {
        let reason = refusal(decode_payload(
            "x.xml",
            "text/xml",
            xml.as_bytes(),
            &limits(),
        ));
        assert!(
            reason.starts_with("x.xml: XML with a DTD"),
            "{xml}: {reason}"
        );
        assert!(reason.contains("nothing it names is read"), "{reason}");
    }
    // Also inside a gzip and a zip: the scan is on the decompressed bytes.
    let xxe = b"<!DOCTYPE r [<!ENTITY x SYSTEM \"http://192.0.2.1/\">]><feedback>&x;</feedback>";
    let reason = refusal(decode_payload("x.xml.gz", "", &gzip(xxe), &limits()));
    assert!(reason.contains("DTD"), "{reason}");
    let reason = refusal(decode_payload(
        "x.zip",
        "",
        &zip(&[("x.xml", xxe)]),
        &limits(),
    ));
    assert!(
        reason.starts_with("x.zip (member x.xml): XML with a DTD"),
        "{reason}"
    );
    // Other markup declarations outside comments too.
    let reason = refusal(decode_payload(
        "x.xml",
        "",
        b"<feedback><!ATTLIST a b CDATA \"v\"></feedback>",
        &limits(),
    ));
    assert!(reason.contains("markup declaration"), "{reason}");
}

#[test]
fn deep_nesting_and_too_many_records_are_refused() {
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    let t = Instant::now();
    let reason = refusal(decode_payload("deep.xml", "", deep.as_bytes(), &limits()));
    assert!(
        reason.contains("deeper than max_xml_depth (32) at byte 96"),
        "{reason}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // 32 levels are fine for the scanner (mail-auth then refuses the shape).
    let ok = format!(
        "<feedback>{}{}</feedback>",
        "<a>".repeat(31),
        "</a>".repeat(31)
    );
    let reason = refusal(decode_payload("d.xml", "", ok.as_bytes(), &limits()));
    assert!(!reason.contains("deeper"), "{reason}");
    // Self-closing tags, comments and quoted `>` do not nest.
    let flat = format!(
        "<feedback>{}<!-- <a><a><a> --><x y=\"<a>\"/></feedback>",
        "<a/>".repeat(1000)
    );
    let reason = refusal(decode_payload("f.xml", "", flat.as_bytes(), &limits()));
    assert!(!reason.contains("deeper"), "{reason}");

    let record = &DMARC_XML[DMARC_XML.find("  <record>").unwrap()
        ..DMARC_XML
            .find("  <record>\n    <row>\n      <source_ip>2001")
            .unwrap()];
    let many = DMARC_XML.replacen(record, &record.repeat(11), 1);
    let small = ReportLimits {
        max_records: 10,
        ..limits()
    };
    let reason = refusal(decode_payload("m.xml", "", many.as_bytes(), &small));
    assert!(
        reason.contains("more than max_records (10) <record> elements"),
        "{reason}"
    );
    let r = dmarc(decode_payload("m.xml", "", many.as_bytes(), &limits()));
    assert_eq!(r.record.len(), 12);

    let deep_json = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let reason = refusal(decode_payload(
        "d.json",
        "",
        deep_json.as_bytes(),
        &limits(),
    ));
    assert!(
        reason.contains("JSON nested deeper than max_xml_depth (32)"),
        "{reason}"
    );
    // Brackets inside strings do not count.
    let quoted = TLSRPT_JSON.replace("Company-X", &"[{\\\"".repeat(100));
    tlsrpt(decode_payload("q.json", "", quoted.as_bytes(), &limits()));
}

#[test]
fn bombs_are_refused_within_the_limits() {
    let small = ReportLimits {
        max_uncompressed: MIB,
        ..limits()
    };
    let zeros = vec![0u8; 4 * MIB];
    // gzip: refused after inflating max_uncompressed + 1 bytes.
    let gz = gzip(&zeros);
    assert!(gz.len() < 8 * 1024, "{}", gz.len());
    let reason = refusal(decode_payload(
        "bomb.xml.gz",
        "application/gzip",
        &gz,
        &small,
    ));
    assert!(
        reason.contains("gzip content expands beyond max_uncompressed (1048576 bytes); refused after inflating 1048577 bytes"),
        "{reason}"
    );
    // zip with an honest header: refused by the declared size, before inflating.
    let z = zip(&[("bomb.xml", &zeros)]);
    let reason = refusal(decode_payload("bomb.zip", "application/zip", &z, &small));
    assert!(
        reason.contains("declares 4194304 bytes uncompressed"),
        "{reason}"
    );
    // zip whose header lies: the member is inflated through the same bound anyway.
    let lying = patch_zip_sizes(z, 1000);
    let reason = refusal(decode_payload(
        "lying.zip",
        "application/zip",
        &lying,
        &small,
    ));
    assert!(
        reason.contains("expands beyond max_uncompressed") || reason.contains("corrupt"),
        "{reason}"
    );
    // Many members: refused from the end of central directory record alone.
    let members: Vec<(String, Vec<u8>)> = (0..17)
        .map(|i| (format!("{i}.xml"), vec![b'<'; 10]))
        .collect();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let reason = refusal(decode_payload("many.zip", "", &zip(&refs), &limits()));
    assert!(
        reason.contains("zip archive of 17 members (more than 16)"),
        "{reason}"
    );
    // An encrypted member (general purpose flag bit 0) cannot be read: refused.
    let mut enc = zip(&[("r.xml", DMARC_XML.as_bytes())]);
    enc[6] |= 1;
    let eocd = enc.len() - 22;
    let cd = u32::from_le_bytes(enc[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    enc[cd + 8] |= 1;
    let reason = refusal(decode_payload("enc.zip", "", &enc, &limits()));
    assert!(
        reason.starts_with("enc.zip: zip member r.xml: "),
        "{reason}"
    );
    // Nested archives are not reports.
    let reason = refusal(decode_payload(
        "n.xml.gz",
        "",
        &gzip(&gzip(b"<feedback/>")),
        &limits(),
    ));
    assert!(reason.contains("nested archives"), "{reason}");
    // Plain documents are bounded too.
    let reason = refusal(decode_payload("big.xml", "", &vec![b' '; MIB + 1], &small));
    assert!(reason.contains("over max_uncompressed"), "{reason}");
    // And so are the attachment and the message.
    let tiny = ReportLimits {
        max_attachment: 100,
        max_message: 1000,
        ..limits()
    };
    let reason = refusal(decode_payload("r.xml", "", DMARC_XML.as_bytes(), &tiny));
    assert!(
        reason.contains("over max_attachment (100 bytes)"),
        "{reason}"
    );
    let raw = message_with(&[("application/gzip", "r.xml.gz", &gzip(DMARC_XML.as_bytes()))]);
    let reason = refusal(reports_in_message(&raw, &tiny));
    assert!(reason.contains("over max_message (1000 bytes)"), "{reason}");
    // Corrupt containers.
    let reason = refusal(decode_payload("c.gz", "", b"\x1f\x8b\x08broken", &limits()));
    assert!(reason.contains("corrupt gzip data"), "{reason}");
    let reason = refusal(decode_payload("c.zip", "", b"PK\x03\x04broken", &limits()));
    assert!(reason.contains("corrupt zip archive"), "{reason}");
    let reason = refusal(decode_payload("u.xml", "", b"\xff\xfe<\0f\0", &limits()));
    assert!(reason.contains("UTF-16"), "{reason}");
}

/// Sets every uncompressed-size field of a (non-zip64) archive to `size`.
fn patch_zip_sizes(mut z: Vec<u8>, size: u32) -> Vec<u8> {
    let mut i = 0;
    while i + 4 <= z.len() {
        let at = match &z[i..i + 4] {
            b"PK\x03\x04" => Some(i + 22),
            b"PK\x01\x02" => Some(i + 24),
            _ => None,
        };
        if let Some(at) = at {
            z[at..at + 4].copy_from_slice(&size.to_le_bytes());
        }
        i += 1;
    }
    z
}

#[test]
fn limits_have_the_documented_defaults() {
    let l = ReportLimits::default();
    assert_eq!(l.max_message, 25 * 1024 * 1024);
    assert_eq!(l.max_attachment, 10 * 1024 * 1024);
    assert_eq!(l.max_uncompressed, 50 * 1024 * 1024);
    assert_eq!(l.max_xml_depth, 32);
    assert_eq!(l.max_records, 100_000);
}

#[test]
fn elements_mail_auth_does_not_know_under_the_root_are_cut_so_no_record_is_lost() {
    // RFC 9990's <extension> (and any vendor element) before the records: mail-auth alone
    // stops at its end tag and returns the report without records.
    let xml = DMARC_XML.replacen(
        "  <record>",
        "  <extension>\n    <v:region xmlns:v=\"urn:x\">nz</v:region>\n  </extension>\n  \
         <vendor-note/>\n  <other>text <b>bold</b></other>\n  <record>",
        1,
    );
    assert_eq!(Report::parse_xml(xml.as_bytes()).unwrap().record.len(), 0);
    check_dmarc(&dmarc(decode_payload(
        "x.xml",
        "",
        xml.as_bytes(),
        &limits(),
    )));
    check_dmarc(&dmarc(decode_payload(
        "x.xml.gz",
        "",
        &gzip(xml.as_bytes()),
        &limits(),
    )));

    let mut v = b"<feedback><version>1</version><x a='>'>1<y/></x><record>r</record><z/>\
                  <!-- <q> --><extension><e/></extension></feedback>"
        .to_vec();
    let scan = scan_xml("t.xml", &v, &limits()).unwrap();
    cut_ranges(&mut v, &scan.foreign);
    assert_eq!(
        String::from_utf8(v).unwrap(),
        "<feedback><version>1</version><record>r</record><!-- <q> --></feedback>"
    );
}

#[test]
fn unknown_elements_under_the_root_count_against_max_records() {
    let xml = DMARC_XML.replacen("  <record>", "  <x/><y/><z>1</z>\n  <record>", 1);
    let small = ReportLimits {
        max_records: 2,
        ..limits()
    };
    let reason = refusal(decode_payload("u.xml", "", xml.as_bytes(), &small));
    assert!(
        reason.contains("more than max_records (2) elements mail-auth does not read"),
        "{reason}"
    );
}

#[test]
fn a_zip_of_thousands_of_members_is_refused_quickly() {
    // The zip crate reads the whole central directory (bounded by max_attachment) before we
    // see the count: 20,000 stored members are still refused at once, none inflated.
    let mut w = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        SimpleFileOptions::default().compression_method(mail_auth::zip::CompressionMethod::Stored);
    for i in 0..20_000 {
        w.start_file(format!("{i}.xml"), stored).unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    let t = Instant::now();
    let reason = refusal(decode_payload("many.zip", "", &z, &limits()));
    assert!(reason.contains("zip archive of 20000 members"), "{reason}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
