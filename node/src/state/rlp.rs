//! Recursive Length Prefix encoding (Ethereum yellow paper, appendix B): the byte format of trie
//! nodes and account values. Decoding is strict: non-canonical lengths are rejected.

/// An RLP value that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RlpError {
    /// Input ends before the item does.
    #[error("rlp: truncated input")]
    Truncated,
    /// Bytes left after the item.
    #[error("rlp: {0} trailing bytes")]
    Trailing(usize),
    /// A length encoded in a longer form than needed, or a single byte wrapped as a string.
    #[error("rlp: non-canonical encoding")]
    NonCanonical,
    /// Expected a string, found a list, or the reverse.
    #[error("rlp: expected {0}")]
    Expected(&'static str),
    /// An integer wider than 64 bits or with leading zeros.
    #[error("rlp: bad integer")]
    BadInteger,
    /// Lists nested deeper than [`MAX_DEPTH`] (no trie node or account nests more than a few).
    #[error("rlp: lists nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Deepest list nesting decoded. Trie nodes nest at most a few levels (inline children); the bound
/// keeps a hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 32;

/// A decoded item borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    /// A byte string.
    Bytes(&'a [u8]),
    /// A list, with the raw bytes of each element (so inline nodes can be re-read).
    List(Vec<(Item<'a>, &'a [u8])>),
}

impl<'a> Item<'a> {
    /// The byte string, or an error for a list.
    pub fn bytes(&self) -> Result<&'a [u8], RlpError> {
        match self {
            Item::Bytes(b) => Ok(b),
            Item::List(_) => Err(RlpError::Expected("a byte string")),
        }
    }

    /// A minimal big-endian unsigned integer.
    pub fn u64(&self) -> Result<u64, RlpError> {
        let b = self.bytes()?;
        if b.len() > 8 || b.first() == Some(&0) {
            return Err(RlpError::BadInteger);
        }
        Ok(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    }
}

fn length_prefix(out: &mut Vec<u8>, len: usize, short: u8, long: u8) {
    if len < 56 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(long + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Appends the encoding of a byte string.
pub fn encode_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() == 1 && bytes[0] < 0x80 {
        out.push(bytes[0]);
    } else {
        length_prefix(out, bytes.len(), 0x80, 0xb7);
        out.extend_from_slice(bytes);
    }
}

/// Appends the encoding of an unsigned integer (minimal big-endian; 0 is the empty string).
pub fn encode_u64(out: &mut Vec<u8>, value: u64) {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    encode_bytes(out, &be[skip..]);
}

/// Wraps already-encoded items as a list.
pub fn encode_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    length_prefix(&mut out, payload.len(), 0xc0, 0xf7);
    out.extend_from_slice(payload);
    out
}

/// Decodes exactly one item spanning all of `input`.
pub fn decode(input: &[u8]) -> Result<Item<'_>, RlpError> {
    let (item, used) = decode_one(input, 0)?;
    if used != input.len() {
        return Err(RlpError::Trailing(input.len() - used));
    }
    Ok(item)
}

fn read_len(input: &[u8], n: usize) -> Result<usize, RlpError> {
    let bytes = input.get(1..1 + n).ok_or(RlpError::Truncated)?;
    if bytes[0] == 0 || n > 8 {
        return Err(RlpError::NonCanonical);
    }
    let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if len < 56 {
        return Err(RlpError::NonCanonical);
    }
    usize::try_from(len).map_err(|_| RlpError::Truncated)
}

fn decode_one(input: &[u8], depth: usize) -> Result<(Item<'_>, usize), RlpError> {
    let first = *input.first().ok_or(RlpError::Truncated)?;
    let (is_list, start, len) = match first {
        0x00..=0x7f => return Ok((Item::Bytes(&input[..1]), 1)),
        0x80..=0xb7 => (false, 1, usize::from(first - 0x80)),
        0xb8..=0xbf => {
            let n = usize::from(first - 0xb7);
            (false, 1 + n, read_len(input, n)?)
        }
        0xc0..=0xf7 => (true, 1, usize::from(first - 0xc0)),
        0xf8..=0xff => {
            let n = usize::from(first - 0xf7);
            (true, 1 + n, read_len(input, n)?)
        }
    };
    let end = start.checked_add(len).ok_or(RlpError::Truncated)?;
    let payload = input.get(start..end).ok_or(RlpError::Truncated)?;
    if !is_list {
        if len == 1 && payload[0] < 0x80 {
            return Err(RlpError::NonCanonical);
        }
        return Ok((Item::Bytes(payload), end));
    }
    if depth >= MAX_DEPTH {
        return Err(RlpError::TooDeep);
    }
    let mut items = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (item, used) = decode_one(rest, depth + 1)?;
        items.push((item, &rest[..used]));
        rest = &rest[used..];
    }
    Ok((Item::List(items), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yellow_paper_examples() {
        let mut out = Vec::new();
        encode_bytes(&mut out, b"dog");
        assert_eq!(out, [0x83, b'd', b'o', b'g']);
        let mut payload = Vec::new();
        encode_bytes(&mut payload, b"cat");
        encode_bytes(&mut payload, b"dog");
        assert_eq!(
            encode_list(&payload),
            [0xc8, 0x83, b'c', b'a', b't', 0x83, b'd', b'o', b'g']
        );
        let mut out = Vec::new();
        encode_u64(&mut out, 0);
        assert_eq!(out, [0x80]);
        let mut out = Vec::new();
        encode_u64(&mut out, 1024);
        assert_eq!(out, [0x82, 0x04, 0x00]);
        let long = vec![b'a'; 56];
        let mut out = Vec::new();
        encode_bytes(&mut out, &long);
        assert_eq!(&out[..2], &[0xb8, 56]);
        assert_eq!(decode(&out).unwrap(), Item::Bytes(&long));
    }

    #[test]
    fn rejects_non_canonical_and_truncated() {
        assert_eq!(decode(&[0x81, 0x05]), Err(RlpError::NonCanonical));
        assert_eq!(decode(&[0xb8, 0x02, 1, 2]), Err(RlpError::NonCanonical));
        assert_eq!(decode(&[0x83, 1]), Err(RlpError::Truncated));
        assert_eq!(decode(&[0x01, 0x02]), Err(RlpError::Trailing(1)));
        assert_eq!(Item::Bytes(&[0, 1]).u64(), Err(RlpError::BadInteger));
    }
}
