//! `Authentication-Results` header fields (RFC 8601) read back from delivered mail, and the
//! trust boundary that says which of them the receiver itself wrote.
//!
//! The round trip sends a message and reads it back from the mailbox; the receiver's verdict
//! on SPF, DKIM and DMARC is in the Authentication-Results fields it added. mail-auth only
//! writes these fields, so this module parses them: pure, linear in the input, never
//! panicking, and every syntax error placed in the unfolded value.
//!
//! A sender can add any Authentication-Results field it likes, including one that carries the
//! receiver's authserv-id (RFC 8601 sections 5 and 7.1). Only the fields *above* the
//! receiver's own `Received` field were written after the receiver took the message, so
//! [`trusted`] finds that `Received` field (the boundary) and keeps only the fields above it.
//! docs/authres.md explains the rule for operators.

/// One Authentication-Results field value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthResults {
    /// Who evaluated the message (a host or ADMD name, as written: case kept). Empty for the
    /// fields Microsoft writes without one.
    pub authserv_id: String,
    /// The field's version after the authserv-id (`mx.example.org 1;`), if given.
    pub version: Option<u32>,
    /// Bare domains written between results where a result was due (Microsoft's recipient
    /// domain: `smtp.mailfrom=a.example; b.example; dkim=...`), skipped by the parser.
    pub recipient_domains: Vec<String>,
    /// Each `method=result`, in order; empty for `none`. (Comments outside any result,
    /// after the authserv-id, the version or `none`, are skipped.)
    pub results: Vec<MethodResult>,
}

/// One `method=result` with its reason, properties and comments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodResult {
    /// Lowercased, e.g. `dkim`.
    pub method: String,
    /// `dkim/1=pass` gives 1.
    pub method_version: Option<u32>,
    /// Lowercased, e.g. `pass`.
    pub result: String,
    /// The `reason=` value, unquoted.
    pub reason: Option<String>,
    /// `ptype.property=value` in order. A bare `name=value` (Microsoft's `action=none`) is kept
    /// with an empty `ptype`.
    pub properties: Vec<Property>,
    /// Every comment inside this result, in order, without the outer parentheses, e.g.
    /// `p=reject dis=none` for DMARC.
    pub comments: Vec<String>,
}

/// A `ptype.property=pvalue`, e.g. `header.d=example.org`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Property {
    /// Lowercased: `smtp`, `header`, `body`, `policy`, ... (empty for a bare `name=value`).
    pub ptype: String,
    /// Lowercased, e.g. `d`, `mailfrom`, `from`.
    pub name: String,
    /// As written, unquoted: a token, a domain, `user@example.org` or `@example.org`.
    pub value: String,
}

impl MethodResult {
    /// The value of the first `ptype.name` property (compared case-insensitively).
    pub fn property(&self, ptype: &str, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.ptype.eq_ignore_ascii_case(ptype) && p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }
}

/// Why a value is not an Authentication-Results field: the byte offset in the unfolded value
/// (see [`unfold`]) and what was expected there. Displayed with a 1-based column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {}: {reason}", .position + 1)]
pub struct ParseError {
    pub position: usize,
    pub reason: String,
}

/// Parses one Authentication-Results value (without the field name; folded or not, with or
/// without its trailing CRLF). The grammar is RFC 8601 section 2.2, read leniently where real
/// receivers are sloppy: a trailing `;`, no authserv-id at all (Microsoft: the value starts
/// with `spf=...`), a bare `name=value` after a result, `:` and `/` in an unquoted value
/// (Exim's unquoted IPv6 `smtp.remote-ip`, base64 `header.b`).
pub fn parse(value: &str) -> Result<AuthResults, ParseError> {
    Parser::new(&unfold(value)).header()
}

/// Parses one `ARC-Authentication-Results` value (RFC 8617 section 4.1.1): the instance
/// `i=N;`, then an Authentication-Results value. Positions count in the unfolded value after
/// the instance.
pub fn parse_arc(value: &str) -> Result<(u32, AuthResults), ParseError> {
    let text = unfold(value);
    let bad = |reason: &str| ParseError {
        position: 0,
        reason: reason.to_string(),
    };
    let (instance, rest) = text
        .split_once(';')
        .ok_or_else(|| bad("expected the ARC instance `i=N;` first"))?;
    let instance = instance
        .trim()
        .strip_prefix("i")
        .map(|s| s.trim_start())
        .and_then(|s| s.strip_prefix('='))
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| bad("expected the ARC instance `i=N;` first"))?;
    Ok((instance, Parser::new(rest).header()?))
}

/// The value with its folding removed (every CRLF or LF followed by a space or tab) and its
/// trailing line break dropped: the text that [`ParseError::position`] counts in.
pub fn unfold(value: &str) -> String {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') && matches!(b.get(i + 2), Some(b' ' | b'\t')) => {
                i += 2
            }
            b'\n' if matches!(b.get(i + 1), Some(b' ' | b'\t')) => i += 1,
            c => {
                out.push(c);
                i += 1
            }
        }
    }
    while matches!(out.last(), Some(b'\r' | b'\n')) {
        out.pop();
    }
    // Only ASCII bytes were removed, so this is still UTF-8.
    lossy(out)
}

mod parse;
pub mod providers;
mod trust;

use parse::{Parser, lossy};
pub use trust::{
    Ignored, TrustRule, Trusted, TrustedField, host_matches, received_by_host, trusted, trusted_by,
};

#[cfg(test)]
mod tests;
