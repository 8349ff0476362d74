//! Object keys in inventory CSV files are URL-encoded, form style.
//!
//! S3 writes keys the way Java's `URLEncoder` does, except that `/` stays as is: letters, digits
//! and `-_.*` are kept, a space becomes `+`, every other byte of the UTF-8 key becomes `%XX`.
//! Readers (Athena's `url_decode`, Batch Operations) decode `+` as a space, so a literal `+` must
//! be written `%2B` — which is why `decode(encode(k)) == k` for every key.

use std::fmt::Write;

/// Encodes an object key as S3 Inventory writes it in CSV data files.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A key in a data file that is not valid URL-encoded UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a URL-encoded UTF-8 object key")]
pub struct BadKey(pub String);

/// Decodes a key from an inventory CSV data file: `+` is a space, `%XX` a byte.
pub fn decode_key(encoded: &str) -> Result<String, BadKey> {
    // `+` must become a space *before* percent-decoding: a literal `+` arrives as `%2B`.
    let spaced = encoded.replace('+', " ");
    let bytes = spaced.as_bytes();
    // percent_decode leaves a malformed escape (`%G1`, a trailing `%`) as is; S3 never writes one,
    // so treat it as corruption rather than guessing.
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !ok {
                return Err(BadKey(encoded.to_owned()));
            }
        }
    }
    percent_encoding::percent_decode(bytes)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| BadKey(encoded.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_keys_round_trip() {
        for k in [
            "plain.parquet",
            "with space/and+plus/100%/done",
            "a%2Fb",
            "ünïcødé/日本語/😀.json",
            "deep/a/b/c/d/e/f/g/h/i/j/k/part-00000-1.snappy.parquet",
            "year=2021/month=03/_delta_log/00000000000000000000.json",
            "quotes\"and,commas'and\ttabs\nnewline",
            "~tilde!(paren)&amp;",
            "",
        ] {
            let e = encode_key(k);
            assert!(!e.contains(' '), "{e}");
            assert_eq!(decode_key(&e).unwrap(), k, "encoded as {e}");
        }
    }

    #[test]
    fn encoding_matches_s3_style() {
        assert_eq!(encode_key("a b+c"), "a+b%2Bc");
        assert_eq!(encode_key("x/y=1/é"), "x/y%3D1/%C3%A9");
        assert_eq!(decode_key("my+file%2B1.txt").unwrap(), "my file+1.txt");
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for bad in ["%", "%4", "%G1", "ok%zz", "%FF"] {
            assert!(decode_key(bad).is_err(), "{bad}");
        }
    }
}
