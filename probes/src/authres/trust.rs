//! The trust boundary (RFC 8601 sections 5 and 7.1): which Authentication-Results fields of a
//! delivered message the receiver itself wrote. The boundary is the receiver's own `Received`
//! field where the message entered it from outside; only fields above it, with one of the
//! receiver's authserv-ids, are trusted. docs/authres.md explains the rule for operators.

use super::parse::Parser;
use super::{AuthResults, MethodResult, ParseError, unfold};

/// Whose fields count: the receiver's authserv-id patterns and the hosts that write its own
/// `Received` fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustRule {
    /// Authserv-ids, exact or `*.example.com`; the empty string stands for the fields
    /// Microsoft writes without any authserv-id.
    pub authserv_ids: Vec<String>,
    /// `by` hosts of the receiver's own `Received` fields, exact or `*.example.com`.
    pub received_by: Vec<String>,
    /// Also trust the receiver's fields written directly *below* its `Received` field (Gmail;
    /// Postfix milters on some versions): see [`trusted_by`].
    pub fields_below: bool,
}

impl TrustRule {
    /// One authserv-id (possibly empty) and its receiver hosts.
    pub fn new(authserv_id: &str, received_by: &[String]) -> Self {
        TrustRule {
            authserv_ids: vec![authserv_id.to_string()],
            received_by: received_by.to_vec(),
            fields_below: false,
        }
    }

    /// Whether `id` (as written in a field) is one of ours.
    pub fn is_ours(&self, id: &str) -> bool {
        self.authserv_ids.iter().any(|p| {
            if p.trim().is_empty() {
                id.is_empty()
            } else {
                !id.is_empty() && host_matches(p, id)
            }
        })
    }

    fn is_receiver(&self, host: &str) -> bool {
        self.received_by.iter().any(|p| host_matches(p, host))
    }
}

/// One trusted field: its place in the headers (counted from the top, from 0) and its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedField {
    pub index: usize,
    pub name: String,
    pub results: AuthResults,
}

/// A field that looks like a verdict but is not trusted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub index: usize,
    pub name: String,
    pub why: String,
}

/// The Authentication-Results fields a receiver wrote, as far as the headers can tell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trusted {
    /// Fields above the boundary with our authserv-id, top (newest) first.
    pub results: Vec<AuthResults>,
    /// The same fields with their header index and name.
    pub fields: Vec<TrustedField>,
    /// Index in the headers of the receiver's own `Received` field where the message entered
    /// it (see [`trusted_by`]).
    pub boundary: Option<usize>,
    /// Fields with our authserv-id below the boundary: added before the receiver took the
    /// message, so forgeries (or an earlier hop's), never trusted.
    pub ignored_below: usize,
    /// Every verdict-carrying field that is not trusted, with the reason.
    pub ignored: Vec<Ignored>,
    /// Fields above the boundary with our authserv-id that do not parse, by header index.
    pub errors: Vec<(usize, ParseError)>,
}

impl Trusted {
    /// Every trusted result of `method` (e.g. `dkim`), top first.
    pub fn methods<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a MethodResult> {
        self.results
            .iter()
            .flat_map(|r| &r.results)
            .filter(move |m| m.method.eq_ignore_ascii_case(method))
    }
}

/// [`trusted_by`] with one authserv-id (`""` for Microsoft's fields without one).
pub fn trusted(headers: &[(&[u8], &[u8])], authserv_id: &str, received_by: &[String]) -> Trusted {
    trusted_by(headers, &TrustRule::new(authserv_id, received_by))
}

/// Fields a receiver writes right under its own `Received` field.
const RECEIVER_BELOW: &[&str] = &["Authentication-Results", "Received-SPF", "DMARC-Filter"];

/// Header fields that carry someone's verdicts but are never the receiver's own final ones.
const OTHER_VERDICTS: &[(&str, &str)] = &[
    (
        "ARC-Authentication-Results",
        "an ARC copy (RFC 8617): a hop's verdicts sealed for the next one, not the receiver's own field",
    ),
    (
        "Authentication-Results-Original",
        "Microsoft's rename of a previous hop's field",
    ),
    (
        "Original-Authentication-Results",
        "a renamed field of a previous hop",
    ),
    (
        "X-MS-Exchange-Authentication-Results",
        "Microsoft's internal copy, written before the message left the sender's tenant",
    ),
    (
        "X-Original-Authentication-Results",
        "a renamed field of a previous hop",
    ),
];

/// Selects the Authentication-Results fields the receiver wrote (RFC 8601 sections 5, 7.1).
///
/// `headers` are (name, raw value) pairs top (newest) first, as mail-auth's
/// `AuthenticatedMessage::headers` gives them. The boundary is found in two steps:
///
/// 1. the topmost `Received` field whose `by` host is one of `rule.received_by`;
/// 2. while that hop came from the receiver itself (a content filter re-injecting through
///    `localhost`, or a `from` host that is one of `rule.received_by`), and the next
///    `Received` field below is again by one of the receiver's hosts, the boundary moves down
///    to it. It stops at the first receiver hop whose peer is outside.
///
/// Trusted are the `Authentication-Results` fields above the boundary whose authserv-id is
/// one of `rule.authserv_ids`. Without a boundary nothing is trusted and nothing is counted.
///
/// With `rule.fields_below`, the fields the receiver wrote right under its `Received` field
/// are trusted too: the run of fields directly below the boundary made only of what a
/// receiver adds there (`Authentication-Results`, `Received-SPF`, `DMARC-Filter`, `ARC-*`,
/// `X-*`), up to the first other field (a `Received`, a `DKIM-Signature`, the message's own
/// fields). Gmail writes its verdict there, and so do Postfix milters on
/// some versions (corpus: tests/data/authres-corpus).
pub fn trusted_by(headers: &[(&[u8], &[u8])], rule: &TrustRule) -> Trusted {
    let boundary = boundary(headers, rule);
    // The end (exclusive) of the receiver's run of fields below the boundary.
    let below_end = boundary.map(|b| {
        let mut end = b + 1;
        if rule.fields_below {
            while headers.get(end).is_some_and(|(n, _)| {
                let n = String::from_utf8_lossy(n);
                let n = n.trim();
                let lower = n.to_ascii_lowercase();
                RECEIVER_BELOW.iter().any(|r| r.eq_ignore_ascii_case(n))
                    || lower.starts_with("arc-")
                    || lower.starts_with("x-")
            }) {
                end += 1;
            }
        }
        end
    });
    let mut out = Trusted {
        boundary,
        ..Trusted::default()
    };
    for (i, (name, value)) in headers.iter().enumerate() {
        let name = String::from_utf8_lossy(name).trim().to_string();
        if let Some((_, why)) = OTHER_VERDICTS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            out.ignored.push(Ignored {
                index: i,
                name,
                why: why.to_string(),
            });
            continue;
        }
        if !name.eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let text = unfold(&String::from_utf8_lossy(value));
        let mut parser = Parser::new(&text);
        let parsed = parser.header();
        let id = parser.authserv_id.clone();
        let ignore = |why: String| Ignored {
            index: i,
            name: name.clone(),
            why,
        };
        let Some(id) = id.filter(|id| rule.is_ours(id)) else {
            let why = match &parser.authserv_id {
                Some(id) if id.is_empty() => {
                    "no authserv-id, and the rule does not take Microsoft's id-less fields"
                        .to_string()
                }
                Some(id) => format!("authserv-id `{id}` is not the receiver's"),
                None => "no authserv-id could be read".to_string(),
            };
            out.ignored.push(ignore(why));
            continue;
        };
        let Some(b) = boundary else {
            out.ignored.push(ignore(
                "no Received field by the receiver: its verdicts cannot be told from a forgery"
                    .into(),
            ));
            continue;
        };
        if i > b && below_end.is_none_or(|end| i >= end) {
            out.ignored_below += 1;
            out.ignored.push(ignore(format!(
                "below the receiver's Received field (#{b}): already in the message when it arrived (authserv-id `{id}`)"
            )));
            continue;
        }
        match parsed {
            Ok(r) => {
                out.fields.push(TrustedField {
                    index: i,
                    name: name.clone(),
                    results: r.clone(),
                });
                out.results.push(r);
            }
            Err(e) => {
                out.ignored
                    .push(ignore(format!("the receiver's field does not parse: {e}")));
                out.errors.push((i, e));
            }
        }
    }
    out
}

/// The index of the receiver's `Received` field where the message entered it (see
/// [`trusted_by`]).
fn boundary(headers: &[(&[u8], &[u8])], rule: &TrustRule) -> Option<usize> {
    let received: Vec<(usize, Hop)> = headers
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| n.trim_ascii().eq_ignore_ascii_case(b"Received"))
        .map(|(i, (_, v))| (i, Hop::parse(v)))
        .collect();
    let start = received
        .iter()
        .position(|(_, h)| h.by.as_deref().is_some_and(|host| rule.is_receiver(host)))?;
    let mut at = start;
    while received[at].1.peer_is_receiver(rule) {
        match received.get(at + 1) {
            Some((_, next)) if next.by.as_deref().is_some_and(|h| rule.is_receiver(h)) => at += 1,
            _ => break,
        }
    }
    Some(received[at].0)
}

/// What a `Received` field says about one hop (RFC 5321 4.4): the `from` domain (the peer's
/// HELO), the name and address the receiving host saw (the TCP-info comment after it), and
/// the `by` host.
#[derive(Debug, Default, PartialEq, Eq)]
struct Hop {
    from_helo: Option<String>,
    /// The first word of the comment after `from <domain>`: a verified host name or an address.
    from_seen: Vec<String>,
    by: Option<String>,
}

impl Hop {
    fn parse(value: &[u8]) -> Hop {
        let text = unfold(&String::from_utf8_lossy(value));
        let mut hop = Hop::default();
        // Words outside comments, and the words of the first comment right after `from X`.
        let mut words: Vec<String> = vec![];
        let mut depth = 0usize;
        let mut escaped = false;
        let mut current = String::new();
        let mut comment = String::new();
        let mut after_from_domain = false;
        for c in text.chars() {
            if depth > 0 {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 && after_from_domain && hop.from_seen.is_empty() {
                            hop.from_seen = comment
                                .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
                                .filter(|w| !w.is_empty())
                                .map(|w| w.trim_end_matches('.').to_ascii_lowercase())
                                .collect();
                        }
                    }
                    _ if depth == 1 => comment.push(c),
                    _ => {}
                }
                continue;
            }
            match c {
                '(' => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    after_from_domain = words.len() == 2 && words[0].eq_ignore_ascii_case("from");
                    comment.clear();
                    depth = 1;
                }
                ';' => break,
                c if c.is_whitespace() => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            words.push(current);
        }
        // Clause keywords take the next word as their value, so a HELO of `by` is read as the
        // `from` domain, not as the `by` clause.
        let mut it = words.iter();
        while let Some(w) = it.next() {
            if w.eq_ignore_ascii_case("from") && hop.from_helo.is_none() && hop.by.is_none() {
                hop.from_helo = it.next().map(|h| clean_host(h));
            } else if w.eq_ignore_ascii_case("by") && hop.by.is_none() {
                hop.by = it.next().map(|h| clean_host(h)).filter(|h| !h.is_empty());
                break;
            }
        }
        hop
    }

    /// Whether the peer of this hop is the receiver itself: a re-injection through loopback
    /// (`localhost`, `127.0.0.1`, `::1`), or a peer named as one of the receiver's hosts.
    fn peer_is_receiver(&self, rule: &TrustRule) -> bool {
        let loopback = |w: &str| {
            matches!(
                w,
                "localhost" | "localhost.localdomain" | "127.0.0.1" | "::1" | "ipv6:::1"
            )
        };
        if self.from_seen.iter().any(|w| loopback(w)) {
            return true;
        }
        // The name the receiver verified, else the peer's HELO.
        let name = self
            .from_seen
            .iter()
            .find(|w| w.contains('.') && w.parse::<std::net::IpAddr>().is_err())
            .or(self.from_helo.as_ref());
        name.is_some_and(|n| loopback(n) || rule.is_receiver(n))
    }
}

fn clean_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The host after `by` in a `Received` value (RFC 5321 4.4), lowercased and without a
/// trailing dot; comments are skipped, the `from` domain is read as a value (a HELO of `by`
/// does not count), and the date after `;` is not read.
pub fn received_by_host(value: &[u8]) -> Option<String> {
    Hop::parse(value).by
}

/// Whether `host` is `pattern`: the same name, or for `*.example.com` any name below
/// example.com (not example.com itself). Case and a trailing dot are ignored.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => !pattern.is_empty() && host.eq_ignore_ascii_case(&pattern),
    }
}
