//! Reading structured values out of fuzzer bytes.
//!
//! The structured modes of the targets build a document (a listing page, a tar archive, an
//! error body) from values the fuzzer chooses, then check that the parser gives those
//! values back. [`Input`] turns the bytes into those values: every read succeeds (an
//! exhausted input reads as zeros and empty strings), so any byte string is a valid
//! description and libFuzzer's mutations always land somewhere meaningful.

/// A cursor over fuzzer bytes.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// True once every byte was read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, 0 once exhausted.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A flag from the low bit of the next byte.
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A number below `n` (0 when `n` is 0), from one byte, or two when `n` > 256.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let raw = if n > 256 {
            usize::from(self.u16())
        } else {
            usize::from(self.byte())
        };
        raw % n
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A little-endian `u64` from `1 + below(8)` bytes, so that small numbers are cheap to
    /// write and every width is reachable.
    pub fn u64(&mut self) -> u64 {
        let width = 1 + self.below(8);
        let mut bytes = [0u8; 8];
        for b in bytes.iter_mut().take(width) {
            *b = self.byte();
        }
        u64::from_le_bytes(bytes)
    }

    /// Up to `max` raw bytes: a length (one byte, or two when `max` > 255) then the bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max + 1).min(self.data.len());
        let (taken, rest) = self.data.split_at(len);
        self.data = rest;
        taken
    }

    /// A string of at most `max` bytes: [`Input::bytes`] read as UTF-8, invalid sequences
    /// replaced (so any bytes give some text, and valid UTF-8 gives itself).
    pub fn text(&mut self, max: usize) -> String {
        let mut s = String::from_utf8_lossy(self.bytes(max)).into_owned();
        truncate_at_char(&mut s, max);
        s
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_input_reads_zeros_and_empties() {
        let mut input = Input::new(&[]);
        assert_eq!(input.byte(), 0);
        assert_eq!(input.u64(), 0);
        assert_eq!(input.text(10), "");
        assert!(!input.flag());
    }

    #[test]
    fn texts_are_length_prefixed_and_bounded() {
        let mut input = Input::new(&[3, b'a', b'b', b'c', b'd']);
        assert_eq!(input.text(10), "abc");
        assert_eq!(input.rest(), b"d");
        let mut s = "日本".to_owned();
        truncate_at_char(&mut s, 4);
        assert_eq!(s, "日");
    }
}
