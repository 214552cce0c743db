//! MTA-STS (RFC 8461): the policy a domain publishes at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt`, fetched the way a sending MTA fetches
//! it (certificate verified for the policy host, no redirects, `text/plain`, at most 64 KiB),
//! parsed strictly, and the MX host patterns it lists. mail-auth parses only the TXT record.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ProbeContext;
use crate::tls::TlsReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    /// MX host patterns (`mx.example.org`, `*.example.org`).
    pub mx: Vec<String>,
    pub max_age: u64,
}

/// Parses a policy body (RFC 8461 3.2): `key: value` lines (CRLF or LF), `version: STSv1`
/// first, `mode`, one or more `mx` (unless mode is none), `max_age` up to 31557600.
pub fn parse_policy(text: &str) -> Result<Policy, String> {
    let mut version = None;
    let mut mode = None;
    let mut mx = vec![];
    let mut max_age = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("line {}: `{line}` is not `key: value`", i + 1))?;
        let (k, v) = (k.trim(), v.trim());
        match k {
            "version" => {
                if i != 0 {
                    return Err("`version` must be the first line".into());
                }
                version = Some(v.to_string());
            }
            "mode" => {
                mode = Some(match v {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    other => return Err(format!("line {}: unknown mode `{other}`", i + 1)),
                })
            }
            "mx" => mx.push(v.to_ascii_lowercase()),
            "max_age" => {
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("line {}: max_age `{v}` is not a number", i + 1))?;
                if n > 31_557_600 {
                    return Err(format!("line {}: max_age {n} is over 31557600", i + 1));
                }
                max_age = Some(n);
            }
            _ => {} // extensions are ignored (RFC 8461 3.2)
        }
    }
    if version.as_deref() != Some("STSv1") {
        return Err("the policy must start with `version: STSv1`".into());
    }
    let mode = mode.ok_or("no `mode:` line")?;
    let max_age = max_age.ok_or("no `max_age:` line")?;
    if mx.is_empty() && mode != Mode::None {
        return Err("no `mx:` line: senders match no MX".into());
    }
    Ok(Policy { mode, mx, max_age })
}

/// Whether `host` matches `pattern` (RFC 8461 4.1: `*.` matches exactly one leftmost label).
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
        None => p == h,
    }
}

/// The fetched policy, with the policy host's certificate (reported even when the fetch
/// fails because it does not verify).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub policy: Result<Policy, String>,
    pub tls: Option<TlsReport>,
    /// The host fetched from.
    pub host: String,
}

const MAX_BODY: usize = 64 * 1024;

/// Fetches and parses the policy of `domain`, within half the time left to the context's
/// deadline: a policy host that is slow (or drips its answer) is reported as such, and the
/// probe has time left for its other checks.
pub async fn fetch(domain: &str, ctx: &ProbeContext) -> Fetched {
    let host = format!("mta-sts.{domain}");
    let mut out = Fetched {
        policy: Err(String::new()),
        tls: None,
        host: host.clone(),
    };
    let budget = ctx.deadline.remaining() / 2;
    let result = tokio::time::timeout(budget, fetch_inner(&host, ctx, &mut out.tls)).await;
    out.policy = match result {
        Err(_) => Err(format!(
            "no complete policy from {host} within {:.1}s (the share of the probe's timeout for the fetch): the server is too slow, senders time out too",
            budget.as_secs_f64()
        )),
        Ok(r) => r,
    };
    out
}

async fn fetch_inner(
    host: &str,
    ctx: &ProbeContext,
    tls_out: &mut Option<TlsReport>,
) -> Result<Policy, String> {
    let ips = ctx
        .resolver
        .ips(host)
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?;
    let mut last = format!("{host} has no address");
    for ip in ips {
        let tcp = match TcpStream::connect((ip, 443)).await {
            Ok(s) => s,
            Err(e) => {
                last = format!("cannot connect to {ip}:443: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (mut tls, report) = ctx.tls.handshake(tcp, host).await?;
        let verified = report.verified.clone();
        *tls_out = Some(report);
        if let Err(e) = verified {
            return Err(format!(
                "the certificate of {host} does not verify: {e}; senders ignore the policy"
            ));
        }
        let req = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailauth-probe\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let mut buf = Vec::new();
        // A little more than the body limit, for the headers. Many servers close without a
        // TLS close_notify after `Connection: close`; what arrived before that counts.
        let read = (&mut tls)
            .take((MAX_BODY + 16 * 1024) as u64 + 1)
            .read_to_end(&mut buf)
            .await;
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
            Err(e) => return Err(format!("{host}: reading the answer: {e}")),
        }
        return parse_response(&buf, host);
    }
    Err(last)
}

/// Checks an HTTP/1.x answer: 200, no redirect, `text/plain`, body within 64 KiB.
pub fn parse_response(buf: &[u8], host: &str) -> Result<Policy, String> {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{host}: not an HTTP answer"))?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let body = &buf[split + 4..];
    let status_line = head.lines().next().unwrap_or("");
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{host}: malformed status line `{status_line}`"))?;
    if (300..400).contains(&code) {
        return Err(format!(
            "{host} answers {code} (a redirect): senders must not follow redirects (RFC 8461 3.3)"
        ));
    }
    if code != 200 {
        return Err(format!(
            "{host} answers `{status_line}` for /.well-known/mta-sts.txt"
        ));
    }
    let ctype = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
        })
        .map(|(_, v)| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !ctype.starts_with("text/plain") {
        return Err(format!(
            "{host} serves the policy as `{ctype}`; senders require text/plain (RFC 8461 3.2)"
        ));
    }
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    if body.len() > MAX_BODY {
        return Err(format!("{host}: the policy is over 64 KiB"));
    }
    let text =
        String::from_utf8(body).map_err(|_| format!("{host}: the policy is not UTF-8 text"))?;
    parse_policy(&text).map_err(|e| format!("policy of {host}: {e}"))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = vec![];
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked encoding")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        // `size` is the sender's: compared before any arithmetic on it can overflow (`out`
        // never holds more than MAX_BODY + 1 bytes).
        if size > MAX_BODY + 1 - out.len() || b.len() < size + 2 {
            return Err("bad or oversized chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parsing() {
        let p = parse_policy("version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmx: *.example.net\r\nmax_age: 86400\r\n").unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, vec!["mx.example.org", "*.example.net"]);
        assert_eq!(p.max_age, 86400);
        for (bad, why) in [
            ("mode: enforce\nversion: STSv1\nmx: a\nmax_age: 1", "first"),
            (
                "version: STSv1\nmode: strict\nmx: a\nmax_age: 1",
                "unknown mode",
            ),
            ("version: STSv1\nmode: enforce\nmax_age: 1", "no `mx:`"),
            (
                "version: STSv1\nmode: enforce\nmx: a\nmax_age: 99999999999",
                "over",
            ),
            ("version: STSv1\nmode: enforce\nmx: a", "max_age"),
            ("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1", "STSv1"),
        ] {
            let e = parse_policy(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 1").is_ok());
    }

    #[test]
    fn mx_patterns() {
        assert!(mx_matches("mx.example.org", "MX.example.org."));
        assert!(mx_matches("*.example.org", "mx1.example.org"));
        assert!(!mx_matches("*.example.org", "a.b.example.org"));
        assert!(!mx_matches("*.example.org", "example.org"));
        assert!(!mx_matches("mx.example.org", "mx2.example.org"));
    }

    #[test]
    fn http_answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1\nmode: testing\nmx: mx.a.example\nmax_age: 604800\n";
        assert_eq!(parse_response(ok, "h").unwrap().mode, Mode::Testing);
        let redirect = b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n";
        assert!(
            parse_response(redirect, "h")
                .unwrap_err()
                .contains("redirect")
        );
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nversion: STSv1\n";
        assert!(
            parse_response(html, "h")
                .unwrap_err()
                .contains("text/plain")
        );
        let chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nversion: STSv1\nm\r\n2d\r\node: enforce\nmx: mx.a.example\nmax_age: 86400\n\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked, "h").unwrap().mode, Mode::Enforce);
        assert!(parse_response(b"garbage", "h").is_err());
    }

    /// A chunk size of 2^64 - 1 overflowed `size + 2` (a panic with overflow checks, and in
    /// release a slice past the end once an earlier chunk had been read).
    #[test]
    fn huge_chunk_sizes_are_refused() {
        for body in [
            &b"ffffffffffffffff\r\nab\r\n0\r\n\r\n"[..],
            b"1\r\nv\r\nffffffffffffffff\r\nab\r\n0\r\n\r\n",
            b"fffffffffffffffe\r\n",
        ] {
            let mut answer =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            answer.extend_from_slice(body);
            let e = parse_response(&answer, "h").unwrap_err();
            assert!(e.contains("chunk"), "{e}");
        }
    }
}
