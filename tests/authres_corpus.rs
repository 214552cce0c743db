//! The real-header corpus (tests/data/authres-corpus): every recorded field read through the
//! round trip's own code (mail-auth's header split, `authres::parse`/`parse_arc`, and the trust
//! boundary `authres::trusted_by` with the provider presets), and compared with what the index
//! says a correct reader extracts. Then forged variants of the same messages: a trusted field
//! copied below the boundary, under a look-alike authserv-id, with the recipient domain in the
//! id slot, and a forged `Received: by <receiver>` placed low; none of them is ever trusted.

use std::path::{Path, PathBuf};

use mail_auth::AuthenticatedMessage;
use mailauth_probes::authres::{self, AuthResults, TrustRule, Trusted, providers, trusted_by};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/authres-corpus")
}

fn index() -> Value {
    let text = std::fs::read_to_string(dir().join("index.json")).expect("index.json");
    serde_json::from_str(&text).expect("index.json is JSON")
}

/// The message file with CRLF line ends, as a mailbox gives it.
fn message(file: &str) -> String {
    let raw = std::fs::read_to_string(dir().join(file)).expect(file);
    let mut text = raw.replace("\r\n", "\n").replace('\n', "\r\n");
    if !text.ends_with("\r\n\r\n") {
        text.push_str("\r\n");
    }
    text.push_str("body\r\n");
    text
}

fn rule(v: &Value) -> TrustRule {
    if let Some(key) = v["provider"].as_str() {
        return providers::provider(key)
            .unwrap_or_else(|| panic!("no preset {key}"))
            .rule();
    }
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    TrustRule {
        authserv_ids: list("authserv_ids"),
        received_by: list("received_by"),
        fields_below: v["fields_below"].as_bool().unwrap_or(false),
    }
}

fn with_message<T>(text: &str, f: impl FnOnce(&[(&[u8], &[u8])]) -> T) -> T {
    let msg = AuthenticatedMessage::parse(text.as_bytes()).expect("mail-auth parses it");
    f(&msg.headers)
}

/// `method=result` then `ptype.name=value` (or a bare `name=value`) of the recorded subset.
fn check_result(file: &str, index: usize, got: &authres::MethodResult, want: &str) {
    let mut words = want.split(' ');
    let head = words.next().unwrap();
    assert_eq!(
        format!("{}={}", got.method, got.result),
        head,
        "{file} field #{index}"
    );
    for w in words {
        let (key, value) = w.split_once('=').unwrap();
        let found = match key.split_once('.') {
            Some((ptype, name)) => got.property(ptype, name),
            None => got
                .properties
                .iter()
                .find(|p| p.ptype.is_empty() && p.name == key)
                .map(|p| p.value.as_str()),
        };
        assert_eq!(found, Some(value), "{file} field #{index}: {key} in {got}");
    }
}

fn parse_field(name: &str, value: &str) -> (Option<u32>, AuthResults) {
    if name.eq_ignore_ascii_case("ARC-Authentication-Results") {
        let (i, r) = authres::parse_arc(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        (Some(i), r)
    } else {
        (
            None,
            authres::parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}")),
        )
    }
}

#[test]
fn every_corpus_field_is_read_as_recorded() {
    let index = index();
    let messages = index["messages"].as_array().unwrap();
    let mut fields = 0;
    let mut providers_seen = std::collections::BTreeSet::new();
    for m in messages {
        let file = m["file"].as_str().unwrap();
        assert!(
            m["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("https://"))
                && m["licence"].as_str().is_some(),
            "{file}: every entry names its source and licence"
        );
        providers_seen.insert(m["provider"].as_str().unwrap().to_string());
        let text = message(file);
        let rule = rule(&m["rule"]);
        with_message(&text, |headers| {
            let t = trusted_by(headers, &rule);
            assert_eq!(
                t.boundary,
                m["boundary"].as_u64().map(|b| b as usize),
                "{file}: boundary"
            );
            for f in m["fields"].as_array().unwrap() {
                fields += 1;
                let i = f["index"].as_u64().unwrap() as usize;
                let (name, value) = headers[i];
                let name = std::str::from_utf8(name).unwrap().trim();
                assert_eq!(name, f["name"].as_str().unwrap(), "{file} field #{i}");
                let value = String::from_utf8_lossy(value);
                let (instance, r) = parse_field(name, &value);
                assert_eq!(
                    instance,
                    f["instance"].as_u64().map(|v| v as u32),
                    "{file} #{i}"
                );
                assert_eq!(
                    r.authserv_id,
                    f["authserv_id"].as_str().unwrap(),
                    "{file} #{i}"
                );
                assert_eq!(
                    r.version,
                    f["version"].as_u64().map(|v| v as u32),
                    "{file} #{i}"
                );
                let domains: Vec<&str> = f["recipient_domains"]
                    .as_array()
                    .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
                    .unwrap_or_default();
                assert_eq!(r.recipient_domains, domains, "{file} #{i}");
                let want = f["results"].as_array().unwrap();
                assert_eq!(r.results.len(), want.len(), "{file} #{i}: {:?}", r.results);
                for (got, want) in r.results.iter().zip(want) {
                    check_result(file, i, got, want.as_str().unwrap());
                }
                let is_trusted = t.fields.iter().any(|tf| tf.index == i);
                assert_eq!(
                    is_trusted,
                    f["trusted"].as_bool().unwrap(),
                    "{file} #{i}: trusted? ignored: {:?}",
                    t.ignored
                );
                if is_trusted {
                    assert_eq!(t.fields.iter().find(|tf| tf.index == i).unwrap().results, r);
                } else {
                    assert!(
                        t.ignored.iter().any(|g| g.index == i && !g.why.is_empty()),
                        "{file} #{i}: an untrusted field is listed with its reason"
                    );
                }
            }
        });
    }
    println!(
        "corpus: {} messages, {fields} fields, providers: {providers_seen:?}",
        messages.len()
    );
    assert!(fields >= 30);
}

/// The header block of `text` with `extra` inserted before field `at` (or at the end).
fn insert(text: &str, at: Option<usize>, extra: &str) -> String {
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut fields: Vec<String> = vec![];
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = fields.last_mut().unwrap();
            last.push_str("\r\n");
            last.push_str(line);
        } else {
            fields.push(line.to_string());
        }
    }
    let extra = extra.replace('\n', "\r\n");
    match at {
        Some(i) => fields.insert(i, extra),
        None => fields.push(extra),
    }
    format!("{}\r\n\r\n{body}", fields.join("\r\n"))
}

fn trust(text: &str, rule: &TrustRule) -> Trusted {
    with_message(text, |h| trusted_by(h, rule))
}

#[test]
fn forged_variants_of_corpus_messages_are_never_trusted() {
    let index = index();
    let mut checked = 0;
    for m in index["messages"].as_array().unwrap() {
        let file = m["file"].as_str().unwrap();
        let rule = rule(&m["rule"]);
        let text = message(file);
        let real = trust(&text, &rule);
        let Some(first) = real.fields.first() else {
            continue;
        };
        let boundary = real.boundary.unwrap();
        let raw = with_message(&text, |h| {
            String::from_utf8_lossy(h[first.index].1).to_string()
        });
        let id = first.results.authserv_id.clone();
        let forged_pass = |id: &str| {
            format!(
                "Authentication-Results: {id}; dkim=pass header.d=forged.example; spf=pass; dmarc=pass header.from=forged.example"
            )
        };

        // 1. The receiver's own field copied below the boundary (the end of the headers).
        let below = insert(&text, None, &format!("Authentication-Results:{raw}"));
        let t = trust(&below, &rule);
        assert_eq!(t.fields.len(), real.fields.len(), "{file}: below");
        assert_eq!(t.ignored_below, real.ignored_below + 1, "{file}: counted");

        // 2. Look-alike authserv-ids, placed at the very top.
        for fake in [
            format!("{id}.evil.example"),
            format!("x{id}"),
            id.split('.').skip(1).collect::<Vec<_>>().join("."),
        ] {
            if fake.is_empty() || rule.is_ours(&fake) {
                continue;
            }
            let top = insert(&text, Some(0), &forged_pass(&fake));
            let t = trust(&top, &rule);
            assert_eq!(
                t.fields.len(),
                real.fields.len(),
                "{file}: look-alike {fake}"
            );
            assert!(t.ignored.iter().any(|g| g.index == 0), "{file}: {fake}");
        }

        // 3. A forged `Received: by <receiver>` low down, with a forged field above it but
        //    below the real boundary: the boundary does not move.
        let host = with_message(&text, |h| authres::received_by_host(h[boundary].1)).unwrap();
        let mut low = insert(&text, None, &forged_pass(&id));
        low = insert(
            &low,
            None,
            &format!(
                "Received: from by (forger.example [192.0.2.66])\n\tby {host} (Postfix) with ESMTP id F0RGED; Mon, 1 Jan 2024 00:00:00 +0000"
            ),
        );
        let t = trust(&low, &rule);
        assert_eq!(t.boundary, real.boundary, "{file}: forged low Received");
        assert_eq!(
            t.fields.len(),
            real.fields.len(),
            "{file}: forged low field"
        );
        checked += 1;
    }
    assert!(checked >= 5, "forgeries checked on {checked} messages");
}

#[test]
fn microsoft_fields_without_an_id_and_the_recipient_domain_in_the_id_slot() {
    let rule = providers::provider("microsoft365").unwrap().rule();
    // Real: the sender tenant's copy and Microsoft's rename are never the receiver's verdict.
    let text = message("lore-xen-devel-microsoft.eml");
    assert!(trust(&text, &rule).fields.is_empty());
    // A field Microsoft would write (no id) above its own entry Received is trusted ...
    let amd = message("lore-amd-gfx-microsoft.eml");
    let ms = "Authentication-Results: spf=pass (sender IP is 165.204.84.17)\n smtp.mailfrom=amd.com; lists.freedesktop.org; dkim=none (message not signed)\n header.d=none;lists.freedesktop.org; dmarc=pass action=none\n header.from=amd.com;";
    let t = trust(&insert(&amd, Some(8), ms), &rule);
    assert_eq!(t.fields.len(), 1);
    assert_eq!(
        t.fields[0].results.recipient_domains,
        ["lists.freedesktop.org"; 2]
    );
    // ... the same below it is not, and neither is one with the recipient domain (or any
    // other name) in the id slot above it.
    let t = trust(&insert(&amd, None, ms), &rule);
    assert!(t.fields.is_empty());
    let slot = "Authentication-Results: lists.freedesktop.org; spf=pass smtp.mailfrom=amd.com; dkim=pass header.d=amd.com; dmarc=pass action=none header.from=amd.com;";
    let t = trust(&insert(&amd, Some(8), slot), &rule);
    assert!(t.fields.is_empty(), "{:?}", t.fields);
}

#[test]
fn re_injection_through_localhost_with_the_same_host_name_keeps_the_fields() {
    // Fastmail: `mailmx.nyi.internal (localhost)` re-injects into mx1.messagingengine.com, the
    // same name as the Internet-facing hop below the fields. Only the entry hop is the boundary.
    let text = message("fastmail-1.eml");
    let rule = TrustRule {
        authserv_ids: vec!["mx1.messagingengine.com".into()],
        received_by: vec!["mx1.messagingengine.com".into()],
        fields_below: false,
    };
    let t = trust(&text, &rule);
    assert_eq!(t.boundary, Some(31));
    assert_eq!(t.fields.len(), 4);
    assert_eq!(t.ignored_below, 0);
}
