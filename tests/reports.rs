//! `kind: reports` against the lab: DMARC aggregate and TLS-RPT reports mailed to
//! reports@lab.test through the real MX, in every form senders use (XML, gzip, zip, TLS-RPT
//! JSON plain and gzip), read by a running daemon over IMAP, counted in its SQLite store, and
//! checked on `/metrics`; a restart keeps the counters, a duplicate counts once, a malformed
//! report goes to the invalid folder with a finding.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use mail_auth::report::{ActionDisposition, DmarcResult, Record, Report};

fn b64(data: &[u8]) -> String {
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

fn gzip(data: &[u8]) -> Vec<u8> {
    use mail_auth::flate2::{Compression, write::GzEncoder};
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = mail_auth::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, mail_auth::zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

fn dmarc_xml(org: &str, id: &str, passing: u32, failing: u32) -> String {
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

fn tlsrpt_json(org: &str, id: &str, ok: u32, failed: u32) -> String {
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
fn mail(subject: &str, filename: &str, content_type: &str, payload: &[u8]) -> String {
    format!(
        "From: <dmarc@reporter.test>\r\nTo: <reports@lab.test>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nA report.\r\n--b1\r\nContent-Type: {content_type}; name=\"{filename}\"\r\nContent-Disposition: attachment; filename=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        b64(payload)
    )
}

/// Hands `message` to the lab MX for reports@lab.test, as a reporter's MTA would.
fn deliver(message: &str) {
    smtp_deliver("dmarc@reporter.invalid", "reports@lab.test", message);
}

fn sample_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn reports_in_every_form_are_counted_once_and_kept_across_restarts() {
    lab();
    let pid = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reports.sqlite");
    let processed = format!("T{pid}-Processed");
    let invalid = format!("T{pid}-Invalid");
    let config = format!(
        "global:\n  resolver: [\"{LAB_DNS}\"]\n  ca_file: {}\nprobes:\n  - name: reports-lab\n    kind: reports\n    interval: 2s\n    timeout: 2s\n    store: {}\n    processed_folder: {processed}\n    invalid_folder: {invalid}\n    imap:\n      host: imap.lab.test\n      username: reports@lab.test\n      password_file: {}\n",
        lab_ca(),
        store.display(),
        lab_dir()
            .join("secrets/reports@lab.test.password")
            .display()
    );
    let id = |n: &str| format!("{pid}-{n}");
    let xml = dmarc_xml("Reporter A", &id("xml"), 5, 1);
    let gz = dmarc_xml("Reporter A", &id("gz"), 7, 1);
    let zipped = dmarc_xml("Reporter B", &id("zip"), 3, 2);
    let tls = tlsrpt_json("Reporter T", &id("tls"), 40, 3);
    let tls_gz = tlsrpt_json("Reporter T", &id("tlsgz"), 10, 0);
    for m in [
        mail("xml", "a.xml", "text/xml", xml.as_bytes()),
        mail("gz", "a.xml.gz", "application/gzip", &gzip(gz.as_bytes())),
        mail(
            "zip",
            "b.zip",
            "application/zip",
            &zip("b.xml", zipped.as_bytes()),
        ),
        mail("tls", "t.json", "application/tlsrpt+json", tls.as_bytes()),
        mail(
            "tlsgz",
            "t.json.gz",
            "application/tlsrpt+gzip",
            &gzip(tls_gz.as_bytes()),
        ),
        // The same report again: counted once.
        mail("dup", "a.xml", "text/xml", xml.as_bytes()),
        mail(
            "bad",
            "bad.xml",
            "text/xml",
            b"<feedback><report_metadata>not closed",
        ),
    ] {
        deliver(&m);
    }
    let d = Daemon::start(&config);
    let dmarc = |t: &str| sample_sum(t, "mailauth_dmarc_report_messages_total{");
    // 5+1 + 7+1 + 3+2 = 19 messages over three reports.
    d.wait_for(Duration::from_secs(30), "19 DMARC messages counted", |d| {
        dmarc(&d.metrics()) >= 19.0
            && sample_sum(&d.metrics(), "mailauth_tlsrpt_sessions_total{") >= 53.0
    });
    // Give the daemon a few more runs: nothing is counted twice.
    std::thread::sleep(Duration::from_secs(5));
    let text = d.metrics();
    assert_eq!(dmarc(&text), 19.0, "{text}");
    assert_eq!(
        sample_sum(&text, "mailauth_dmarc_reports_total{"),
        3.0,
        "{text}"
    );
    assert!(text.contains("mailauth_dmarc_report_messages_total{probe=\"reports-lab\",reporter=\"reporter a\",domain=\"lab.test\",disposition=\"reject\",dkim=\"fail\",spf=\"fail\"} 2"), "{text}");
    assert_eq!(
        sample_sum(&text, "mailauth_tlsrpt_sessions_total{"),
        53.0,
        "{text}"
    );
    assert!(
        text.contains("result=\"starttls-not-supported\"} 3"),
        "{text}"
    );
    assert_eq!(
        sample_sum(&text, "mailauth_reports_invalid_messages_total{"),
        1.0,
        "{text}"
    );
    assert!(text.contains("mailauth_check_status{probe=\"reports-lab\",target=\"reports@lab.test\",check=\"invalid\"} 1.0"), "{text}");
    // Moved by folder: every report message out of INBOX, the malformed one into invalid.
    let maildir = lab_dir().join("imap/mail/lab.test/reports/Maildir");
    let count = |folder: &str| {
        ["cur", "new"]
            .iter()
            .filter_map(|s| std::fs::read_dir(maildir.join(format!(".{folder}")).join(s)).ok())
            .flatten()
            .count()
    };
    assert_eq!(count(&invalid), 1);
    assert_eq!(count(&processed), 6);
    drop(d);

    // A restart: the counters come back from the store, and a resent report counts nothing.
    deliver(&mail(
        "dup2",
        "a.xml.gz",
        "application/gzip",
        &gzip(xml.as_bytes()),
    ));
    let d = Daemon::start(&config);
    let started = Instant::now();
    d.wait_for(Duration::from_secs(20), "the resent report moved", |_| {
        count(&processed) == 7
    });
    let text = d.metrics();
    assert_eq!(dmarc(&text), 19.0, "{text}");
    assert_eq!(
        sample_sum(&text, "mailauth_dmarc_reports_total{"),
        3.0,
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // It reads and moves mail: never through /probe.
    let (status, body) = get(d.addr, "/probe?module=reports-lab&target=reports@lab.test");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("only on its schedule"), "{body}");

    // What a person reads: top sources with pass/fail, new sources, failing reporters.
    let out = run(
        "mailauth-probe",
        &[
            "reports",
            "summary",
            "--config",
            d.config.to_str().unwrap(),
            "--days",
            "7",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("19 message(s) from 2 source(s), 15 passing DMARC"),
        "{text}"
    );
    let top = text.lines().position(|l| l.contains("127.0.1.26")).unwrap();
    let second = text.lines().position(|l| l.contains("192.0.2.66")).unwrap();
    assert!(top < second, "sorted by volume: {text}");
    assert!(
        text.contains("reporter a: 2 of 14 message(s) failing DMARC"),
        "{text}"
    );
    assert!(
        text.contains("reporter b: 2 of 5 message(s) failing DMARC"),
        "{text}"
    );
}
