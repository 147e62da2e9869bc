//! Where files come from: an SFTP drop or an object-store prefix, each with
//! incoming/, results/, done/ and failed/. `ready` tells which listed files
//! are complete.

pub mod object_store;
pub mod ready;
pub mod sftp;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::SourceConfig;

/// Bytes asked of the SFTP server per read (russh-sftp caps it at what
/// the server allows).
const SFTP_READ: usize = 256 * 1024;

/// An input being read, chunk by chunk.
pub enum Reading {
    Sftp(Box<russh_sftp::client::fs::File>, Vec<u8>),
    Store(BoxStream<'static, ::object_store::Result<Bytes>>),
}

impl Reading {
    /// The next chunk; none at the end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, SourceError> {
        match self {
            Reading::Sftp(f, buf) => {
                buf.resize(SFTP_READ, 0);
                let n = f
                    .read(buf)
                    .await
                    .map_err(|e| SourceError::Io(e.to_string()))?;
                Ok((n > 0).then(|| Bytes::copy_from_slice(&buf[..n])))
            }
            Reading::Store(s) => s
                .next()
                .await
                .transpose()
                .map_err(|e| SourceError::Io(e.to_string())),
        }
    }
}

/// A result file being written, chunk by chunk.
pub enum Writing {
    Sftp(sftp::Writing),
    Store(::object_store::buffered::BufWriter),
}

impl Writing {
    pub async fn write(&mut self, data: &[u8]) -> Result<(), SourceError> {
        match self {
            Writing::Sftp(w) => w.write(data).await,
            Writing::Store(w) => w
                .write_all(data)
                .await
                .map_err(|e| SourceError::Io(e.to_string())),
        }
    }
}

/// A file of incoming/.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source configuration: {0}")]
    Config(String),
    #[error("source I/O: {0}")]
    Io(String),
}

/// An open source for one poll.
pub enum Source {
    Sftp(Box<sftp::Sftp>),
    Store(object_store::Store),
}

impl Source {
    pub async fn open(cfg: &SourceConfig) -> Result<Source, SourceError> {
        Ok(match cfg {
            SourceConfig::Sftp(c) => Source::Sftp(Box::new(sftp::Sftp::connect(c).await?)),
            SourceConfig::Local(c) => Source::Store(object_store::Store::open(c)?),
            SourceConfig::S3(c) => Source::Store(object_store::Store::s3(c)?),
        })
    }

    pub async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        match self {
            Source::Sftp(s) => s.list().await,
            Source::Store(s) => s.list().await,
        }
    }

    /// The input `name` of incoming/, as a stream.
    pub async fn open_read(&self, name: &str) -> Result<Reading, SourceError> {
        Ok(match self {
            Source::Sftp(s) => Reading::Sftp(Box::new(s.open(name).await?), Vec::new()),
            Source::Store(s) => Reading::Store(s.read_stream(name).await?),
        })
    }

    /// A result file of results/, written by parts; `finish_result` makes
    /// it visible.
    pub async fn create_result(&self, name: &str) -> Result<Writing, SourceError> {
        Ok(match self {
            Source::Sftp(s) => Writing::Sftp(s.create_result(name).await?),
            Source::Store(s) => Writing::Store(s.create_result(name)),
        })
    }

    pub async fn finish_result(&self, w: Writing) -> Result<(), SourceError> {
        match (self, w) {
            (Source::Sftp(s), Writing::Sftp(w)) => s.finish_result(w).await,
            (_, Writing::Store(mut w)) => w
                .shutdown()
                .await
                .map_err(|e| SourceError::Io(e.to_string())),
            (Source::Store(_), Writing::Sftp(_)) => Err(SourceError::Config(
                "a result file of another source".into(),
            )),
        }
    }

    pub async fn put_result(&self, name: &str, data: &[u8]) -> Result<(), SourceError> {
        match self {
            Source::Sftp(s) => s.put_result(name, data).await,
            Source::Store(s) => s.put_result(name, data).await,
        }
    }

    /// Moves the input to done/ (or failed/), with its `.ok` marker removed.
    pub async fn archive(&self, name: &str, failed: bool, marker: bool) -> Result<(), SourceError> {
        match self {
            Source::Sftp(s) => s.archive(name, failed).await?,
            Source::Store(s) => s.archive(name, failed).await?,
        }
        if marker {
            let m = format!("{name}{}", ready::MARKER);
            match self {
                Source::Sftp(s) => s.remove(&m).await?,
                Source::Store(s) => s.remove(&m).await?,
            }
        }
        Ok(())
    }
}
