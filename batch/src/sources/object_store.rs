//! An object-store drop through `object_store`: a local directory here
//! (`kind = "local"`), the same four prefixes `incoming/`, `results/`,
//! `done/`, `failed/` as the SFTP drop.

use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{Listed, SourceError};
use crate::config::LocalConfig;

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

    pub async fn read(&self, name: &str) -> Result<Vec<u8>, SourceError> {
        let r = self
            .store
            .get(&Self::path("incoming", name))
            .await
            .map_err(err)?;
        Ok(r.bytes().await.map_err(err)?.to_vec())
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
