//! Redis: sessions, nonces, rate-limit windows. Keys are namespaced `haoka:`.

use redis::aio::ConnectionManager;

/// A self-reconnecting Redis connection, cheap to clone.
#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
}

impl Cache {
    pub async fn connect(url: &str) -> Result<Cache, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(Cache {
            conn: ConnectionManager::new(client).await?,
        })
    }

    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn ping(&self) -> bool {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .is_ok()
    }
}

pub fn key(parts: &[&str]) -> String {
    let mut k = String::from("haoka");
    for p in parts {
        k.push(':');
        k.push_str(p);
    }
    k
}
