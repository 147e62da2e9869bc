//! Where files come from: an SFTP drop or an object-store prefix, each with
//! incoming/, results/, done/ and failed/. `ready` tells which listed files
//! are complete.

pub mod object_store;
pub mod ready;
pub mod sftp;

use crate::config::SourceConfig;

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
        })
    }

    pub async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        match self {
            Source::Sftp(s) => s.list().await,
            Source::Store(s) => s.list().await,
        }
    }

    pub async fn read(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        match self {
            Source::Sftp(s) => s.read(name).await,
            Source::Store(s) => s.read(name).await,
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
