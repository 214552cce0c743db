//! Threshold ranges as Nagios and Icinga administrators write them for `-w` and `-c`.
//!
//! `check_mailauth` is configured by people who already know the monitoring-plugins
//! threshold syntax from every other plugin they run, so it must mean exactly what it
//! means there (monitoring-plugins `doc/developer-guidelines.sgml`, "Threshold and
//! ranges"): `[@]start:end`, where an omitted `start` is 0, `~` as `start` is negative
//! infinity, an omitted `end` is positive infinity, and a leading `@` alerts when the
//! value is *inside* the range instead of outside it.
//!
//! | text      | alerts when           |
//! |-----------|-----------------------|
//! | `10`      | `< 0` or `> 10`       |
//! | `10:`     | `< 10`                |
//! | `~:10`    | `> 10`                |
//! | `10:20`   | `< 10` or `> 20`      |
//! | `@10:20`  | `>= 10` and `<= 20`   |
//!
//! The text is kept as given, because perfdata repeats the thresholds the plugin was
//! called with, and an administrator should see their own words there.
//!
//! We are stricter than the C library, whose parser reads numbers with `strtod` and
//! ignores what follows them: `5x`, `1:12%` or `~5:10` are errors here, not silently `5`,
//! `1:12` or `~:10`, because a threshold that means something other than what was typed
//! is a silent monitoring gap. Like the C library (`strtod`), a leading `+` and an
//! exponent (`1e3`) are accepted.

use std::fmt;
use std::str::FromStr;

/// A parsed threshold range: the closed interval `[start, end]`, plus whether a value
/// inside it (`@`) or outside it (the default) raises the alert.
///
/// Open ends are `f64::NEG_INFINITY` and `f64::INFINITY`. `start <= end` always holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    start: f64,
    end: f64,
    /// `@` was given: alert when the value lies inside `[start, end]`.
    inside: bool,
    /// The text the range was parsed from, printed back unchanged in perfdata.
    text: String,
}

impl Range {
    /// Lower bound; `f64::NEG_INFINITY` for `~`.
    pub fn start(&self) -> f64 {
        self.start
    }

    /// Upper bound; `f64::INFINITY` when omitted.
    pub fn end(&self) -> f64 {
        self.end
    }

    /// True for `@` ranges, which alert when the value is inside.
    pub fn inside(&self) -> bool {
        self.inside
    }

    /// The text the range was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `value` should raise this range's alert: it lies outside `[start, end]`,
    /// or inside it for an `@` range. Both bounds are inclusive.
    ///
    /// A NaN value lies inside no range, so it alerts on an ordinary range (even `~:`)
    /// and never on an `@` range: a figure we could not compute is not silently "fine".
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start <= value && value <= self.end;
        within == self.inside
    }
}

impl fmt::Display for Range {
    /// The range exactly as it was given, e.g. `@10:20` or `~:5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Range {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |kind| RangeError {
            text: text.to_owned(),
            kind,
        };

        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(fail(RangeErrorKind::Empty));
        }

        let (start, end) = match body.split_once(':') {
            Some((start, end)) => {
                let start = match start {
                    "" => 0.0,
                    "~" => f64::NEG_INFINITY,
                    number => parse_number(number).map_err(fail)?,
                };
                let end = match end {
                    "" => f64::INFINITY,
                    number => parse_number(number).map_err(fail)?,
                };
                (start, end)
            }
            // A lone number is the end; the start is 0.
            None => (0.0, parse_number(body).map_err(fail)?),
        };

        if start > end {
            return Err(fail(RangeErrorKind::StartAfterEnd { start, end }));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_owned(),
        })
    }
}

/// One finite number in the C locale: `[+-]digits[.digits][e[+-]digits]`, with at least
/// one digit before the exponent (`.5` and `5.` are numbers, `.` is not). Everything
/// `f64::from_str` would accept beyond that (`inf`, `NaN`, `infinity`) is refused.
fn parse_number(text: &str) -> Result<f64, RangeErrorKind> {
    let not_a_number = || RangeErrorKind::NotANumber(text.to_owned());

    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits_before = count_digits(&bytes[i..]);
    i += digits_before;
    let mut digits_after = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        digits_after = count_digits(&bytes[i..]);
        i += digits_after;
    }
    if digits_before + digits_after == 0 {
        return Err(not_a_number());
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exponent_digits = count_digits(&bytes[i..]);
        if exponent_digits == 0 {
            return Err(not_a_number());
        }
        i += exponent_digits;
    }
    if i != bytes.len() {
        return Err(not_a_number());
    }

    let value: f64 = text.parse().map_err(|_| not_a_number())?;
    if !value.is_finite() {
        return Err(RangeErrorKind::OutOfRange(text.to_owned()));
    }
    Ok(value)
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// A threshold that is not a valid range. The message names the text as given, so the
/// plugin can print it as its UNKNOWN reason unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid threshold range `{text}`: {kind}")]
pub struct RangeError {
    text: String,
    kind: RangeErrorKind,
}

impl RangeError {
    /// The text that failed to parse.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &RangeErrorKind {
        &self.kind
    }
}

/// Why a threshold range was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeErrorKind {
    /// Nothing (or only `@`) was given.
    #[error("no range given")]
    Empty,
    /// A bound is not a plain decimal number (this includes trailing characters such
    /// as `%` and the words `inf` and `NaN`).
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// A bound is a number too large for `f64`.
    #[error("`{0}` is too large")]
    OutOfRange(String),
    /// `start > end`; `-5` is one of these, because a lone number `N` means `0:N`.
    #[error("start is greater than end ({start} > {end})")]
    StartAfterEnd { start: f64, end: f64 },
}

/// The `-w` and `-c` ranges of one figure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

/// The state one figure puts the plugin in. Ordered, so the worse of two levels is
/// their `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Thresholds {
    /// CRITICAL when the critical range alerts, else WARNING when the warning range
    /// alerts, else OK. A missing range never alerts.
    pub fn level(&self, value: f64) -> Level {
        let alerts = |range: &Option<Range>| range.as_ref().is_some_and(|r| r.alerts(value));
        if alerts(&self.critical) {
            Level::Critical
        } else if alerts(&self.warning) {
            Level::Warning
        } else {
            Level::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Range {
        text.parse()
            .unwrap_or_else(|e| panic!("`{text}` should parse: {e}"))
    }

    fn error(text: &str) -> RangeErrorKind {
        match text.parse::<Range>() {
            Ok(r) => panic!("`{text}` should be rejected, got {r:?}"),
            Err(e) => e.kind,
        }
    }

    fn thresholds(warning: Option<&str>, critical: Option<&str>) -> Thresholds {
        Thresholds {
            warning: warning.map(range),
            critical: critical.map(range),
        }
    }

    // ---------------------------------------------------------------------------------
    // Vectors from monitoring-plugins `lib/tests/test_utils.c` (the `parse_range_string`,
    // `check_range`, `_set_thresholds` and `get_status` cases), translated one by one.
    // The C `range` keeps `start_infinity` / `end_infinity` flags beside the numbers; we
    // store the infinities in `start` / `end`, so "not using infinity" becomes "is finite".
    // ---------------------------------------------------------------------------------

    #[test]
    fn c_lone_number_is_zero_to_it() {
        // parse_range_string("6")
        let r = range("6");
        assert_eq!(r.start(), 0.0);
        assert_eq!(r.end(), 6.0);
        assert!(!r.inside());
    }

    #[test]
    fn c_percent_suffix_is_rejected_here() {
        // parse_range_string("1:12%%") is accepted by the C library ("percentages are
        // ignored", because strtod stops at the `%`), giving 1:12. Deliberate divergence:
        // we reject trailing characters, so `1:12%` is an error, not 1:12. None of our
        // figures is a percentage.
        assert_eq!(error("1:12%%"), RangeErrorKind::NotANumber("12%%".into()));
        assert_eq!(error("1:12%"), RangeErrorKind::NotANumber("12%".into()));
        // What the C library makes of it, written without the suffix:
        let r = range("1:12");
        assert_eq!((r.start(), r.end()), (1.0, 12.0));
    }

    #[test]
    fn c_negative_start() {
        // parse_range_string("-7:23")
        let r = range("-7:23");
        assert_eq!((r.start(), r.end()), (-7.0, 23.0));
    }

    #[test]
    fn c_omitted_start_is_zero() {
        // parse_range_string(":5.75")
        let r = range(":5.75");
        assert_eq!((r.start(), r.end()), (0.0, 5.75));
    }

    #[test]
    fn c_tilde_start_is_negative_infinity() {
        // parse_range_string("~:-95.99")
        let r = range("~:-95.99");
        assert_eq!(r.start(), f64::NEG_INFINITY);
        assert_eq!(r.end(), -95.99);
        assert!(r.end().is_finite());
    }

    #[test]
    fn c_huge_start_open_end() {
        // parse_range_string("12345678901234567890:"); the C test compares with
        // atof("12345678901234567890"), the nearest double, as `parse` gives here.
        let r = range("12345678901234567890:");
        let temp: f64 = 12_345_678_901_234_567_890.0;
        assert_eq!(r.start(), temp);
        assert_eq!(r.end(), f64::INFINITY);
        assert!(r.alerts(temp / 1.1), "12345678901234567890/1.1 - alert");
        assert!(!r.alerts(temp), "12345678901234567890 - no alert");
        assert!(!r.alerts(temp * 2.0), "12345678901234567890*2 - no alert");
    }

    #[test]
    fn c_up_to_zero() {
        // parse_range_string("~:0"), alert_on OUTSIDE
        let r = range("~:0");
        assert_eq!((r.start(), r.end()), (f64::NEG_INFINITY, 0.0));
        assert!(!r.inside());
        assert!(r.alerts(0.5), "0.5 - alert");
        assert!(!r.alerts(-10.0), "-10 - no alert");
        assert!(!r.alerts(0.0), "0 - no alert");
    }

    #[test]
    fn c_inside_range() {
        // parse_range_string("@0:657.8210567"), alert_on INSIDE
        let r = range("@0:657.8210567");
        assert_eq!((r.start(), r.end()), (0.0, 657.8210567));
        assert!(r.inside());
        assert!(r.alerts(32.88), "32.88 - alert");
        assert!(!r.alerts(-2.0), "-2 - no alert");
        assert!(r.alerts(657.8210567), "657.8210567 - alert");
        assert!(r.alerts(0.0), "0 - alert");
    }

    #[test]
    fn c_inside_single_point() {
        // parse_range_string("@1:1")
        let r = range("@1:1");
        assert_eq!((r.start(), r.end()), (1.0, 1.0));
        assert!(r.inside());
        assert!(!r.alerts(0.5), "0.5 - no alert");
        assert!(r.alerts(1.0), "1 - alert");
        assert!(!r.alerts(5.2), "5.2 - no alert");
    }

    #[test]
    fn c_single_point() {
        // parse_range_string("1:1")
        let r = range("1:1");
        assert_eq!((r.start(), r.end()), (1.0, 1.0));
        assert!(r.alerts(0.5), "0.5 - alert");
        assert!(!r.alerts(1.0), "1 - no alert");
        assert!(r.alerts(5.2), "5.2 - alert");
    }

    #[test]
    fn c_start_after_end_rejected() {
        // parse_range_string("2:1") == NULL
        assert_eq!(
            error("2:1"),
            RangeErrorKind::StartAfterEnd {
                start: 2.0,
                end: 1.0
            }
        );
    }

    #[test]
    fn c_thresholds_none_none() {
        // _set_thresholds(NULL, NULL): neither set. (The C test checks no status here;
        // with nothing set every value is OK.)
        let t = thresholds(None, None);
        assert!(t.warning.is_none() && t.critical.is_none());
        assert_eq!(t.level(0.0), Level::Ok);
    }

    #[test]
    fn c_thresholds_critical_only() {
        // _set_thresholds(NULL, "80")
        let t = thresholds(None, Some("80"));
        assert!(t.warning.is_none());
        assert_eq!(t.critical.as_ref().map(Range::end), Some(80.0));
    }

    #[test]
    fn c_thresholds_warning_only() {
        // _set_thresholds("5:33", NULL)
        let t = thresholds(Some("5:33"), None);
        let w = t.warning.as_ref().expect("warning set");
        assert_eq!((w.start(), w.end()), (5.0, 33.0));
        assert!(t.critical.is_none());
    }

    #[test]
    fn c_thresholds_status() {
        // _set_thresholds("30", "60") and get_status
        let t = thresholds(Some("30"), Some("60"));
        assert_eq!(t.warning.as_ref().map(Range::end), Some(30.0));
        assert_eq!(t.critical.as_ref().map(Range::end), Some(60.0));
        assert_eq!(t.level(15.3), Level::Ok, "15.3 - ok");
        assert_eq!(t.level(30.0001), Level::Warning, "30.0001 - warning");
        assert_eq!(t.level(69.0), Level::Critical, "69 - critical");
    }

    #[test]
    fn c_thresholds_negative_ranges_status() {
        // _set_thresholds("-10:-2", "-30:20") and get_status
        let t = thresholds(Some("-10:-2"), Some("-30:20"));
        let w = t.warning.as_ref().expect("warning set");
        let c = t.critical.as_ref().expect("critical set");
        assert_eq!((w.start(), w.end()), (-10.0, -2.0));
        assert_eq!((c.start(), c.end()), (-30.0, 20.0));
        assert_eq!(t.level(-31.0), Level::Critical, "-31 - critical");
        assert_eq!(t.level(-29.0), Level::Warning, "-29 - warning");
        assert_eq!(t.level(-11.0), Level::Warning, "-11 - warning");
        assert_eq!(t.level(-10.0), Level::Ok, "-10 - ok");
        assert_eq!(t.level(-2.0), Level::Ok, "-2 - ok");
        assert_eq!(t.level(-1.0), Level::Warning, "-1 - warning");
        assert_eq!(t.level(19.0), Level::Warning, "19 - warning");
        assert_eq!(t.level(21.0), Level::Critical, "21 - critical");
    }

    // ---------------------------------------------------------------------------------
    // Our own cases: the developer-guidelines examples and what we refuse.
    // ---------------------------------------------------------------------------------

    #[test]
    fn guideline_examples() {
        let r = range("10");
        assert!(r.alerts(-0.1) && r.alerts(10.1));
        assert!(!r.alerts(0.0) && !r.alerts(10.0));

        let r = range("10:");
        assert_eq!((r.start(), r.end()), (10.0, f64::INFINITY));
        assert!(r.alerts(9.99) && !r.alerts(10.0) && !r.alerts(1e300));

        let r = range("~:10");
        assert!(!r.alerts(-1e300) && !r.alerts(10.0) && r.alerts(10.01));

        let r = range("10:20");
        assert!(r.alerts(9.0) && !r.alerts(10.0) && !r.alerts(20.0) && r.alerts(21.0));

        let r = range("@10:20");
        assert!(!r.alerts(9.0) && r.alerts(10.0) && r.alerts(20.0) && !r.alerts(21.0));
    }

    #[test]
    fn decimals_negatives_signs_exponents() {
        let r = range("-10:-5");
        assert_eq!((r.start(), r.end()), (-10.0, -5.0));
        let r = range("0.5:1.5");
        assert_eq!((r.start(), r.end()), (0.5, 1.5));
        // strtod accepts a leading `+`, so the C library does and so do we.
        let r = range("+1:+2.5");
        assert_eq!((r.start(), r.end()), (1.0, 2.5));
        assert_eq!(range("+7").end(), 7.0);
        assert_eq!(range(".5").end(), 0.5);
        assert_eq!(range("5.").end(), 5.0);
        assert_eq!(range("1e3:").start(), 1000.0);
        assert_eq!(range("~:2.5E-1").end(), 0.25);
    }

    #[test]
    fn open_ends() {
        // `~:` and `:` are accepted, as by the C library: never alert / alert below 0.
        let r = range("~:");
        assert_eq!((r.start(), r.end()), (f64::NEG_INFINITY, f64::INFINITY));
        assert!(!r.alerts(-1e300) && !r.alerts(1e300));
        let r = range(":");
        assert_eq!((r.start(), r.end()), (0.0, f64::INFINITY));
        assert!(r.alerts(-1.0) && !r.alerts(0.0));
        assert!(range("@~:").alerts(42.0));
    }

    #[test]
    fn nan_value_is_inside_no_range() {
        assert!(range("10").alerts(f64::NAN));
        assert!(range("~:").alerts(f64::NAN));
        assert!(!range("@10:20").alerts(f64::NAN));
        assert_eq!(
            thresholds(Some("5"), Some("10")).level(f64::NAN),
            Level::Critical
        );
    }

    #[test]
    fn display_is_original_text() {
        for text in [
            "10", "10:", "~:10", "@10:20", "+1:+2.5", ":5.75", "1e3:", "~:",
        ] {
            assert_eq!(range(text).to_string(), text);
            assert_eq!(range(text).as_str(), text);
        }
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(error(""), RangeErrorKind::Empty);
        assert_eq!(error("@"), RangeErrorKind::Empty);
    }

    #[test]
    fn rejects_non_numbers_and_garbage() {
        for (text, bad) in [
            ("abc", "abc"),
            ("5x", "5x"),
            ("10:5s", "5s"),
            ("1:2:3", "2:3"),
            ("~", "~"),
            ("~5:10", "~5"),
            ("10:~", "~"),
            ("-", "-"),
            (".", "."),
            ("1e", "1e"),
            ("1.2.3", "1.2.3"),
            (" 5", " 5"),
            ("5 ", "5 "),
            ("@@5", "@5"),
            ("0x10", "0x10"),
            ("1,5", "1,5"),
            ("inf", "inf"),
            ("1:infinity", "infinity"),
        ] {
            assert_eq!(
                error(text),
                RangeErrorKind::NotANumber(bad.into()),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_nan() {
        assert_eq!(error("NaN"), RangeErrorKind::NotANumber("NaN".into()));
        assert_eq!(error("nan:5"), RangeErrorKind::NotANumber("nan".into()));
        assert_eq!(error("@0:NAN"), RangeErrorKind::NotANumber("NAN".into()));
    }

    #[test]
    fn rejects_overflow() {
        assert_eq!(error("1e999"), RangeErrorKind::OutOfRange("1e999".into()));
    }

    #[test]
    fn rejects_start_after_end() {
        assert!(matches!(
            error("@20:10"),
            RangeErrorKind::StartAfterEnd { .. }
        ));
        // A lone negative number means 0:-5.
        assert!(matches!(error("-5"), RangeErrorKind::StartAfterEnd { .. }));
    }

    #[test]
    fn error_messages_name_the_text() {
        let message = |text: &str| text.parse::<Range>().unwrap_err().to_string();
        assert_eq!(
            message("10:5"),
            "invalid threshold range `10:5`: start is greater than end (10 > 5)"
        );
        assert_eq!(
            message("-5"),
            "invalid threshold range `-5`: start is greater than end (0 > -5)"
        );
        assert_eq!(
            message("5x"),
            "invalid threshold range `5x`: `5x` is not a number"
        );
        assert_eq!(message(""), "invalid threshold range ``: no range given");
        assert_eq!(
            message("1e999:"),
            "invalid threshold range `1e999:`: `1e999` is too large"
        );
        let e = "@3:x".parse::<Range>().unwrap_err();
        assert_eq!(e.text(), "@3:x");
        assert_eq!(e.kind(), &RangeErrorKind::NotANumber("x".into()));
    }

    #[test]
    fn critical_beats_warning() {
        let t = thresholds(Some("10"), Some("5"));
        assert_eq!(t.level(3.0), Level::Ok);
        assert_eq!(t.level(7.0), Level::Critical);
        let t = thresholds(Some("5"), Some("10"));
        assert_eq!(t.level(7.0), Level::Warning);
        assert_eq!(t.level(11.0), Level::Critical);
        assert!(Level::Ok < Level::Warning && Level::Warning < Level::Critical);
    }
}
