//! Splitting a byte stream into lines with bounded memory.
//!
//! Logs can hold a 5 GB line (a minified bundle, a binary blob cat'ed by mistake);
//! `BufRead::read_line` would try to hold it whole. The splitter hands out pieces
//! of at most `max_piece` bytes instead, telling whether a piece ends its line, so a
//! caller can stream every byte (the sanitizer) or keep just the head of each line
//! (the analyzer). Bytes are decoded lossily: logs are not guaranteed UTF-8.

use std::io::{self, BufRead};

/// One piece of a line: the whole line when it fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The text, decoded lossily, without the line terminator.
    pub text: String,
    /// Whether this piece ends its line (false: more of the same line follows).
    pub ends_line: bool,
    /// Whether a `\n` terminated the line in the input (false at end of input).
    pub newline: bool,
}

/// Splits a reader into line pieces of bounded size.
pub struct LineSplitter<R> {
    inner: R,
    max_piece: usize,
    buf: Vec<u8>,
    done: bool,
    /// Bytes consumed from `inner` so far: where the next unread byte is.
    offset: u64,
}

impl<R: BufRead> LineSplitter<R> {
    /// A splitter that never holds more than `max_piece` bytes of one line.
    pub fn new(inner: R, max_piece: usize) -> Self {
        LineSplitter {
            inner,
            max_piece: max_piece.max(64),
            buf: Vec::new(),
            done: false,
            offset: 0,
        }
    }

    /// The next piece, `None` at end of input.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        if self.done {
            return Ok(None);
        }
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.done = true;
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.piece(true, false)));
            }
            let room = self.max_piece - self.buf.len();
            let window = &available[..available.len().min(room)];
            if let Some(pos) = memchr::memchr(b'\n', window) {
                self.buf.extend_from_slice(&window[..pos]);
                self.consume(pos + 1);
                return Ok(Some(self.piece(true, true)));
            }
            let taken = window.len();
            self.buf.extend_from_slice(window);
            self.consume(taken);
            if self.buf.len() >= self.max_piece {
                return Ok(Some(self.cut_long_piece()));
            }
        }
    }

    /// Like [`LineSplitter::next_piece`], but lends the piece to `f` (its text,
    /// whether it ends its line, whether a `\n` ended it) instead of
    /// allocating it. A line that lies whole in the reader's buffer (nearly
    /// every line) is neither copied nor allocated when it is valid UTF-8.
    pub fn with_next_piece<T>(
        &mut self,
        f: impl FnOnce(&str, bool, bool) -> T,
    ) -> io::Result<Option<T>> {
        self.with_next_piece_at(|text, ends_line, newline, _| f(text, ends_line, newline))
    }

    /// [`LineSplitter::with_next_piece`], also telling `f` where in the input
    /// the piece starts when its text is the input's bytes as they are (a
    /// whole line, valid UTF-8, in the reader's buffer): `None` for a piece
    /// decoded lossily or put together from several reads.
    pub(crate) fn with_next_piece_at<T>(
        &mut self,
        f: impl FnOnce(&str, bool, bool, Option<u64>) -> T,
    ) -> io::Result<Option<T>> {
        if self.done {
            return Ok(None);
        }
        if self.buf.is_empty() {
            let available = loop {
                match self.inner.fill_buf() {
                    Ok(b) => break b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            let window = &available[..available.len().min(self.max_piece)];
            if let Some(pos) = memchr::memchr(b'\n', window) {
                let line = &window[..pos];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let out = match std::str::from_utf8(line) {
                    Ok(text) => f(text, true, true, Some(self.offset)),
                    Err(_) => f(&String::from_utf8_lossy(line), true, true, None),
                };
                self.consume(pos + 1);
                return Ok(Some(out));
            }
        }
        // A line across buffer refills, or cut for length, or the last one.
        Ok(self
            .next_piece()?
            .map(|p| f(&p.text, p.ends_line, p.newline, None)))
    }

    /// The whole lines (each with its `\n`) that the reader's buffer holds
    /// from the next unread byte on, at most `max` bytes of them, and where
    /// they start in the input; empty when a line is being put together from
    /// several reads or when not even one whole line is there.
    pub(crate) fn lookahead(&mut self, max: usize) -> io::Result<(u64, &[u8])> {
        if self.done || !self.buf.is_empty() {
            return Ok((self.offset, &[]));
        }
        // An error (even `Interrupted`) is the caller's to skip: the next
        // piece reads again.
        let available = self.inner.fill_buf()?;
        let window = &available[..available.len().min(max)];
        let whole = memchr::memrchr(b'\n', window).map_or(0, |pos| pos + 1);
        Ok((self.offset, &window[..whole]))
    }

    /// Where the next unread byte is in the input.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The longest piece handed out.
    pub(crate) fn max_piece(&self) -> usize {
        self.max_piece
    }

    /// Skips `n` bytes of the input, which [`LineSplitter::lookahead`] showed
    /// and the caller has used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.inner.consume(n);
        self.offset += n as u64;
    }

    fn piece(&mut self, ends_line: bool, newline: bool) -> Piece {
        if ends_line && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let text = decode(&self.buf);
        self.buf.clear();
        Piece {
            text,
            ends_line,
            newline,
        }
    }

    /// Cut an over-long piece, preferably after a space in its last 4 KiB so that a
    /// secret is less likely to straddle two pieces, and never inside a UTF-8
    /// sequence.
    fn cut_long_piece(&mut self) -> Piece {
        let tail_start = self.buf.len().saturating_sub(4096);
        let mut cut = self.buf[tail_start..]
            .iter()
            .rposition(|&b| b == b' ' || b == b'\t')
            .map(|p| tail_start + p + 1)
            .unwrap_or(self.buf.len());
        while cut > 0 && cut < self.buf.len() && (self.buf[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        if cut == 0 {
            cut = self.buf.len();
        }
        // The remainder (at most 4 KiB) stays in the buffer, at the front of the
        // next piece.
        let rest = self.buf.split_off(cut);
        let text = decode(&self.buf);
        self.buf = rest;
        Piece {
            text,
            ends_line: false,
            newline: false,
        }
    }
}

/// Lossy decoding: the strict check first, since nearly every log line is valid
/// UTF-8 and it is several times faster than the lossy walk.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(input: &[u8], max: usize) -> Vec<Piece> {
        let mut s = LineSplitter::new(input, max);
        let mut out = Vec::new();
        while let Some(p) = s.next_piece().unwrap() {
            out.push(p);
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let p = pieces(b"a\r\nb\n\nc", 100);
        let texts: Vec<_> = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "", "c"]);
        assert!(p[0].newline && !p[3].newline);
    }

    #[test]
    fn long_line_is_cut_into_bounded_pieces_that_add_up() {
        let line: String = (0..10_000)
            .map(|i| if i % 7 == 0 { ' ' } else { 'x' })
            .collect();
        let input = format!("{line}\nend\n");
        let p = pieces(input.as_bytes(), 1000);
        assert!(p.iter().all(|p| p.text.len() <= 1000));
        let first: String = p
            .iter()
            .take_while(|p| p.text != "end")
            .map(|p| p.text.as_str())
            .collect();
        assert_eq!(first, line);
        assert_eq!(p.iter().filter(|p| p.ends_line).count(), 2);
    }

    /// Lending pieces gives the same pieces as handing them out, whatever the
    /// reader's buffer size (lines across refills take the other path).
    #[test]
    fn lent_pieces_are_the_pieces() {
        let input: &[u8] = b"a\r\nbb\n\nccc \xff\nlong line of text that is cut\r\nend";
        for capacity in [1, 2, 3, 5, 8, 64] {
            for max in [64, 10] {
                let mut s =
                    LineSplitter::new(std::io::BufReader::with_capacity(capacity, input), max);
                let mut lent = Vec::new();
                while let Some(p) = s
                    .with_next_piece(|text, ends_line, newline| Piece {
                        text: text.to_string(),
                        ends_line,
                        newline,
                    })
                    .unwrap()
                {
                    lent.push(p);
                }
                assert_eq!(lent, pieces(input, max), "capacity {capacity}, max {max}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let p = pieces(b"ok \xff\xfe done\n", 100);
        assert_eq!(p[0].text, "ok \u{fffd}\u{fffd} done");
    }
}
