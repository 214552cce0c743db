//! The other TXT records the DNS probe parses itself: DMARC (`is_dmarc`, `DmarcRecord::parse`),
//! DKIM keys (`DkimKey::parse`, with the base64 and x509-parser decoding behind it) and the
//! tag=value lists under both (`tags::parse`). Beyond "no panic": every tag and issue lies
//! inside the record; a tag's span starts with its name and ends with its value; tag names are
//! unique; `pct` is at most 100 and a policy is one of the three; a key's size is only
//! reported with the bits its DER actually holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probes::dns::dkim::{self, DkimKey};
use mailauth_probes::dns::dmarc::{self, DmarcRecord};
use mailauth_probes::dns::tags;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let n = text.len();

    let (list, errors) = tags::parse(&text);
    for (i, t) in list.iter().enumerate() {
        let span = text.get(t.start..t.end).expect("a tag is whole characters");
        assert!(
            span.starts_with(&t.name) && span.ends_with(&t.value),
            "{t:?} in {span:?}"
        );
        assert!(
            !list[..i]
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&t.name)),
            "{} twice",
            t.name
        );
    }
    for e in &errors {
        assert!(e.start <= e.end && e.end <= n, "{e:?}");
    }

    let _ = dmarc::is_dmarc(&text);
    let d = DmarcRecord::parse(&text);
    assert!(d.pct <= 100);
    for p in d.policy.iter().chain(&d.subdomain_policy) {
        assert!(
            ["none", "quarantine", "reject"].contains(&p.as_str()),
            "{p:?}"
        );
    }
    for i in &d.issues {
        assert!(i.start <= i.end && i.end <= n, "{i:?}");
    }
    let _ = d.rua_domains();

    let k = DkimKey::parse(&text);
    for i in &k.issues {
        assert!(i.start <= i.end && i.end <= n, "{i:?}");
    }
    if let Some(bits) = k.bits {
        let der_len = tags::get(&k.tags, "p")
            .and_then(|p| {
                let b64: String = p.value.chars().filter(|c| !c.is_whitespace()).collect();
                dkim::base64_decode(&b64)
            })
            .map_or(0, |d| d.len());
        assert!(
            bits >= 1 && bits as usize <= der_len * 8,
            "{bits} bits from {der_len} bytes"
        );
    }

    // The DER reader on raw bytes, as if they were a decoded `p=`.
    if let Some(bits) = dkim::rsa_modulus_bits(data) {
        assert!(bits >= 1 && bits as usize <= data.len() * 8);
    }
    if let Some(decoded) = dkim::base64_decode(&text) {
        assert!(decoded.len() <= text.len() * 3 / 4 + 1);
    }
});
