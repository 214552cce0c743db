//! DMARC policy discovery end to end, as a new user meets it (issue 27): `check_mailauth dns
//! -v` against an in-process DNS server on loopback that serves a two-label public suffix
//! (`co.uk`). No lab is needed; nothing asks the machine's resolver.

mod common;

use common::faults::*;
use common::run;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;

/// `example.co.uk` publishes a policy (with `sp=` and `np=`); `other.co.uk` publishes none,
/// and the suffix `co.uk` publishes a PSD record (`psd=y`). `mail.example.co.uk` and
/// `shop.other.co.uk` exist (an A record); every other name is NXDOMAIN.
fn zone(name: &str, rtype: RecordType, _: Via) -> DnsReply {
    match (name, rtype) {
        ("_dmarc.example.co.uk", RecordType::TXT) => DnsReply::Records(vec![txt(
            name,
            &["v=DMARC1; p=reject; sp=reject; np=quarantine; rua=mailto:d@example.co.uk"],
        )]),
        ("_dmarc.co.uk", RecordType::TXT) => {
            DnsReply::Records(vec![txt(name, &["v=DMARC1; p=none; sp=quarantine; psd=y"])])
        }
        ("mail.example.co.uk" | "shop.other.co.uk", RecordType::A) => {
            DnsReply::Records(vec![a(name, "192.0.2.25")])
        }
        ("mail.example.co.uk" | "shop.other.co.uk", _) => DnsReply::Records(vec![]),
        _ => DnsReply::Code(ResponseCode::NXDomain),
    }
}

/// The `-v` lines of `check_mailauth dns -H domain` whose check starts with `dmarc:`.
fn dmarc_lines(dns: &DnsFault, domain: &str) -> Vec<String> {
    let out = run(
        "check_mailauth",
        &[
            "dns",
            "-H",
            domain,
            "--resolver",
            &dns.resolver(),
            "--timeout",
            "10",
            "-v",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<String> = stdout
        .lines()
        .filter(|l| l.contains("] dmarc:"))
        .map(str::to_string)
        .collect();
    assert!(!lines.is_empty(), "{stdout}");
    lines
}

fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {lines:#?}"))
}

#[test]
fn a_subdomain_under_a_two_label_suffix_inherits_its_organizations_policy() {
    let dns = dns_fault("127.0.0.1", zone);
    let lines = dmarc_lines(&dns, "mail.example.co.uk");
    // It used to be CRITICAL "no DMARC record at _dmarc.mail.example.co.uk".
    assert!(
        !lines.iter().any(|l| l.starts_with("[CRITICAL]")),
        "{lines:#?}"
    );
    let rec = line(&lines, "[OK] dmarc:record:");
    assert!(
        rec.contains("_dmarc.example.co.uk (inherited from example.co.uk)"),
        "{rec}"
    );
    let policy = line(&lines, "[OK] dmarc:policy:");
    assert!(
        policy.contains("sp=reject") && policy.contains("inherited from example.co.uk"),
        "{policy}"
    );
    assert!(
        !dns.asked(Via::Udp, "_dmarc.uk"),
        "co.uk's psd=y ends the walk"
    );
}

#[test]
fn a_subdomain_that_does_not_exist_meets_np() {
    let dns = dns_fault("127.0.0.1", zone);
    let lines = dmarc_lines(&dns, "nosuch.example.co.uk");
    let policy = line(&lines, "[OK] dmarc:policy:");
    assert!(
        policy.contains("np=quarantine") && policy.contains("does not exist"),
        "{policy}"
    );
}

#[test]
fn an_organization_without_a_record_gets_the_public_suffix_policy_and_a_warning() {
    let dns = dns_fault("127.0.0.1", zone);
    let lines = dmarc_lines(&dns, "shop.other.co.uk");
    let policy = line(&lines, "[OK] dmarc:policy:");
    assert!(
        policy.contains("sp=quarantine")
            && policy.contains("from the public suffix domain co.uk (psd=y)"),
        "{policy}"
    );
    // RFC 7489 receivers (public suffix list: other.co.uk) find no record at all.
    let note = line(&lines, "[WARNING] dmarc:discovery:");
    assert!(
        note.contains("RFC 7489") && note.contains("no record"),
        "{note}"
    );
}
