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
            // Segment by segment between the bytes that matter (quote, newline), found with
            // memchr and copied whole: the cap costs little next to the CSV parse.
            while self.pos < self.end && written < buf.len() {
                let input = &self.scratch[self.pos..self.end];
                if self.skipping {
                    match memchr::memchr(b'\n', input) {
                        Some(i) => {
                            self.pos += i + 1;
                            self.skipping = false;
                            self.row_len = 0;
                        }
                        None => self.pos = self.end,
                    }
                    continue;
                }
                let room = buf.len() - written;
                // Up to the byte that would exceed the cap, included, so that it is seen.
                let allowed = self.cap - self.row_len;
                let window = &input[..input.len().min(room).min(allowed + 1)];
                let (seg, special) = match memchr::memchr2(b'"', b'\n', window) {
                    Some(i) => (i + 1, Some(window[i])),
                    None => (window.len(), None),
                };
                if seg > allowed {
                    // Cut: emit up to the cap; the marker goes out before anything after it.
                    buf[written..written + allowed].copy_from_slice(&window[..allowed]);
                    written += allowed;
                    let offending = window[allowed];
                    self.pos += allowed + 1;
                    self.pending = Self::marker(self.in_quotes);
                    self.cut_rows += 1;
                    self.in_quotes = false;
                    self.skipping = offending != b'\n';
                    self.row_len = 0;
                    break;
                }
                buf[written..written + seg].copy_from_slice(&window[..seg]);
                written += seg;
                self.pos += seg;
                self.row_len += seg;
                match special {
                    Some(b'"') => self.in_quotes = !self.in_quotes,
                    Some(b'\n') if !self.in_quotes => self.row_len = 0,
                    _ => {}
                }
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

    /// A reader that returns at most `.1` bytes per read.
    struct Chunky<'a>(&'a [u8], usize);

    impl Read for Chunky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The rule, one byte at a time: what the segment-wise reader must produce.
    fn reference(input: &[u8], cap: usize) -> Vec<u8> {
        let (mut out, mut row, mut quoted, mut skipping) = (Vec::new(), 0usize, false, false);
        for &b in input {
            if skipping {
                if b == b'\n' {
                    skipping = false;
                    row = 0;
                }
                continue;
            }
            row += 1;
            if row > cap {
                out.extend_from_slice(&RowCap::<&[u8]>::marker(quoted));
                quoted = false;
                skipping = b != b'\n';
                row = 0;
                continue;
            }
            if b == b'"' {
                quoted = !quoted;
            } else if b == b'\n' && !quoted {
                row = 0;
            }
            out.push(b);
        }
        out
    }

    #[test]
    fn the_segment_reader_matches_the_byte_rule_on_random_input() {
        // A small deterministic generator (xorshift): rows of letters, quotes and newlines.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let len = (next() % 400) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| match next() % 10 {
                    0 => b'"',
                    1 | 2 => b'\n',
                    3 => b',',
                    _ => b'a',
                })
                .collect();
            let cap = 1 + (next() % 40) as usize;
            // The inner reader hands out a few bytes at a time: input chunks end anywhere too.
            let chunky = Chunky(input.as_slice(), 1 + (next() % 13) as usize);
            let mut r = RowCap::new(chunky, cap);
            let mut out = Vec::new();
            let mut buf = vec![0u8; 1 + (next() % 17) as usize];
            loop {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(
                out,
                reference(&input, cap),
                "cap {cap}, input {:?}",
                String::from_utf8_lossy(&input)
            );
        }
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
