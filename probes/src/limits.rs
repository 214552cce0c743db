//! Per-destination concurrency limits: at most N runs talk to the same DNSBL zone (or MX host)
//! at once, whatever the number of targets, so a probe suite with many targets never floods a
//! list operator (who would then refuse us) or a receiver. And [`Capped`]: a stream whose
//! reads are capped in bytes and line length, for peers read by libraries that buffer a
//! whole line before looking at it (lettre, async-imap).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct Limits {
    per_destination: usize,
    semaphores: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Limits {
    /// `per_destination` concurrent users of one destination (at least 1).
    pub fn new(per_destination: usize) -> Self {
        Limits {
            per_destination: per_destination.max(1),
            semaphores: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot for `destination` (e.g. `dnsbl:zen.spamhaus.org`). Callers bound the
    /// wait with their [`crate::Deadline`].
    pub async fn acquire(&self, destination: &str) -> OwnedSemaphorePermit {
        let sem = {
            let mut map = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(destination.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
                .clone()
        };
        sem.acquire_owned()
            .await
            .expect("limit semaphores are never closed")
    }
}

/// A stream that fails a read once the peer has sent more than `max_total` bytes, or (with
/// `max_line`) a line longer than that, so a peer sending an endless line costs a bounded
/// amount of memory whatever the library reading it does. Writes pass through.
#[derive(Debug)]
pub struct Capped<S> {
    inner: S,
    /// The peer's address, for libraries that ask (lettre).
    pub peer: Option<SocketAddr>,
    max_total: usize,
    max_line: Option<usize>,
    total: usize,
    line: usize,
}

impl<S> Capped<S> {
    pub fn new(inner: S, max_total: usize, max_line: Option<usize>) -> Self {
        Capped {
            inner,
            peer: None,
            max_total,
            max_line,
            total: 0,
            line: 0,
        }
    }

    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// Counts `bytes` just read; the error once a cap is passed.
    fn count(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.total += bytes.len();
        if self.total > self.max_total {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the server sent more than {} bytes", self.max_total),
            ));
        }
        if let Some(max) = self.max_line {
            self.line = match bytes.iter().rposition(|b| *b == b'\n') {
                Some(i) => bytes.len() - i - 1,
                None => self.line + bytes.len(),
            };
            if self.line > max {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the server sent a line longer than {max} bytes"),
                ));
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let counted = this.count(&buf.filled()[before..]);
                if counted.is_err() {
                    // A failed read hands back nothing (tokio's readers rely on it).
                    buf.set_filled(before);
                }
                Poll::Ready(counted)
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn capped_reads_end_at_the_caps() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let _ = server.write_all(b"short\r\n").await;
            let _ = server.write_all(&[b'x'; 200_000]).await;
        });
        let mut c = Capped::new(client, 1 << 20, Some(1000));
        let mut buf = vec![];
        let e = c.read_to_end(&mut buf).await.unwrap_err();
        assert!(e.to_string().contains("line longer than 1000 bytes"), "{e}");
        assert!(buf.len() < 100_000);

        let (client, mut server) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            for _ in 0..10_000 {
                if server.write_all(b"a short line\r\n").await.is_err() {
                    break;
                }
            }
        });
        let mut c = Capped::new(client, 50_000, Some(1000));
        let e = c.read_to_end(&mut vec![]).await.unwrap_err();
        assert!(e.to_string().contains("more than 50000 bytes"), "{e}");
    }

    #[tokio::test]
    async fn one_destination_is_limited_others_are_not() {
        let limits = Limits::new(1);
        let _a = limits.acquire("dnsbl:a").await;
        // Another destination is free.
        let _b = limits.acquire("dnsbl:b").await;
        // The same destination is not, until the first permit is dropped.
        let again = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            limits.acquire("dnsbl:a"),
        )
        .await;
        assert!(again.is_err());
        drop(_a);
        let again = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            limits.acquire("dnsbl:a"),
        )
        .await;
        assert!(again.is_ok());
    }
}
