//! Response bodies under bounds that the SDK's own protection does not give: a small object read
//! whole under a size cap (that holds whether or not the response says how long it is) and a
//! deadline; a large one streamed at a minimum rate.
//!
//! The SDK's stalled-stream protection ends a body that delivers *nothing* for 5 s, but a peer
//! that trickles a few bytes a second passes it: a 16 KiB manifest would take an hour.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Why a capped read stopped.
#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    /// The object is longer than the cap; nothing more was read.
    #[error("longer than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The body stream failed (a dropped connection, a stalled peer): worth a retry.
    #[error("{0}")]
    Stream(String),
}

/// Reads `body` into memory, stopping as soon as it exceeds `limit` bytes or `deadline` has
/// passed (a `Stream` error: worth a retry). `content_length` is the response's, when it has one:
/// a body announced as too long is refused before any read.
pub async fn read_capped(
    mut body: ByteStream,
    content_length: Option<i64>,
    limit: u64,
    deadline: Duration,
) -> Result<Vec<u8>, CappedReadError> {
    if content_length.is_some_and(|n| u64::try_from(n).unwrap_or(0) > limit) {
        return Err(CappedReadError::TooLarge { limit });
    }
    let read = async move {
        let mut bytes = Vec::new();
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| CappedReadError::Stream(e.to_string()))?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(CappedReadError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or_else(|_| {
            Err(CappedReadError::Stream(format!(
                "the body did not arrive within {deadline:?}"
            )))
        })
}

/// The least a streamed body must deliver per window: below it the read fails with
/// `io::ErrorKind::TimedOut`. 64 KiB per 20 s (the attempt timeout, see
/// `kit::clients::body_min_rate`) is a thousand times slower than any S3 download and still ends
/// a trickling peer's read in bounded time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// Bytes that must arrive within each window.
    pub bytes: u64,
    /// The window.
    pub window: Duration,
}

impl Default for MinRate {
    fn default() -> Self {
        Self {
            bytes: 64 * 1024,
            window: Duration::from_secs(20),
        }
    }
}

/// An [`AsyncRead`] that fails when its inner reader delivers less than a [`MinRate`].
#[derive(Debug)]
pub struct RateGuarded<R> {
    inner: R,
    rate: MinRate,
    window_bytes: u64,
    timer: Pin<Box<Sleep>>,
    done: bool,
}

impl<R> RateGuarded<R> {
    /// Guards `inner` with `rate`, the first window starting now.
    pub fn new(inner: R, rate: MinRate) -> Self {
        Self {
            inner,
            rate,
            window_bytes: 0,
            timer: Box::pin(tokio::time::sleep(rate.window)),
            done: false,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for RateGuarded<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = (buf.filled().len() - before) as u64;
                if n == 0 {
                    this.done = true;
                }
                this.window_bytes += n;
                if this.window_bytes >= this.rate.bytes {
                    // Enough for this window: the next one starts now.
                    this.window_bytes = 0;
                    let next = Instant::now() + this.rate.window;
                    this.timer.as_mut().reset(next);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if !this.done && this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the body delivered {} bytes in {:?}, under the minimum rate of {} \
                             bytes per {:?}",
                            this.window_bytes, this.rate.window, this.rate.bytes, this.rate.window
                        ),
                    )));
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn reads_up_to_the_cap_and_refuses_beyond_it() {
        let ok = read_capped(ByteStream::from(vec![7u8; 10]), None, 10, T).await;
        assert_eq!(ok.unwrap().len(), 10);
        let long = read_capped(ByteStream::from(vec![7u8; 11]), None, 10, T).await;
        assert!(matches!(long, Err(CappedReadError::TooLarge { limit: 10 })));
        let announced = read_capped(ByteStream::from(vec![7u8; 1]), Some(11), 10, T).await;
        assert!(matches!(announced, Err(CappedReadError::TooLarge { .. })));
    }

    /// A reader that yields one byte, then nothing ever again.
    struct Trickle(bool);

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.0 {
                Poll::Pending
            } else {
                self.0 = true;
                buf.put_slice(b"x");
                Poll::Ready(Ok(()))
            }
        }
    }

    #[tokio::test]
    async fn a_body_under_the_minimum_rate_times_out() {
        use tokio::io::AsyncReadExt;
        let rate = MinRate {
            bytes: 1024,
            window: Duration::from_millis(200),
        };
        let mut r = RateGuarded::new(Trickle(false), rate);
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(out, b"x");
        // A fast body passes, whatever its size.
        let mut fast = RateGuarded::new(&[7u8; 100_000][..], rate);
        let mut all = Vec::new();
        fast.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 100_000);
    }
}
