//! MTA-STS (RFC 8461): the HTTP answer of the policy host as the DNS probe reads it
//! (`read_policy`: hyper's HTTP/1.1 client and our checks of status, type, size, over an
//! in-memory stream that answers the request with the input) and the policy body itself
//! (`parse_policy`). Beyond "no panic": an accepted policy has `max_age` within the RFC's
//! bound, MX patterns (lowercase) unless its mode is `none`, and each pattern matches a host it
//! names (`mx_matches`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probe_fuzz::runtime;
use mailauth_probes::mta_sts::{self, Mode, Policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `answer` as the policy host's reply to whatever request comes, then a close.
fn read_answer(answer: &[u8]) -> Result<Policy, String> {
    runtime().block_on(async {
        let (client, mut server) = tokio::io::duplex(answer.len() + 64 * 1024);
        let host = async move {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && matches!(server.read(&mut byte).await, Ok(1)) {
                request.push(byte[0]);
            }
            let _ = server.write_all(answer).await;
            let _ = server.shutdown().await;
            let _ = server.read_to_end(&mut request).await;
        };
        let (_, policy) = tokio::join!(host, mta_sts::read_policy(client, "mta-sts.example.org"));
        policy
    })
}

fn check(p: &Policy) {
    assert!(p.max_age <= 31_557_600, "{p:?}");
    assert!(p.mode == Mode::None || !p.mx.is_empty(), "{p:?}");
    for mx in &p.mx {
        assert_eq!(*mx, mx.to_ascii_lowercase());
        let trimmed = mx.trim_end_matches('.');
        match trimmed.strip_prefix("*.") {
            Some(rest) if !rest.is_empty() => {
                assert!(mta_sts::mx_matches(mx, &format!("mx.{rest}")), "{mx:?}");
                assert!(
                    !mta_sts::mx_matches(mx, rest),
                    "{mx:?} matches its own parent"
                );
            }
            Some(_) => {}
            None => assert!(mta_sts::mx_matches(mx, mx), "{mx:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(policy) = mta_sts::parse_policy(text)
    {
        check(&policy);
    }
    if let Ok(policy) = read_answer(data) {
        check(&policy);
    }
});
