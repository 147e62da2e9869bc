//! Packet framing shared by the frontend and the backend.
//!
//! A packet is `len: u24 LE, seq: u8, payload`. Payloads of exactly 16 MiB-1
//! continue in the next packet. The reader hands out payloads borrowed from
//! its buffer (consumed lazily on the next call) so the forwarding hot path
//! copies every byte exactly once: socket buffer -> outgoing buffer.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::consts::MAX_PAYLOAD;
use super::error::FrameError;

const READ_CHUNK: usize = 16 * 1024;
/// Buffers grown past this by a big packet are released once drained.
const SHRINK_ABOVE: usize = 4 << 20;

/// Buffered packet reader.
#[derive(Debug)]
pub struct PacketReader {
    buf: BytesMut,
    /// Bytes of `buf` that belong to the payload handed out last time.
    consumed: usize,
    /// Scratch for joined multi-packet payloads (rare).
    joined: Vec<u8>,
    max_packet: usize,
    last_seq: u8,
}

impl PacketReader {
    pub fn new(max_packet: usize) -> Self {
        PacketReader {
            buf: BytesMut::with_capacity(READ_CHUNK),
            consumed: 0,
            joined: Vec::new(),
            max_packet,
            last_seq: 0,
        }
    }

    pub fn set_max_packet(&mut self, max: usize) {
        self.max_packet = max;
    }

    /// Sequence id of the last packet returned (of its last fragment).
    pub fn last_seq(&self) -> u8 {
        self.last_seq
    }

    /// True when bytes of a following packet are already buffered.
    pub fn has_buffered(&self) -> bool {
        self.buf.len() > self.consumed
    }

    /// Reads until `need` bytes are buffered. `Ok(false)` on EOF with an
    /// empty buffer (a clean close between packets).
    async fn fill<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        need: usize,
    ) -> Result<bool, FrameError> {
        while self.buf.len() < need {
            let want = (need - self.buf.len()).max(READ_CHUNK);
            self.buf.reserve(want);
            if r.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(false)
                } else {
                    Err(FrameError::Truncated)
                };
            }
        }
        Ok(true)
    }

    /// Next `(sequence id, payload)`, or `None` when the peer closed cleanly
    /// between packets. The sequence id is that of the last fragment.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Option<(u8, &[u8])>, FrameError> {
        if self.consumed > 0 {
            self.buf.advance(self.consumed);
            self.consumed = 0;
            // Give back memory after a huge packet instead of holding it for
            // the rest of the session.
            if self.buf.is_empty() && self.buf.capacity() > SHRINK_ABOVE {
                self.buf = BytesMut::with_capacity(READ_CHUNK);
                self.joined = Vec::new();
            }
        }
        if !self.fill(r, 4).await? {
            return Ok(None);
        }
        let len = header_len(&self.buf);
        self.last_seq = self.buf[3];
        if len > self.max_packet {
            return Err(FrameError::TooLarge {
                size: len,
                max: self.max_packet,
            });
        }
        if !self.fill(r, 4 + len).await? {
            return Err(FrameError::Truncated);
        }
        if len < MAX_PAYLOAD {
            self.buf.advance(4);
            self.consumed = len;
            return Ok(Some((self.last_seq, &self.buf[..len])));
        }
        self.next_joined(r, len).await
    }

    /// Slow path: glue continuation packets into `joined`.
    async fn next_joined<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        first: usize,
    ) -> Result<Option<(u8, &[u8])>, FrameError> {
        self.joined.clear();
        self.joined.extend_from_slice(&self.buf[4..4 + first]);
        self.buf.advance(4 + first);
        loop {
            if !self.fill(r, 4).await? {
                return Err(FrameError::Truncated);
            }
            let len = header_len(&self.buf);
            self.last_seq = self.buf[3];
            let total = self.joined.len() + len;
            if total > self.max_packet {
                return Err(FrameError::TooLarge {
                    size: total,
                    max: self.max_packet,
                });
            }
            if !self.fill(r, 4 + len).await? {
                return Err(FrameError::Truncated);
            }
            self.joined.extend_from_slice(&self.buf[4..4 + len]);
            self.buf.advance(4 + len);
            if len < MAX_PAYLOAD {
                return Ok(Some((self.last_seq, &self.joined)));
            }
        }
    }
}

fn header_len(b: &[u8]) -> usize {
    b[0] as usize | (b[1] as usize) << 8 | (b[2] as usize) << 16
}

/// Outgoing packet buffer: packets are appended with headers and written in
/// one syscall by `flush`.
#[derive(Debug, Default)]
pub struct PacketBuf {
    pub buf: Vec<u8>,
    pub seq: u8,
}

impl PacketBuf {
    pub fn new() -> Self {
        PacketBuf {
            buf: Vec::with_capacity(READ_CHUNK),
            seq: 0,
        }
    }

    /// Appends `payload` as one or more packets with the next sequence ids.
    pub fn push(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_PAYLOAD);
            self.buf.reserve(4 + n);
            self.buf
                .extend_from_slice(&[n as u8, (n >> 8) as u8, (n >> 16) as u8, self.seq]);
            self.buf.extend_from_slice(&rest[..n]);
            self.seq = self.seq.wrapping_add(1);
            rest = &rest[n..];
            // A payload of exactly MAX_PAYLOAD needs an empty trailer.
            if n < MAX_PAYLOAD {
                break;
            }
        }
    }

    /// Starts a packet whose payload is written directly into `buf`;
    /// returns the start offset to give to `finish`.
    pub fn begin(&mut self) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        start
    }

    /// Completes a packet started by `begin`.
    pub fn finish(&mut self, start: usize) {
        let len = self.buf.len() - start - 4;
        if len >= MAX_PAYLOAD {
            // Rare: re-frame a huge payload into continuation packets.
            let payload = self.buf.split_off(start + 4);
            self.buf.truncate(start);
            self.push(&payload);
            return;
        }
        self.buf[start..start + 4].copy_from_slice(&[
            len as u8,
            (len >> 8) as u8,
            (len >> 16) as u8,
            self.seq,
        ]);
        self.seq = self.seq.wrapping_add(1);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Writes everything buffered and keeps the allocation.
    pub async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            w.write_all(&self.buf).await?;
            self.buf.clear();
            if self.buf.capacity() > SHRINK_ABOVE {
                self.buf = Vec::with_capacity(READ_CHUNK);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roundtrip_small_and_huge() {
        let mut out = PacketBuf::new();
        out.push(b"hello");
        let big = vec![7u8; MAX_PAYLOAD + 10];
        out.push(&big);
        let exact = vec![1u8; MAX_PAYLOAD];
        out.push(&exact);
        let mut r = PacketReader::new(64 << 20);
        let mut src: &[u8] = &out.buf;
        assert_eq!(r.next(&mut src).await.unwrap().unwrap().1, b"hello");
        assert_eq!(r.next(&mut src).await.unwrap().unwrap().1, &big[..]);
        assert_eq!(r.next(&mut src).await.unwrap().unwrap().1, &exact[..]);
        assert!(r.next(&mut src).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn truncated_and_oversized() {
        let mut r = PacketReader::new(1024);
        let mut src: &[u8] = &[10, 0, 0, 0, 1, 2];
        assert!(matches!(r.next(&mut src).await, Err(FrameError::Truncated)));
        let mut r = PacketReader::new(1024);
        let mut src: &[u8] = &[0xff, 0xff, 0x0f, 0];
        assert!(matches!(
            r.next(&mut src).await,
            Err(FrameError::TooLarge { .. })
        ));
    }
}
