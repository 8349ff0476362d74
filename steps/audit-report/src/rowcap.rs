//! A cap on the size of one report row, ahead of the CSV reader.
//!
//! The CSV reader keeps a whole record in memory, so without a cap its memory grows with the
//! longest row (≈ 7× the row: a corrupt report with a 150 MB line would kill a 1 GiB Lambda).
//! [`RowCap`] passes bytes through until a row (quoted newlines included) exceeds the cap, then
//! drops the rest of that line, ends the row with a marker field the tally counts as unparsed,
//! and resynchronises at the next newline. The MD5 is computed below this reader, over every
//! byte, so the integrity check is unchanged.

use std::io::{self, Read};

/// The longest row read as a row. AWS's rows hold a key (≤ 1,024 bytes before URL-encoding), a
/// version id, codes and a message: a few KiB at most.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// The last field of a row that was cut: a NUL-delimited word no real report field is.
pub const OVERLONG_MARKER: &[u8] = b"\0lakevault:row-over-limit\0";

/// Chunk read from the inner reader at a time.
const CHUNK: usize = 64 * 1024;

/// See the module documentation.
#[derive(Debug)]
pub struct RowCap<R> {
    inner: R,
    cap: usize,
    scratch: Vec<u8>,
    pos: usize,
    end: usize,
    pending: Vec<u8>,
    row_len: usize,
    in_quotes: bool,
    skipping: bool,
    eof: bool,
    /// Rows cut so far.
    pub cut_rows: u64,
}

impl<R: Read> RowCap<R> {
    /// Caps rows of `inner` at `cap` bytes.
    pub fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            cap,
            scratch: vec![0; CHUNK],
            pos: 0,
            end: 0,
            pending: Vec::new(),
            row_len: 0,
            in_quotes: false,
            skipping: false,
            eof: false,
            cut_rows: 0,
        }
    }

    /// The reader underneath.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The marker that ends a cut row, closing an open quoted field first.
    fn marker(in_quotes: bool) -> Vec<u8> {
        let mut m = Vec::with_capacity(OVERLONG_MARKER.len() + 3);
        if in_quotes {
            m.push(b'"');
        }
        m.push(b',');
        m.extend_from_slice(OVERLONG_MARKER);
        m.push(b'\n');
        m
    }
}

impl<R: Read> Read for RowCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Ok(n);
            }
            if self.pos == self.end {
                if self.eof {
                    return Ok(0);
                }
                let n = self.inner.read(&mut self.scratch)?;
                if n == 0 {
                    self.eof = true;
                    return Ok(0);
                }
                self.pos = 0;
                self.end = n;
            }
            let mut written = 0;
            while self.pos < self.end && written < buf.len() {
                let b = self.scratch[self.pos];
                self.pos += 1;
                if self.skipping {
                    if b == b'\n' {
                        self.skipping = false;
                        self.row_len = 0;
                    }
                    continue;
                }
                self.row_len += 1;
                if self.row_len > self.cap {
                    // Cut here: the marker goes out before anything after this point.
                    self.pending = Self::marker(self.in_quotes);
                    self.cut_rows += 1;
                    self.in_quotes = false;
                    self.skipping = b != b'\n';
                    self.row_len = 0;
                    break;
                }
                if b == b'"' {
                    self.in_quotes = !self.in_quotes;
                } else if b == b'\n' && !self.in_quotes {
                    self.row_len = 0;
                }
                buf[written] = b;
                written += 1;
            }
            if written > 0 {
                return Ok(written);
            }
            // Everything read so far was skipped (or a marker is pending): go on.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(input: &[u8], cap: usize) -> (Vec<u8>, u64) {
        let mut r = RowCap::new(input, cap);
        let mut out = Vec::new();
        // A tiny buffer exercises every boundary.
        let mut buf = [0u8; 3];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (out, r.cut_rows)
    }

    #[test]
    fn short_rows_pass_through_unchanged() {
        let text = b"b,k,,succeeded,200,,ok\nb,\"a\nb\",,failed,404,NoSuchKey,x\n";
        assert_eq!(capped(text, 64), (text.to_vec(), 0));
    }

    #[test]
    fn a_long_row_is_cut_marked_and_the_next_row_is_read() {
        let long = format!(
            "b,{},,succeeded,200,,ok\nb,k2,,succeeded,200,,ok\n",
            "x".repeat(100)
        );
        let (out, cut) = capped(long.as_bytes(), 30);
        assert_eq!(cut, 1);
        let mut want = b"b,".to_vec();
        want.extend_from_slice(&[b'x'; 28]);
        want.push(b',');
        want.extend_from_slice(OVERLONG_MARKER);
        want.extend_from_slice(b"\nb,k2,,succeeded,200,,ok\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
    }

    #[test]
    fn a_long_quoted_field_is_closed_before_the_marker() {
        let long = format!("b,\"{}\"\nnext\n", "y".repeat(100));
        let (out, cut) = capped(long.as_bytes(), 10);
        assert_eq!(cut, 1);
        // The CSV reader sees two well-formed records: the cut one, marked, and the next.
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(out.as_slice());
        let rows: Vec<csv::ByteRecord> = rdr.byte_records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2, "{:?}", String::from_utf8_lossy(&out));
        assert_eq!(rows[0].get(1), Some(&b"yyyyyyy"[..]));
        assert_eq!(rows[0].get(rows[0].len() - 1), Some(OVERLONG_MARKER));
        assert_eq!(rows[1].get(0), Some(&b"next"[..]));
    }
}
