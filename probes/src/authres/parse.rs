//! The Authentication-Results parser (RFC 8601 section 2.2): one pass over the bytes, no
//! backtracking beyond a fixed lookahead, comments nested to any depth without recursion,
//! lenient only where receivers deviate in ways that cannot be misread (docs/authres.md
//! lists every leniency).

use std::fmt;

use super::{AuthResults, MethodResult, ParseError, Property};

pub(super) struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    pos: usize,
    /// Set once the authserv-id is read (`""` for a field without one), even if a later part
    /// fails: [`trusted`] needs to know whose unparsable field it is.
    pub(super) authserv_id: Option<String>,
    /// Set by `resinfo` when it stopped before a `method=` that was not preceded by `;`.
    missing_semicolon: bool,
}

/// Methods of the IANA Email Authentication Methods registry (RFC 8601 section 6.2): a bare
/// `name=result` with one of these names, where a property was due, is the next result.
const METHODS: &[&str] = &[
    "arc",
    "auth",
    "bimi",
    "dkim",
    "dkim-adsp",
    "dkim-atps",
    "dmarc",
    "dnswl",
    "domainkeys",
    "iprev",
    "rrvs",
    "sender-id",
    "smime",
    "spf",
    "vbr",
];

pub(super) fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// RFC 5321 Keyword (letters, digits, `-`), with `_` as well: methods, results, ptypes,
/// properties.
fn is_keyword_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// RFC 2045 token characters, plus any non-ASCII byte (UTF-8, RFC 6532).
fn is_token_byte(c: u8) -> bool {
    c >= 0x80 || (c > b' ' && c != 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&c))
}

/// Characters of an unquoted pvalue: a token, an addr-spec, a domain, and what receivers
/// write unquoted anyway (`:` of IPv6, `/` and `+` of base64); never `=` (only as trailing
/// base64 padding, see [`Parser::pvalue`]).
fn is_pvalue_byte(c: u8) -> bool {
    c >= 0x80 || (c > b' ' && c != 0x7f && !b"()\";\\=".contains(&c))
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Parser {
            text,
            s: text.as_bytes(),
            pos: 0,
            authserv_id: None,
            missing_semicolon: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn err(&self, position: usize, reason: impl Into<String>) -> ParseError {
        ParseError {
            position,
            reason: reason.into(),
        }
    }

    /// What stands at the current position, for error messages.
    fn found(&self) -> String {
        match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            None if self.pos >= self.s.len() => "the end".into(),
            None => "a broken character".into(),
            Some(c) if c.is_control() => format!("{c:?}"),
            Some(c) => format!("`{c}`"),
        }
    }

    /// Skips CFWS, adding each comment to `comments`; whether anything was skipped.
    fn cfws(&mut self, comments: &mut Vec<String>) -> Result<bool, ParseError> {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'(') => comments.push(self.comment()?),
                _ => return Ok(self.pos > start),
            }
        }
    }

    /// A comment at `(`, nested comments and quoted-pairs included; its text with runs of
    /// white space collapsed.
    fn comment(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut depth = 1usize;
        let mut text = Vec::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'\\' => {
                    if let Some(n) = self.peek() {
                        text.push(n);
                        self.pos += 1;
                    }
                }
                b'(' => {
                    depth += 1;
                    text.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        let text = lossy(text);
                        return Ok(text.split_ascii_whitespace().collect::<Vec<_>>().join(" "));
                    }
                    text.push(c);
                }
                _ => text.push(c),
            }
        }
        Err(self.err(start, "unterminated comment: this `(` has no `)`"))
    }

    /// A quoted-string at `"`, unquoted.
    fn quoted_string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut value = Vec::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'\\' => {
                    if let Some(n) = self.peek() {
                        value.push(n);
                        self.pos += 1;
                    }
                }
                b'"' => return Ok(lossy(value)),
                _ => value.push(c),
            }
        }
        Err(self.err(
            start,
            "unterminated quoted string: this `\"` has no closing `\"`",
        ))
    }

    fn run(&mut self, accept: fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(accept) {
            self.pos += 1;
        }
        // Runs stop before an ASCII byte or at the end: always a character boundary.
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn keyword(&mut self) -> &'a str {
        self.run(is_keyword_byte)
    }

    /// 1*DIGIT, as a version; a letter right after the digits is an error.
    fn number(&mut self, what: &str) -> Result<u32, ParseError> {
        let start = self.pos;
        let digits = self.run(|c| c.is_ascii_digit());
        if self.peek().is_some_and(is_keyword_byte) {
            return Err(self.err(self.pos, format!("{what} must be a number")));
        }
        digits
            .parse()
            .map_err(|_| self.err(start, format!("{what} `{digits}` is too large")))
    }

    /// `[CFWS] ( value / [ [ local-part ] "@" ] domain-name )`; comments go to `comments`.
    /// Returns the value and whether it was a quoted-string.
    fn pvalue(&mut self, comments: &mut Vec<String>) -> Result<(String, bool), ParseError> {
        self.cfws(comments)?;
        if self.peek() == Some(b'"') {
            let quoted = self.quoted_string()?;
            if self.peek() != Some(b'@') {
                return Ok((quoted, true));
            }
            // A quoted local-part: `"john smith"@example.org` keeps its quotes.
            let domain = self.run(is_pvalue_byte);
            return Ok((format!("\"{quoted}\"{domain}"), false));
        }
        let start = self.pos;
        self.run(is_pvalue_byte);
        // Trailing `=` padding of base64 (`header.b=abc=`), when nothing else follows.
        if self.pos > start {
            let mut end = self.pos;
            while self.s.get(end) == Some(&b'=') {
                end += 1;
            }
            if matches!(self.s.get(end), None | Some(b' ' | b'\t' | b';' | b'(')) {
                self.pos = end;
            }
        }
        Ok((
            self.text.get(start..self.pos).unwrap_or("").to_string(),
            false,
        ))
    }

    pub(super) fn header(&mut self) -> Result<AuthResults, ParseError> {
        // Comments outside any result have no place in `AuthResults`: read and dropped.
        let mut outside = Vec::new();
        self.cfws(&mut outside)?;
        let id_start = self.pos;
        let (authserv_id, id_less) = match self.peek() {
            None => {
                return Err(self.err(
                    self.pos,
                    "empty value: expected the authserv-id, then `;` and the results",
                ));
            }
            Some(b'"') => (self.quoted_string()?, false),
            Some(_) => {
                let token = self.run(is_token_byte);
                if token.is_empty() {
                    return Err(self.err(
                        self.pos,
                        format!(
                            "expected the authserv-id (the receiver's name), found {}",
                            self.found()
                        ),
                    ));
                }
                // No authserv-id (Microsoft): the value already starts with `method=` or
                // `method/version=`.
                let after = self.pos;
                self.cfws(&mut outside)?;
                if matches!(self.peek(), Some(b'=' | b'/')) && token.bytes().all(is_keyword_byte) {
                    self.pos = id_start;
                    (String::new(), true)
                } else {
                    self.pos = after;
                    (token.to_string(), false)
                }
            }
        };
        self.authserv_id = Some(authserv_id.clone());
        let mut version = None;
        if !id_less {
            self.cfws(&mut outside)?;
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                version = Some(self.number("the version")?);
                self.cfws(&mut outside)?;
            }
            if self.peek() != Some(b';') {
                let what = if version.is_some() {
                    "the version"
                } else {
                    "the authserv-id"
                };
                return Err(self.err(
                    self.pos,
                    format!(
                        "expected `;` and the results (or `none`) after {what}, found {}",
                        self.found()
                    ),
                ));
            }
        }
        let mut results = Vec::new();
        let mut recipient_domains = Vec::new();
        let mut first = true;
        loop {
            if std::mem::take(&mut self.missing_semicolon) {
                // At the next method: the `;` before it was left out.
            } else if !(id_less && first) {
                // At the `;`.
                self.pos += 1;
            }
            let mut result_comments = Vec::new();
            self.cfws(&mut result_comments)?;
            if self.peek().is_none() {
                if first {
                    return Err(self.err(
                        self.pos,
                        "expected `none` or a result such as `spf=pass` after `;`",
                    ));
                }
                // A trailing `;`: outside the grammar, but common (Microsoft among others).
                break;
            }
            // Microsoft writes the recipient's domain as a bare token between results
            // (`smtp.mailfrom=a.example; b.example; dkim=...`). A token with a dot followed by
            // `;` or the end cannot be a method (a method has no dot): skipped and kept.
            let token_start = self.pos;
            let token = self.run(is_token_byte);
            if token.contains('.') {
                let after = self.pos;
                let mut ignored = Vec::new();
                self.cfws(&mut ignored)?;
                if matches!(self.peek(), None | Some(b';')) {
                    recipient_domains.push(token.to_string());
                    if self.peek().is_none() {
                        break;
                    }
                    continue;
                }
                self.pos = after;
            }
            self.pos = token_start;
            let method_start = self.pos;
            let method = self.keyword();
            if method.is_empty() {
                return Err(self.err(
                    method_start,
                    format!(
                        "expected a result such as `spf=pass`, found {}",
                        self.found()
                    ),
                ));
            }
            if first && !id_less && method.eq_ignore_ascii_case("none") {
                let after = self.pos;
                self.cfws(&mut outside)?;
                if !matches!(self.peek(), Some(b'=' | b'/')) {
                    if self.peek() == Some(b';') {
                        self.pos += 1;
                        self.cfws(&mut outside)?;
                    }
                    if self.peek().is_some() {
                        return Err(self.err(
                            self.pos,
                            format!("nothing may follow `none`, found {}", self.found()),
                        ));
                    }
                    return Ok(AuthResults {
                        authserv_id,
                        version,
                        results,
                        recipient_domains,
                    });
                }
                self.pos = after;
            }
            results.push(self.resinfo(method, result_comments)?);
            first = false;
            if self.peek().is_none() {
                break;
            }
        }
        Ok(AuthResults {
            authserv_id,
            version,
            results,
            recipient_domains,
        })
    }

    /// The rest of one result after its method name; stops at `;` or the end.
    fn resinfo(
        &mut self,
        method: &str,
        mut comments: Vec<String>,
    ) -> Result<MethodResult, ParseError> {
        self.cfws(&mut comments)?;
        let mut method_version = None;
        if self.peek() == Some(b'/') {
            self.pos += 1;
            self.cfws(&mut comments)?;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return Err(self.err(
                    self.pos,
                    format!(
                        "expected a version number after `{method}/`, found {}",
                        self.found()
                    ),
                ));
            }
            method_version = Some(self.number("the method version")?);
            self.cfws(&mut comments)?;
        }
        if self.peek() != Some(b'=') {
            return Err(self.err(
                self.pos,
                format!(
                    "expected `=` after the method `{method}`, found {}",
                    self.found()
                ),
            ));
        }
        self.pos += 1;
        self.cfws(&mut comments)?;
        let result_start = self.pos;
        let result = self.keyword();
        if result.is_empty() {
            return Err(self.err(
                result_start,
                format!(
                    "expected a result after `{method}=` (such as `pass`), found {}",
                    self.found()
                ),
            ));
        }
        let mut out = MethodResult {
            method: method.to_ascii_lowercase(),
            method_version,
            result: result.to_ascii_lowercase(),
            ..MethodResult::default()
        };
        let mut last = format!("`{method}={result}`");
        loop {
            let spaced = self.cfws(&mut comments)?;
            if matches!(self.peek(), None | Some(b';')) {
                break;
            }
            if !spaced {
                return Err(self.err(
                    self.pos,
                    format!(
                        "expected a space, `;` or the end after {last}, found {}",
                        self.found()
                    ),
                ));
            }
            let key_start = self.pos;
            let key = self.keyword();
            if key.is_empty() {
                return Err(self.err(
                    key_start,
                    format!(
                        "expected `ptype.property=value` (such as `smtp.mailfrom=example.org`), found {}",
                        self.found()
                    ),
                ));
            }
            self.cfws(&mut comments)?;
            match self.peek() {
                Some(b'.') => {
                    self.pos += 1;
                    self.cfws(&mut comments)?;
                    let name_start = self.pos;
                    let name = self.keyword();
                    if name.is_empty() {
                        return Err(self.err(
                            name_start,
                            format!(
                                "expected a property name after `{key}.`, found {}",
                                self.found()
                            ),
                        ));
                    }
                    self.cfws(&mut comments)?;
                    if self.peek() != Some(b'=') {
                        return Err(self.err(
                            self.pos,
                            format!("expected `=` after `{key}.{name}`, found {}", self.found()),
                        ));
                    }
                    self.pos += 1;
                    let (value, _) = self.pvalue(&mut comments)?;
                    last = format!("the value of `{key}.{name}`");
                    out.properties.push(Property {
                        ptype: key.to_ascii_lowercase(),
                        name: name.to_ascii_lowercase(),
                        value,
                    });
                }
                Some(b'=') if METHODS.iter().any(|m| m.eq_ignore_ascii_case(key)) => {
                    // `spf=pass smtp.mailfrom=a.example dkim=pass ...`: a registered method
                    // where a property was due is the next result with its `;` left out.
                    self.pos = key_start;
                    self.missing_semicolon = true;
                    break;
                }
                Some(b'=') => {
                    self.pos += 1;
                    let value_start = self.pos;
                    let (value, quoted) = self.pvalue(&mut comments)?;
                    last = format!("the value of `{key}`");
                    if key.eq_ignore_ascii_case("reason") && out.reason.is_none() {
                        if value.is_empty() && !quoted {
                            return Err(self.err(
                                value_start,
                                format!("expected a value after `reason=`, found {}", self.found()),
                            ));
                        }
                        out.reason = Some(value);
                    } else {
                        // A bare `name=value` (Microsoft's `action=none`): kept, ptype empty.
                        out.properties.push(Property {
                            ptype: String::new(),
                            name: key.to_ascii_lowercase(),
                            value,
                        });
                    }
                }
                _ => {
                    return Err(self.err(
                        self.pos,
                        format!(
                            "expected `.` or `=` after `{key}` (a property is `ptype.property=value`), found {}",
                            self.found()
                        ),
                    ));
                }
            }
        }
        out.comments = comments;
        Ok(out)
    }
}

impl fmt::Display for Property {
    /// `ptype.name=value`, the value quoted when it is not a plain token or address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.ptype.is_empty() {
            write!(f, "{}.", self.ptype)?;
        }
        write!(f, "{}=", self.name)?;
        write_value(f, &self.value)
    }
}

impl fmt::Display for MethodResult {
    /// `method[/version]=result [reason=...] [properties]`, without comments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.method)?;
        if let Some(v) = self.method_version {
            write!(f, "/{v}")?;
        }
        write!(f, "={}", self.result)?;
        if let Some(r) = &self.reason {
            write!(f, " reason=")?;
            write_value(f, r)?;
        }
        for p in &self.properties {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    if !value.is_empty() && value.bytes().all(is_pvalue_byte) {
        return f.write_str(value);
    }
    f.write_str("\"")?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}
