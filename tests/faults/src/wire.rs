//! Just enough HTTP/1.1 to stand between an SDK client and a server: heads, bodies framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (decoded), and writing them back out.
//!
//! Bodies are always held whole and re-sent with a `Content-Length` of their own: a fault is
//! then a precise cut in a byte string whose length the client was promised.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// A request or response head larger than this is refused (no SDK request comes near it).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A body larger than this is refused: the suite's objects are kilobytes.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Headers that describe one connection or one framing, never forwarded as they are.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// A start line (request line or status line) and its headers, names as sent.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) start: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> io::Result<Option<usize>> {
        self.header("content-length")
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| invalid(format!("Content-Length {v:?} is not a number")))
            })
            .transpose()
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// The headers that are not about the connection or the framing.
    pub(crate) fn end_to_end(&self) -> impl Iterator<Item = &(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| !HOP_BY_HOP.iter().any(|h| n.eq_ignore_ascii_case(h)))
    }

    /// The status code of a status line (`HTTP/1.1 503 Slow Down` → 503).
    pub(crate) fn status(&self) -> io::Result<u16> {
        self.start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("not a status line: {:?}", self.start)))
    }
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body at all (a GET without one, a HEAD answer, a 204).
    Empty,
    /// Exactly this many bytes.
    Length(usize),
    /// Chunks up to a zero-length chunk and the trailers.
    Chunked,
    /// Everything until the peer closes (a response without length).
    UntilClose,
}

/// The framing of a request body.
pub(crate) fn request_framing(head: &Head) -> io::Result<Framing> {
    if head.is_chunked() {
        return Ok(Framing::Chunked);
    }
    Ok(head
        .content_length()?
        .map_or(Framing::Empty, Framing::Length))
}

/// The framing of a response body, which also depends on the request (`HEAD`) and the status.
pub(crate) fn response_framing(head: &Head, request_method: &str) -> io::Result<Framing> {
    let status = head.status()?;
    if request_method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(Framing::Empty);
    }
    if head.is_chunked() {
        return Ok(Framing::Chunked);
    }
    Ok(head
        .content_length()?
        .map_or(Framing::UntilClose, Framing::Length))
}

/// Reads one head. `None` when the peer closed before sending a byte of it (an idle
/// keep-alive connection ending), an error when it closed in the middle.
pub(crate) async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Head>> {
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let mut line = Vec::new();
        let n = read_line(r, &mut line, MAX_HEAD_BYTES - total).await?;
        total += n;
        if n == 0 {
            return if lines.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed inside a message head",
                ))
            };
        }
        let text = String::from_utf8(line).map_err(|_| invalid("a head line is not UTF-8"))?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            // Blank lines before a request line are allowed (RFC 9112 §2.2); after it they end the head.
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(text.to_owned());
    }
    let mut lines = lines.into_iter();
    let start = lines.next().unwrap_or_default();
    let headers = lines
        .map(|l| match l.split_once(':') {
            Some((n, v)) => Ok((n.trim().to_owned(), v.trim().to_owned())),
            None => Err(invalid(format!("not a header line: {l:?}"))),
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Some(Head { start, headers }))
}

/// Reads one line (up to and including `\n`) of at most `limit` bytes; 0 at end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    limit: usize,
) -> io::Result<usize> {
    let n = (&mut *r)
        .take(limit as u64 + 1)
        .read_until(b'\n', out)
        .await?;
    if n > limit {
        return Err(invalid("a message head is too large"));
    }
    Ok(n)
}

/// Reads a body as framed, decoded (chunks joined, trailers dropped).
pub(crate) async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    framing: Framing,
) -> io::Result<Vec<u8>> {
    match framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => {
            if n > MAX_BODY_BYTES {
                return Err(invalid(format!("a body of {n} bytes is too large")));
            }
            let mut body = vec![0u8; n];
            r.read_exact(&mut body).await?;
            Ok(body)
        }
        Framing::Chunked => read_chunked(r).await,
        Framing::UntilClose => {
            let mut body = Vec::new();
            (&mut *r)
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut body)
                .await?;
            if body.len() > MAX_BODY_BYTES {
                return Err(invalid("a body is too large"));
            }
            Ok(body)
        }
    }
}

async fn read_chunked<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        if read_line(r, &mut line, 1024).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed inside a chunked body",
            ));
        }
        let text = String::from_utf8_lossy(&line);
        // `<hex size>[;extensions]`
        let size = text
            .trim()
            .split(';')
            .next()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .ok_or_else(|| invalid(format!("not a chunk size line: {text:?}")))?;
        if size == 0 {
            // Trailers, up to the blank line that ends the message.
            loop {
                let mut t = Vec::new();
                let n = read_line(r, &mut t, MAX_HEAD_BYTES).await?;
                if n == 0 || t == b"\r\n" || t == b"\n" {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("a chunked body is too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).await?;
        let mut crlf = Vec::new();
        read_line(r, &mut crlf, 2).await?;
    }
}

/// A head and body serialised with the body's own `Content-Length` (unless `keep_length`: a
/// HEAD answer's length describes the object, not a body that follows).
pub(crate) fn serialise(
    start: &str,
    headers: &[(String, String)],
    body: &[u8],
    keep_length: Option<&str>,
    close: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(start.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    match keep_length {
        Some(len) => out.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes()),
        None => out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes()),
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(raw: &[u8]) -> (Head, Vec<u8>) {
        let mut r = tokio::io::BufReader::new(raw);
        let head = read_head(&mut r).await.unwrap().unwrap();
        let framing = request_framing(&head).unwrap();
        let body = read_body(&mut r, framing).await.unwrap();
        (head, body)
    }

    #[tokio::test]
    async fn a_request_with_a_length_is_read_whole() {
        let (head, body) =
            parse(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").await;
        assert_eq!(head.start, "PUT /b/k HTTP/1.1");
        assert_eq!(head.header("host"), Some("x"));
        assert_eq!(body, b"hello");
    }

    #[tokio::test]
    async fn a_chunked_body_is_decoded_and_its_trailers_dropped() {
        let (_, body) = parse(
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nx-trailer: 1\r\n\r\n",
        )
        .await;
        assert_eq!(body, b"hello!");
    }

    #[tokio::test]
    async fn an_idle_close_is_no_request_and_a_cut_head_is_an_error() {
        let mut r = tokio::io::BufReader::new(&b""[..]);
        assert!(read_head(&mut r).await.unwrap().is_none());
        let mut r = tokio::io::BufReader::new(&b"GET / HTTP/1.1\r\nHost"[..]);
        assert!(read_head(&mut r).await.is_err());
    }

    #[test]
    fn a_head_answer_has_no_body_whatever_its_length() {
        let head = Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: vec![("Content-Length".into(), "99".into())],
        };
        assert_eq!(response_framing(&head, "HEAD").unwrap(), Framing::Empty);
        assert_eq!(response_framing(&head, "GET").unwrap(), Framing::Length(99));
        let none = Head {
            start: "HTTP/1.1 200 OK".into(),
            headers: vec![],
        };
        assert_eq!(response_framing(&none, "GET").unwrap(), Framing::UntilClose);
    }

    #[test]
    fn serialising_sets_the_bodys_own_length() {
        let out = serialise(
            "HTTP/1.1 200 OK",
            &[("ETag".into(), "\"x\"".into())],
            b"abc",
            None,
            false,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\nContent-Length: 3\r\n\r\nabc".to_vec()
        );
    }
}
