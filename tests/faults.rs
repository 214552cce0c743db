//! The fault-injection suite: every probe kind against small in-process servers on loopback
//! that misbehave (DNS: silence, SERVFAIL, truncation, oversized answers, CNAME loops,
//! garbage; SMTP and IMAP: silence, slow drip, hang-ups at every step, garbage, 10 MB lines,
//! broken TLS, an IDLE that never ends; HTTPS: MTA-STS policies slow, huge, mistyped,
//! redirected). Each case asserts that the run ends by its deadline, with the state the
//! product rules give (UNKNOWN when our means of observing failed, WARNING or CRITICAL when
//! the thing under test fails) and a reason naming the step; and that the daemon keeps
//! serving `/metrics` while such probes hang. docs/faults.md lists the cases.
//!
//! Nothing here needs the lab or the machine's resolver: every config names an in-process
//! DNS server, and servers live on 127.0.10.0/24 .. 127.0.12.0/24.

mod common;

use std::time::{Duration, Instant};

use common::faults::*;
use common::*;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Record, RecordType};
use mailauth_probes::State;
use serde_json::Value;

/// How much later than its timeout a `run` may end: process start, config, the runner's
/// reserve.
const MARGIN: Duration = Duration::from_millis(1500);

/// Runs `mailauth-probe run` on `config` and returns the records; panics unless it ended
/// within `timeout` + [`MARGIN`].
fn run_config(config: &str, timeout: Duration) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(dir.path(), "faults.yaml", config);
    // The seed mailboxes' password (`password_file: pw`).
    write_temp(dir.path(), "pw", "secret\n");
    let start = Instant::now();
    let out = run(
        "mailauth-probe",
        &["run", "--config", f.to_str().unwrap(), "--format", "json"],
    );
    let took = start.elapsed();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        took < timeout + MARGIN,
        "the run took {took:?} (timeout {timeout:?}):\n{v:#}"
    );
    v.as_array().unwrap().clone()
}

/// The record of probe `name`, or of target `name` (a probe with several targets).
fn record<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["probe"] == name || r["target"] == name)
        .unwrap_or_else(|| panic!("no record of probe or target {name}"))
}

fn findings(rec: &Value) -> &[Value] {
    rec["outcome"]["findings"].as_array().unwrap()
}

/// The findings whose check starts with `prefix`, as (state, summary + detail).
fn checks(rec: &Value, prefix: &str) -> Vec<(String, String)> {
    findings(rec)
        .iter()
        .filter(|f| f["check"].as_str().unwrap().starts_with(prefix))
        .map(|f| {
            (
                f["state"].as_str().unwrap().to_string(),
                format!(
                    "{} {}",
                    f["summary"].as_str().unwrap(),
                    f["detail"].as_str().unwrap_or("")
                ),
            )
        })
        .collect()
}

/// Asserts that probe `probe` has a finding under `prefix` in `state` whose text contains
/// every one of `words`.
#[track_caller]
fn expect(records: &[Value], probe: &str, prefix: &str, state: &str, words: &[&str]) {
    let rec = record(records, probe);
    let found = checks(rec, prefix);
    assert!(
        found
            .iter()
            .any(|(s, text)| s == state && words.iter().all(|w| text.contains(w))),
        "{probe}: no {state} finding `{prefix}*` saying {words:?}; findings:\n{:#}",
        rec["outcome"]["findings"]
    );
}

/// Asserts that the worst state of probe `probe`'s findings is `state`, "worst" as
/// [`State::severity`] ranks it (CRITICAL > WARNING > UNKNOWN > OK, the order
/// `check_mailauth` exits with): an UNKNOWN beside a CRITICAL does not hide it.
#[track_caller]
fn worst(records: &[Value], probe: &str, state: &str) {
    let rec = record(records, probe);
    let worst = findings(rec)
        .iter()
        .map(|f| serde_json::from_value::<State>(f["state"].clone()).unwrap())
        .max_by_key(|s| s.severity())
        .unwrap_or(State::Ok);
    assert_eq!(
        worst.as_str(),
        state,
        "{probe}: worst state; findings:\n{:#}",
        rec["outcome"]["findings"]
    );
}

/// Asserts that every finding of probe `probe` is UNKNOWN and says one of `why`.
#[track_caller]
fn undecided(records: &[Value], probe: &str, why: &[&str]) {
    let rec = record(records, probe);
    let all = findings(rec);
    assert!(
        !all.is_empty()
            && all.iter().all(|f| f["state"] == "UNKNOWN"
                && why
                    .iter()
                    .any(|w| f["summary"].as_str().unwrap().contains(w))),
        "{probe}: not all UNKNOWN saying one of {why:?}:\n{:#}",
        rec["outcome"]["findings"]
    );
}

// ---------------------------------------------------------------------------------------
// DNS: the dns and dnsbl probes against resolvers that fail in every way.

/// A DNS server on `ip` that answers every query with `reply` (TCP and UDP alike).
fn dns_always(ip: &str, reply: fn() -> DnsReply) -> DnsFault {
    dns_fault(ip, move |_, _, _| reply())
}

/// A dns probe `name` of `domain` through `dns` (nameservers not asked directly: the
/// resolver is what is under test).
fn dns_probe(name: &str, domain: &str, dns: &DnsFault) -> String {
    format!(
        "  - name: {name}\n    kind: dns\n    timeout: 2s\n    resolver: [\"{}\"]\n    nameservers: false\n    targets: [{domain}]\n",
        dns.resolver()
    )
}

/// A dnsbl probe `name` of 192.0.2.99 on zone bl.faults.test through `dns`.
fn dnsbl_probe(name: &str, dns: &DnsFault) -> String {
    format!(
        "  - name: {name}\n    kind: dnsbl\n    timeout: 2s\n    resolver: [\"{}\"]\n    targets: [192.0.2.99]\n    zones: [{{zone: bl.faults.test}}]\n",
        dns.resolver()
    )
}

const GARBAGE: &[u8] = b"\x13\x37 this is not DNS \xff\xfe\x00\x01 at all";

/// The answers of a well-run DNSBL zone, where the subject 192.0.2.99 is listed with
/// `code`.
fn dnsbl_answer(name: &str, code: &str) -> DnsReply {
    match name {
        "2.0.0.127.bl.faults.test" => DnsReply::Records(vec![a(name, "127.0.0.2")]),
        "99.2.0.192.bl.faults.test" => DnsReply::Records(vec![a(name, code)]),
        _ => DnsReply::Code(ResponseCode::NXDomain),
    }
}

/// The MTA-STS cases: (domain label, policy host address).
const STS: &[(&str, &str)] = &[
    ("sts-good", "127.0.12.20"),
    ("sts-slow", "127.0.12.21"),
    ("sts-huge", "127.0.12.22"),
    ("sts-html", "127.0.12.23"),
    ("sts-redirect", "127.0.12.24"),
];

/// subjectAltNames of the MTA-STS policy hosts.
const STS_SANS: &[&str] = &[
    "DNS:mta-sts.sts-good.faults.test",
    "DNS:mta-sts.sts-slow.faults.test",
    "DNS:mta-sts.sts-huge.faults.test",
    "DNS:mta-sts.sts-html.faults.test",
    "DNS:mta-sts.sts-redirect.faults.test",
];

#[test]
fn dns_faults() {
    let silent = dns_always("127.0.10.1", || DnsReply::Silence);
    let servfail = dns_always("127.0.10.2", || DnsReply::Code(ResponseCode::ServFail));
    let garbage = dns_always("127.0.10.3", || DnsReply::Raw(GARBAGE.to_vec()));
    // Truncated over UDP with a decoy; the real answer only over TCP.
    let tc = dns_fault("127.0.10.4", |name, t, via| match (name, t, via) {
        ("tc.faults.test", RecordType::TXT, Via::Udp) => {
            DnsReply::Truncated(vec![txt(name, &["v=spf1 ip4:198.51.100.66 -all"])])
        }
        ("tc.faults.test", RecordType::TXT, Via::Tcp) => {
            DnsReply::Records(vec![txt(name, &["v=spf1 ip4:192.0.2.1 -all"])])
        }
        (n, _, Via::Udp) if n.starts_with("99.2.0.192.") => DnsReply::Truncated(vec![]),
        (n, _, _) if n.ends_with("bl.faults.test") => dnsbl_answer(n, "127.0.0.4"),
        _ => DnsReply::Code(ResponseCode::NXDomain),
    });
    // An SPF record of about 60 KB: 240 strings of 250 bytes, only over TCP.
    let huge = dns_fault("127.0.10.5", |name, t, via| match (name, t, via) {
        ("huge.faults.test", RecordType::TXT, Via::Udp) => DnsReply::Truncated(vec![]),
        ("huge.faults.test", RecordType::TXT, Via::Tcp) => {
            let mut text = "v=spf1".to_string();
            while text.len() < 60_000 {
                text.push_str(" ip4:192.0.2.1");
            }
            text.push_str(" -all");
            let parts: Vec<&str> = text
                .as_bytes()
                .chunks(250)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            DnsReply::Records(vec![txt(name, &parts)])
        }
        _ => DnsReply::Code(ResponseCode::NXDomain),
    });
    // Every name is an alias of another that is an alias of the first.
    let cname_loop = dns_fault("127.0.10.6", |name, _, _| {
        let other = match name.strip_prefix("x.") {
            Some(n) => n.to_string(),
            None => format!("x.{name}"),
        };
        DnsReply::Records(vec![cname(name, &other)])
    });
    // An MX host that is an alias, served as an authoritative server of another zone serves
    // it: the answer stops at the CNAME, and its target is asked next.
    let alias_mx = dns_fault("127.0.10.7", |name, t, _| match (name, t) {
        ("dns-alias-mx.faults.test", RecordType::MX) => {
            DnsReply::Records(vec![mx(name, 10, "mx.dns-alias-mx.faults.test")])
        }
        ("mx.dns-alias-mx.faults.test", _) => {
            DnsReply::Records(vec![cname(name, "real.faults.test")])
        }
        ("real.faults.test", RecordType::A) => DnsReply::Records(vec![a(name, "127.0.10.70")]),
        ("real.faults.test", _) => DnsReply::Records(vec![]),
        _ => DnsReply::Code(ResponseCode::NXDomain),
    });
    // MX hosts whose AAAA lookup fails while A answers: SERVFAIL (the domain's servers) and
    // silence (our resolver times out).
    let half = dns_fault("127.0.10.8", |name, t, _| match (name, t) {
        ("dns-aaaa-servfail.faults.test" | "dns-aaaa-silent.faults.test", RecordType::MX) => {
            DnsReply::Records(vec![mx(name, 10, &format!("mx.{name}"))])
        }
        ("mx.dns-aaaa-servfail.faults.test", RecordType::A) => {
            DnsReply::Records(vec![a(name, "127.0.10.80")])
        }
        ("mx.dns-aaaa-servfail.faults.test", RecordType::AAAA) => {
            DnsReply::Code(ResponseCode::ServFail)
        }
        ("mx.dns-aaaa-silent.faults.test", RecordType::A) => {
            DnsReply::Records(vec![a(name, "127.0.10.81")])
        }
        ("mx.dns-aaaa-silent.faults.test", RecordType::AAAA) => DnsReply::Silence,
        _ => DnsReply::Code(ResponseCode::NXDomain),
    });
    // An MX host at the head of a chain of 12 aliases, each answered alone (as authoritative
    // servers of different zones answer): longer than resolvers follow.
    let alias_long = dns_fault("127.0.10.9", |name, t, _| {
        let zone = "dns-alias-long.faults.test";
        if name == zone && t == RecordType::MX {
            return DnsReply::Records(vec![mx(name, 10, &format!("mx.{zone}"))]);
        }
        let next = match name.strip_suffix(&format!(".{zone}")) {
            Some("mx") => 1,
            Some(label) => match label.strip_prefix('a').and_then(|n| n.parse::<u32>().ok()) {
                Some(n) if n < 12 => n + 1,
                Some(_) => return DnsReply::Records(vec![a(name, "127.0.10.90")]),
                None => return DnsReply::Code(ResponseCode::NXDomain),
            },
            None => return DnsReply::Code(ResponseCode::NXDomain),
        };
        DnsReply::Records(vec![cname(name, &format!("a{next}.{zone}"))])
    });
    // A "resolver" that is an authoritative server of other zones: every answer a referral.
    let referral = dns_always("127.0.10.10", || {
        DnsReply::Referral(vec![ns("faults.test", "ns.elsewhere.test")])
    });
    // A zone whose parent names three servers: one serving it, one open recursive server
    // answering the right data without authority, one answering with a referral.
    let lame_zone = |name: &str, t: RecordType| -> Vec<Record> {
        let zone = "dns-lame.faults.test";
        match (name, t) {
            (n, RecordType::NS) if n == zone => (1..=3)
                .map(|i| ns(zone, &format!("ns{i}.{zone}")))
                .collect(),
            (n, RecordType::SOA) if n == zone => vec![soa(zone, 7)],
            (n, RecordType::TXT) if n == zone => vec![txt(zone, &["v=spf1 -all"])],
            ("ns1.dns-lame.faults.test", RecordType::A) => vec![a(name, "127.0.10.53")],
            ("ns2.dns-lame.faults.test", RecordType::A) => vec![a(name, "127.0.10.54")],
            ("ns3.dns-lame.faults.test", RecordType::A) => vec![a(name, "127.0.10.55")],
            _ => vec![],
        }
    };
    let lame_resolver = dns_fault("127.0.10.11", move |n, t, _| {
        DnsReply::Records(lame_zone(n, t))
    });
    let _lame_servers = [
        dns_fault_at("127.0.10.53:53", move |n, t, _| {
            DnsReply::Records(lame_zone(n, t))
        }),
        dns_fault_at("127.0.10.54:53", move |n, t, _| {
            DnsReply::Unauthoritative(lame_zone(n, t))
        }),
        dns_fault_at("127.0.10.55:53", |_, _, _| {
            DnsReply::Referral(vec![ns("faults.test", "ns.elsewhere.test")])
        }),
    ];

    let mut config = format!(
        "global:\n  resolver: [\"{}\"]\nprobes:\n",
        silent.resolver()
    );
    for (name, dns) in [
        ("dns-aaaa-servfail", &half),
        ("dns-aaaa-silent", &half),
        ("dns-alias-long", &alias_long),
        ("dns-referral", &referral),
    ] {
        config.push_str(&dns_probe(name, &format!("{name}.faults.test"), dns));
    }
    config.push_str(
        &dns_probe("dns-lame", "dns-lame.faults.test", &lame_resolver)
            .replace("nameservers: false", "nameservers: true"),
    );
    config.push_str(&format!(
        "  - name: transport-aaaa-servfail\n    kind: transport\n    timeout: 2s\n    resolver: [\"{}\"]\n    targets: [mx.dns-aaaa-servfail.faults.test]\n",
        half.resolver()
    ));
    for (name, dns) in [
        ("dns-silent", &silent),
        ("dns-servfail", &servfail),
        ("dns-garbage", &garbage),
        ("dns-cname-loop", &cname_loop),
        ("dns-alias-mx", &alias_mx),
    ] {
        config.push_str(&dns_probe(name, &format!("{name}.faults.test"), dns));
    }
    config.push_str(&dns_probe("dns-tc", "tc.faults.test", &tc));
    config.push_str(&dns_probe("dns-huge", "huge.faults.test", &huge));
    for (name, dns) in [
        ("dnsbl-silent", &silent),
        ("dnsbl-servfail", &servfail),
        ("dnsbl-garbage", &garbage),
        ("dnsbl-cname-loop", &cname_loop),
        ("dnsbl-tc", &tc),
    ] {
        config.push_str(&dnsbl_probe(name, dns));
    }
    let r = run_config(&config, Duration::from_secs(2));

    // Our resolver silent or speaking garbage: we could not observe, UNKNOWN.
    for p in ["dns-silent", "dns-garbage"] {
        undecided(&r, p, &["our resolver", "deadline"]);
    }
    // The domain's servers fail: a receiver meets temperror, CRITICAL.
    expect(&r, "dns-servfail", "spf:record", "CRITICAL", &["SERVFAIL"]);
    expect(
        &r,
        "dns-servfail",
        "dmarc:record",
        "CRITICAL",
        &["SERVFAIL"],
    );
    // Truncated: retried over TCP, and the TCP answer is the one used.
    expect(&r, "dns-tc", "spf:record", "OK", &["ip4:192.0.2.1"]);
    assert!(tc.asked(Via::Tcp, "tc.faults.test"));
    // About 60 KB over TCP: read whole, judged, named.
    expect(&r, "dns-huge", "spf:syntax", "WARNING", &["over 512"]);
    assert!(huge.asked(Via::Tcp, "huge.faults.test"));
    // A CNAME loop is the domain's fault.
    expect(&r, "dns-cname-loop", "spf:record", "CRITICAL", &["CNAME"]);
    // An MX host that is an alias: a WARNING naming its target, and its address found.
    let host = "mx:host:mx.dns-alias-mx.faults.test";
    expect(
        &r,
        "dns-alias-mx",
        host,
        "WARNING",
        &["alias", "real.faults.test"],
    );
    expect(&r, "dns-alias-mx", host, "OK", &["127.0.10.70"]);

    // An MX host whose AAAA lookup fails: its own finding naming IPv6, the IPv4 address
    // still checked. SERVFAIL is the domain's (CRITICAL); our resolver's silence, UNKNOWN.
    let host = "mx.dns-aaaa-servfail.faults.test";
    expect(
        &r,
        "dns-aaaa-servfail",
        &format!("mx:address:{host}"),
        "CRITICAL",
        &["AAAA lookup of", "SERVFAIL", "IPv6-preferring senders"],
    );
    expect(
        &r,
        "dns-aaaa-servfail",
        &format!("mx:host:{host}"),
        "OK",
        &["127.0.10.80"],
    );
    expect(
        &r,
        "dns-aaaa-silent",
        "mx:address:mx.dns-aaaa-silent.faults.test",
        "UNKNOWN",
        &["AAAA lookup of", "our resolver", "IPv6"],
    );
    expect(
        &r,
        "dns-aaaa-silent",
        "mx:host:mx.dns-aaaa-silent.faults.test",
        "OK",
        &["127.0.10.81"],
    );
    // Our resolver's UNKNOWN beside the domain's CRITICAL (it publishes no SPF record): the
    // run is CRITICAL, as check_mailauth exits.
    worst(&r, "dns-aaaa-silent", "CRITICAL");
    // The transport probe says so too, and still connects over IPv4.
    expect(
        &r,
        "transport-aaaa-servfail",
        &format!("address:{host}"),
        "CRITICAL",
        &["AAAA lookup of", "SERVFAIL", "IPv6"],
    );
    expect(
        &r,
        "transport-aaaa-servfail",
        &format!("smtp:{host}/127.0.10.80"),
        "CRITICAL",
        &["cannot connect"],
    );
    // An alias chain longer than resolvers follow is the domain's fault, not "no address".
    expect(
        &r,
        "dns-alias-long",
        "mx:host:mx.dns-alias-long.faults.test",
        "CRITICAL",
        &[
            "CNAME chain longer than 8 aliases",
            "a1.dns-alias-long.faults.test",
        ],
    );
    // A referral is not "no record": our resolver does not recurse, nothing is decided.
    expect(&r, "dns-referral", "spf:record", "UNKNOWN", &["referral"]);
    // Lame delegation: a server answering without authority (an open recursive server, the
    // right data) and one answering with a referral are lame; one other answers: WARNING.
    expect(
        &r,
        "dns-lame",
        "ns:ns1.dns-lame.faults.test/127.0.10.53",
        "OK",
        &["serial 7"],
    );
    expect(
        &r,
        "dns-lame",
        "ns:ns2.dns-lame.faults.test/127.0.10.54",
        "WARNING",
        &["lame", "AA bit clear"],
    );
    expect(
        &r,
        "dns-lame",
        "ns:ns3.dns-lame.faults.test/127.0.10.55",
        "WARNING",
        &["lame", "referral"],
    );

    // A DNSBL that does not answer properly is our means failing: UNKNOWN, never "not
    // listed".
    for p in [
        "dnsbl-silent",
        "dnsbl-servfail",
        "dnsbl-garbage",
        "dnsbl-cname-loop",
    ] {
        worst(&r, p, "UNKNOWN");
        expect(&r, p, "listed:bl.faults.test", "UNKNOWN", &["undecided"]);
    }
    // Truncated, then over TCP: listed with the code only TCP gave.
    expect(
        &r,
        "dnsbl-tc",
        "listed:bl.faults.test",
        "CRITICAL",
        &["127.0.0.4"],
    );
}

/// One resolver serves every run of the daemon (`Runtime`, src/runner.rs), each run through
/// `Resolver::for_run`. mail-auth's SPF evaluation (`check_host()`, also DKIM and ARC
/// verification) reads DNS through hickory's resolver: a record changed between two runs must
/// be seen by the second, as the stub resolver's lookups see it, never a copy an earlier run
/// left in a cache (the record's TTL here is 60 s).
#[test]
fn each_run_reads_records_afresh() {
    use mailauth_probes::dns::spf_check::check_host;
    use mailauth_probes::resolver::{Resolver, Upstream};
    use std::sync::{Arc, Mutex};
    let published = Arc::new(Mutex::new("v=spf1 ip4:192.0.2.1 -all"));
    let record = published.clone();
    let dns = dns_fault("127.0.10.12", move |name, t, _| match (name, t) {
        ("fresh.faults.test", RecordType::TXT) => {
            DnsReply::Records(vec![txt(name, &[*record.lock().unwrap()])])
        }
        _ => DnsReply::Code(ResponseCode::NXDomain),
    });
    let resolver = Resolver::new(&Upstream::Servers(vec![dns.addr]), Duration::from_secs(1))
        .expect("resolver");
    let ip = "192.0.2.1".parse().unwrap();
    let (helo, sender) = ("mail.fresh.faults.test", "probe@fresh.faults.test");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let first = resolver.for_run();
        assert_eq!(check_host(&first, ip, helo, sender).await, "pass");
        *published.lock().unwrap() = "v=spf1 -all";
        let second = resolver.for_run();
        assert_eq!(
            check_host(&second, ip, helo, sender).await,
            "fail",
            "the second run read the first run's record"
        );
    });
}

// ---------------------------------------------------------------------------------------
// SMTP: the transport probe (25, 587, 465) and the round trip's submission.

/// The subjectAltNames of the suite's server certificate: every address a TLS case uses.
fn pki() -> Pki {
    let ips: Vec<String> = (1..60)
        .flat_map(|i| [format!("IP:127.0.11.{i}"), format!("IP:127.0.12.{i}")])
        .collect();
    let mut sans: Vec<&str> = ips.iter().map(String::as_str).collect();
    sans.extend(STS_SANS);
    Pki::new(&sans)
}

/// A roundtrip probe `name` sending through `submission` (a YAML flow map) to one seed
/// mailbox read over IMAP at `imap` (implicit TLS).
fn roundtrip_probe(name: &str, submission: &str, imap: &str) -> String {
    // 6 s: a third of it (the seed mailbox's login) must hold eight TLS logins at once in a
    // debug build on a busy 2-core machine.
    let (host, port) = imap.split_once(':').unwrap();
    format!(
        "  - name: {name}\n    kind: roundtrip\n    timeout: 6s\n    from: probe@faults.test\n    helo: probe.faults.test\n    instance: faults\n    submission: {submission}\n    mailboxes:\n      - name: seed\n        address: seed@faults.test\n        authserv_id: mx.faults.test\n        imap: {{host: \"{host}\", port: {port}, username: seed, password_file: pw}}\n"
    )
}

const NOT_TLS: &str = "this is not TLS\r\n";

#[test]
fn smtp_faults() {
    let pki = pki();
    let tls = pki.server.clone();
    let at = |a: &'static str, steps: Vec<Step>| FaultAt::new(a, steps);
    let go_ahead = || say("220 2.0.0 go ahead\r\n");
    let not_tls = || vec![go_ahead(), Step::Swallow, say(NOT_TLS), Step::Hang];
    let ten_mb = || vec![Step::Flood(10 << 20)];
    let drip = || {
        vec![Step::Drip(
            b"220 slow.faults.test ESMTP\r\n".to_vec(),
            Duration::from_millis(500),
        )]
    };
    // Port 25, one address per fault.
    let mx = [
        ("127.0.11.1", at("greeting", vec![Step::Hang])),
        ("127.0.11.2", at("greeting", drip())),
        ("127.0.11.3", at("EHLO", vec![Step::Close])),
        ("127.0.11.4", at("STARTTLS", vec![Step::Close])),
        ("127.0.11.5", at("STARTTLS", vec![go_ahead(), Step::Close])),
        // Hangs up in the middle of the TLS handshake.
        (
            "127.0.11.6",
            at("STARTTLS", vec![go_ahead(), Step::Swallow, Step::Close]),
        ),
        (
            "127.0.11.7",
            at("EHLO", vec![Step::Say(GARBAGE.to_vec()), say("\r\n")]),
        ),
        ("127.0.11.8", at("EHLO", ten_mb())),
        // Answers the ClientHello with plain text.
        ("127.0.11.9", at("STARTTLS", not_tls())),
        // Sends plain text right behind its 220, before any handshake.
        (
            "127.0.11.13",
            at("STARTTLS", vec![go_ahead(), say(NOT_TLS), Step::Hang]),
        ),
    ];
    let _mx: Vec<TcpFault> = mx
        .iter()
        .map(|(ip, f)| tcp_fault(&format!("{ip}:25"), None, smtp(tls.clone(), f.clone())))
        .collect();
    // Submission with STARTTLS (587) and implicit TLS (465).
    let _sub = [
        tcp_fault(
            "127.0.11.10:587",
            None,
            smtp(tls.clone(), at("greeting", vec![Step::Hang])),
        ),
        tcp_fault(
            "127.0.11.11:587",
            None,
            smtp(tls.clone(), at("EHLO", ten_mb())),
        ),
        tcp_fault(
            "127.0.11.12:587",
            None,
            smtp(tls.clone(), at("STARTTLS", not_tls())),
        ),
        // Plain SMTP where TLS is due.
        tcp_fault("127.0.11.20:465", None, smtp(tls.clone(), None)),
        tcp_fault(
            "127.0.11.21:465",
            Some(tls.clone()),
            smtp(tls.clone(), at("greeting", vec![Step::Hang])),
        ),
    ];
    // The round trip's submission server misbehaving; its seed mailbox is healthy.
    let _imap = tcp_fault("127.0.12.1:993", Some(tls.clone()), imap(None));
    let rt = [
        ("rt-control", "127.0.11.40:587", None),
        (
            "rt-sub-silent",
            "127.0.11.41:587",
            at("greeting", vec![Step::Hang]),
        ),
        ("rt-sub-drip", "127.0.11.42:587", at("greeting", drip())),
        (
            "rt-sub-garbage",
            "127.0.11.43:587",
            at("EHLO", vec![Step::Say(GARBAGE.to_vec()), say("\r\n")]),
        ),
        ("rt-sub-10mb", "127.0.11.44:587", at("EHLO", ten_mb())),
        (
            "rt-sub-cut",
            "127.0.11.45:587",
            at("STARTTLS", vec![go_ahead(), Step::Close]),
        ),
        (
            "rt-sub-not-tls",
            "127.0.11.46:587",
            at("STARTTLS", not_tls()),
        ),
        ("rt-sub-465-plain", "127.0.11.47:465", None),
    ];
    let _rt: Vec<TcpFault> = rt
        .iter()
        .map(|(_, addr, f)| tcp_fault(addr, None, smtp(tls.clone(), f.clone())))
        .collect();

    let dns = dns_always("127.0.11.53", || DnsReply::Code(ResponseCode::NXDomain));
    let mut config = format!(
        "global:\n  resolver: [\"{}\"]\n  ca_file: {}\nprobes:\n  - name: transport\n    kind: transport\n    timeout: 2s\n    targets: [{}, 127.0.11.10:587, 127.0.11.11:587, 127.0.11.12:587, 127.0.11.20:465, 127.0.11.21:465]\n",
        dns.resolver(),
        pki.ca.display(),
        mx.iter().map(|(ip, _)| *ip).collect::<Vec<_>>().join(", ")
    );
    for (name, addr, _) in &rt {
        let (host, port) = addr.split_once(':').unwrap();
        let tls = if port == "465" {
            "implicit"
        } else {
            "starttls"
        };
        let sub = format!(
            "{{host: \"{host}\", port: {port}, tls: {tls}, username: probe, password_file: pw}}"
        );
        config.push_str(&roundtrip_probe(name, &sub, "127.0.12.1:993"));
    }
    let r = run_config(&config, Duration::from_secs(6));

    // An MX that fails is what a sender meets: CRITICAL, at the step where it stopped.
    let mx_says = |ip: &str, check: &str, words: &[&str]| {
        expect(&r, ip, &format!("{check}:{ip}/{ip}"), "CRITICAL", words);
    };
    mx_says("127.0.11.1", "smtp", &["silent at the greeting step"]);
    mx_says("127.0.11.2", "smtp", &["silent at the greeting step"]);
    mx_says(
        "127.0.11.3",
        "smtp",
        &["closed the connection", "EHLO step"],
    );
    mx_says(
        "127.0.11.4",
        "smtp",
        &["closed the connection", "STARTTLS step"],
    );
    mx_says("127.0.11.5", "starttls", &["TLS handshake failed"]);
    mx_says("127.0.11.6", "starttls", &["TLS handshake failed"]);
    mx_says("127.0.11.7", "smtp", &["malformed reply line", "EHLO step"]);
    mx_says(
        "127.0.11.8",
        "smtp",
        &["longer than 4096 bytes", "EHLO step"],
    );
    mx_says("127.0.11.9", "starttls", &["TLS handshake failed"]);
    mx_says(
        "127.0.11.13",
        "smtp",
        &["data after the STARTTLS reply", "TLS handshake step"],
    );
    let svc = |t: &str, words: &[&str]| {
        let (ip, port) = t.split_once(':').unwrap();
        expect(
            &r,
            t,
            &format!("service:{ip}:{port}/{ip}"),
            "CRITICAL",
            words,
        );
    };
    svc("127.0.11.10:587", &["silent at the greeting step"]);
    svc("127.0.11.11:587", &["longer than 4096 bytes", "EHLO step"]);
    svc(
        "127.0.11.12:587",
        &["TLS handshake failed", "TLS handshake step"],
    );
    svc(
        "127.0.11.20:465",
        &["TLS handshake failed", "TLS handshake step"],
    );
    svc("127.0.11.21:465", &["silent at the greeting step"]);

    // The round trip: the healthy pair delivers nowhere (the sink keeps the message):
    // CRITICAL "not delivered", decided by the deadline.
    expect(
        &r,
        "rt-control",
        "send",
        "OK",
        &["accepted by 127.0.11.40:587"],
    );
    expect(
        &r,
        "rt-control",
        "delivery:seed",
        "CRITICAL",
        &["not delivered"],
    );
    // Our own submission server failing: sending is CRITICAL with the reason; the mailbox
    // was readable but nothing was sent, so delivery is undecided.
    for (name, words) in [
        ("rt-sub-silent", &["no answer before the deadline"][..]),
        ("rt-sub-drip", &["no answer before the deadline"]),
        ("rt-sub-garbage", &["submission failed"]),
        ("rt-sub-10mb", &["more than 1048576 bytes"]),
        ("rt-sub-cut", &["submission failed"]),
        ("rt-sub-not-tls", &["submission failed"]),
        ("rt-sub-465-plain", &["TLS failed"]),
    ] {
        expect(&r, name, "imap:seed", "OK", &["logged in"]);
        expect(&r, name, "send", "CRITICAL", words);
        expect(&r, name, "delivery:seed", "UNKNOWN", &["not sent"]);
    }
}

// ---------------------------------------------------------------------------------------
// IMAP: the round trip's seed mailbox.

#[test]
fn imap_faults() {
    let pki = pki();
    let tls = pki.server.clone();
    let at = |a: &'static str, steps: Vec<Step>| FaultAt::new(a, steps);
    // A healthy submission server (it keeps every message to itself).
    let _sink = tcp_fault("127.0.12.50:587", None, smtp(tls.clone(), None));
    let cases = [
        (
            "imap-silent",
            "127.0.12.2",
            at("greeting", vec![Step::Hang]),
        ),
        (
            "imap-login-cut",
            "127.0.12.3",
            at("LOGIN", vec![Step::Close]),
        ),
        (
            "imap-select-cut",
            "127.0.12.4",
            at("SELECT", vec![Step::Close]),
        ),
        (
            "imap-garbage",
            "127.0.12.5",
            at("greeting", vec![Step::Say(GARBAGE.to_vec()), say("\r\n")]),
        ),
        (
            "imap-10mb",
            "127.0.12.6",
            at("greeting", vec![Step::Flood(10 << 20)]),
        ),
        (
            "imap-idle-forever",
            "127.0.12.7",
            at("IDLE", vec![say("+ idling\r\n"), Step::Hang]),
        ),
        (
            "imap-drip",
            "127.0.12.9",
            at(
                "greeting",
                vec![Step::Drip(
                    b"* OK slow\r\n".to_vec(),
                    Duration::from_millis(500),
                )],
            ),
        ),
    ];
    let _imap: Vec<TcpFault> = cases
        .iter()
        .map(|(_, ip, f)| tcp_fault(&format!("{ip}:993"), Some(tls.clone()), imap(f.clone())))
        .collect();
    // Plain IMAP on the implicit-TLS port.
    let _plain = tcp_fault("127.0.12.8:993", None, imap(None));

    let dns = dns_always("127.0.12.53", || DnsReply::Code(ResponseCode::NXDomain));
    let mut config = format!(
        "global:\n  resolver: [\"{}\"]\n  ca_file: {}\nprobes:\n",
        dns.resolver(),
        pki.ca.display(),
    );
    let sub =
        "{host: \"127.0.12.50\", port: 587, tls: starttls, username: probe, password_file: pw}";
    for (name, ip, _) in cases
        .iter()
        .chain([&("imap-993-plain", "127.0.12.8", None)])
    {
        config.push_str(&roundtrip_probe(name, sub, &format!("{ip}:993")));
    }
    let r = run_config(&config, Duration::from_secs(6));

    // The seed mailbox is our means of observing: UNKNOWN, with the step; the message
    // itself left (the submission server is healthy).
    for (name, words) in [
        ("imap-silent", &["no greeting before the deadline"][..]),
        ("imap-drip", &["no greeting before the deadline"]),
        ("imap-login-cut", &["login"]),
        ("imap-select-cut", &["SELECT INBOX"]),
        ("imap-garbage", &["greeting"]),
        ("imap-10mb", &["line longer than 65536 bytes"]),
        ("imap-993-plain", &["TLS handshake failed"]),
    ] {
        expect(&r, name, "imap:seed", "UNKNOWN", words);
        expect(&r, name, "send", "OK", &["accepted"]);
        expect(&r, name, "delivery:seed", "UNKNOWN", &["could not be read"]);
    }
    // IDLE that never ends: the wait ends by the deadline, undecided, not a hang.
    expect(&r, "imap-idle-forever", "imap:seed", "OK", &["logged in"]);
    expect(
        &r,
        "imap-idle-forever",
        "delivery:seed",
        "UNKNOWN",
        &["connection failed while waiting", "IDLE"],
    );
}

// ---------------------------------------------------------------------------------------
// HTTPS: the MTA-STS policy fetched by the dns probe.

#[test]
fn mta_sts_faults() {
    let pki = pki();
    let tls = pki.server.clone();
    let policy =
        b"version: STSv1\r\nmode: enforce\r\nmx: mx.faults.test\r\nmax_age: 604800\r\n".to_vec();
    let text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain";
    let slow = {
        let mut head = format!("{text}\r\nContent-Length: {}\r\n\r\n", policy.len()).into_bytes();
        head.truncate(head.len());
        vec![
            Step::Say(head),
            Step::Drip(policy.clone(), Duration::from_millis(500)),
        ]
    };
    let servers = [
        http_answer(text, policy.clone(), None),
        http_answer(text, policy.clone(), FaultAt::new("answer", slow)),
        http_answer(text, vec![b'x'; 200 << 10], None),
        http_answer(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html",
            policy.clone(),
            None,
        ),
        http_answer(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.faults.test/\r\nContent-Type: text/plain",
            vec![],
            None,
        ),
    ];
    let _https: Vec<TcpFault> = STS
        .iter()
        .zip(servers)
        .map(|((_, ip), h)| tcp_fault(&format!("{ip}:443"), Some(tls.clone()), h))
        .collect();
    // Domains whose MX the transport probe checks: one announces MTA-STS but its policy
    // host refuses connections (nothing listens on 127.0.12.25:443), one has no `_mta-sts`
    // record. Their MX host refuses SMTP: neither is protected by DANE.
    let dns = dns_fault("127.0.12.54", |name, t, _| {
        match (name, t) {
            ("sts-refused.faults.test" | "sts-none.faults.test", RecordType::MX) => {
                return DnsReply::Records(vec![mx(name, 10, &format!("mx.{name}"))]);
            }
            ("_mta-sts.sts-refused.faults.test", RecordType::TXT) => {
                return DnsReply::Records(vec![txt(name, &["v=STSv1; id=20250101"])]);
            }
            ("mta-sts.sts-refused.faults.test", RecordType::A) => {
                return DnsReply::Records(vec![a(name, "127.0.12.25")]);
            }
            ("mx.sts-refused.faults.test" | "mx.sts-none.faults.test", RecordType::A) => {
                return DnsReply::Records(vec![a(name, "127.0.12.26")]);
            }
            _ => {}
        }
        let domain = name
            .trim_start_matches("_mta-sts.")
            .trim_start_matches("mta-sts.");
        let Some((_, ip)) = STS
            .iter()
            .find(|(d, _)| format!("{d}.faults.test") == domain)
        else {
            return DnsReply::Code(ResponseCode::NXDomain);
        };
        match t {
            RecordType::TXT if name.starts_with("_mta-sts.") => {
                DnsReply::Records(vec![txt(name, &["v=STSv1; id=20250101"])])
            }
            RecordType::A if name.starts_with("mta-sts.") => DnsReply::Records(vec![a(name, ip)]),
            _ => DnsReply::Records(vec![]),
        }
    });
    let mut config = format!(
        "global:\n  resolver: [\"{}\"]\n  ca_file: {}\nprobes:\n",
        dns.resolver(),
        pki.ca.display(),
    );
    for (d, _) in STS {
        config.push_str(
            &dns_probe(d, &format!("{d}.faults.test"), &dns).replace("timeout: 2s", "timeout: 3s"),
        );
    }
    config.push_str(
        "  - name: sts-transport\n    kind: transport\n    timeout: 3s\n    domains: [sts-refused.faults.test, sts-none.faults.test]\n    targets: [sts-refused.faults.test, sts-none.faults.test]\n",
    );
    let r = run_config(&config, Duration::from_secs(3));

    // Announced but not fetchable: whether the MX can be downgraded is undecided (senders
    // with a cached policy enforce it), and the text says why; not "no MTA-STS".
    expect(
        &r,
        "sts-refused.faults.test",
        "strippable:mx.sts-refused.faults.test",
        "UNKNOWN",
        &[
            "undecided",
            "announces MTA-STS",
            "could not be fetched",
            "127.0.12.25:443",
        ],
    );
    // No `_mta-sts` record: no MTA-STS, the `unprotected` state.
    expect(
        &r,
        "sts-none.faults.test",
        "strippable:mx.sts-none.faults.test",
        "WARNING",
        &["neither DANE nor"],
    );

    expect(&r, "sts-good", "mta-sts:policy", "OK", &["mode enforce"]);
    expect(&r, "sts-good", "mta-sts:cert", "OK", &["verifies"]);
    // A policy host that fails is what senders meet: CRITICAL with the reason.
    expect(
        &r,
        "sts-slow",
        "mta-sts:policy",
        "CRITICAL",
        &["mta-sts.sts-slow.faults.test", "time"],
    );
    expect(
        &r,
        "sts-huge",
        "mta-sts:policy",
        "CRITICAL",
        &["over 64 KiB"],
    );
    expect(
        &r,
        "sts-html",
        "mta-sts:policy",
        "CRITICAL",
        &["text/html", "text/plain"],
    );
    expect(
        &r,
        "sts-redirect",
        "mta-sts:policy",
        "CRITICAL",
        &["301", "must not follow redirects"],
    );
}

// ---------------------------------------------------------------------------------------
// The daemon keeps serving while its probes hang.

#[test]
fn daemon_serves_while_probes_hang() {
    let silent_dns = dns_always("127.0.10.40", || DnsReply::Silence);
    let _silent_mx = tcp_fault(
        "127.0.10.41:25",
        None,
        smtp(pki_light(), FaultAt::new("greeting", vec![Step::Hang])),
    );
    let _flood_mx = tcp_fault(
        "127.0.10.42:25",
        None,
        smtp(
            pki_light(),
            FaultAt::new("EHLO", vec![Step::Flood(10 << 20)]),
        ),
    );
    let config = format!(
        "global:\n  resolver: [\"{dns}\"]\n  interval: 2s\n  timeout: 2s\n  jitter: 0\nprobes:\n  - name: d-transport\n    kind: transport\n    targets: [127.0.10.41, 127.0.10.42]\n{}{}",
        dns_probe("d-dns", "hang.faults.test", &silent_dns),
        dnsbl_probe("d-dnsbl", &silent_dns),
        dns = silent_dns.resolver(),
    );
    let d = Daemon::start(&config);
    // Scrapes stay quick for two rounds of hanging runs.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        for path in ["/metrics", "/-/healthy"] {
            let t = Instant::now();
            let (status, _) = get(d.addr, path);
            assert_eq!(status, 200, "{path}");
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{path} took {:?}",
                t.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = d.metrics();
    let status = |probe: &str, target: &str, check: &str| {
        sample(
            &m,
            &format!(
                "mailauth_check_status{{probe=\"{probe}\",target=\"{target}\",check=\"{check}\"}}"
            ),
        )
    };
    // The MX's faults are CRITICAL; our silent resolver UNKNOWN.
    let ip = "127.0.10.41";
    assert_eq!(
        status("d-transport", ip, &format!("smtp:{ip}/{ip}")),
        Some(2.0),
        "{m}"
    );
    let ip = "127.0.10.42";
    assert_eq!(
        status("d-transport", ip, &format!("smtp:{ip}/{ip}")),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        status("d-dnsbl", "192.0.2.99", "listed:bl.faults.test"),
        Some(3.0),
        "{m}"
    );
    let dns_states: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("mailauth_check_status{probe=\"d-dns\""))
        .collect();
    assert!(
        !dns_states.is_empty() && dns_states.iter().all(|l| l.ends_with(" 3.0")),
        "{m}"
    );
    for probe in ["d-dns", "d-dnsbl"] {
        assert!(
            m.contains(&format!("mailauth_probe_success{{probe=\"{probe}\"")),
            "{m}"
        );
    }
}

/// A server certificate for cases whose TLS is never reached.
fn pki_light() -> std::sync::Arc<rustls::ServerConfig> {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| Pki::new(&["DNS:faults.test"]))
        .server
        .clone()
}
