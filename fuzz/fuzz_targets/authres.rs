//! Authentication-Results values as the round trip reads them back from delivered mail
//! (`authres::parse`), and the trust boundary (`received_by_host`, `trusted`) over the same
//! bytes read as a header block. Beyond "no panic": an error's position lies inside the
//! unfolded value; methods, results, ptypes and property names come out lowercase; a result
//! printed back (`MethodResult`'s `Display`) parses to the same result, comments aside; and the
//! trusted, erroneous and ignored fields never outnumber the Authentication-Results fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probes::authres::{self, MethodResult};

const AUTHSERV_ID: &str = "mx.example.org";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    value(&text);
    header_block(data);
});

fn value(text: &str) {
    let unfolded = authres::unfold(text);
    match authres::parse(text) {
        Err(e) => assert!(
            e.position <= unfolded.len(),
            "error at {} past the end ({}) of {unfolded:?}",
            e.position,
            unfolded.len()
        ),
        Ok(parsed) => {
            for r in &parsed.results {
                assert!(!r.method.is_empty() && !r.result.is_empty(), "{r:?}");
                assert_eq!(r.method, r.method.to_ascii_lowercase());
                assert_eq!(r.result, r.result.to_ascii_lowercase());
                for p in &r.properties {
                    assert!(!p.name.is_empty(), "{p:?}");
                    assert_eq!(p.ptype, p.ptype.to_ascii_lowercase());
                    assert_eq!(p.name, p.name.to_ascii_lowercase());
                }
                reparses(r);
            }
        }
    }
}

/// `Display` writes a result without its comments, quoting values that need it; parsing that
/// gives the same result back. Folding is not kept by design (a value holding a line break
/// followed by white space is unfolded), so values with line breaks are not compared.
fn reparses(r: &MethodResult) {
    let values = r.reason.iter().chain(r.properties.iter().map(|p| &p.value));
    if values.into_iter().any(|v| v.contains(['\n', '\r'])) {
        return;
    }
    let printed = format!("{AUTHSERV_ID}; {r}");
    let again = authres::parse(&printed)
        .unwrap_or_else(|e| panic!("{printed:?}, printed from {r:?}, does not parse: {e}"));
    assert_eq!(again.results.len(), 1, "{printed:?}");
    let mut back = again.results.into_iter().next().expect("one result");
    back.comments.clone_from(&r.comments);
    assert_eq!(&back, r, "{printed:?}");
}

/// The bytes as a header block (`Name: value` lines, folded lines joined), as mail-auth gives
/// them to [`authres::trusted`].
fn header_block(data: &[u8]) {
    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let mut end = start;
        // A field runs to a line break not followed by white space.
        loop {
            match data[end..].iter().position(|&b| b == b'\n') {
                Some(i) => {
                    end += i + 1;
                    if !matches!(data.get(end), Some(b' ' | b'\t')) {
                        break;
                    }
                }
                None => {
                    end = data.len();
                    break;
                }
            }
        }
        let field = &data[start..end];
        if let Some(colon) = field.iter().position(|&b| b == b':') {
            headers.push((&field[..colon], &field[colon + 1..]));
        }
        start = end;
    }
    for (name, value) in &headers {
        if name.trim_ascii().eq_ignore_ascii_case(b"Received")
            && let Some(host) = authres::received_by_host(value)
        {
            assert!(!host.is_empty() && !host.ends_with('.'), "{host:?}");
            assert!(!host.bytes().any(|b| b.is_ascii_whitespace()), "{host:?}");
            assert_eq!(host, host.to_ascii_lowercase());
        }
    }
    let received_by = [AUTHSERV_ID.to_string(), "*.example.net".to_string()];
    let trusted = authres::trusted(&headers, AUTHSERV_ID, &received_by);
    let fields = headers
        .iter()
        .filter(|(n, _)| {
            n.trim_ascii()
                .eq_ignore_ascii_case(b"Authentication-Results")
        })
        .count();
    match trusted.boundary {
        None => {
            assert!(trusted.results.is_empty() && trusted.errors.is_empty());
            assert_eq!(trusted.ignored_below, 0);
        }
        Some(b) => {
            assert!(b < headers.len());
            assert!(trusted.results.len() + trusted.errors.len() + trusted.ignored_below <= fields);
            assert!(trusted.errors.iter().all(|(i, _)| *i < b));
            for r in &trusted.results {
                assert!(r.authserv_id.eq_ignore_ascii_case(AUTHSERV_ID), "{r:?}");
            }
        }
    }
}
