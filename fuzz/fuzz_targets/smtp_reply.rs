//! SMTP replies (RFC 5321 4.2) as the transport and round-trip probes read them from a server:
//! the pure reader (`parse_reply`, `parse_line`) and the capped reader of a live connection
//! (`Conn::reply`) over the same bytes. Beyond "no panic": a reply's code is three digits from
//! 200 to 599 and it has at least one line; the capped reader never returns more than
//! `MAX_REPLY_LINES` lines, and whatever it accepts the pure reader reads identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probe_fuzz::runtime;
use mailauth_probes::transport::smtp::{self, Conn, Reply};

fn check(reply: &Reply) {
    assert!((200..=599).contains(&reply.code), "code {}", reply.code);
    assert!(!reply.lines.is_empty());
    assert!(reply.text().starts_with(&reply.code.to_string()));
    let _ = reply.keywords();
}

fuzz_target!(|data: &[u8]| {
    let text = std::str::from_utf8(data).ok();
    if let Some(text) = text {
        for line in text.split('\n') {
            if let Ok((code, last, rest)) = smtp::parse_line(line) {
                assert!((200..=599).contains(&code), "{line:?}");
                assert!(line.starts_with(&code.to_string()), "{line:?}");
                assert_eq!(last, line.as_bytes().get(3) != Some(&b'-'), "{line:?}");
                assert!(line.ends_with(&rest), "{line:?}");
            }
        }
        if let Ok(reply) = smtp::parse_reply(text) {
            check(&reply);
        }
    }

    let read = runtime().block_on(async {
        let mut conn = Conn::new(tokio::io::join(data, tokio::io::sink()));
        conn.reply().await
    });
    if let Ok(reply) = read {
        check(&reply);
        assert!(reply.lines.len() <= smtp::MAX_REPLY_LINES);
        if let Some(text) = text {
            assert_eq!(smtp::parse_reply(text).as_ref(), Ok(&reply));
        }
    }
});
