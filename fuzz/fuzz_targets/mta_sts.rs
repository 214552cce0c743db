//! MTA-STS (RFC 8461): the HTTP answer of the policy host as the DNS probe reads it
//! (`parse_response`: status line, headers, chunked body) and the policy body itself
//! (`parse_policy`). Beyond "no panic": an accepted policy has `max_age` within the RFC's
//! bound, MX patterns (lowercase) unless its mode is `none`, and each pattern matches a host it
//! names (`mx_matches`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probes::mta_sts::{self, Mode, Policy};

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
    if let Ok(policy) = mta_sts::parse_response(data, "mta-sts.example.org") {
        check(&policy);
    }
});
