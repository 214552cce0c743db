//! Vector tests of the DNS checks on injected answers ([`FakeDns`]), no network: the SPF
//! walk (lookup and void limits, include and redirect errors), DKIM keys, MX hosts and their
//! addresses, PTR and forward-confirmed reverse DNS. Each case names the finding it expects
//! by check name, state and a telling part of its text. (DMARC discovery's vectors sit
//! beside it, in `dmarc/discover.rs`.)

use hickory_resolver::proto::rr::RecordType::{A, AAAA, CNAME, MX, PTR, TXT};

use super::spf::SpfRecord;
use super::{DnsSettings, dkim_checks, mx_checks, ptr_checks, spf_walk};
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
