//! `kind: reports` against the lab: DMARC aggregate and TLS-RPT reports mailed to
//! reports@lab.test through the real MX, in every form senders use (XML, gzip, zip, TLS-RPT
//! JSON plain and gzip), read by a running daemon over IMAP, counted in its SQLite store, and
//! checked on `/metrics`; a restart keeps the counters, a duplicate counts once, a malformed
//! report goes to the invalid folder with a finding.

mod common;

use std::time::{Duration, Instant};

use common::reports::*;
use common::*;

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
