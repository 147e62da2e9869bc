//! An input read as a stream, twice or three times rather than held whole:
//! `scan` is the first pass (size, sha256 — the job's idempotency key needs
//! it before anything is applied —, the CSV's encoding, a line count for
//! progress); `Rows` is a later pass, the file's rows chunk by chunk.

use sha2::{Digest, Sha256};

use crate::decode::{DecodeError, Encoding, EncodingCheck, Row, RowFeed};
use crate::kinds::naming::Format;
use crate::sources::{Reading, Source, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What the first pass found.
#[derive(Debug, Clone)]
pub struct Scan {
    pub size: u64,
    pub sha256: String,
    /// The CSV's encoding; none: neither UTF-8 nor GBK (or not text).
    pub encoding: Option<Encoding>,
    /// Lines of the file (newlines, plus a last line without one).
    pub lines: u64,
}

/// Reads the whole input once; `text`: tell its encoding too.
pub async fn scan(r: &mut Reading, text: bool) -> Result<Scan, SourceError> {
    let mut sha = Sha256::new();
    let mut enc = text.then(EncodingCheck::default);
    let (mut size, mut newlines, mut last) = (0u64, 0u64, b'\n');
    while let Some(chunk) = r.next().await? {
        sha.update(&chunk);
        if let Some(e) = enc.as_mut() {
            e.feed(&chunk);
        }
        size += chunk.len() as u64;
        newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk.last().copied().unwrap_or(last);
    }
    Ok(Scan {
        size,
        sha256: hex::encode(sha.finalize()),
        encoding: enc.and_then(EncodingCheck::finish),
        lines: newlines + u64::from(last != b'\n'),
    })
}

/// The rows of an input, read as they are asked for.
pub struct Rows {
    reading: Reading,
    feed: RowFeed,
}

impl Rows {
    pub async fn open(
        src: &Source,
        name: &str,
        format: Format,
        encoding: Encoding,
    ) -> Result<Rows, SourceError> {
        Ok(Rows {
            reading: src.open_read(name).await?,
            feed: RowFeed::new(format, encoding),
        })
    }

    async fn more(&mut self) -> Result<(), ReadError> {
        match self.reading.next().await? {
            Some(chunk) => self.feed.feed(&chunk),
            None => self.feed.finish()?,
        }
        Ok(())
    }

    /// The header (first record); none for an empty file.
    pub async fn header(&mut self) -> Result<Option<Vec<String>>, ReadError> {
        while self.feed.header().is_none() && !self.feed.is_finished() {
            self.more().await?;
        }
        Ok(self.feed.header().map(<[String]>::to_vec))
    }

    /// Rows parsed and not yet taken.
    pub fn buffered(&self) -> usize {
        self.feed.buffered()
    }

    /// The next up to `n` data rows; empty at the end.
    pub async fn next_chunk(&mut self, n: usize) -> Result<Vec<Row>, ReadError> {
        while self.feed.buffered() < n && !self.feed.is_finished() {
            self.more().await?;
        }
        Ok(self.feed.take(n))
    }
}
