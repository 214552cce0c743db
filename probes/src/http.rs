//! One HTTP/1.1 GET with hyper's client over a stream the caller opened and secured (TCP, or
//! TLS through [`crate::tls`] so its certificate facts stay ours): the MTA-STS policy fetch,
//! and `check_mailauth --daemon` in the app. Head and body sizes are bounded here; the time
//! is bounded by the caller's timeout around the whole exchange.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONNECTION, HOST, HeaderMap, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;

/// An answer whose head has arrived; its body is read with [`Answer::body`].
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    /// The task driving the connection, stopped when the answer is dropped.
    _conn: AbortOnDrop,
}

/// Why a body could not be had.
#[derive(Debug)]
pub enum BodyError {
    /// Over the caller's limit (declared or not, chunked or up to the close).
    TooLarge,
    /// The stream failed or ended early, with hyper's reason.
    Read(String),
}

impl Answer {
    /// The whole body, at most `max` bytes.
    pub async fn body(self, max: usize) -> Result<Bytes, BodyError> {
        match Limited::new(self.body, max).collect().await {
            Ok(b) => Ok(b.to_bytes()),
            Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
            Err(e) => Err(BodyError::Read(chain(e.as_ref()))),
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `GET path` of `host` over `io`, with `authorization` as the `Authorization` header when
/// given, and `Connection: close`; a response head over `max_head` bytes is refused.
pub async fn get<IO>(
    io: IO,
    host: &str,
    path: &str,
    authorization: Option<HeaderValue>,
    max_head: usize,
) -> Result<Answer, String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::Builder::new()
        .max_header_size(max_head)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(CloseIsEof(io)))
        .await
        .map_err(|e| chain(&e))?;
    let mut request = Request::get(path)
        .header(HOST, host)
        .header(USER_AGENT, "mailauth-probe")
        .header(CONNECTION, "close");
    if let Some(a) = authorization {
        request = request.header(AUTHORIZATION, a);
    }
    let request = request.body(Empty::new()).map_err(|e| e.to_string())?;
    // Queued before the connection is first driven, so an answer that arrives early is read
    // as this request's, not refused as unsolicited.
    let answer = send.send_request(request);
    let conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let answer = answer
        .await
        .map_err(|e| format!("reading the answer: {}", chain(&e)))?;
    let (head, body) = answer.into_parts();
    Ok(Answer {
        status: head.status,
        headers: head.headers,
        body,
        _conn: conn,
    })
}

/// `e` and its sources, `: `-separated: hyper's own message is only the outer one ("error
/// reading a body from connection"), the reason is in its source.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// Many HTTPS servers (MTA-STS policy hosts among them) close the TCP connection after `Connection: close` without a TLS
/// close_notify; rustls reports that as `UnexpectedEof`. A sender reads it as the end of the
/// answer, so does this: hyper then sees an end of stream, which still refuses a body cut
/// short of its `Content-Length` or last chunk.
struct CloseIsEof<IO>(IO);

impl<IO: AsyncRead + Unpin> AsyncRead for CloseIsEof<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for CloseIsEof<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
