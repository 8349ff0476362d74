//! A request as the fault servers see it, and the responses they send back.

use std::io;

use crate::wire::{self, Head};

/// One request, as a fault server received it (body decoded from its framing).
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `PUT`, `POST`…
    pub method: String,
    /// Path and query as sent, e.g. `/snapshot-bucket?policy` or `/v20180820/jobs`.
    pub target: String,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn new(head: Head, body: Vec<u8>) -> io::Result<Request> {
        let mut parts = head.start.split_whitespace();
        let (Some(method), Some(target), Some(_version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a request line: {:?}", head.start),
            ));
        };
        Ok(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: head.headers,
            body,
        })
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string, without the `?` (empty when there is none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// Whether the query has `key`, with or without a value: S3's sub-resources are bare keys
    /// (`?policy`, `?tagging`), its parameters `key=value` (`?list-type=2`).
    pub fn has_query_key(&self, key: &str) -> bool {
        self.query()
            .split('&')
            .any(|kv| kv.split('=').next() == Some(key))
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Action` of a query-protocol request (SNS: `Publish`), from its form body.
    pub fn action(&self) -> Option<&str> {
        let form = self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return None;
        }
        std::str::from_utf8(&self.body)
            .ok()?
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
    }

    /// `METHOD target`, for logs and assertion messages.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.target)
    }

    /// The request as sent upstream: the same message on a connection of its own, which the
    /// upstream closes after answering (`Connection: close`), so one response is read to its end.
    pub(crate) fn to_upstream_bytes(&self) -> Vec<u8> {
        let head = Head {
            start: format!("{} {} HTTP/1.1", self.method, self.target),
            headers: self.headers.clone(),
        };
        let headers: Vec<(String, String)> = head.end_to_end().cloned().collect();
        wire::serialise(&head.start, &headers, &self.body, None, true)
    }
}

/// A complete response, held whole so that a fault can deliver a precise part of it.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The `Content-Length` of an answer that has no body (HEAD): the object's length.
    bodiless_length: Option<String>,
}

impl Response {
    /// A response read from the upstream for a request with `method`.
    pub(crate) fn from_upstream(head: Head, body: Vec<u8>, method: &str) -> Response {
        let bodiless_length = method
            .eq_ignore_ascii_case("HEAD")
            .then(|| head.header("content-length").unwrap_or("0").to_owned());
        Response {
            headers: head.end_to_end().cloned().collect(),
            start: head.start,
            body,
            bodiless_length,
        }
    }

    /// A response made up here.
    pub(crate) fn new(
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        method: &str,
    ) -> Response {
        let mut r = Response {
            start: format!("HTTP/1.1 {status} {reason}"),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body,
            bodiless_length: None,
        };
        if method.eq_ignore_ascii_case("HEAD") {
            r.bodiless_length = Some(r.body.len().to_string());
            r.body.clear();
        }
        r
    }

    /// Its status code.
    pub(crate) fn status(&self) -> u16 {
        self.start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The length of its body.
    pub(crate) fn body_len(&self) -> usize {
        self.body.len()
    }

    /// The bytes on the wire; `close` adds `Connection: close`.
    pub(crate) fn to_bytes(&self, close: bool) -> Vec<u8> {
        wire::serialise(
            &self.start,
            &self.headers,
            &self.body,
            self.bodiless_length.as_deref(),
            close,
        )
    }

    /// Where a cut or a stall stops sending: after the head and half the body, or half-way
    /// through the head when there is no body (a response cut short either way: the client has
    /// been promised bytes it never gets).
    pub(crate) fn cut_point(&self) -> usize {
        let all = self.to_bytes(false).len();
        let head = all - self.body.len();
        if self.body.is_empty() {
            head / 2
        } else {
            head + self.body.len() / 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            headers: vec![],
            body: vec![],
        }
    }

    #[test]
    fn query_keys_with_and_without_values() {
        let r = req("/b?policy");
        assert!(r.has_query_key("policy"));
        assert!(!r.has_query_key("pol"));
        let r = req("/b?list-type=2&prefix=a%2Fb");
        assert_eq!(r.path(), "/b");
        assert!(r.has_query_key("list-type") && r.has_query_key("prefix"));
        assert!(!req("/b").has_query_key("policy"));
    }

    #[test]
    fn the_action_of_a_query_protocol_request() {
        let mut r = req("/");
        r.method = "POST".into();
        r.headers = vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )];
        r.body = b"Action=Publish&Version=2010-03-31".to_vec();
        assert_eq!(r.action(), Some("Publish"));
        r.headers.clear();
        assert_eq!(r.action(), None);
    }

    #[test]
    fn a_cut_stops_half_way_through_the_body_or_else_the_head() {
        let r = Response::new(200, "OK", &[], b"0123456789".to_vec(), "GET");
        let bytes = r.to_bytes(false);
        assert_eq!(&bytes[..r.cut_point()], &bytes[..bytes.len() - 5]);
        let empty = Response::new(200, "OK", &[], vec![], "GET");
        assert_eq!(empty.cut_point(), empty.to_bytes(false).len() / 2);
    }

    #[test]
    fn a_head_answer_keeps_its_length_and_sends_no_body() {
        let r = Response::new(503, "Slow Down", &[], b"<Error/>".to_vec(), "HEAD");
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert!(text.ends_with("Content-Length: 8\r\n\r\n"), "{text}");
    }
}
