//! The receiver's verdicts: which of its trusted `Authentication-Results` decides each method
//! (a `fail` is never hidden by a `pass` for the same check; among several DKIM signatures the
//! expected one decides), and the findings the round trip and `mailauth-probe verdicts` report.

use super::message;
use super::{AuthSeen, SeedMailbox};
use crate::authres;
use crate::{Finding, State};

/// The receiver's result per method from the trusted headers, and a finding per expected
/// method (see [`judge_verdicts`]).
pub fn receiver_verdicts(
    m: &SeedMailbox,
    trusted: &authres::Trusted,
    headers: &[(&[u8], &[u8])],
    dkim: &DkimExpect,
) -> (Vec<AuthSeen>, Vec<Finding>) {
    judge_verdicts(
        &m.name,
        &m.trust.authserv_ids,
        &m.trust.received_by,
        &m.expect,
        dkim,
        trusted,
        headers,
    )
}

/// The receiver's verdicts in one raw delivered message (CRLF line ends), read as [`judge`]
/// reads a delivered copy: mail-auth's header split, then [`authres::trusted_by`] and
/// [`judge_verdicts`]. `None` when mail-auth cannot read the message or it has no header field.
pub fn read_verdicts(
    raw: &[u8],
    rule: &authres::TrustRule,
    expect: &[(String, Vec<String>)],
    dkim: &DkimExpect,
) -> Option<(authres::Trusted, Vec<AuthSeen>, Vec<Finding>)> {
    let msg = mail_auth::AuthenticatedMessage::parse(raw)?;
    if msg.headers.is_empty() {
        return None;
    }
    let trusted = authres::trusted_by(&msg.headers, rule);
    let (seen, findings) = judge_verdicts(
        "message",
        &rule.authserv_ids,
        &rule.received_by,
        expect,
        dkim,
        &trusted,
        &msg.headers,
    );
    Some((trusted, seen, findings))
}

/// Which DKIM signature the probe expects: the signing domain (`header.d`, or the domain of
/// `header.i`) and the selector (`header.s`). Among several DKIM results (an ESP's and the
/// sender's own), the expected one decides and the others are reported beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DkimExpect {
    pub domain: Option<String>,
    pub selector: Option<String>,
}

impl DkimExpect {
    fn matches(&self, r: &authres::MethodResult) -> bool {
        let domain = r.property("header", "d").map(str::to_string).or_else(|| {
            r.property("header", "i")
                .and_then(|i| i.rsplit_once('@').map(|(_, d)| d.to_string()))
        });
        let domain_ok = self.domain.as_deref().is_none_or(|want| {
            domain
                .as_deref()
                .is_some_and(|d| d.trim_end_matches('.').eq_ignore_ascii_case(want))
        });
        let selector_ok = self.selector.as_deref().is_none_or(|want| {
            r.property("header", "s")
                .is_some_and(|s| s.eq_ignore_ascii_case(want))
        });
        domain_ok && selector_ok
    }
}

/// The result that decides `method`, and the others reported beside it. For DKIM, the results
/// of the expected signature are the candidates when there are any. Among the candidates a
/// result that is not accepted decides: a `fail` for one check in one trusted field is never
/// hidden by a `pass` for the same check in another.
pub fn decide<'a>(
    trusted: &'a authres::Trusted,
    method: &'a str,
    accepted: &[String],
    dkim: &DkimExpect,
) -> Option<(&'a authres::MethodResult, Vec<&'a authres::MethodResult>)> {
    let all: Vec<&authres::MethodResult> = trusted.methods(method).collect();
    let expected: Vec<&authres::MethodResult> = if method == "dkim" {
        all.iter().copied().filter(|r| dkim.matches(r)).collect()
    } else {
        vec![]
    };
    let candidates = if expected.is_empty() { &all } else { &expected };
    let chosen = candidates
        .iter()
        .find(|r| !accepted.is_empty() && !accepted.contains(&r.result))
        .or(candidates.first())
        .copied()?;
    let others = all
        .iter()
        .copied()
        .filter(|r| !std::ptr::eq(*r, chosen))
        .collect();
    Some((chosen, others))
}

/// The receiver's verdicts from trusted fields, as findings named after `name`: UNKNOWN
/// without a boundary or a trusted field, then per expected method OK or CRITICAL.
pub fn judge_verdicts(
    name: &str,
    authserv_ids: &[String],
    received_by: &[String],
    expect: &[(String, Vec<String>)],
    dkim: &DkimExpect,
    trusted: &authres::Trusted,
    headers: &[(&[u8], &[u8])],
) -> (Vec<AuthSeen>, Vec<Finding>) {
    let mut findings = vec![];
    let check = format!("authres:{name}");
    let ids = authserv_ids
        .iter()
        .map(|i| {
            if i.is_empty() {
                "(none: Microsoft)".to_string()
            } else {
                i.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" or ");
    if trusted.boundary.is_none() {
        findings.push(Finding::new(
            check,
            State::Unknown,
            format!(
                "no Received header by {} found: cannot tell the receiver's verdicts from a sender's forgery (check received_by)",
                received_by.join(" or ")
            ),
        ));
        return (vec![], findings);
    }
    if trusted.results.is_empty() {
        let seen: Vec<String> = headers
            .iter()
            .filter(|(n, _)| {
                std::str::from_utf8(n)
                    .is_ok_and(|n| n.trim().eq_ignore_ascii_case("authentication-results"))
            })
            .filter_map(|(_, v)| authres::parse(&message::unfold(v)).ok())
            .map(|a| a.authserv_id)
            .collect();
        findings.push(Finding::new(
            check,
            State::Unknown,
            format!(
                "no Authentication-Results header by `{ids}` at the receiver's Received header{}",
                if seen.is_empty() {
                    String::new()
                } else {
                    format!(" (ids seen: {})", seen.join(", "))
                }
            ),
        ));
        return (vec![], findings);
    }
    let mut f = Finding::new(
        check,
        State::Ok,
        format!(
            "{} Authentication-Results header(s) by `{ids}` trusted",
            trusted.results.len()
        ),
    );
    let mut notes = vec![];
    if trusted.ignored_below > 0 {
        notes.push(format!(
            "ignored {} header(s) claiming `{ids}` below the receiver's Received header (added before the receiver: forged or stale)",
            trusted.ignored_below
        ));
    }
    for (i, e) in &trusted.errors {
        notes.push(format!("header #{i} does not parse: {e}"));
    }
    if !notes.is_empty() {
        f = f.with_detail(notes.join("; "));
    }
    findings.push(f);

    let mut seen = vec![];
    for method in ["dkim", "spf", "dmarc", "arc"] {
        let accepted: &[String] = expect
            .iter()
            .find(|(x, _)| x == method)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]);
        let check = format!("{method}:{name}");
        match decide(trusted, method, accepted, dkim) {
            Some((r, others)) => {
                seen.push(AuthSeen {
                    method: method.into(),
                    result: r.result.clone(),
                });
                if accepted.is_empty() {
                    continue;
                }
                let text = describe(r);
                let state = if accepted.contains(&r.result) {
                    State::Ok
                } else {
                    State::Critical
                };
                let mut f = Finding::new(check, state, format!("receiver says {text}"));
                let mut detail = vec![];
                if state != State::Ok {
                    detail.push(format!("expected {method}={}", accepted.join(" or ")));
                }
                if !others.is_empty() {
                    detail.push(format!(
                        "also reported: {}",
                        others
                            .iter()
                            .map(|o| describe(o))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
                if !detail.is_empty() {
                    f = f.with_detail(detail.join("; "));
                }
                findings.push(f);
            }
            None if !accepted.is_empty() => findings.push(Finding::new(
                check,
                State::Critical,
                format!(
                    "the receiver reported no {method} result (expected {})",
                    accepted.join(" or ")
                ),
            )),
            None => {}
        }
    }
    (seen, findings)
}

/// `method=result ptype.name=value ... reason="..."` for a finding.
fn describe(r: &authres::MethodResult) -> String {
    let mut text = format!("{}={}", r.method, r.result);
    for p in &r.properties {
        text.push_str(&format!(" {p}"));
    }
    if let Some(reason) = &r.reason {
        text.push_str(&format!(" reason=\"{reason}\""));
    }
    text
}
