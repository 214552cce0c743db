//! What the round trip parses itself from IMAP FETCH answers (the IMAP protocol is
//! async-imap's): `BODY.PEEK[HEADER]` of earlier probe messages (`token_in`, `Token::parse`)
//! and `BODY.PEEK[]` of the delivered message, read by mail-auth and then judged by our code
//! (`authres::trusted`, `receiver_verdicts`, `spam_verdict`). Beyond "no panic": a token we
//! accept is one we could have written (32 lowercase hex digits, a valid owner) and prints back
//! to itself; without a trust boundary the verdict is exactly one UNKNOWN finding; spam scores
//! are finite and one per source.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mailauth_probes::roundtrip::imap::{self, ImapAccount, ImapAuth, ImapTls};
use mailauth_probes::roundtrip::message::{self, Token};
use mailauth_probes::roundtrip::{SeedMailbox, receiver_verdicts};
use mailauth_probes::{Secret, State, authres};

fn mailbox() -> SeedMailbox {
    SeedMailbox {
        name: "seed".into(),
        address: "seed@example.org".into(),
        imap: ImapAccount {
            host: "imap.example.org".into(),
            port: 993,
            tls: ImapTls::Implicit,
            username: "seed@example.org".into(),
            auth: ImapAuth::Password(Secret::new("x")),
            idle: true,
            poll_interval: Duration::from_secs(5),
            junk_names: vec![],
            move_to: None,
        },
        trust: authres::TrustRule::new(
            "mx.example.org",
            &["mx.example.org".into(), "*.mx.example.net".into()],
        ),
        expect: ["dkim", "spf", "dmarc", "arc"]
            .iter()
            .map(|m| (m.to_string(), vec!["pass".to_string()]))
            .collect(),
    }
}

fn check_token(t: &Token) {
    assert_eq!(t.id.len(), 32, "{t:?}");
    assert!(
        t.id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{t:?}"
    );
    assert!(!t.owner.is_empty() && t.owner.len() <= 64, "{t:?}");
    assert_eq!(message::sanitize_owner(&t.owner), t.owner);
    assert_eq!(Token::parse(&t.header_value()).as_ref(), Some(t));
}

fuzz_target!(|data: &[u8]| {
    if let Some(t) = imap::token_in(data) {
        check_token(&t);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(t) = Token::parse(text)
    {
        check_token(&t);
    }

    let Some(msg) = mail_auth::AuthenticatedMessage::parse(data) else {
        return;
    };
    let m = mailbox();
    let trusted = authres::trusted_by(&msg.headers, &m.trust);
    let (seen, findings) = receiver_verdicts(&m, &trusted, &msg.headers, &Default::default());
    if trusted.boundary.is_none() {
        assert!(seen.is_empty());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].state, State::Unknown);
    }
    assert!(seen.len() <= 4);

    let spam = message::spam_verdict(msg.headers.iter().copied());
    for (i, (source, score)) in spam.scores.iter().enumerate() {
        assert!(score.is_finite(), "{source}: {score}");
        assert!(
            !spam.scores[..i].iter().any(|(s, _)| s == source),
            "{source} twice"
        );
    }
    for (_, value) in &msg.headers {
        let _ = message::unfold(value);
    }
});
