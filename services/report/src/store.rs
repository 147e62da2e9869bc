//! Where export files live: an object store (`object_store`), a local
//! directory by default. Files are uploaded from the finished local file
//! in parts (memory stays bounded), hashed on the way, and served back as
//! a stream. On S3 a download is a presigned URL instead, so the file's
//! bytes go from the bucket to the client without passing this process.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::config::{ReportConfig, S3Config};

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
    /// Which store this is (`fs:<dir>`, `s3:<endpoint>/<bucket>`): a task
    /// records the store of the process that queued it, and only runners
    /// writing to that store claim it, so its file lands where the
    /// download looks (a process configured with another store leaves it).
    id: String,
    /// Present on S3: signs download URLs valid for the duration.
    signer: Option<(Arc<AmazonS3>, Duration)>,
}

/// How a client gets a file's bytes.
pub enum Download {
    /// Through this process.
    Stream(BoxStream<'static, Result<bytes::Bytes, object_store::Error>>),
    /// Straight from the bucket (a short-lived presigned URL).
    Redirect(String),
}

const PART: usize = 8 * 1024 * 1024;

impl Store {
    /// A store on a local directory (created if missing).
    pub fn local(dir: &str) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)?;
        let full = std::fs::canonicalize(dir)?;
        Ok(Store {
            inner: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            signer: None,
            id: format!("fs:{}", full.display()),
        })
    }

    /// A store on an S3-compatible bucket.
    pub fn s3(cfg: &S3Config) -> Result<Store, StoreError> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_allow_http(cfg.allow_http);
        if let Some(e) = &cfg.endpoint {
            b = b.with_endpoint(e);
        }
        let s3 = Arc::new(b.build()?);
        Ok(Store {
            inner: s3.clone(),
            signer: Some((s3, Duration::from_secs(cfg.presign_seconds.max(1)))),
            id: format!(
                "s3:{}/{}",
                cfg.endpoint.as_deref().unwrap_or("aws"),
                cfg.bucket
            ),
        })
    }

    /// Which store this is (see the field).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The store the settings name: S3 when `[report.s3]` is set.
    pub fn from_config(cfg: &ReportConfig) -> Result<Store, StoreError> {
        match &cfg.s3 {
            Some(s3) => Store::s3(s3),
            None => Store::local(&cfg.store_dir),
        }
    }

    /// How to hand `key` to a client who may read it, saved as `filename`.
    pub async fn download(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
    ) -> Result<Download, StoreError> {
        let Some((s3, ttl)) = &self.signer else {
            return Ok(Download::Stream(self.stream(key).await?));
        };
        // The bucket answers with these headers, as the stream would.
        let opts = SignedUrlOptions::new().with_query([
            (
                "response-content-disposition",
                format!("attachment; filename=\"{filename}\""),
            ),
            ("response-content-type", content_type.to_string()),
        ]);
        let url = s3
            .signed_url_opts(Method::GET, &Path::from(key), *ttl, &opts)
            .await?;
        Ok(Download::Redirect(url.to_string()))
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
