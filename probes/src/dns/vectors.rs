//! Vector tests of the DNS checks on injected answers ([`FakeDns`]), no network: the SPF
//! walk (lookup and void limits, include and redirect errors), DKIM keys, MX hosts and their
//! addresses, PTR and forward-confirmed reverse DNS. Each case names the finding it expects
//! by check name, state and a telling part of its text. (DMARC discovery's vectors sit
//! beside it, in `dmarc/discover.rs`.)

use hickory_resolver::proto::rr::RecordType::{A, AAAA, CNAME, MX, NS, PTR, SOA, TXT};

use super::spf::SpfRecord;
use super::{DnsSettings, dkim_checks, mx_checks, nameservers, ptr_checks, spf_walk};
use crate::resolver::{DnsFailure, FakeDns};
use crate::{Finding, State};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Asserts that `findings` hold one with `check` and `state` whose summary contains `text`.
fn expect(findings: &[Finding], check: &str, state: State, text: &str) {
    assert!(
        findings
            .iter()
            .any(|f| f.check == check && f.state == state && f.summary.contains(text)),
        "no {check} {state:?} containing {text:?} in {findings:#?}"
    );
}

fn spf(dns: &FakeDns, record: &str) -> Vec<Finding> {
    block_on(spf_walk::walk(
        "example.org",
        &SpfRecord::parse(record),
        dns,
    ))
    .findings
}

#[test]
fn spf_over_ten_lookups_is_critical() {
    let terms: Vec<String> = (1..=11).map(|i| format!("a:h{i}.example.org")).collect();
    let f = spf(
        &FakeDns::default(),
        &format!("v=spf1 {} -all", terms.join(" ")),
    );
    expect(
        &f,
        "spf:lookups",
        State::Critical,
        "11 DNS lookups: over the limit of 10",
    );
}

#[test]
fn spf_nine_lookups_is_a_warning() {
    let terms: Vec<String> = (1..=9).map(|i| format!("a:h{i}.example.org")).collect();
    let f = spf(
        &FakeDns::default(),
        &format!("v=spf1 {} -all", terms.join(" ")),
    );
    expect(
        &f,
        "spf:lookups",
        State::Warning,
        "9 DNS lookups: close to the limit",
    );
}

#[test]
fn spf_lookups_count_through_includes_and_redirect() {
    let dns = FakeDns::default()
        .txt_at(
            "_spf.example.net",
            &["v=spf1 include:a.example.net mx -all"],
        )
        .txt_at("a.example.net", &["v=spf1 ip4:192.0.2.0/24 -all"]);
    let f = spf(&dns, "v=spf1 redirect=_spf.example.net");
    expect(&f, "spf:lookups", State::Ok, "SPF needs 3 DNS lookups");
}

#[test]
fn spf_three_void_lookups_are_critical() {
    let f = spf(
        &FakeDns::default(),
        "v=spf1 a:v1.example.org exists:v2.example.org mx:v3.example.org -all",
    );
    expect(&f, "spf:void", State::Critical, "3 void lookups");
}

#[test]
fn spf_two_void_lookups_are_within_the_limit() {
    let f = spf(
        &FakeDns::default(),
        "v=spf1 a:v1.example.org mx:v2.example.org -all",
    );
    expect(&f, "spf:void", State::Ok, "SPF causes 2 void lookups");
}

#[test]
fn spf_include_without_a_record_is_a_permerror() {
    let dns = FakeDns::default().txt_at("other.example.net", &["not spf"]);
    let f = spf(&dns, "v=spf1 include:other.example.net -all");
    expect(
        &f,
        "spf:include",
        State::Critical,
        "has no SPF record: receivers answer permerror",
    );
}

#[test]
fn spf_include_with_two_records_is_a_permerror() {
    let dns = FakeDns::default().txt_at("two.example.net", &["v=spf1 -all", "v=spf1 ~all"]);
    let f = spf(&dns, "v=spf1 include:two.example.net -all");
    expect(&f, "spf:include", State::Critical, "has 2 SPF records");
}

#[test]
fn spf_include_servfail_is_a_temperror_for_receivers() {
    let dns = FakeDns::default().fail_all("broken.example.net", DnsFailure::ServFail);
    let f = spf(&dns, "v=spf1 include:broken.example.net -all");
    expect(&f, "spf:include", State::Critical, "answered SERVFAIL");
}

#[test]
fn spf_include_timeout_is_unknown() {
    let dns = FakeDns::default().fail_all("slow.example.net", DnsFailure::Timeout);
    let f = spf(&dns, "v=spf1 include:slow.example.net -all");
    expect(&f, "spf:include", State::Unknown, "could not get an answer");
}

#[test]
fn spf_redirect_to_a_name_without_spf_is_a_permerror() {
    let f = spf(&FakeDns::default(), "v=spf1 redirect=gone.example.net");
    expect(
        &f,
        "spf:include",
        State::Critical,
        "redirect=gone.example.net",
    );
}

#[test]
fn spf_include_loop_is_a_permerror() {
    let dns = FakeDns::default()
        .txt_at("a.example.net", &["v=spf1 include:b.example.net -all"])
        .txt_at("b.example.net", &["v=spf1 include:a.example.net -all"]);
    let f = spf(&dns, "v=spf1 include:a.example.net -all");
    expect(&f, "spf:include", State::Critical, "SPF loop");
}

fn dkim(dns: &FakeDns) -> Vec<Finding> {
    let settings = DnsSettings {
        selectors: vec!["s1".into()],
        ..DnsSettings::default()
    };
    block_on(dkim_checks("example.org", &settings, dns, &mut vec![]))
}

const KEY_NAME: &str = "s1._domainkey.example.org";

/// A 1024-bit RSA SubjectPublicKeyInfo (RFC 6376 appendix A's example key for brisbane).
const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";

/// A 512-bit RSA SubjectPublicKeyInfo, made for this test with
/// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 | openssl pkey -pubout -outform DER | base64`.
const KEY_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALAkiz8hdTX4F/KeNhluLrhchru151xgIosdHOxPb/ICmwrAMkM+IUJjnwLyFbwcwuFYSiUcgPV1FTiq23KpELUCAwEAAQ==";

#[test]
fn dkim_missing_key_is_critical() {
    let f = dkim(&FakeDns::default());
    expect(
        &f,
        "dkim:s1",
        State::Critical,
        "no DKIM key at s1._domainkey.example.org",
    );
}

#[test]
fn dkim_key_name_without_txt_is_critical() {
    let dns = FakeDns::default().fail(KEY_NAME, TXT, DnsFailure::NoData);
    expect(&dkim(&dns), "dkim:s1", State::Critical, "no DKIM key at");
}

#[test]
fn dkim_revoked_key_is_critical() {
    let dns = FakeDns::default().txt_at(KEY_NAME, &["v=DKIM1; p="]);
    expect(
        &dkim(&dns),
        "dkim:s1",
        State::Critical,
        "the key is revoked",
    );
}

#[test]
fn dkim_bad_base64_is_critical() {
    let dns = FakeDns::default().txt_at(KEY_NAME, &["v=DKIM1; k=rsa; p=!!not-base64!!"]);
    expect(&dkim(&dns), "dkim:s1", State::Critical, "not valid base64");
}

#[test]
fn dkim_rsa_under_1024_bits_is_critical() {
    let dns = FakeDns::default().txt_at(KEY_NAME, &[&format!("v=DKIM1; k=rsa; p={KEY_512}")]);
    expect(
        &dkim(&dns),
        "dkim:s1",
        State::Critical,
        "RSA key of 512 bits",
    );
}

#[test]
fn dkim_rsa_1024_is_a_warning() {
    let dns = FakeDns::default().txt_at(KEY_NAME, &[&format!("v=DKIM1; k=rsa; p={KEY_1024}")]);
    expect(
        &dkim(&dns),
        "dkim:s1",
        State::Warning,
        "RSA key of 1024 bits: use 2048",
    );
}

#[test]
fn dkim_two_key_records_are_critical() {
    let one = format!("v=DKIM1; p={KEY_1024}");
    let dns = FakeDns::default().txt_at(KEY_NAME, &[&one, &one]);
    expect(
        &dkim(&dns),
        "dkim:s1",
        State::Critical,
        "holds 2 key records",
    );
}

#[test]
fn dkim_txt_without_a_key_is_critical() {
    let dns = FakeDns::default().txt_at(KEY_NAME, &["google-site-verification=abc"]);
    expect(
        &dkim(&dns),
        "dkim:s1",
        State::Critical,
        "holds no DKIM key record",
    );
}

#[test]
fn dkim_servfail_is_critical_and_timeout_unknown() {
    let dns = FakeDns::default().fail_all(KEY_NAME, DnsFailure::ServFail);
    expect(&dkim(&dns), "dkim:s1", State::Critical, "answered SERVFAIL");
    let dns = FakeDns::default().fail_all(KEY_NAME, DnsFailure::Timeout);
    expect(
        &dkim(&dns),
        "dkim:s1",
        State::Unknown,
        "could not get an answer",
    );
}

fn mx(dns: &FakeDns) -> Vec<Finding> {
    block_on(mx_checks(
        "example.org",
        &DnsSettings::default(),
        dns,
        &mut vec![],
    ))
}

#[test]
fn mx_null_is_ok_and_says_no_mail() {
    let dns = FakeDns::default().records("example.org", MX, &["0 ."]);
    expect(&mx(&dns), "mx:record", State::Ok, "null MX");
}

#[test]
fn mx_of_a_missing_domain_is_critical() {
    expect(
        &mx(&FakeDns::default()),
        "mx:record",
        State::Critical,
        "does not exist (NXDOMAIN)",
    );
}

#[test]
fn mx_nodata_falls_back_to_the_address_with_a_warning() {
    let dns = FakeDns::default().records("example.org", A, &["192.0.2.1"]);
    expect(&mx(&dns), "mx:record", State::Warning, "implicit MX");
}

#[test]
fn mx_host_that_is_a_cname_is_a_warning() {
    let dns = FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .records("mail.example.org", CNAME, &["mx.example.net"])
        .records("mx.example.net", A, &["192.0.2.10"]);
    let f = mx(&dns);
    expect(
        &f,
        "mx:host:mail.example.org",
        State::Warning,
        "CNAME to mx.example.net",
    );
    expect(
        &f,
        "mx:host:mail.example.org",
        State::Ok,
        "resolves to 192.0.2.10",
    );
}

#[test]
fn mx_host_without_address_is_critical() {
    let dns = FakeDns::default().records("example.org", MX, &["10 gone.example.org"]);
    expect(
        &mx(&dns),
        "mx:host:gone.example.org",
        State::Critical,
        "has no address",
    );
}

#[test]
fn mx_host_given_as_an_address_is_critical() {
    let dns = FakeDns::default().records("example.org", MX, &["10 192.0.2.1"]);
    expect(
        &mx(&dns),
        "mx:host:192.0.2.1",
        State::Critical,
        "is an address, not a host name",
    );
}

#[test]
fn mx_half_failed_address_lookup_is_reported() {
    let dns = FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .records("mail.example.org", A, &["192.0.2.10"])
        .fail("mail.example.org", AAAA, DnsFailure::ServFail);
    expect(
        &mx(&dns),
        "mx:address:mail.example.org",
        State::Critical,
        "AAAA lookup of mail.example.org failed",
    );
    let dns = FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .records("mail.example.org", A, &["192.0.2.10"])
        .fail("mail.example.org", AAAA, DnsFailure::Timeout);
    expect(
        &mx(&dns),
        "mx:address:mail.example.org",
        State::Unknown,
        "its IPv6 addresses are not checked",
    );
}

#[test]
fn mx_address_servfail_on_both_families_is_critical() {
    let dns = FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .fail_all("mail.example.org", DnsFailure::ServFail);
    expect(
        &mx(&dns),
        "mx:host:mail.example.org",
        State::Critical,
        "answered SERVFAIL",
    );
}

#[test]
fn mx_expected_hosts_differ_is_a_warning() {
    let dns = FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .records("mail.example.org", A, &["192.0.2.10"]);
    let settings = DnsSettings {
        mx_expected: vec!["mx.example.org.".into()],
        ..DnsSettings::default()
    };
    let f = block_on(mx_checks("example.org", &settings, &dns, &mut vec![]));
    expect(
        &f,
        "mx:expected",
        State::Warning,
        "but mx.example.org are expected",
    );
}

/// An MX host at 192.0.2.10 whose PTR is `ptr`.
fn mx_with_ptr(ptr: &[&str]) -> FakeDns {
    FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .records("mail.example.org", A, &["192.0.2.10"])
        .records("192.0.2.10", PTR, ptr)
}

#[test]
fn ptr_forward_confirmed_is_ok() {
    let f = mx(&mx_with_ptr(&["mail.example.org."]));
    expect(
        &f,
        "ptr:mx:192.0.2.10",
        State::Ok,
        "which resolves back to it",
    );
}

#[test]
fn ptr_mismatch_is_a_warning_for_an_mx() {
    let dns = mx_with_ptr(&["host.example.net"]).records("host.example.net", A, &["192.0.2.99"]);
    expect(
        &mx(&dns),
        "ptr:mx:192.0.2.10",
        State::Warning,
        "not forward-confirmed",
    );
}

#[test]
fn ptr_missing_is_a_warning_for_an_mx() {
    let dns = FakeDns::default()
        .records("example.org", MX, &["10 mail.example.org"])
        .records("mail.example.org", A, &["192.0.2.10"]);
    expect(
        &mx(&dns),
        "ptr:mx:192.0.2.10",
        State::Warning,
        "has no PTR record",
    );
}

fn sending(dns: &FakeDns, helo: Option<&str>) -> Vec<Finding> {
    let settings = DnsSettings {
        sending_ips: vec!["192.0.2.20".parse().unwrap()],
        helo: helo.map(str::to_string),
        ..DnsSettings::default()
    };
    block_on(ptr_checks(&settings, dns))
}

#[test]
fn ptr_missing_for_a_sending_ip_is_critical() {
    expect(
        &sending(&FakeDns::default(), None),
        "ptr:192.0.2.20",
        State::Critical,
        "has no PTR",
    );
}

#[test]
fn ptr_servfail_for_a_sending_ip_is_critical() {
    let dns = FakeDns::default().fail("192.0.2.20", PTR, DnsFailure::ServFail);
    expect(
        &sending(&dns, None),
        "ptr:192.0.2.20",
        State::Critical,
        "answered SERVFAIL",
    );
}

#[test]
fn helo_resolving_elsewhere_is_a_warning() {
    let dns = FakeDns::default().records("out.example.org", A, &["192.0.2.99"]);
    let f = sending(&dns, Some("out.example.org"));
    expect(&f, "helo", State::Warning, "none of the sending IPs");
}

#[test]
fn helo_not_resolving_is_a_warning() {
    let f = sending(&FakeDns::default(), Some("out.example.org"));
    expect(&f, "helo", State::Warning, "does not resolve");
}

/// A zone example.org served by ns1 (192.0.2.53) and ns2 (192.0.2.54).
fn zone(ns1: FakeDns, ns2: FakeDns) -> FakeDns {
    FakeDns::default()
        .records("example.org", NS, &["ns1.example.org", "ns2.example.org"])
        .records("ns1.example.org", A, &["192.0.2.53"])
        .records("ns2.example.org", A, &["192.0.2.54"])
        .at("192.0.2.53", ns1)
        .at("192.0.2.54", ns2)
}

/// One authoritative server's answers for example.org, with SOA `serial`.
fn server(serial: &str) -> FakeDns {
    FakeDns::default()
        .records("example.org", SOA, &[serial])
        .txt_at("example.org", &["v=spf1 -all"])
        .txt_at("_dmarc.example.org", &["v=DMARC1; p=reject"])
        .records("example.org", MX, &["10 mail.example.org"])
}

fn nameservers(dns: &FakeDns) -> Vec<Finding> {
    let deadline = crate::Deadline::after(std::time::Duration::from_secs(5));
    block_on(nameservers::check("example.org", dns, deadline)).0
}

#[test]
fn ns_all_agreeing_is_ok() {
    let f = nameservers(&zone(server("2024010101"), server("2024010101")));
    expect(
        &f,
        "ns:record",
        State::Ok,
        "ns1.example.org, ns2.example.org",
    );
    expect(
        &f,
        "ns:ns2.example.org/192.0.2.54",
        State::Ok,
        "answers, serial 2024010101",
    );
}

#[test]
fn ns_soa_serial_mismatch_is_a_warning() {
    let f = nameservers(&zone(server("2024010101"), server("2024010102")));
    expect(
        &f,
        "ns:ns1.example.org/192.0.2.53",
        State::Warning,
        "serves serial 2024010101 while others serve",
    );
}

#[test]
fn ns_different_records_is_a_warning() {
    let ns2 = server("7").txt_at("_dmarc.example.org", &["v=DMARC1; p=none"]);
    let f = nameservers(&zone(server("7"), server("7")).at("192.0.2.54", ns2));
    expect(
        &f,
        "ns:ns2.example.org/192.0.2.54",
        State::Warning,
        "serves different records",
    );
}

#[test]
fn ns_lame_without_aa_is_a_warning_while_another_answers() {
    let f = nameservers(&zone(server("7"), server("7 noaa")));
    expect(
        &f,
        "ns:ns2.example.org/192.0.2.54",
        State::Warning,
        "is lame: it answers without authority",
    );
}

#[test]
fn ns_lame_by_referral_or_no_soa() {
    let referral = FakeDns::default().fail("example.org", SOA, DnsFailure::Referral);
    let f = nameservers(&zone(server("7"), referral));
    expect(
        &f,
        "ns:ns2.example.org/192.0.2.54",
        State::Warning,
        "lame: it answers with a referral",
    );
    let f = nameservers(&zone(server("7"), FakeDns::default()));
    expect(
        &f,
        "ns:ns2.example.org/192.0.2.54",
        State::Warning,
        "lame: no SOA",
    );
}

#[test]
fn ns_none_answering_is_critical() {
    let f = nameservers(&zone(FakeDns::default(), FakeDns::default()).at(
        "192.0.2.53",
        FakeDns::default().fail_all("example.org", DnsFailure::Timeout),
    ));
    expect(
        &f,
        "ns:ns1.example.org/192.0.2.53",
        State::Critical,
        "does not answer (timeout)",
    );
}

#[test]
fn ns_server_failing_some_queries_is_a_warning() {
    let ns2 = server("7").fail("_dmarc.example.org", TXT, DnsFailure::ServFail);
    let f = nameservers(&zone(server("7"), ns2));
    expect(
        &f,
        "ns:ns2.example.org/192.0.2.54",
        State::Warning,
        "fails some queries",
    );
}

#[test]
fn ns_without_address_is_a_warning() {
    let dns = zone(server("7"), server("7"))
        .records("ns2.example.org", AAAA, &[])
        .fail("ns2.example.org", A, DnsFailure::NxDomain);
    expect(
        &nameservers(&dns),
        "ns:ns2.example.org",
        State::Warning,
        "has no address",
    );
}

#[test]
fn ns_missing_everywhere_is_critical() {
    expect(
        &nameservers(&FakeDns::default()),
        "ns:record",
        State::Critical,
        "has no NS records",
    );
}
