//! The block scanner: reads a JSON document in large blocks and finds where values start and end.

use std::io::Read;

/// What stops the scanner.
#[derive(Debug)]
pub(super) enum ScanError {
    /// The source failed.
    Io(std::io::Error),
    /// The document ended in the middle.
    Eof,
    /// Not JSON of the expected shape (message names the byte offset).
    Syntax(String),
    /// Over a bound of the header (fields, `ran_at`): what to change, for the answer.
    Limit(String),
    /// Over [`MAX_BYTES_BEFORE_FIELDS`](super::MAX_BYTES_BEFORE_FIELDS) of rows before the fields.
    BeforeFields,
}

/// Reads a JSON document in large blocks and splits it structurally: strings, nesting and scalar
/// boundaries are tracked byte by byte in the buffer, without building values. Whatever it
/// captures is parsed properly later (the header here, rows by the consumer), so it only has to
/// find where values start and end.
pub(super) struct Scanner<R> {
    r: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Document offset of `buf[0]`, for messages.
    offset: u64,
}

pub(super) const SCAN_BUF: usize = 64 * 1024;

impl<R: Read> Scanner<R> {
    pub(super) fn new(r: R) -> Self {
        Scanner {
            r,
            buf: vec![0; SCAN_BUF].into_boxed_slice(),
            pos: 0,
            len: 0,
            offset: 0,
        }
    }

    /// Make sure at least one unread byte is buffered; `false` at the end of the source.
    fn fill(&mut self) -> Result<bool, ScanError> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.offset += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.r.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScanError::Io(e)),
            }
        }
    }

    /// The bytes buffered from the current position on (some, after [`Scanner::peek_token`]
    /// found a byte).
    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.len]
    }

    /// Consume `n` bytes of [`Scanner::buffered`].
    pub(super) fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    /// Consume the byte [`Scanner::peek_token`] returned.
    pub(super) fn skip(&mut self) {
        self.pos += 1;
    }

    fn at(&self) -> u64 {
        self.offset + self.pos as u64
    }

    pub(super) fn syntax(&self, what: &str) -> ScanError {
        ScanError::Syntax(format!("expected {what} at byte {}", self.at()))
    }

    /// After an item of an array or object: `,` (more items follow: `false`) or `close` (the
    /// end, consumed: `true`); anything else is a syntax error.
    pub(super) fn end_of_item(&mut self, close: u8) -> Result<bool, ScanError> {
        match self.peek_token()? {
            Some(b',') => {
                self.skip();
                Ok(false)
            }
            Some(b) if b == close => {
                self.skip();
                Ok(true)
            }
            Some(_) => Err(self.syntax(&format!("`,` or `{}`", close as char))),
            None => Err(ScanError::Eof),
        }
    }

    /// Capture one value into `out` unless it is longer than `limit` bytes: then it is skipped
    /// (nothing of it stays in `out`) and `Ok(false)` says so.
    pub(super) fn capture_at_most(
        &mut self,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<bool, ScanError> {
        let start = out.len();
        self.capture_inner(Some(out), start, limit)
    }

    /// Capture one value (after optional whitespace) into `out` (or skip it).
    pub(super) fn capture(&mut self, out: Option<&mut Vec<u8>>) -> Result<(), ScanError> {
        let start = out.as_ref().map_or(0, |o| o.len());
        self.capture_inner(out, start, usize::MAX).map(|_| ())
    }

    /// The next byte that is not whitespace (not consumed); `None` at the end.
    pub(super) fn peek_token(&mut self) -> Result<Option<u8>, ScanError> {
        loop {
            if !self.fill()? {
                return Ok(None);
            }
            let b = self.buf[self.pos];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Ok(Some(b));
            }
        }
    }

    /// Consume the next token byte, which must be `want`.
    pub(super) fn expect(&mut self, want: u8, what: &str) -> Result<(), ScanError> {
        match self.peek_token()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.syntax(what)),
            None => Err(ScanError::Eof),
        }
    }

    fn capture_inner(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        start: usize,
        limit: usize,
    ) -> Result<bool, ScanError> {
        let mut kept = true;
        // Past the limit: drop what was captured and skip the rest.
        let over = |out: &mut Option<&mut Vec<u8>>, kept: &mut bool| {
            if let Some(o) = out.as_deref_mut() {
                if o.len() - start > limit {
                    o.truncate(start);
                    *out = None;
                    *kept = false;
                }
            }
        };
        let first = self.peek_token()?.ok_or(ScanError::Eof)?;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        match first {
            b'{' | b'[' | b'"' => {}
            b',' | b':' | b'}' | b']' => return Err(self.syntax("a value")),
            _ => {
                // A scalar: up to the next delimiter.
                loop {
                    if !self.fill()? {
                        return Ok(kept);
                    }
                    let chunk = &self.buf[self.pos..self.len];
                    let n = chunk
                        .iter()
                        .position(|b| {
                            matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                        })
                        .unwrap_or(chunk.len());
                    if let Some(o) = out.as_deref_mut() {
                        o.extend_from_slice(&chunk[..n]);
                    }
                    over(&mut out, &mut kept);
                    self.pos += n;
                    if self.pos < self.len {
                        return Ok(kept);
                    }
                }
            }
        }
        loop {
            if !self.fill()? {
                return Err(ScanError::Eof);
            }
            let chunk = &self.buf[self.pos..self.len];
            let mut end = None;
            let mut i = 0;
            while i < chunk.len() {
                if in_string {
                    if escaped {
                        escaped = false;
                        i += 1;
                        continue;
                    }
                    // Most of a row is string text: jump to where the string may end.
                    let Some(at) = memchr::memchr2(b'"', b'\\', &chunk[i..]) else {
                        break;
                    };
                    i += at;
                    if chunk[i] == b'\\' {
                        escaped = true;
                    } else {
                        in_string = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                } else {
                    match chunk[i] {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                end = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            let n = end.unwrap_or(chunk.len());
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(&chunk[..n]);
            }
            over(&mut out, &mut kept);
            self.pos += n;
            if end.is_some() {
                return Ok(kept);
            }
        }
    }
}
