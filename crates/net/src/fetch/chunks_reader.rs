//! A downloaded tarball, as the chunks the network delivered, read as one `std::io::Read`
//! by the blocking converter (no copy into one buffer).

use std::collections::VecDeque;
use std::io::{self, Read};

use bytes::{Buf as _, Bytes};

/// A `Read` over received chunks, in order.
pub(crate) struct ChunksReader {
    chunks: VecDeque<Bytes>,
}

impl ChunksReader {
    pub(crate) fn new(chunks: Vec<Bytes>) -> Self {
        Self {
            chunks: chunks.into(),
        }
    }
}

impl Read for ChunksReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(current) = self.chunks.front_mut() {
            if current.is_empty() {
                self.chunks.pop_front();
                continue;
            }
            let n = buf.len().min(current.len());
            buf[..n].copy_from_slice(&current[..n]);
            current.advance(n);
            return Ok(n);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_chunk_in_order_then_ends() {
        let chunks = vec![
            Bytes::from_static(b"hel"),
            Bytes::new(),
            Bytes::from_static(b"lo"),
        ];
        let mut reader = ChunksReader::new(chunks);
        let mut small = [0u8; 2];
        assert_eq!(reader.read(&mut small).unwrap(), 2);
        assert_eq!(&small, b"he");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "llo");
        assert_eq!(reader.read(&mut small).unwrap(), 0);
    }
}
