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
use hickory_resolver::proto::rr::RecordType;
use serde_json::Value;

/// How much later than its timeout a `run` may end: process start, config, the runner's
/// reserve.
const MARGIN: Duration = Duration::from_millis(1500);

/// Runs `mailauth-probe run` on `config` and returns the records; panics unless it ended
/// within `timeout` + [`MARGIN`].
fn run_config(config: &str, timeout: Duration) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let f = write_temp(dir.path(), "faults.yaml", config);
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

/// The record of probe `name` (and `target`, when given).
fn record<'a>(records: &'a [Value], probe: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["probe"] == probe)
        .unwrap_or_else(|| panic!("no record of probe {probe}"))
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

/// Asserts that probe `probe` decided nothing as OK and that its worst state is `state`.
#[track_caller]
fn worst(records: &[Value], probe: &str, state: &str) {
    let rec = record(records, probe);
    let states: Vec<&str> = findings(rec)
        .iter()
        .map(|f| f["state"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["OK", "WARNING", "CRITICAL", "UNKNOWN"]
            .iter()
            .position(|x| *x == s)
    };
    let worst = states
        .iter()
        .copied()
        .max_by_key(|s| rank(s))
        .unwrap_or("OK");
    assert_eq!(
        worst, state,
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

    let mut config = format!(
        "global:\n  resolver: [\"{}\"]\nprobes:\n",
        silent.resolver()
    );
    for (name, dns) in [
        ("dns-silent", &silent),
        ("dns-servfail", &servfail),
        ("dns-garbage", &garbage),
        ("dns-cname-loop", &cname_loop),
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
