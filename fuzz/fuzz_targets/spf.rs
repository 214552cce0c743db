//! SPF records through the strict lint parser (`SpfRecord::parse`), as the DNS probe reads
//! every TXT record that starts with `v=spf1`. Beyond "no panic": every term and issue lies
//! inside the record, terms are in order and hold no space; a permerror issue is CRITICAL;
//! an `ip4:` term that parses prints back exactly as written (no leading zeros, no `ipv4:`
//! typo let through) and every prefix length is within its family's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probes::State;
use mailauth_probes::dns::spf::{self, Mechanism, SpfRecord, TermKind};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let rec = SpfRecord::parse(&text);
    let n = text.len();
    assert_eq!(rec.text, text);
    for i in &rec.issues {
        assert!(
            i.start <= i.end && i.end <= n,
            "issue {i:?} outside {n} bytes"
        );
        assert!(!i.permerror || i.state == State::Critical, "{i:?}");
    }
    assert_eq!(rec.is_permerror(), rec.issues.iter().any(|i| i.permerror));
    if !spf::is_spf(&text) {
        assert!(rec.terms.is_empty());
        assert_eq!(rec.issues.len(), 1);
        assert!(rec.is_permerror());
        return;
    }
    let mut after = 6;
    for t in &rec.terms {
        assert!(after <= t.start && t.start < t.end && t.end <= n, "{t:?}");
        after = t.end + 1;
        let term = text
            .get(t.start..t.end)
            .expect("a term is whole characters");
        assert!(!term.contains(' '), "{term:?}");
        let body = term.trim_start_matches(['+', '-', '~', '?']);
        if let TermKind::Mechanism {
            qualifier,
            mechanism,
        } = &t.kind
        {
            assert!("+-~?".contains(*qualifier));
            match mechanism {
                Mechanism::Ip4(ip, len) => {
                    assert!(*len <= 32);
                    let exact = format!("ip4:{ip}");
                    let with_len = format!("ip4:{ip}/{len}");
                    assert!(
                        body.eq_ignore_ascii_case(&exact) || body.eq_ignore_ascii_case(&with_len),
                        "{term:?} parsed as {ip}/{len}"
                    );
                    if !body.contains('/') {
                        assert_eq!(*len, 32);
                    }
                }
                Mechanism::Ip6(_, len) => assert!(*len <= 128),
                Mechanism::A { cidr4, cidr6, .. } | Mechanism::Mx { cidr4, cidr6, .. } => {
                    assert!(cidr4.is_none_or(|l| l <= 32) && cidr6.is_none_or(|l| l <= 128));
                }
                Mechanism::Include(d) | Mechanism::Exists(d) => {
                    assert!(spf::domain_spec(d, false).is_ok(), "{d:?}");
                }
                Mechanism::All | Mechanism::Ptr(_) => {}
            }
        }
    }
    // What the walk and the findings read from a record.
    let _ = rec.redirect();
    let _ = rec.mechanisms().filter(|(_, m)| m.queries_dns()).count();
});
