//! Performance data: the part of `check_mailauth`'s status line after the `|`.
//!
//! Nagios and Icinga hand this text to graphing tools (PNP4Nagios, Graphite and InfluxDB
//! writers, Icinga Web), which split it with simple parsers, so it has to follow the
//! monitoring-plugins `doc/developer-guidelines.sgml` format to the letter:
//! `'label'=value[UOM];[warn];[crit];[min];[max]`, items separated by spaces.
//!
//! - The label is always single-quoted, and a `'` inside it is doubled. `=` is replaced
//!   by `_`, because parsers split label from value at an `=` (Icinga 2 at the *last*
//!   one). Control characters, which would end the status line, are replaced by `_` too.
//! - The value is printed in the C locale with no exponent and no needless trailing
//!   zeros (`3`, `0.25`). An unknown value is `U`, written bare: the unit belongs to a
//!   number, and parsers that look for `=U` would not recognise `Us`.
//! - `warn` and `crit` are the `-w` / `-c` ranges exactly as the administrator typed them.
//! - Trailing empty `;` fields are left out.

use std::fmt::{self, Write as _};

use crate::nagios::range::Range;

/// One perfdata item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Perfdata {
    /// What is measured, e.g. `dnsbl_listings` or `cert_days_left`.
    pub label: String,
    /// The measurement; `None` (or a NaN or infinite value) prints as `U`.
    pub value: Option<f64>,
    /// Unit of measurement: `""` (a number), `s`, `ms`, `%`, `B` or `c` (a counter).
    pub uom: String,
    /// The warning range, printed as given.
    pub warn: Option<Range>,
    /// The critical range, printed as given.
    pub crit: Option<Range>,
    /// Smallest possible value, in the same unit; left out when not finite.
    pub min: Option<f64>,
    /// Largest possible value, in the same unit; left out when not finite.
    pub max: Option<f64>,
}

impl fmt::Display for Perfdata {
    /// `'label'=value[UOM];[warn];[crit];[min];[max]`, trailing empty fields dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('\'')?;
        for c in self.label.chars() {
            match c {
                '\'' => f.write_str("''")?,
                '=' => f.write_char('_')?,
                c if c.is_control() => f.write_char('_')?,
                c => f.write_char(c)?,
            }
        }
        f.write_str("'=")?;

        match self.value.filter(|v| v.is_finite()) {
            Some(value) => {
                write_number(f, value)?;
                f.write_str(&self.uom)?;
            }
            None => f.write_char('U')?,
        }

        let min = self.min.filter(|v| v.is_finite());
        let max = self.max.filter(|v| v.is_finite());
        let present = [
            self.warn.is_some(),
            self.crit.is_some(),
            min.is_some(),
            max.is_some(),
        ];
        let Some(last) = present.iter().rposition(|&p| p) else {
            return Ok(());
        };
        for field in 0..=last {
            f.write_char(';')?;
            match field {
                0 => write_range(f, self.warn.as_ref())?,
                1 => write_range(f, self.crit.as_ref())?,
                2 => write_optional_number(f, min)?,
                _ => write_optional_number(f, max)?,
            }
        }
        Ok(())
    }
}

fn write_range(f: &mut fmt::Formatter<'_>, range: Option<&Range>) -> fmt::Result {
    match range {
        Some(range) => write!(f, "{range}"),
        None => Ok(()),
    }
}

fn write_optional_number(f: &mut fmt::Formatter<'_>, value: Option<f64>) -> fmt::Result {
    match value {
        Some(value) => write_number(f, value),
        None => Ok(()),
    }
}

/// A finite number in the guidelines' `[-0-9.]` class: Rust's `Display` for `f64` prints
/// the shortest text that reads back to the same value, never uses an exponent and
/// never pads with zeros (`3`, `0.25`, `1000000`). `-0` is printed as `0`.
fn write_number(f: &mut fmt::Formatter<'_>, value: f64) -> fmt::Result {
    if value == 0.0 {
        f.write_char('0')
    } else {
        write!(f, "{value}")
    }
}

/// All items on one line, separated by single spaces, as they follow the `|`.
pub fn join(items: &[Perfdata]) -> String {
    let mut line = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        // Writing into a String cannot fail.
        let _ = write!(line, "{item}");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Range {
        text.parse().expect("valid range")
    }

    fn item(label: &str, value: Option<f64>) -> Perfdata {
        Perfdata {
            label: label.to_owned(),
            value,
            ..Perfdata::default()
        }
    }

    #[test]
    fn value_only() {
        assert_eq!(item("listings", Some(3.0)).to_string(), "'listings'=3");
    }

    #[test]
    fn all_fields() {
        let p = Perfdata {
            label: "latency".into(),
            value: Some(12.5),
            uom: "s".into(),
            warn: Some(range("60")),
            crit: Some(range("300")),
            min: Some(0.0),
            max: Some(3600.0),
        };
        assert_eq!(p.to_string(), "'latency'=12.5s;60;300;0;3600");
    }

    #[test]
    fn numbers_without_needless_zeros() {
        assert_eq!(item("a", Some(3.0)).to_string(), "'a'=3");
        assert_eq!(item("a", Some(0.25)).to_string(), "'a'=0.25");
        assert_eq!(item("a", Some(-1.5)).to_string(), "'a'=-1.5");
        assert_eq!(
            item("a", Some(0.1 + 0.2)).to_string(),
            "'a'=0.30000000000000004"
        );
        assert_eq!(
            item("a", Some(1e21)).to_string(),
            "'a'=1000000000000000000000"
        );
        assert_eq!(item("a", Some(1e-7)).to_string(), "'a'=0.0000001");
        assert_eq!(item("a", Some(-0.0)).to_string(), "'a'=0");
    }

    #[test]
    fn unknown_value_is_bare_u() {
        let mut p = item("days", None);
        p.uom = "s".into();
        p.crit = Some(range("7:"));
        assert_eq!(p.to_string(), "'days'=U;;7:");
        p.value = Some(f64::NAN);
        assert_eq!(p.to_string(), "'days'=U;;7:");
        p.value = Some(f64::INFINITY);
        assert_eq!(p.to_string(), "'days'=U;;7:");
    }

    #[test]
    fn label_quoting() {
        assert_eq!(item("it's", Some(1.0)).to_string(), "'it''s'=1");
        assert_eq!(item("''", Some(1.0)).to_string(), "''''''=1");
        assert_eq!(item("a=b", Some(1.0)).to_string(), "'a_b'=1");
        assert_eq!(item("a\nb\tc", Some(1.0)).to_string(), "'a_b_c'=1");
        assert_eq!(
            item("zen.spamhaus.org listed", Some(0.0)).to_string(),
            "'zen.spamhaus.org listed'=0"
        );
        assert_eq!(item("", Some(1.0)).to_string(), "''=1");
    }

    #[test]
    fn ranges_in_original_text() {
        let p = Perfdata {
            warn: Some(range("@+10:20.50")),
            crit: Some(range("~:1e1")),
            ..item("x", Some(15.0))
        };
        assert_eq!(p.to_string(), "'x'=15;@+10:20.50;~:1e1");
    }

    #[test]
    fn trailing_empty_fields_dropped_inner_ones_kept() {
        let base = item("x", Some(1.0));
        let p = Perfdata {
            warn: Some(range("5")),
            ..base.clone()
        };
        assert_eq!(p.to_string(), "'x'=1;5");
        let p = Perfdata {
            crit: Some(range("5")),
            ..base.clone()
        };
        assert_eq!(p.to_string(), "'x'=1;;5");
        let p = Perfdata {
            min: Some(0.0),
            ..base.clone()
        };
        assert_eq!(p.to_string(), "'x'=1;;;0");
        let p = Perfdata {
            max: Some(100.0),
            uom: "%".into(),
            ..base.clone()
        };
        assert_eq!(p.to_string(), "'x'=1%;;;;100");
        let p = Perfdata {
            warn: Some(range("5")),
            max: Some(f64::NAN),
            ..base
        };
        assert_eq!(p.to_string(), "'x'=1;5");
    }

    #[test]
    fn units() {
        for uom in ["", "s", "ms", "%", "B", "c"] {
            let p = Perfdata {
                uom: uom.into(),
                ..item("x", Some(2.0))
            };
            assert_eq!(p.to_string(), format!("'x'=2{uom}"));
        }
    }

    #[test]
    fn join_separates_with_spaces() {
        assert_eq!(join(&[]), "");
        assert_eq!(join(&[item("a", Some(1.0))]), "'a'=1");
        let items = [
            item("a", Some(1.0)),
            Perfdata {
                uom: "s".into(),
                warn: Some(range("10")),
                ..item("b c", Some(0.5))
            },
            item("d", None),
        ];
        assert_eq!(join(&items), "'a'=1 'b c'=0.5s;10 'd'=U");
    }
}
