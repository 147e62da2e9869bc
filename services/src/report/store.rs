//! Where export files live: an object store (`object_store`), a local
//! directory by default. Files are uploaded from the finished local file
//! in parts (memory stays bounded), hashed on the way, and served back as
//! a stream.

use std::path::Path as FsPath;
use std::sync::Arc;

use futures_util::stream::{BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("object store directory: {0}")]
    Io(#[from] std::io::Error),
}

/// What an upload wrote.
pub struct Stored {
    pub bytes: u64,
    pub sha256: String,
}

/// An object's key and when it was written (unix seconds).
pub struct Listed {
    pub key: String,
    pub modified: i64,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
}

const PART: usize = 8 * 1024 * 1024;

impl Store {
    /// A store on a local directory (created if missing).
    pub fn local(dir: &str) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        Ok(Store {
            inner: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
        })
    }

    /// Uploads the file at `local` as `key`.
    pub async fn put_file(&self, key: &str, local: &FsPath) -> Result<Stored, StoreError> {
        let upload = self.inner.put_multipart(&Path::from(key)).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut file = tokio::fs::File::open(local).await?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            // At most two parts in flight.
            w.wait_for_capacity(2).await?;
            w.write(&buf[..n]);
            hash.update(&buf[..n]);
            bytes += n as u64;
        }
        w.finish().await?;
        Ok(Stored {
            bytes,
            sha256: hex::encode(hash.finalize()),
        })
    }

    pub async fn stream(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<bytes::Bytes, object_store::Error>>, StoreError> {
        Ok(self.inner.get(&Path::from(key)).await?.into_stream())
    }

    /// Removes `key`; a missing object is fine (a sweep may have raced us).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self.inner.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let prefix = Path::from(prefix);
        let mut out = Vec::new();
        let mut s = self.inner.list(Some(&prefix));
        while let Some(meta) = s.next().await {
            let meta = meta?;
            out.push(Listed {
                key: meta.location.to_string(),
                modified: meta.last_modified.timestamp(),
            });
        }
        Ok(out)
    }
}
