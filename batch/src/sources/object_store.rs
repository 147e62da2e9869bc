//! An object-store drop through `object_store`: a local directory
//! (`kind = "local"`) or a bucket of an S3-compatible store (`kind = "s3"`,
//! optionally under a prefix), the same four prefixes `incoming/`,
//! `results/`, `done/`, `failed/` as the SFTP drop.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{Listed, SourceError};
use crate::config::{LocalConfig, S3Config};

pub struct Store {
    store: Arc<dyn ObjectStore>,
}

fn err(e: object_store::Error) -> SourceError {
    SourceError::Io(e.to_string())
}

impl Store {
    pub fn open(cfg: &LocalConfig) -> Result<Store, SourceError> {
        for d in ["incoming", "results", "done", "failed"] {
            std::fs::create_dir_all(cfg.root.join(d))
                .map_err(|e| SourceError::Config(format!("{}: {e}", cfg.root.display())))?;
        }
        let store = LocalFileSystem::new_with_prefix(&cfg.root).map_err(err)?;
        Ok(Store {
            store: Arc::new(store),
        })
    }

    /// A bucket (and optional prefix) of an S3-compatible store.
    pub fn s3(cfg: &S3Config) -> Result<Store, SourceError> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_allow_http(cfg.allow_http);
        if let Some(e) = &cfg.endpoint {
            b = b.with_endpoint(e);
        }
        let s3: Arc<dyn ObjectStore> = Arc::new(
            b.build()
                .map_err(|e| SourceError::Config(format!("s3 {}: {e}", cfg.bucket)))?,
        );
        let prefix = cfg.prefix.trim_matches('/');
        Ok(Store {
            store: if prefix.is_empty() {
                s3
            } else {
                Arc::new(PrefixStore::new(s3, prefix))
            },
        })
    }

    pub fn with_store(store: Arc<dyn ObjectStore>) -> Store {
        Store { store }
    }

    fn path(dir: &str, name: &str) -> Path {
        Path::from(format!("{dir}/{name}"))
    }

    pub async fn list(&self) -> Result<Vec<Listed>, SourceError> {
        let prefix = Path::from("incoming");
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(err)?;
        Ok(metas
            .into_iter()
            // Only the files right under incoming/.
            .filter(|m| m.location.parts().count() == 2)
            .filter_map(|m| {
                Some(Listed {
                    name: m.location.filename()?.to_string(),
                    size: m.size,
                })
            })
            .collect())
    }

    /// The input as a stream of chunks.
    pub async fn read_stream(
        &self,
        name: &str,
    ) -> Result<BoxStream<'static, object_store::Result<Bytes>>, SourceError> {
        let r = self
            .store
            .get(&Self::path("incoming", name))
            .await
            .map_err(err)?;
        Ok(r.into_stream())
    }

    /// A result file written in parts (a multipart upload on S3).
    pub fn create_result(&self, name: &str) -> BufWriter {
        BufWriter::new(self.store.clone(), Self::path("results", name))
    }

    pub async fn put(&self, dir: &str, name: &str, data: &[u8]) -> Result<(), SourceError> {
        self.store
            .put(&Self::path(dir, name), PutPayload::from(data.to_vec()))
            .await
            .map(drop)
            .map_err(err)
    }

    pub async fn put_result(&self, name: &str, data: &[u8]) -> Result<(), SourceError> {
        self.put("results", name, data).await
    }

    pub async fn archive(&self, name: &str, failed: bool) -> Result<(), SourceError> {
        let dir = if failed { "failed" } else { "done" };
        self.store
            .rename(&Self::path("incoming", name), &Self::path(dir, name))
            .await
            .map_err(err)
    }

    pub async fn remove(&self, name: &str) -> Result<(), SourceError> {
        self.store
            .delete(&Self::path("incoming", name))
            .await
            .map_err(err)
    }
}
