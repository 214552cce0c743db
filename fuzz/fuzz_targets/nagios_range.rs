//! Nagios threshold ranges (`-w`/`-c` of check_mailauth, `Range::from_str`). Beyond "no
//! panic": an accepted range has `start <= end`, no NaN bound, prints back as the text given
//! and re-parses to an equal range; both bounds are inclusive, the values just outside alert
//! the other way, and NaN alerts exactly on ranges without `@`. A refused range names the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailauth_probe::nagios::range::Range;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let range = match text.parse::<Range>() {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(e.text(), text);
            return;
        }
    };
    let (start, end, inside) = (range.start(), range.end(), range.inside());
    assert!(start <= end, "{text:?}: {start} > {end}");
    assert_eq!(range.to_string(), text);
    assert_eq!(range.as_str(), text);
    assert_eq!(range.to_string().parse::<Range>().as_ref(), Ok(&range));
    assert_eq!(inside, text.starts_with('@'));
    assert_ne!(start, f64::INFINITY);
    assert_ne!(end, f64::NEG_INFINITY);

    // Inclusive bounds: each bound alerts only for `@` ranges, a value past it the other way.
    for bound in [start, end] {
        if bound.is_finite() {
            assert_eq!(range.alerts(bound), inside, "{text:?} at {bound}");
        }
    }
    if start.is_finite() {
        assert_eq!(
            range.alerts(start.next_down()),
            !inside,
            "{text:?} below {start}"
        );
    }
    if end.is_finite() {
        assert_eq!(range.alerts(end.next_up()), !inside, "{text:?} above {end}");
    }
    assert_eq!(range.alerts(f64::NAN), !inside);
});
