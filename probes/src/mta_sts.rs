//! MTA-STS (RFC 8461): the policy a domain publishes at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt`, fetched the way a sending MTA fetches
//! it (certificate verified for the policy host, no redirects, `text/plain`, at most 64 KiB),
//! parsed strictly, and the MX host patterns it lists. mail-auth parses only the TXT record.
//! The HTTP/1.1 exchange is hyper's client ([`crate::http`]) over our TCP connection and
//! rustls stream (so the certificate facts are ours to report), bounded in head and body size
//! and by the run's deadline.

use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderMap};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::ProbeContext;
use crate::http::{self, BodyError};
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
        let (tls, report) = ctx.tls.handshake(tcp, host).await?;
        let verified = report.verified.clone();
        *tls_out = Some(report);
        if let Err(e) = verified {
            return Err(format!(
                "the certificate of {host} does not verify: {e}; senders ignore the policy"
            ));
        }
        return read_policy(tls, host).await;
    }
    Err(last)
}

/// Response headers (status line included) beyond this are refused by hyper.
const MAX_HEAD: usize = 16 * 1024;

/// Asks for `/.well-known/mta-sts.txt` over `io` (the verified TLS stream) with hyper's
/// HTTP/1.1 client ([`crate::http::get`]), and checks the answer as a sending MTA does: 200,
/// no redirect, `text/plain`, headers within 16 KiB, a body (plain, chunked or up to the
/// close) within 64 KiB, UTF-8, a valid policy. The caller's timeout bounds it.
pub async fn read_policy<IO>(io: IO, host: &str) -> Result<Policy, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let answer = http::get(io, host, "/.well-known/mta-sts.txt", None, MAX_HEAD)
        .await
        .map_err(|e| format!("{host}: {e}"))?;
    check_head(answer.status, &answer.headers, host)?;
    let body = answer.body(MAX_BODY).await.map_err(|e| match e {
        BodyError::TooLarge => format!("{host}: the policy is over 64 KiB"),
        BodyError::Read(e) => format!("{host}: reading the answer: {e}"),
    })?;
    let text =
        std::str::from_utf8(&body).map_err(|_| format!("{host}: the policy is not UTF-8 text"))?;
    parse_policy(text).map_err(|e| format!("policy of {host}: {e}"))
}

/// Status and headers: 200, not a redirect, `text/plain`.
fn check_head(status: StatusCode, headers: &HeaderMap, host: &str) -> Result<(), String> {
    let code = status.as_u16();
    if status.is_redirection() {
        return Err(format!(
            "{host} answers {code} (a redirect): senders must not follow redirects (RFC 8461 3.3)"
        ));
    }
    if status != StatusCode::OK {
        return Err(format!(
            "{host} answers `{status}` for /.well-known/mta-sts.txt"
        ));
    }
    let ctype = headers
        .get(CONTENT_TYPE)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !ctype.starts_with("text/plain") {
        return Err(format!(
            "{host} serves the policy as `{ctype}`; senders require text/plain (RFC 8461 3.2)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

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

    /// `raw` as the policy host's whole answer to the request (then it closes), read by
    /// [`read_policy`] over an in-memory stream.
    async fn answer(raw: &[u8]) -> Result<Policy, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let raw = raw.to_vec();
        tokio::spawn(async move {
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if server.read(&mut byte).await.ok() != Some(1) {
                    return;
                }
                request.push(byte[0]);
            }
            assert!(request.starts_with(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n"));
            let _ = server.write_all(&raw).await;
            let _ = server.shutdown().await;
            let _ = server.read_to_end(&mut Vec::new()).await;
        });
        read_policy(client, "h").await
    }

    #[tokio::test]
    async fn http_answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1\nmode: testing\nmx: mx.a.example\nmax_age: 604800\n";
        assert_eq!(answer(ok).await.unwrap().mode, Mode::Testing);
        let redirect = b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n";
        assert!(answer(redirect).await.unwrap_err().contains("redirect"));
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nversion: STSv1\n";
        let e = answer(html).await.unwrap_err();
        assert!(e.contains("text/html") && e.contains("text/plain"), "{e}");
        let missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let e = answer(missing).await.unwrap_err();
        assert!(e.contains("`404 Not Found`"), "{e}");
        let chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nversion: STSv1\nm\r\n2d\r\node: enforce\nmx: mx.a.example\nmax_age: 86400\n\r\n0\r\n\r\n";
        assert_eq!(answer(chunked).await.unwrap().mode, Mode::Enforce);
        assert!(answer(b"garbage").await.is_err());
    }

    #[tokio::test]
    async fn bodies_and_heads_are_bounded() {
        let policy = "version: STSv1\nmode: enforce\nmx: mx.a.example\nmax_age: 86400\n";
        // Over 64 KiB, declared or not, and in chunks.
        let pad = "x".repeat(70 * 1024);
        let big = format!("{policy}# {pad}\n");
        for head in [format!("Content-Length: {}\r\n", big.len()), String::new()] {
            let raw = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{head}\r\n{big}");
            let e = answer(raw.as_bytes()).await.unwrap_err();
            assert!(e.contains("over 64 KiB"), "{e}");
        }
        let chunks = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}"
        );
        assert!(
            answer(raw.as_bytes())
                .await
                .unwrap_err()
                .contains("over 64 KiB")
        );
        // A head over 16 KiB.
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Pad: {}\r\n\r\n{policy}",
            "p".repeat(20 * 1024)
        );
        let e = answer(raw.as_bytes()).await.unwrap_err();
        assert!(e.contains("too large"), "{e}");
        // Closed before the declared length: not a policy.
        let raw = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 999\r\n\r\n{policy}"
        );
        assert!(answer(raw.as_bytes()).await.is_err());
        // Delimited by the close: read to the end.
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{policy}");
        assert_eq!(answer(raw.as_bytes()).await.unwrap().mode, Mode::Enforce);
    }

    /// A TLS stream whose peer closed without close_notify: once the request is written,
    /// the answer, then `UnexpectedEof` (as rustls reports it).
    struct NoCloseNotify {
        answer: Vec<u8>,
        asked: bool,
        reader: Option<std::task::Waker>,
    }

    impl AsyncRead for NoCloseNotify {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if !self.asked {
                self.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if self.answer.is_empty() {
                return Poll::Ready(Err(std::io::ErrorKind::UnexpectedEof.into()));
            }
            let n = self.answer.len().min(buf.remaining());
            buf.put_slice(&self.answer[..n]);
            self.answer.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for NoCloseNotify {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.asked = true;
            if let Some(w) = self.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_close_without_close_notify_ends_a_close_delimited_policy() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nversion: STSv1\nmode: testing\nmx: mx.a.example\nmax_age: 604800\n";
        let io = NoCloseNotify {
            answer: raw.to_vec(),
            asked: false,
            reader: None,
        };
        let p = read_policy(io, "h").await.unwrap();
        assert_eq!(p.mode, Mode::Testing);
    }

    /// A chunk size of 2^64 - 1 overflowed `size + 2` in our own decoder (a panic with
    /// overflow checks); hyper's refuses it.
    #[tokio::test]
    async fn huge_chunk_sizes_are_refused() {
        for body in [
            &b"ffffffffffffffff\r\nab\r\n0\r\n\r\n"[..],
            b"1\r\nv\r\nffffffffffffffff\r\nab\r\n0\r\n\r\n",
            b"fffffffffffffffe\r\n",
        ] {
            let mut raw =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .to_vec();
            raw.extend_from_slice(body);
            // Refused as a broken answer (hyper's reason: the size overflows, or the stream
            // ends inside the chunk), never read as a policy or a panic.
            let e = answer(&raw).await.unwrap_err();
            assert!(e.starts_with("h: reading the answer: "), "{e}");
        }
    }
}
