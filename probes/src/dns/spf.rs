//! SPF records (RFC 7208) read the way a strict receiver reads them, with every fault placed
//! in the record text. mail-auth evaluates `check_host()` for us, but its parser is lenient
//! (`ipv4:` is skipped as if it were a modifier, `ip4:…/33` becomes /32) and gives no reason
//! or position for an error; strict receivers answer `permerror` to the same records and
//! reject mail. This parser is strict, pure, and never touches the network.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::State;

/// A fault in a record, with the byte range of the term at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub state: State,
    pub start: usize,
    pub end: usize,
    pub message: String,
    /// Whether a strict receiver's `check_host()` answers `permerror` for it (a syntax
    /// error). False for warnings, and for `+all`: CRITICAL to the domain's owner, but
    /// valid SPF that receivers evaluate.
    pub permerror: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(String),
    A {
        domain: Option<String>,
        cidr4: Option<u8>,
        cidr6: Option<u8>,
    },
    Mx {
        domain: Option<String>,
        cidr4: Option<u8>,
        cidr6: Option<u8>,
    },
    Ptr(Option<String>),
    Ip4(Ipv4Addr, u8),
    Ip6(Ipv6Addr, u8),
    Exists(String),
}

impl Mechanism {
    /// Whether evaluating it costs a DNS lookup (RFC 7208 4.6.4).
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    Mechanism {
        qualifier: char,
        mechanism: Mechanism,
    },
    Redirect(String),
    Exp(String),
    /// An unknown modifier (`name=value`): ignored by receivers.
    Modifier(String),
    /// A term that did not parse (its issue says why).
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub start: usize,
    pub end: usize,
    pub kind: TermKind,
}

/// A parsed SPF record: its terms and every fault found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    pub text: String,
    pub terms: Vec<Term>,
    pub issues: Vec<Issue>,
}

const MECHANISMS: &[&str] = &["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

/// Whether a TXT string is an SPF record at all (`v=spf1` then a space or the end).
pub fn is_spf(text: &str) -> bool {
    let t = text.as_bytes();
    t.len() >= 6 && t[..6].eq_ignore_ascii_case(b"v=spf1") && (t.len() == 6 || t[6] == b' ')
}

impl SpfRecord {
    pub fn parse(text: &str) -> SpfRecord {
        let mut rec = SpfRecord {
            text: text.to_string(),
            terms: vec![],
            issues: vec![],
        };
        if !is_spf(text) {
            rec.issue(
                State::Critical,
                0,
                text.len().min(6),
                "an SPF record starts with `v=spf1`",
            );
            return rec;
        }
        if text.len() > 512 {
            rec.issue(
                State::Warning,
                512,
                text.len(),
                format!(
                    "the record is {} bytes: over 512 it may not fit a DNS answer over UDP (RFC 7208 3.4)",
                    text.len()
                ),
            );
        }
        // Terms are separated by spaces only (RFC 7208 4.6.1).
        let mut pos = 6;
        for token in text[6..].split(' ') {
            let start = pos;
            pos += token.len() + 1;
            if token.is_empty() {
                continue;
            }
            if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
                rec.issue(
                    State::Critical,
                    start,
                    start + token.len(),
                    format!("invalid character {c:?} in a term: receivers answer permerror"),
                );
                rec.terms.push(Term {
                    start,
                    end: start + token.len(),
                    kind: TermKind::Invalid,
                });
                continue;
            }
            let kind = rec.term(token, start);
            rec.terms.push(Term {
                start,
                end: start + token.len(),
                kind,
            });
        }
        rec.whole_record_checks();
        rec
    }

    /// A fault; a CRITICAL one is a syntax error (`permerror`).
    fn issue(&mut self, state: State, start: usize, end: usize, message: impl Into<String>) {
        self.issues.push(Issue {
            state,
            start,
            end,
            message: message.into(),
            permerror: state == State::Critical,
        });
    }

    /// Whether a strict receiver answers `permerror` to this record (a syntax error).
    pub fn is_permerror(&self) -> bool {
        self.issues.iter().any(|i| i.permerror)
    }

    fn term(&mut self, token: &str, start: usize) -> TermKind {
        let end = start + token.len();
        let name_end = token.find([':', '/', '=']).unwrap_or(token.len());
        // A modifier: name=value (RFC 7208 4.6.1), never with a qualifier.
        if token.as_bytes().get(name_end) == Some(&b'=') {
            let name = &token[..name_end];
            let value = &token[name_end + 1..];
            if !valid_name(name) {
                self.issue(
                    State::Critical,
                    start,
                    end,
                    format!("`{name}` is not a valid modifier name: receivers answer permerror"),
                );
                return TermKind::Invalid;
            }
            return match name.to_ascii_lowercase().as_str() {
                "redirect" => {
                    if let Err(e) = domain_spec(value, false) {
                        self.issue(
                            State::Critical,
                            start,
                            end,
                            format!("redirect={value}: {e}"),
                        );
                        return TermKind::Invalid;
                    }
                    TermKind::Redirect(value.to_string())
                }
                "exp" => {
                    if let Err(e) = domain_spec(value, false) {
                        self.issue(State::Critical, start, end, format!("exp={value}: {e}"));
                        return TermKind::Invalid;
                    }
                    TermKind::Exp(value.to_string())
                }
                _ => {
                    if let Err(e) = macro_string(value, false) {
                        self.issue(State::Critical, start, end, format!("modifier {name}: {e}"));
                        return TermKind::Invalid;
                    }
                    TermKind::Modifier(name.to_string())
                }
            };
        }
        let (qualifier, body, body_start) = match token.as_bytes()[0] {
            q @ (b'+' | b'-' | b'~' | b'?') => (q as char, &token[1..], start + 1),
            _ => ('+', token, start),
        };
        let name_end = body.find([':', '/']).unwrap_or(body.len());
        let name = body[..name_end].to_ascii_lowercase();
        let rest = &body[name_end..];
        let bad = |this: &mut Self, msg: String| {
            this.issue(State::Critical, start, end, msg);
            TermKind::Invalid
        };
        let mechanism = match name.as_str() {
            "all" => {
                if !rest.is_empty() {
                    return bad(
                        self,
                        format!("`all` takes no argument (`{token}`): receivers answer permerror"),
                    );
                }
                Mechanism::All
            }
            "include" | "exists" => {
                let Some(d) = rest.strip_prefix(':') else {
                    return bad(
                        self,
                        format!("`{name}` needs a domain: `{name}:example.org`"),
                    );
                };
                if let Err(e) = domain_spec(d, false) {
                    return bad(self, format!("{name}:{d}: {e}"));
                }
                if name == "include" {
                    Mechanism::Include(d.to_string())
                } else {
                    Mechanism::Exists(d.to_string())
                }
            }
            "a" | "mx" => {
                // The CIDR lengths follow the domain-spec, which may itself hold a `/`
                // (`a:foo:bar/baz.example.com`): they start at the first `/` after the
                // domain-spec's last label or macro.
                let (domain, cidr) = match rest.strip_prefix(':') {
                    Some(r) => {
                        let tail = r.rfind(['.', '}']).map_or(0, |i| i + 1);
                        match r[tail..].find('/') {
                            Some(i) => (Some(&r[..tail + i]), &r[tail + i..]),
                            None => (Some(r), ""),
                        }
                    }
                    None => (None, rest),
                };
                if let Some(d) = domain
                    && let Err(e) = domain_spec(d, false)
                {
                    return bad(self, format!("{name}:{d}: {e}"));
                }
                let (cidr4, cidr6) = match dual_cidr(cidr) {
                    Ok(c) => c,
                    Err(e) => return bad(self, format!("{token}: {e}")),
                };
                let domain = domain.map(str::to_string);
                if name == "a" {
                    Mechanism::A {
                        domain,
                        cidr4,
                        cidr6,
                    }
                } else {
                    Mechanism::Mx {
                        domain,
                        cidr4,
                        cidr6,
                    }
                }
            }
            "ptr" => {
                let domain = match rest.strip_prefix(':') {
                    Some(d) => {
                        if let Err(e) = domain_spec(d, false) {
                            return bad(self, format!("ptr:{d}: {e}"));
                        }
                        Some(d.to_string())
                    }
                    None if rest.is_empty() => None,
                    None => return bad(self, format!("`{token}` is not a valid ptr mechanism")),
                };
                self.issue(
                    State::Warning,
                    start,
                    end,
                    "`ptr` is deprecated (RFC 7208 5.5): slow, unreliable, and some receivers ignore it; list the addresses with ip4:/ip6:",
                );
                Mechanism::Ptr(domain)
            }
            "ip4" => {
                let Some(net) = rest.strip_prefix(':') else {
                    return bad(self, "`ip4` needs an address: `ip4:192.0.2.0/24`".into());
                };
                let (addr, len) = split_cidr(net);
                let Some(ip) = strict_ipv4(addr) else {
                    return bad(
                        self,
                        format!("`{addr}` is not an IPv4 address: receivers answer permerror"),
                    );
                };
                let len = match len.map(|l| cidr_len(l, 32)) {
                    None => 32,
                    Some(Ok(l)) => l,
                    Some(Err(e)) => return bad(self, format!("ip4:{net}: {e}")),
                };
                Mechanism::Ip4(ip, len)
            }
            "ip6" => {
                let Some(net) = rest.strip_prefix(':') else {
                    return bad(self, "`ip6` needs an address: `ip6:2001:db8::/32`".into());
                };
                let (addr, len) = split_cidr(net);
                let Ok(ip) = addr.parse::<Ipv6Addr>() else {
                    return bad(
                        self,
                        format!("`{addr}` is not an IPv6 address: receivers answer permerror"),
                    );
                };
                let len = match len.map(|l| cidr_len(l, 128)) {
                    None => 128,
                    Some(Ok(l)) => l,
                    Some(Err(e)) => return bad(self, format!("ip6:{net}: {e}")),
                };
                Mechanism::Ip6(ip, len)
            }
            _ => {
                let hint = MECHANISMS
                    .iter()
                    .filter(|m| edit_distance(m, &name) <= 2 || name.starts_with(*m))
                    .min_by_key(|m| edit_distance(m, &name))
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                self.issue(
                    State::Critical,
                    body_start,
                    body_start + name_end,
                    format!(
                        "unknown mechanism `{}`: strict receivers answer permerror and reject the mail{hint}",
                        &body[..name_end]
                    ),
                );
                return TermKind::Invalid;
            }
        };
        TermKind::Mechanism {
            qualifier,
            mechanism,
        }
    }

    fn whole_record_checks(&mut self) {
        let mut redirects = vec![];
        let mut exps = vec![];
        let mut all: Option<(char, usize, usize)> = None;
        let mut after_all = vec![];
        for t in &self.terms {
            match &t.kind {
                TermKind::Redirect(_) => redirects.push((t.start, t.end)),
                TermKind::Exp(_) => exps.push((t.start, t.end)),
                TermKind::Mechanism {
                    qualifier,
                    mechanism,
                } => {
                    if all.is_some() {
                        after_all.push((t.start, t.end));
                    }
                    if *mechanism == Mechanism::All {
                        all = Some((*qualifier, t.start, t.end));
                    }
                }
                _ => {}
            }
        }
        for (s, e) in redirects.iter().skip(1) {
            self.issue(
                State::Critical,
                *s,
                *e,
                "a second `redirect=`: receivers answer permerror",
            );
        }
        for (s, e) in exps.iter().skip(1) {
            self.issue(
                State::Critical,
                *s,
                *e,
                "a second `exp=`: receivers answer permerror",
            );
        }
        for (s, e) in after_all {
            self.issue(
                State::Warning,
                s,
                e,
                "this term comes after `all` and is never evaluated",
            );
        }
        match all {
            Some(('+', s, e)) => self.issues.push(Issue {
                state: State::Critical,
                start: s,
                end: e,
                message: "`+all` lets every host in the world send as this domain".into(),
                permerror: false, // valid SPF: receivers answer `pass`
            }),
            Some(('?', s, e)) => self.issue(
                State::Warning,
                s,
                e,
                "`?all` is neutral: it protects nothing; use `-all` or `~all`",
            ),
            Some((_, s, e)) => {
                if let Some((rs, re)) = redirects.first() {
                    let _ = (s, e);
                    self.issue(
                        State::Warning,
                        *rs,
                        *re,
                        "`redirect=` is ignored because the record has `all`",
                    );
                }
            }
            None if redirects.is_empty() => {
                let n = self.text.len();
                self.issue(
                    State::Warning,
                    n,
                    n,
                    "the record ends without `all` or `redirect=`: senders it does not list get `neutral`; end it with `-all` or `~all`",
                )
            }
            None => {}
        }
    }

    /// The mechanisms, in order.
    pub fn mechanisms(&self) -> impl Iterator<Item = (char, &Mechanism)> {
        self.terms.iter().filter_map(|t| match &t.kind {
            TermKind::Mechanism {
                qualifier,
                mechanism,
            } => Some((*qualifier, mechanism)),
            _ => None,
        })
    }

    pub fn redirect(&self) -> Option<&str> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Redirect(d) => Some(d.as_str()),
            _ => None,
        })
    }

    /// The span of the first term matching `pred`, for placing a finding.
    pub fn span_of(&self, pred: impl Fn(&TermKind) -> bool) -> Option<(usize, usize)> {
        self.terms
            .iter()
            .find(|t| pred(&t.kind))
            .map(|t| (t.start, t.end))
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

fn split_cidr(s: &str) -> (&str, Option<&str>) {
    match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

fn cidr_len(s: &str, max: u8) -> Result<u8, String> {
    let valid = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    match s.parse::<u16>() {
        Ok(n) if valid && n <= u16::from(max) => Ok(n as u8),
        _ => Err(format!(
            "`/{s}` is not a prefix length from 0 to {max}: receivers answer permerror"
        )),
    }
}

/// `/cidr4`, `//cidr6` or `/cidr4//cidr6` after a/mx.
fn dual_cidr(s: &str) -> Result<(Option<u8>, Option<u8>), String> {
    if s.is_empty() {
        return Ok((None, None));
    }
    let Some(rest) = s.strip_prefix('/') else {
        return Err("unexpected text".into());
    };
    if let Some(v6) = rest.strip_prefix('/') {
        return Ok((None, Some(cidr_len(v6, 128)?)));
    }
    match rest.find("//") {
        Some(i) => Ok((
            Some(cidr_len(&rest[..i], 32)?),
            Some(cidr_len(&rest[i + 2..], 128)?),
        )),
        None => Ok((Some(cidr_len(rest, 32)?), None)),
    }
}

/// Dotted quad, four decimal octets 0-255, no leading zeros (a lenient parser would accept
/// `127.0.1.300`; receivers do not).
fn strict_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        o[i] = p.parse::<u16>().ok().filter(|v| *v <= 255)? as u8;
    }
    Some(Ipv4Addr::from(o))
}

/// A macro-string (RFC 7208 7.1); `exp` allows the c, r and t macros.
fn macro_string(s: &str, exp: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => match b.get(i + 1) {
                Some(b'%' | b'_' | b'-') => i += 2,
                Some(b'{') => {
                    let close = s[i..].find('}').ok_or("unterminated macro `%{`")? + i;
                    let inner = &s[i + 2..close];
                    let mut chars = inner.chars();
                    let letter = chars
                        .next()
                        .ok_or("empty macro `%{}`")?
                        .to_ascii_lowercase();
                    let allowed = if exp { "slodiphcrtv" } else { "slodiphv" };
                    if !allowed.contains(letter) {
                        return Err(format!("unknown macro letter `{letter}` in `%{{{inner}}}`"));
                    }
                    let rest: String = chars.collect();
                    let digits_end = rest
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(rest.len());
                    let mut tail = &rest[digits_end..];
                    if tail.starts_with(['r', 'R']) {
                        tail = &tail[1..];
                    }
                    if !tail.chars().all(|c| ".-+,/_=".contains(c)) {
                        return Err(format!("invalid macro `%{{{inner}}}`"));
                    }
                    i = close + 1;
                }
                _ => return Err("a lone `%`: write `%%` for a percent sign".into()),
            },
            0x21..=0x7e => i += 1,
            c => return Err(format!("invalid character {:?}", c as char)),
        }
    }
    Ok(())
}

/// A domain-spec: a macro-string that ends in a top label or a macro (RFC 7208 7.1).
pub fn domain_spec(s: &str, exp: bool) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty domain".into());
    }
    macro_string(s, exp)?;
    if s.ends_with('}') {
        return Ok(());
    }
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    // Without macros this is the name queried: RFC 1035 labels (receivers answer permerror,
    // or, like mail-auth, temperror because no DNS query can be built).
    if !s.contains('%') {
        if trimmed.split('.').any(str::is_empty) {
            return Err(format!("`{s}` has an empty label"));
        }
        if let Some(l) = trimmed.split('.').find(|l| l.len() > 63) {
            return Err(format!(
                "`{s}` has a label of {} bytes: the limit is 63",
                l.len()
            ));
        }
    }
    let top = trimmed.rsplit('.').next().unwrap_or("");
    let ok = !top.is_empty()
        && top.len() <= 63
        && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && top.bytes().any(|b| b.is_ascii_alphabetic())
        && !top.starts_with('-')
        && !top.ends_with('-')
        && trimmed.contains('.');
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not a domain name"))
    }
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worst(r: &SpfRecord) -> State {
        r.issues
            .iter()
            .map(|i| i.state)
            .fold(State::Ok, State::worst)
    }

    #[test]
    fn healthy_records_have_no_issue() {
        for t in [
            "v=spf1 ip4:127.0.1.26 -all",
            "v=spf1 mx a:mail.example.org/24 ip6:2001:db8::/32 include:_spf.example.net ~all",
            "v=spf1 a/24//64 mx:example.org//48 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
            "V=SPF1 -ALL",
            "v=spf1 redirect=_spf.example.org",
            "v=spf1 -all exp=explain._spf.%{d}",
            "v=spf1 ip4:192.0.2.0/24 ra=postmaster -all",
        ] {
            let r = SpfRecord::parse(t);
            assert!(r.issues.is_empty(), "{t}: {:?}", r.issues);
        }
    }

    #[test]
    fn ipv4_typo_is_critical_at_its_position() {
        let r = SpfRecord::parse("v=spf1 ipv4:127.0.1.26 -all");
        assert_eq!(worst(&r), State::Critical);
        let i = &r.issues[0];
        assert_eq!((i.start, i.end), (7, 11));
        assert!(
            i.message.contains("unknown mechanism `ipv4`"),
            "{}",
            i.message
        );
        assert!(i.message.contains("did you mean `ip4`"), "{}", i.message);
    }

    #[test]
    fn faults_and_their_states() {
        let cases: &[(&str, State, &str)] = &[
            (
                "v=spf1 ip4:127.0.1.300 -all",
                State::Critical,
                "not an IPv4 address",
            ),
            (
                "v=spf1 ip4:192.0.2.0/33 -all",
                State::Critical,
                "prefix length from 0 to 32",
            ),
            (
                "v=spf1 ip6:2001:db8::/129 -all",
                State::Critical,
                "prefix length from 0 to 128",
            ),
            (
                "v=spf1 ip4:192.0.2.010 -all",
                State::Critical,
                "not an IPv4 address",
            ),
            ("v=spf1 include -all", State::Critical, "needs a domain"),
            (
                "v=spf1 include:%{z}.example.org -all",
                State::Critical,
                "unknown macro letter",
            ),
            (
                "v=spf1 include:example -all",
                State::Critical,
                "not a domain name",
            ),
            (
                "v=spf1 a:example.org/24/x -all",
                State::Critical,
                "prefix length",
            ),
            ("v=spf1 ptr -all", State::Warning, "deprecated"),
            ("v=spf1 +all", State::Critical, "every host in the world"),
            ("v=spf1 ?all", State::Warning, "neutral"),
            ("v=spf1 ip4:192.0.2.1", State::Warning, "ends without `all`"),
            (
                "v=spf1 -all ip4:192.0.2.1",
                State::Warning,
                "never evaluated",
            ),
            (
                "v=spf1 redirect=a.example redirect=b.example",
                State::Critical,
                "second `redirect=`",
            ),
            (
                "v=spf1 -all redirect=a.example",
                State::Warning,
                "ignored because",
            ),
            ("v=spf1 all:x", State::Critical, "takes no argument"),
            (
                "v=spf1 -inlcude:example.org -all",
                State::Critical,
                "did you mean `include`",
            ),
            (
                "v=spf1 +=x -all",
                State::Critical,
                "not a valid modifier name",
            ),
            ("v=spf10 -all", State::Critical, "starts with `v=spf1`"),
        ];
        for (text, state, words) in cases {
            let r = SpfRecord::parse(text);
            assert_eq!(worst(&r), *state, "{text}: {:?}", r.issues);
            assert!(
                r.issues.iter().any(|i| i.message.contains(words)),
                "{text}: {:?}",
                r.issues
            );
        }
        assert!(!is_spf("v=spf10 -all") && is_spf("v=spf1") && !is_spf("spf1"));
    }

    #[test]
    fn plus_all_is_critical_but_no_syntax_error() {
        let r = SpfRecord::parse("v=spf1 +all");
        assert_eq!(worst(&r), State::Critical);
        assert!(!r.is_permerror(), "{:?}", r.issues);
        let r = SpfRecord::parse("v=spf1 ipv4:192.0.2.1 -all");
        assert!(r.is_permerror(), "{:?}", r.issues);
        assert!(!SpfRecord::parse("v=spf1 ptr ?all").is_permerror());
    }

    #[test]
    fn a_domain_spec_may_hold_a_slash_before_its_cidr_lengths() {
        for (text, domain, c4, c6) in [
            (
                "v=spf1 a:foo:bar/baz.example.com -all",
                "foo:bar/baz.example.com",
                None,
                None,
            ),
            (
                "v=spf1 mx:foo:bar/baz.example.com/24 -all",
                "foo:bar/baz.example.com",
                Some(24),
                None,
            ),
            (
                "v=spf1 a:example.org/24//64 -all",
                "example.org",
                Some(24),
                Some(64),
            ),
            ("v=spf1 a:%{d}/24 -all", "%{d}", Some(24), None),
        ] {
            let r = SpfRecord::parse(text);
            assert!(r.issues.is_empty(), "{text}: {:?}", r.issues);
            let (_, m) = r.mechanisms().next().unwrap();
            let (d, cidr4, cidr6) = match m {
                Mechanism::A {
                    domain,
                    cidr4,
                    cidr6,
                }
                | Mechanism::Mx {
                    domain,
                    cidr4,
                    cidr6,
                } => (domain.clone(), *cidr4, *cidr6),
                other => panic!("{text}: {other:?}"),
            };
            assert_eq!(
                (d.as_deref(), cidr4, cidr6),
                (Some(domain), c4, c6),
                "{text}"
            );
        }
    }

    #[test]
    fn a_domain_without_macros_needs_dns_labels() {
        let long = format!("v=spf1 a:{}.example.com -all", "a".repeat(64));
        for (text, words) in [
            ("v=spf1 a:mail.example...com -all", "empty label"),
            (long.as_str(), "limit is 63"),
            ("v=spf1 include:example.com.. -all", "empty label"),
        ] {
            let r = SpfRecord::parse(text);
            assert!(r.is_permerror(), "{text}: {:?}", r.issues);
            assert!(
                r.issues.iter().any(|i| i.message.contains(words)),
                "{text}: {:?}",
                r.issues
            );
        }
        // A final dot is fine; a macro may expand to anything.
        assert!(
            SpfRecord::parse("v=spf1 a:mail.example.com. a:%{l}..x.example -all")
                .issues
                .is_empty()
        );
    }

    #[test]
    fn long_record_is_a_warning() {
        let mut t = String::from("v=spf1");
        while t.len() < 520 {
            t.push_str(" ip4:192.0.2.1");
        }
        t.push_str(" -all");
        let r = SpfRecord::parse(&t);
        assert!(
            r.issues.iter().any(|i| i.message.contains("512")),
            "{:?}",
            r.issues
        );
    }

    #[test]
    fn lookup_terms_are_counted_as_dns() {
        let r = SpfRecord::parse(
            "v=spf1 a mx include:x.example ip4:192.0.2.1 exists:%{i}.x.example ptr -all",
        );
        assert_eq!(r.mechanisms().filter(|(_, m)| m.queries_dns()).count(), 5);
    }
}
