//! Whether two provinces' cards live on the same database shard. The proxy
//! maps provinces to shards (several provinces share one); when source and
//! target share a shard, the target's new card row would collide with the
//! source row on the same physical table, so the target transaction removes
//! the source row itself (still a local transaction). Learnt from the
//! proxy's EXPLAIN and kept for the life of the process: a re-sharding
//! restarts the servers.

use std::collections::HashMap;
use std::sync::Mutex;

use mysql_async::prelude::Queryable;

use haoka_core::domain::PROVINCES;

#[derive(Default)]
pub struct Colocation {
    shard_of: Mutex<HashMap<String, String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ColocationError {
    #[error("unknown province {0:?}")]
    UnknownProvince(String),
    #[error("EXPLAIN through the proxy gave no shard for province {0}")]
    NoShard(String),
    #[error("database: {0}")]
    Db(#[from] mysql_async::Error),
}

impl Colocation {
    pub async fn same_shard<Q: Queryable>(
        &self,
        c: &mut Q,
        a: &str,
        b: &str,
    ) -> Result<bool, ColocationError> {
        Ok(self.shard(c, a).await? == self.shard(c, b).await?)
    }

    async fn shard<Q: Queryable>(
        &self,
        c: &mut Q,
        province: &str,
    ) -> Result<String, ColocationError> {
        if let Some(s) = self.shard_of.lock().expect("colocation lock").get(province) {
            return Ok(s.clone());
        }
        // EXPLAIN names the shard in its first column; the province is one
        // of the 31 known codes, checked before it is spliced in.
        if !PROVINCES.contains(&province) {
            return Err(ColocationError::UnknownProvince(province.to_string()));
        }
        let rows: Vec<(String, String, String)> = c
            .query(format!(
                "EXPLAIN SELECT card_id FROM sim_card WHERE province_code = '{province}'"
            ))
            .await?;
        let shard = rows
            .into_iter()
            .map(|r| r.0)
            .next()
            .ok_or_else(|| ColocationError::NoShard(province.to_string()))?;
        self.shard_of
            .lock()
            .expect("colocation lock")
            .insert(province.to_string(), shard.clone());
        Ok(shard)
    }
}
