//! What the exporter parses from an HTTP request itself: the query string of `/probe` and
//! `/api/v1/results` (`parse_query`, `+` and `%XX` decoding) and the `Authorization: Basic`
//! header (`basic_credentials`). Beyond "no panic": the query decodes as
//! application/x-www-form-urlencoded does (a reference decoder here: `%` is only an escape
//! before two hex digits), one pair per non-empty `&`-separated piece, and every pair survives
//! being percent-encoded and parsed again; credentials that parse re-encode to themselves.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mailauth_probe::exporter::{parse_query, web::basic_credentials};

/// WHATWG percent-decoding of one key or value, with `+` as a space: a `%` is an escape only
/// before two hex digits. Written as splits on `%` so it shares no shape with the product's.
fn reference_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    let mut pieces = spaced.as_bytes().split(|&b| b == b'%');
    let mut out = pieces.next().unwrap_or_default().to_vec();
    for piece in pieces {
        match piece.get(..2).and_then(|h| std::str::from_utf8(h).ok()) {
            Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                out.extend_from_slice(&piece[2..]);
            }
            _ => {
                out.push(b'%');
                out.extend_from_slice(piece);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs = parse_query(text);
    let expected: Vec<(String, String)> = text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (reference_decode(k), reference_decode(v))
        })
        .collect();
    assert_eq!(pairs, expected, "{text:?}");
    let encoded = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(parse_query(&encoded), pairs, "{text:?} as {encoded:?}");

    if let Some((user, password)) = basic_credentials(text) {
        assert!(!user.contains(':'));
        let again = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        assert_eq!(basic_credentials(&again), Some((user, password)));
    }
});
