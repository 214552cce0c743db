//! Just enough PromQL handling for the tests that run the project's dashboard and alert
//! expressions against a real Prometheus: Grafana's variables replaced by what "All" selects,
//! and an expression cut down to the part that selects series (its comparison removed).

/// `expr` as Grafana sends it with every template variable set to "All" (`.*`) and its
/// interval variables at `interval`.
pub fn grafana_all(expr: &str, interval: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').map_or(inner.len(), |e| e);
            (&inner[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if name.starts_with("__") {
            out.push_str(interval);
        } else {
            out.push_str(".*");
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The part of `expr` that selects series: the left operand of its first comparison or set
/// operator (`>`, `==`, `and`, `unless`, ...) outside brackets and strings, after removing
/// parentheses around the whole. `time() - x > 86400` gives `time() - x`.
pub fn selecting_part(expr: &str) -> String {
    let mut e = expr.trim();
    while e.starts_with('(') && closing(e, 0) == Some(e.len() - 1) {
        e = e[1..e.len() - 1].trim();
    }
    let b = e.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' | b'\'' | b'`' => quote = Some(c),
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b'=' | b'!' | b'<' | b'>' if depth == 0 => {
                let two = e.get(i..i + 2).unwrap_or("");
                let comparison = matches!(two, "==" | "!=" | ">=" | "<=") || c == b'<' || c == b'>';
                if comparison {
                    return e[..i].trim().to_string();
                }
            }
            b'a'..=b'z' if depth == 0 && (i == 0 || !word(b[i - 1])) => {
                for kw in ["and", "or", "unless"] {
                    let end = i + kw.len();
                    if e[i..].starts_with(kw) && (end == b.len() || !word(b[end])) {
                        return e[..i].trim().to_string();
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    e.to_string()
}

fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Index of the bracket closing the one at `open`.
fn closing(e: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in e.char_indices().skip(open) {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}
