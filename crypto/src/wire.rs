//! Minimal bounds-checked big-endian reader/writer helpers used by the
//! crate's own binary formats. Every read is checked; nothing panics.

use crate::error::{Error, Result};

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::malformed("truncated"));
        }
        let out = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or_else(|| Error::malformed("truncated"))?;
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn bytes_u16(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(Error::malformed("field too long"));
        }
        self.take(len)
    }

    pub(crate) fn bytes_u32(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = usize::try_from(self.u32()?).map_err(|_| Error::malformed("length"))?;
        if len > max {
            return Err(Error::malformed("field too long"));
        }
        self.take(len)
    }

    pub(crate) fn string_u16(&mut self, max: usize) -> Result<String> {
        let b = self.bytes_u16(max)?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::malformed("invalid UTF-8"))
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::malformed("trailing bytes"));
        }
        Ok(())
    }
}

pub(crate) fn put_bytes_u16(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    let len = u16::try_from(b.len()).map_err(|_| Error::TooLarge {
        len: b.len(),
        limit: usize::from(u16::MAX),
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

pub(crate) fn put_bytes_u32(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    let len = u32::try_from(b.len()).map_err(|_| Error::TooLarge {
        len: b.len(),
        limit: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// Lower-case hex encoding (used for vectors and debug output of public data).
pub fn hex_encode(bytes: &[u8]) -> String {
    fn digit(n: u8) -> char {
        // `n` is a nibble (0..=15): one of the two ranges always holds.
        char::from(if n < 10 { b'0' + n } else { b'a' + (n - 10) })
    }
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0x0f));
    }
    s
}

/// Decode lower- or upper-case hex.
pub fn hex_decode(s: &str) -> Result<Vec<u8>> {
    fn nib(c: u8) -> Result<u8> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(Error::malformed("hex digit")),
        }
    }
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(Error::malformed("odd hex length"));
    }
    b.chunks_exact(2)
        .map(|p| match p {
            [hi, lo] => Ok((nib(*hi)? << 4) | nib(*lo)?),
            _ => Err(Error::malformed("odd hex length")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte_and_refuses_what_is_not_hex() {
        let all: Vec<u8> = (0..=255).collect();
        let text = hex_encode(&all);
        assert!(text.starts_with("000102") && text.ends_with("fdfeff"));
        assert_eq!(hex_decode(&text).unwrap(), all);
        assert_eq!(hex_decode("ABcd").unwrap(), vec![0xab, 0xcd]);
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
        assert!(hex_decode("é0").is_err());
    }
}
