//! DMARC records (RFC 7489, RFC 9989) parsed as a receiver reads them: policy, subdomain
//! policy, the non-existent subdomain policy (`np`), the public suffix flag (`psd`), test
//! mode (`t`), `pct`, alignment modes, report destinations, with every fault placed in the
//! record. Tags RFC 9989 drops (`pct`, `rf`, `ri`) are noted, not failed. Pure: no DNS here
//! (`discover.rs` finds which record applies).

use crate::State;
pub use crate::dns::tags::Issue;
use crate::dns::tags::{self, Tag};

/// A parsed DMARC record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    pub text: String,
    pub tags: Vec<Tag>,
    /// `none`, `quarantine`, `reject`, when valid.
    pub policy: Option<String>,
    pub subdomain_policy: Option<String>,
    /// `np=`: the policy for subdomains that do not exist (RFC 9989), when valid.
    pub nonexistent_policy: Option<String>,
    /// `psd=`: `y` (a public suffix domain's record), `n` (an organizational domain's), `u`.
    pub psd: Option<char>,
    /// `t=y`: test mode (RFC 9989): receivers apply the policy one step milder.
    pub test_mode: bool,
    pub pct: u8,
    /// Aggregate report destinations (`rua`), as written.
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub issues: Vec<Issue>,
}

/// Whether a TXT string is a DMARC record (`v=DMARC1` first).
pub fn is_dmarc(text: &str) -> bool {
    let t = text.trim_start();
    // The first byte, not `t[..1]`: a TXT string may start with a multi-byte character.
    t.len() >= 8
        && t.as_bytes()[0].eq_ignore_ascii_case(&b'v')
        && t.split(';')
            .next()
            .is_some_and(|v| v.replace(' ', "").eq_ignore_ascii_case("v=DMARC1"))
}

const POLICIES: &[&str] = &["none", "quarantine", "reject"];
const KNOWN: &[&str] = &[
    "v", "p", "sp", "np", "adkim", "aspf", "pct", "rua", "ruf", "fo", "rf", "ri", "psd", "t",
];

impl DmarcRecord {
    pub fn parse(text: &str) -> DmarcRecord {
        let (tags, errors) = tags::parse(text);
        let mut r = DmarcRecord {
            text: text.to_string(),
            tags,
            policy: None,
            subdomain_policy: None,
            nonexistent_policy: None,
            psd: None,
            test_mode: false,
            pct: 100,
            rua: vec![],
            ruf: vec![],
            issues: errors
                .into_iter()
                .map(|e| Issue {
                    state: State::Critical,
                    start: e.start,
                    end: e.end,
                    message: format!("{}: receivers may ignore the whole record", e.message),
                })
                .collect(),
        };
        r.check();
        r
    }

    fn issue(&mut self, state: State, span: (usize, usize), message: impl Into<String>) {
        self.issues.push(Issue {
            state,
            start: span.0,
            end: span.1,
            message: message.into(),
        });
    }

    fn check(&mut self) {
        let tags = self.tags.clone();
        match tags.first() {
            Some(t) if t.name == "v" && t.value == "DMARC1" => {}
            Some(t) => self.issue(
                State::Critical,
                (t.start, t.end),
                "a DMARC record must begin with `v=DMARC1` (exactly, first): receivers ignore this one",
            ),
            None => self.issue(State::Critical, (0, self.text.len()), "empty DMARC record"),
        }
        for t in &tags {
            let span = (t.start, t.end);
            let lname = t.name.to_ascii_lowercase();
            if !KNOWN.contains(&lname.as_str()) {
                self.issue(
                    State::Warning,
                    span,
                    format!("unknown tag `{}`: receivers ignore it", t.name),
                );
                continue;
            }
            let v = t.value.as_str();
            match lname.as_str() {
                "p" | "sp" | "np" => {
                    let lv = v.to_ascii_lowercase();
                    if POLICIES.contains(&lv.as_str()) {
                        if lname == "p" {
                            self.policy = Some(lv);
                        } else if lname == "sp" {
                            self.subdomain_policy = Some(lv);
                        } else {
                            self.nonexistent_policy = Some(lv);
                        }
                    } else {
                        self.issue(
                            State::Critical,
                            span,
                            format!("`{}={v}`: the policy is none, quarantine or reject", t.name),
                        );
                    }
                }
                "adkim" | "aspf" if !matches!(v, "r" | "s") => {
                    self.issue(
                        State::Critical,
                        span,
                        format!("`{}={v}`: alignment is r (relaxed) or s (strict)", t.name),
                    );
                }
                "pct" => match v.parse::<u8>() {
                    Ok(n) if n <= 100 => {
                        self.pct = n;
                        if n < 100 {
                            self.issue(
                                State::Warning,
                                span,
                                format!("pct={n}: the policy applies to only {n}% of failing mail (and the DMARC revision drops `pct`)"),
                            );
                        }
                    }
                    _ => self.issue(
                        State::Critical,
                        span,
                        format!("`pct={v}` is not a number from 0 to 100"),
                    ),
                },
                "rua" | "ruf" => {
                    let mut list = vec![];
                    for uri in v.split(',').map(str::trim) {
                        match check_uri(uri) {
                            Ok(()) => list.push(uri.to_string()),
                            Err(e) => self.issue(
                                State::Critical,
                                span,
                                format!("{}: `{uri}`: {e}", t.name),
                            ),
                        }
                    }
                    if lname == "rua" {
                        self.rua = list;
                    } else {
                        self.ruf = list;
                    }
                }
                "fo" if !v
                    .split(':')
                    .all(|o| matches!(o.trim(), "0" | "1" | "d" | "s")) =>
                {
                    self.issue(
                        State::Warning,
                        span,
                        format!("`fo={v}`: options are 0, 1, d, s separated by `:`"),
                    );
                }
                "psd" => match v.to_ascii_lowercase().as_str() {
                    "y" => self.psd = Some('y'),
                    "n" => self.psd = Some('n'),
                    "u" => self.psd = Some('u'),
                    _ => self.issue(
                        State::Warning,
                        span,
                        format!(
                            "`psd={v}`: the value is y, n or u (RFC 9989); receivers ignore it"
                        ),
                    ),
                },
                "t" => match v.to_ascii_lowercase().as_str() {
                    "y" => {
                        self.test_mode = true;
                        self.issue(
                            State::Warning,
                            span,
                            "t=y (test mode, RFC 9989): receivers apply the policy one step milder (reject as quarantine, quarantine as none)",
                        );
                    }
                    "n" => {}
                    _ => self.issue(
                        State::Warning,
                        span,
                        format!("`t={v}`: the value is y or n (RFC 9989); receivers ignore it"),
                    ),
                },
                "ri" if v.parse::<u32>().is_err() => {
                    self.issue(
                        State::Warning,
                        span,
                        format!("`ri={v}` is not a number of seconds"),
                    );
                }
                "rf" if !v.eq_ignore_ascii_case("afrf") => {
                    self.issue(
                        State::Warning,
                        span,
                        format!("`rf={v}`: the only format is afrf"),
                    );
                }
                _ => {}
            }
        }
        if self.policy.is_none() && !self.issues.iter().any(|i| i.message.contains("policy is")) {
            let n = self.text.len();
            let state = if self.rua.is_empty() {
                State::Critical
            } else {
                State::Warning
            };
            self.issue(
                state,
                (n, n),
                "no `p=` tag: receivers treat the record as invalid (or as p=none when it has rua)",
            );
        }
    }

    /// The domains that receive aggregate reports (from `mailto:` rua addresses).
    pub fn rua_domains(&self) -> Vec<String> {
        self.rua
            .iter()
            .filter_map(|u| {
                u.strip_prefix("mailto:")
                    .or_else(|| u.strip_prefix("MAILTO:"))
            })
            .filter_map(|a| a.split('!').next())
            .filter_map(|a| {
                a.rsplit_once('@')
                    .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
            })
            .collect()
    }
}

fn check_uri(uri: &str) -> Result<(), String> {
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or("not a URI (write mailto:reports@example.org)")?;
    if !scheme.eq_ignore_ascii_case("mailto") {
        return Ok(()); // other schemes are allowed, if unusual
    }
    let addr = rest.split('!').next().unwrap_or("");
    let (local, domain) = addr
        .rsplit_once('@')
        .ok_or("a mailto: address needs an @")?;
    if local.is_empty()
        || crate::dns::spf::domain_spec(domain, false).is_err()
        || domain.contains('%')
    {
        return Err("not a valid mail address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(r: &DmarcRecord) -> State {
        r.issues
            .iter()
            .map(|i| i.state)
            .fold(State::Ok, State::worst)
    }

    #[test]
    fn healthy() {
        let r = DmarcRecord::parse(
            "v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:dmarc@example.org,mailto:x@y.example!10m; fo=1:d",
        );
        assert!(r.issues.is_empty(), "{:?}", r.issues);
        assert_eq!(r.policy.as_deref(), Some("reject"));
        assert_eq!(r.subdomain_policy.as_deref(), Some("quarantine"));
        assert_eq!(
            (r.nonexistent_policy.as_deref(), r.psd, r.test_mode),
            (None, None, false)
        );
        assert_eq!(r.rua_domains(), vec!["example.org", "y.example"]);
        assert!(
            is_dmarc("v=DMARC1; p=none") && !is_dmarc("v=spf1 -all") && !is_dmarc("v=DMARC10;")
        );
    }

    #[test]
    fn rfc9989_tags_are_read() {
        let r = DmarcRecord::parse("v=DMARC1; p=none; sp=quarantine; np=reject; psd=Y; t=y");
        assert_eq!(r.nonexistent_policy.as_deref(), Some("reject"));
        assert_eq!(r.psd, Some('y'));
        assert!(r.test_mode);
        assert_eq!(DmarcRecord::parse("v=DMARC1; p=none; psd=n").psd, Some('n'));
    }

    /// Found by the `dns_records` fuzz target: a TXT string at `_dmarc` starting with a
    /// multi-byte character panicked (a str slice through the character).
    #[test]
    fn non_ascii_start_is_not_dmarc() {
        assert!(!is_dmarc(
            "\u{fffd}\0\0\0 =2; 3x=4; novalue; a\u{fffd}again"
        ));
        assert!(!is_dmarc("éééé=DMARC1; p=none"));
        assert!(is_dmarc("V = DMARC1; p=none"));
    }

    #[test]
    fn faults() {
        let cases: &[(&str, State, &str)] = &[
            (
                "v=DMARC1; p=rejcet",
                State::Critical,
                "none, quarantine or reject",
            ),
            ("p=reject; v=DMARC1", State::Critical, "must begin with"),
            ("v=DMARC1; p=reject; pct=50", State::Warning, "only 50%"),
            ("v=DMARC1; p=reject; pct=150", State::Critical, "0 to 100"),
            (
                "v=DMARC1; p=reject; rua=dmarc@example.org",
                State::Critical,
                "not a URI",
            ),
            ("v=DMARC1; p=reject; adkim=x", State::Critical, "relaxed"),
            ("v=DMARC1; p=reject; foo=bar", State::Warning, "unknown tag"),
            (
                "v=DMARC1; rua=mailto:a@example.org",
                State::Warning,
                "no `p=`",
            ),
            ("v=DMARC1", State::Critical, "no `p=`"),
            ("v=DMARC1; p=reject; p=none", State::Critical, "twice"),
            (
                "v=DMARC1; p=reject; np=drop",
                State::Critical,
                "none, quarantine or reject",
            ),
            ("v=DMARC1; p=reject; psd=yes", State::Warning, "y, n or u"),
            ("v=DMARC1; p=reject; t=y", State::Warning, "test mode"),
            ("v=DMARC1; p=reject; t=maybe", State::Warning, "y or n"),
        ];
        for (t, s, w) in cases {
            let r = DmarcRecord::parse(t);
            assert_eq!(worst(&r), *s, "{t}: {:?}", r.issues);
            assert!(
                r.issues.iter().any(|i| i.message.contains(w)),
                "{t}: {:?}",
                r.issues
            );
        }
    }
}
