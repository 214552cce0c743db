//! `kind: dns` and `lint` against the lab's DNS: the healthy domain, the `ipv4:` typo named
//! with its position, a domain with one SERVFAIL and one silent nameserver (reported as such
//! while the record checks still pass), and check_mailauth's exit codes.

mod common;

use common::*;

fn lint(domain: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    lab();
    let mut args = vec!["lint", domain, "--resolver", LAB_DNS, "--format", "json"];
    args.extend_from_slice(extra);
    let out = run("mailauth-probe", &args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), v)
}

fn findings(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["outcome"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn states(v: &serde_json::Value, prefix: &str) -> Vec<String> {
    findings(v)
        .iter()
        .filter(|f| f["check"].as_str().unwrap_or("").starts_with(prefix))
        .map(|f| f["state"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn healthy_lab_domain_is_ok() {
    lab();
    let anchor = lab_anchor_ds();
    let ca = lab_ca();
    let (code, v) = lint(
        "lab.test",
        &[
            "--selector",
            "s1",
            "--ip",
            "127.0.1.26",
            "--trust-anchor",
            &anchor,
            "--ca-file",
            &ca,
        ],
    );
    let bad: Vec<_> = findings(&v)
        .into_iter()
        .filter(|f| f["state"] != "OK")
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_eq!(code, 0);
    for prefix in [
        "spf:record",
        "spf:syntax",
        "spf:pass:127.0.1.26",
        "dmarc:policy",
        "dkim:s1",
        "mx:record",
        "ptr:127.0.1.26",
        "mta-sts:record",
        "tlsrpt:record",
        "ns:ns1.lab.test",
        "ns:ns2.lab.test",
        "dnssec:signed",
        "dnssec:validation",
        "dnssec:rrsig",
        "mta-sts:cert",
        "mta-sts:policy",
        "mta-sts:mx:mx.lab.test",
    ] {
        assert_eq!(
            states(&v, prefix).first().map(String::as_str),
            Some("OK"),
            "{prefix}"
        );
    }
    assert_eq!(v["outcome"]["report"]["dmarc_policy"], "reject");
    assert_eq!(v["outcome"]["report"]["mta_sts_mode"], "enforce");
    assert!(
        v["outcome"]["report"]["mta_sts_cert"]["not_after"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(v["outcome"]["report"]["dkim_key_bits"][0][1], 2048);
    // DNSSEC validated from the lab's anchor, and the earliest RRSIG expiry exported.
    assert_eq!(v["outcome"]["report"]["dnssec_validated"], true);
    let expiry = v["outcome"]["report"]["rrsig_expiry"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        expiry > now + 86400 && expiry < now + 40 * 86400,
        "{expiry} vs {now}"
    );
}

#[test]
fn dnssec_anchors_as_dnskey_work_and_a_wrong_anchor_is_ours_to_fix() {
    lab();
    let dnskey = lab_dir()
        .join("anchors/lab.test.dnskey")
        .display()
        .to_string();
    let (_, v) = lint("lab.test", &["--trust-anchor", &dnskey]);
    assert_eq!(states(&v, "dnssec:validation"), vec!["OK"], "{v:#}");
    // A DS that matches no key: UNKNOWN (our configuration), never OK.
    let dir = tempfile::tempdir().unwrap();
    let ds = std::fs::read_to_string(lab_anchor_ds()).unwrap();
    let first = ds.lines().next().unwrap();
    let mut fields: Vec<&str> = first.split_whitespace().collect();
    let zeros = "0".repeat(fields.last().unwrap().len());
    *fields.last_mut().unwrap() = &zeros;
    let bad = write_temp(dir.path(), "bad.ds", &fields.join(" "));
    let (code, v) = lint(
        "lab.test",
        &[
            "--trust-anchor",
            bad.to_str().unwrap(),
            "--ca-file",
            &lab_ca(),
        ],
    );
    assert_eq!(states(&v, "dnssec:validation"), vec!["UNKNOWN"], "{v:#}");
    assert_eq!(code, 3);
    // Without the lab CA the policy host's certificate does not verify: the policy is
    // unusable for senders (CRITICAL), and the certificate's facts are still reported.
    let (_, v) = lint("lab.test", &[]);
    assert_eq!(states(&v, "mta-sts:policy"), vec!["CRITICAL"]);
    assert_eq!(states(&v, "mta-sts:cert"), vec!["CRITICAL"]);
    assert!(
        v["outcome"]["report"]["mta_sts_cert"]["subject"]
            .as_str()
            .unwrap()
            .contains("mta-sts.lab.test")
    );
    // An unsigned zone is fine and says so.
    let (_, v) = lint("flaky.test", &["--trust-anchor", &lab_anchor_ds()]);
    assert_eq!(states(&v, "dnssec:signed"), vec!["OK"]);
    assert_eq!(v["outcome"]["report"]["dnssec_signed"], false);
}

#[test]
fn ipv4_typo_is_critical_with_term_and_position() {
    let (code, v) = lint("spftypo.lab.test", &["--ip", "127.0.1.26"]);
    assert_eq!(code, 2);
    let f = findings(&v)
        .into_iter()
        .find(|f| f["check"] == "spf:syntax" && f["state"] == "CRITICAL")
        .expect("a CRITICAL spf:syntax finding");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("unknown mechanism `ipv4`"),
        "{f}"
    );
    let loc = &f["location"];
    assert_eq!(loc["text"], "v=spf1 ipv4:127.0.1.26 -all");
    assert_eq!(
        (loc["start"].as_u64(), loc["end"].as_u64()),
        (Some(7), Some(11))
    );
    // mail-auth alone would say fail; we say why strict receivers reject.
    assert_eq!(states(&v, "spf:pass:127.0.1.26"), vec!["CRITICAL"]);

    // The text report underlines the term.
    let out = run(
        "mailauth-probe",
        &["lint", "spftypo.lab.test", "--resolver", LAB_DNS],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("v=spf1 ipv4:127.0.1.26 -all\n                    ^^^^"),
        "{text}"
    );
}

#[test]
fn failing_nameservers_are_reported_while_records_still_check_out() {
    let (code, v) = lint("flaky.test", &[]);
    assert_eq!(code, 1, "{v:#}");
    let ns: Vec<_> = findings(&v)
        .into_iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with("ns:"))
        .collect();
    let by = |addr: &str| {
        ns.iter()
            .find(|f| f["check"].as_str().unwrap().ends_with(addr))
            .unwrap_or_else(|| panic!("no finding for {addr}: {ns:#?}"))
            .clone()
    };
    assert_eq!(by("127.0.1.53")["state"], "OK");
    let fail = by("127.0.3.53");
    assert_eq!(fail["state"], "WARNING");
    assert!(
        fail["summary"].as_str().unwrap().contains("SERVFAIL"),
        "{fail}"
    );
    let silent = by("127.0.4.53");
    assert_eq!(silent["state"], "WARNING");
    assert!(
        silent["summary"]
            .as_str()
            .unwrap()
            .contains("does not answer"),
        "{silent}"
    );
    for prefix in ["spf:record", "spf:syntax", "dmarc:policy", "mx:record"] {
        assert_eq!(
            states(&v, prefix).first().map(String::as_str),
            Some("OK"),
            "{prefix}"
        );
    }
    let ups: Vec<bool> = v["outcome"]["report"]["nameservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["up"].as_bool().unwrap())
        .collect();
    assert_eq!(ups.iter().filter(|u| **u).count(), 1, "{ups:?}");
}

#[test]
fn check_mailauth_dns_exit_codes() {
    lab();
    let plugin = |args: &[&str]| {
        let mut all = vec!["dns", "--resolver", LAB_DNS];
        all.extend_from_slice(args);
        let out = run("check_mailauth", &all);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let anchor = lab_anchor_ds();
    let ca = lab_ca();
    let (code, out) = plugin(&[
        "-H",
        "lab.test",
        "--selector",
        "s1",
        "--ip",
        "127.0.1.26",
        "--trust-anchor",
        &anchor,
        "--ca-file",
        &ca,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("MAILAUTH OK - dns: "), "{out}");
    assert!(out.contains("'spf_lookups'=0;;;0;10"), "{out}");
    assert!(out.contains("'rrsig_days_left'="), "{out}");
    // -c on the days left: a threshold above the signatures' lifetime makes it CRITICAL.
    let (code, out) = plugin(&["-H", "lab.test", "--trust-anchor", &anchor, "-c", "30:"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("rrsig_days_left is"), "{out}");
    let (code, out) = plugin(&["-H", "spftypo.lab.test"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown mechanism `ipv4`"), "{out}");
    let (code, out) = plugin(&["-H", "flaky.test"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("'nameservers_failing'=2;;;0;3"), "{out}");
    // A selector that does not exist.
    let (code, out) = plugin(&["-H", "lab.test", "--selector", "nope"]);
    assert_eq!(code, 2, "{out}");
}
