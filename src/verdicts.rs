//! `mailauth-probe verdicts`: the receiver's verdicts in one delivered message, read by the
//! round trip's own code (mail-auth's header split, `authres::trusted_by`, and
//! `roundtrip::judge_verdicts`), for the operator who pastes a message from a seed mailbox.
//! The JSON shape is fixed in the product contract (section 1); the state is the one the
//! round trip would give, and bad input (not a message, binary, an oversized header, no
//! boundary) is UNKNOWN with the reason, never OK.

use mailauth_probes::State;
use mailauth_probes::authres::{self, TrustRule, Trusted};
use mailauth_probes::outcome::Finding;
use mailauth_probes::roundtrip::DkimExpect;
use mailauth_probes::roundtrip::read_verdicts;
use serde_json::{Map, Value, json};

/// The largest header block read (1 MiB): far above any real delivered message, far below a
/// size that would make the parser the slow part.
pub const MAX_HEADER: usize = 1 << 20;

/// What the command prints and its state.
pub struct Report {
    pub json: Value,
    pub text: String,
    pub state: State,
}

/// Reads `input` (one message) with `rule` and judges dkim, spf and dmarc against `pass`.
pub fn verdicts(input: &[u8], rule: &TrustRule, dkim: &DkimExpect) -> Report {
    let header_end = find(input, b"\r\n\r\n")
        .or_else(|| find(input, b"\n\n"))
        .unwrap_or(input.len());
    if header_end > MAX_HEADER {
        return unknown(format!(
            "the header block is {} bytes, more than the {MAX_HEADER} this command reads: not a delivered message as a mailbox gives it",
            header_end
        ));
    }
    let head = &input[..header_end];
    if head.contains(&0) {
        return unknown(
            "the input holds NUL bytes in its header block: binary data, not a message".into(),
        );
    }
    if !starts_with_field(head) {
        return unknown(
            "not a message: the input does not start with a header field (`Name: value`)".into(),
        );
    }
    // mail-auth wants CRLF line ends, as a mailbox gives them over IMAP.
    let crlf = to_crlf(input);
    let expect: Vec<(String, Vec<String>)> = ["dkim", "spf", "dmarc"]
        .iter()
        .map(|m| (m.to_string(), vec!["pass".to_string()]))
        .collect();
    let Some((trusted, seen, findings)) = read_verdicts(&crlf, rule, &expect, dkim) else {
        return unknown("not a message: mail-auth cannot read its header fields".into());
    };
    let state = findings
        .iter()
        .map(|f| f.state)
        .fold(State::Ok, State::worst);
    let mut verdict = Map::new();
    for s in &seen {
        verdict.insert(s.method.clone(), Value::String(s.result.clone()));
    }
    let json = json!({
        "trusted": trusted.fields.iter().map(|f| json!({
            "field": f.index,
            "name": f.name,
            "authserv_id": f.results.authserv_id,
            "version": f.results.version,
            "recipient_domains": f.results.recipient_domains,
            "results": f.results.results.iter().map(result_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "ignored": trusted.ignored.iter().map(|g| json!({
            "field": g.index,
            "name": g.name,
            "why": g.why,
        })).collect::<Vec<_>>(),
        "boundary": trusted.boundary,
        "verdict": verdict,
        "findings": findings,
        "state": state_name(state),
    });
    let text = text(&trusted, &findings, state);
    Report { json, text, state }
}

fn result_json(r: &authres::MethodResult) -> Value {
    let mut props = Map::new();
    for p in &r.properties {
        let key = if p.ptype.is_empty() {
            p.name.clone()
        } else {
            format!("{}.{}", p.ptype, p.name)
        };
        props
            .entry(key)
            .or_insert_with(|| Value::String(p.value.clone()));
    }
    json!({
        "method": r.method,
        "result": r.result,
        "properties": props,
        "reason": r.reason,
        "comment": if r.comments.is_empty() { Value::Null } else { Value::String(r.comments.join("; ")) },
    })
}

fn text(trusted: &Trusted, findings: &[Finding], state: State) -> String {
    let mut out = format!(
        "{}: {}\n",
        state_name(state),
        findings
            .iter()
            .rev()
            .max_by_key(|f| f.state.severity())
            .map(|f| f.summary.as_str())
            .unwrap_or("")
    );
    match trusted.boundary {
        Some(b) => out.push_str(&format!("boundary: the receiver's Received field #{b}\n")),
        None => out.push_str("boundary: none found\n"),
    }
    out.push_str("trusted:\n");
    if trusted.fields.is_empty() {
        out.push_str("  (none)\n");
    }
    for f in &trusted.fields {
        let id = if f.results.authserv_id.is_empty() {
            "(no authserv-id)"
        } else {
            &f.results.authserv_id
        };
        out.push_str(&format!("  #{} {} {id}\n", f.index, f.name));
        for r in &f.results.results {
            out.push_str(&format!("    {r}\n"));
        }
    }
    out.push_str("verdicts:\n");
    for f in findings {
        out.push_str(&format!(
            "  {:<8} {}: {}{}\n",
            state_name(f.state),
            f.check,
            f.summary,
            f.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
    }
    if !trusted.ignored.is_empty() {
        out.push_str("ignored:\n");
        for g in &trusted.ignored {
            out.push_str(&format!("  #{} {}: {}\n", g.index, g.name, g.why));
        }
    }
    out
}

fn unknown(why: String) -> Report {
    Report {
        json: json!({
            "trusted": [],
            "ignored": [],
            "verdict": {},
            "state": "UNKNOWN",
            "error": why,
        }),
        text: format!("UNKNOWN: {why}\n"),
        state: State::Unknown,
    }
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::Ok => "OK",
        State::Warning => "WARNING",
        State::Critical => "CRITICAL",
        State::Unknown => "UNKNOWN",
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first line is `Name: value` (RFC 5322 field name: printable ASCII without `:`), or an
/// mbox `From ` line followed by one.
fn starts_with_field(head: &[u8]) -> bool {
    let mut lines = head.split(|&b| b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    match first.iter().position(|&b| b == b':') {
        Some(colon) if colon > 0 => first[..colon].iter().all(|&b| (33..=126).contains(&b)),
        _ => false,
    }
}

/// Bare LF line ends turned into CRLF; an mbox `From ` line dropped.
fn to_crlf(input: &[u8]) -> Vec<u8> {
    let input = if input.starts_with(b"From ") {
        input
            .iter()
            .position(|&b| b == b'\n')
            .map_or(input, |i| &input[i + 1..])
    } else {
        input
    };
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}
