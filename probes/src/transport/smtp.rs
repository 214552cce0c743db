//! SMTP replies read per RFC 5321 4.2: a reply is one or more lines `CODE-text` ending with
//! `CODE text` (or a bare `CODE`), all with the same code. Earlier tools broke on multi-line
//! `220-` greetings and greetings without "ESMTP"; this reader accepts any valid reply and
//! nothing else. Reads are capped in bytes and lines: an endless or oversized reply is an
//! error naming the cap, not a hang or an out-of-memory.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of each line, without the code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The EHLO keywords (first word of every line but the first), upper-cased.
    pub fn keywords(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(|k| k.to_ascii_uppercase())
            .collect()
    }

    /// Whether EHLO advertises `keyword` (e.g. `STARTTLS`, `AUTH`).
    pub fn has(&self, keyword: &str) -> bool {
        self.keywords().iter().any(|k| k == keyword)
    }

    /// The whole reply on one line, for findings.
    pub fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

/// Why no reply could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the server closed the connection")]
    Closed,
    #[error("malformed reply line `{0}`")]
    Malformed(String),
    #[error("reply longer than {0} bytes")]
    TooLong(usize),
    #[error("reply of more than {0} lines")]
    TooManyLines(usize),
    #[error("{0}")]
    Io(String),
}

/// Caps on one reply.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;
pub const MAX_REPLY_LINES: usize = 256;
pub const MAX_LINE_BYTES: usize = 4096;

/// Parses one line: `(code, is_last, text)`.
pub fn parse_line(line: &str) -> Result<(u16, bool, String), ReplyError> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&b[0]) {
        return Err(ReplyError::Malformed(truncate(line)));
    }
    let code: u16 = line[..3]
        .parse()
        .map_err(|_| ReplyError::Malformed(truncate(line)))?;
    match b.get(3) {
        None => Ok((code, true, String::new())),
        Some(b' ') => Ok((code, true, line[4..].to_string())),
        Some(b'-') => Ok((code, false, line[4..].to_string())),
        Some(_) => Err(ReplyError::Malformed(truncate(line))),
    }
}

fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(80).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// Parses a complete reply from `text` (lines separated by CRLF or LF); pure, for tests and
/// fuzzing.
pub fn parse_reply(text: &str) -> Result<Reply, ReplyError> {
    let mut lines = vec![];
    let mut code = None;
    for raw in text.split('\n') {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (c, last, t) = parse_line(line)?;
        if *code.get_or_insert(c) != c {
            return Err(ReplyError::Malformed(format!(
                "code {c} inside a {} reply",
                code.unwrap_or(0)
            )));
        }
        lines.push(t);
        if last {
            return Ok(Reply { code: c, lines });
        }
    }
    Err(ReplyError::Closed)
}

/// An SMTP connection over any stream, reading replies line by line with the caps above.
pub struct Conn<IO> {
    pub io: IO,
    buf: Vec<u8>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    pub fn new(io: IO) -> Self {
        Conn {
            io,
            buf: Vec::new(),
        }
    }

    /// Gives back the stream (for STARTTLS); refuses when the server sent more than it was
    /// asked (pipelining data before the TLS handshake is an injection attack).
    pub fn into_inner(self) -> Result<IO, ReplyError> {
        if self.buf.is_empty() {
            Ok(self.io)
        } else {
            Err(ReplyError::Malformed(
                "data after the STARTTLS reply (possible injection)".into(),
            ))
        }
    }

    async fn line(&mut self, total: &mut usize) -> Result<String, ReplyError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=pos).collect();
                let s = String::from_utf8_lossy(&raw);
                return Ok(s.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(ReplyError::TooLong(MAX_LINE_BYTES));
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .io
                .read(&mut chunk)
                .await
                .map_err(|e| ReplyError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ReplyError::Closed);
            }
            *total += n;
            if *total > MAX_REPLY_BYTES {
                return Err(ReplyError::TooLong(MAX_REPLY_BYTES));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads one line (for line protocols such as IMAP), capped like replies.
    pub async fn read_line(&mut self) -> Result<String, ReplyError> {
        let mut total = 0;
        self.line(&mut total).await
    }

    /// Writes one line (CRLF added) without reading.
    pub async fn send(&mut self, line: &str) -> Result<(), ReplyError> {
        self.io
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| ReplyError::Io(e.to_string()))?;
        self.io
            .flush()
            .await
            .map_err(|e| ReplyError::Io(e.to_string()))
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn reply(&mut self) -> Result<Reply, ReplyError> {
        let mut total = 0;
        let mut lines = vec![];
        let mut code = None;
        loop {
            let line = self.line(&mut total).await?;
            let (c, last, t) = parse_line(&line)?;
            if *code.get_or_insert(c) != c {
                return Err(ReplyError::Malformed(truncate(&line)));
            }
            lines.push(t);
            if lines.len() > MAX_REPLY_LINES {
                return Err(ReplyError::TooManyLines(MAX_REPLY_LINES));
            }
            if last {
                return Ok(Reply { code: c, lines });
            }
        }
    }

    /// Sends one command line (CRLF added) and reads the reply.
    pub async fn command(&mut self, cmd: &str) -> Result<Reply, ReplyError> {
        self.io
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .map_err(|e| ReplyError::Io(e.to_string()))?;
        self.io
            .flush()
            .await
            .map_err(|e| ReplyError::Io(e.to_string()))?;
        self.reply().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_greetings_and_no_esmtp_word() {
        let r = parse_reply("220-mx.example.org\r\n220-welcome\r\n220 ready\r\n").unwrap();
        assert_eq!(r.code, 220);
        assert_eq!(r.lines.len(), 3);
        assert_eq!(parse_reply("220\r\n").unwrap().code, 220);
        let e =
            parse_reply("250-mx\n250-PIPELINING\n250-STARTTLS\n250 AUTH PLAIN LOGIN\n").unwrap();
        assert!(e.has("STARTTLS") && e.has("AUTH") && !e.has("MX"));
    }

    #[test]
    fn malformed_replies() {
        assert!(matches!(
            parse_reply("hello\r\n"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply("250-a\r\n220 b\r\n"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply("250x\r\n"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply("650 no\r\n"),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply("250-unfinished\r\n"),
            Err(ReplyError::Closed)
        ));
    }

    #[tokio::test]
    async fn reader_caps_endless_replies() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let line = b"250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
            for _ in 0..20_000 {
                if server.write_all(line).await.is_err() {
                    break;
                }
            }
        });
        let mut c = Conn::new(client);
        let e = c.reply().await.unwrap_err();
        assert!(
            matches!(e, ReplyError::TooManyLines(_) | ReplyError::TooLong(_)),
            "{e}"
        );
    }

    #[tokio::test]
    async fn reader_handles_split_packets() {
        let (client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            for part in ["22", "0-a\r", "\n220 b\r\n"] {
                server.write_all(part.as_bytes()).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let r = Conn::new(client).reply().await.unwrap();
        assert_eq!((r.code, r.lines.len()), (220, 2));
    }
}
